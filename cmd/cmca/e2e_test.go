package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/cli"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/testtool"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cmca": func() {
			installTestHooks()
			os.Exit(cli.Main())
		},
	})
}

// installTestHooks wires the test-only seams from the environment:
// CMCA_TEST_NOW moves the clock (RFC 3339 time, or an offset such as +400d
// or -2h from now), CMCA_TEST_FAULT=point kills the process with SIGKILL
// when it reaches that point (see testhook.Point).
func installTestHooks() {
	if v := os.Getenv("CMCA_TEST_NOW"); v != "" {
		var at time.Time
		if v[0] == '+' || v[0] == '-' {
			d, err := cli.ParseDuration(v[1:])
			if err != nil {
				panic(err)
			}
			if v[0] == '-' {
				d = -d
			}
			at = time.Now().Add(d)
		} else {
			var err error
			if at, err = time.Parse(time.RFC3339, v); err != nil {
				panic(err)
			}
		}
		offset := time.Until(at)
		testhook.Now = func() time.Time { return time.Now().Add(offset) }
	}
	if p := os.Getenv("CMCA_TEST_FAULT"); p != "" {
		testhook.Fault = func(point string) {
			if point == p {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
}

// softhsmModule is Debian's SoftHSM2 PKCS#11 module.
const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

// softhsmTools is what "softhsm" stands for in `need`: the module, its
// token tool and OpenSC's pkcs11-tool.
var softhsmTools = []string{softhsmModule, "softhsm2-util", "pkcs11-tool"}

// toolNames expands the aliases `need` accepts.
func toolNames(args []string) []string {
	var names []string
	for _, a := range args {
		if a == "softhsm" {
			names = append(names, softhsmTools...)
			continue
		}
		names = append(names, a)
	}
	return names
}

// needCondition is the condition [need:TOOL] ("softhsm" for SoftHSM2 and
// pkcs11-tool): true when the tool is here; false on a laptop without it, so
// `[!need:TOOL] skip` skips; an error (the script fails) under CI, where .ci/run
// installs every tool. The same rule as testtool.Need for Go tests.
func needCondition(cond string) (bool, error) {
	tool, ok := strings.CutPrefix(cond, "need:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	miss := testtool.Missing(toolNames([]string{tool})...)
	if len(miss) == 0 {
		return true, nil
	}
	if testtool.InCI() {
		return false, fmt.Errorf("CI is set but %s is missing (.ci/run installs it)", strings.Join(miss, ", "))
	}
	return false, nil
}

// TestScripts runs the end-to-end stories in testdata/script, each against
// the real cmca binary with a throwaway home.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", filepath.Join(e.WorkDir, "userhome"))
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, "userhome", ".config"))
			e.Setenv("XDG_DATA_HOME", filepath.Join(e.WorkDir, "userhome", ".local", "share"))
			e.Setenv("CMCA_HOME", filepath.Join(e.WorkDir, "cmca"))
			e.Setenv("CMCA_OPERATOR", "alice")
			e.Setenv("NO_COLOR", "1")
			e.Setenv("SOFTHSM_MODULE", softhsmModule)
			for _, k := range []string{"CI", "PATH"} {
				e.Setenv(k, os.Getenv(k))
			}
			return nil
		},
		Condition: needCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget":      cmdJSONGet,
			"softhsm-init": cmdSoftHSMInit,
			"fileperm":     cmdFilePerm,
			"exitcode":     cmdExitCode,
		},
	})
}

// jsonget FILE PATH VAR: set $VAR to the value at PATH (dot-separated keys
// and list indexes, e.g. results.0.ref) of the JSON in FILE.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonget FILE PATH VAR")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("jsonget: %s: %v", args[0], err)
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				ts.Fatalf("jsonget: bad index %q", k)
			}
			v = x[i]
		default:
			ts.Fatalf("jsonget: %s has no %q", args[1], k)
		}
	}
	if v == nil {
		if neg {
			return
		}
		ts.Fatalf("jsonget: %s not found in %s", args[1], args[0])
	}
	if neg {
		ts.Fatalf("jsonget: %s unexpectedly present", args[1])
	}
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			ts.Fatalf("jsonget: %s: %v", args[1], err)
		}
		s = string(b)
	}
	ts.Setenv(args[2], s)
}

// softhsm-init LABEL [LABEL...]: make throwaway SoftHSM tokens (SO PIN 1234,
// user PIN 5678) under $WORK/tokens and point SOFTHSM2_CONF at them.
func cmdSoftHSMInit(ts *testscript.TestScript, neg bool, args []string) {
	work := ts.Getenv("WORK")
	dir := filepath.Join(work, "tokens")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		ts.Fatalf("%v", err)
	}
	conf := filepath.Join(work, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Setenv("SOFTHSM2_CONF", conf)
	for _, label := range args {
		cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "1234", "--pin", "5678")
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("softhsm2-util: %v\n%s", err, out)
		}
	}
}

// fileperm FILE MODE: the file's permission bits are exactly MODE (octal).
func cmdFilePerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fileperm FILE MODE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	got := fmt.Sprintf("%04o", fi.Mode().Perm())
	want := args[1]
	if len(want) < 4 {
		want = strings.Repeat("0", 4-len(want)) + want
	}
	if (got == want) == neg {
		ts.Fatalf("%s has mode %s; want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}
