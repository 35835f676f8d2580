package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/cli"
	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/testtool"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	// pgtest.Main stops the PostgreSQL cluster scripts' pgdb started.
	testscript.Main(pgMain{m}, map[string]func(){
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
		if a == "storecli" {
			names = append(names, storeCLI()...)
			continue
		}
		if a == "postgres" {
			bin := pgtest.BinDir()
			names = append(names, filepath.Join(bin, "initdb"), filepath.Join(bin, "postgres"), filepath.Join(bin, "pg_ctl"))
			continue
		}
		names = append(names, a)
	}
	return names
}

// storeEngine is the engine the end-to-end tests keep their stores in:
// "postgres" when CMCA_TEST_STORE=postgres, else "sqlite" (the default, a
// ra.db in each home).
func storeEngine() string {
	if os.Getenv("CMCA_TEST_STORE") == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// setupStore gives a script its store. Under CMCA_TEST_STORE=postgres that
// is a fresh database in the test binary's throwaway cluster (internal/pgtest,
// started by the first script, stopped at the end by pgtest.Main), named by
// CMCA_STORE_URL in the script's environment, so `cmca init` and every
// command after it use it as a user's would; the database is dropped when
// the script ends. Under SQLite CMCA_STORE_URL is not set.
func setupStore(e *testscript.Env) error {
	if storeEngine() != "postgres" {
		return nil
	}
	c, err := pgtest.Shared()
	if err != nil {
		return fmt.Errorf("CMCA_TEST_STORE=postgres: start PostgreSQL: %w", err)
	}
	u, err := c.CreateDatabase(context.Background())
	if err != nil {
		return fmt.Errorf("CMCA_TEST_STORE=postgres: create database: %w", err)
	}
	e.Setenv("CMCA_STORE_URL", u)
	e.Defer(func() {
		if err := c.DropDatabase(context.Background(), u); err != nil {
			e.T().Log("drop database: " + err.Error())
		}
	})
	return nil
}

// condition is a script's condition: [postgres] and [sqlite] (the engine
// of CMCA_TEST_STORE), or [need:TOOL].
func condition(cond string) (bool, error) {
	switch cond {
	case "postgres", "sqlite":
		return storeEngine() == cond, nil
	}
	return needCondition(cond)
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
			// The subject a self-signed CA needs (cmca init asks on a terminal).
			e.Setenv("CMCA_CA_ORGANIZATION", "Test CA Org")
			e.Setenv("CMCA_CA_COUNTRY", "CN")
			e.Setenv("NO_COLOR", "1")
			e.Setenv("SOFTHSM_MODULE", softhsmModule)
			for _, k := range []string{"CI", "PATH"} {
				e.Setenv(k, os.Getenv(k))
			}
			return setupStore(e)
		},
		Condition: condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget":      cmdJSONGet,
			"softhsm-init": cmdSoftHSMInit,
			"fileperm":     cmdFilePerm,
			"exitcode":     cmdExitCode,
			"pgdb":         cmdPGDB,
			"storesql":     cmdStoreSQL,
			"pgrestore":    cmdPGRestore,
			"readme-tour":  cmdReadmeTour,
			"guide-quotes": cmdGuideQuotes,
		},
	})
}

type pgMain struct{ m *testing.M }

func (p pgMain) Run() int { return pgtest.Main(p.m) }

// storeCLI is what "storecli" stands for in `need`: the command-line
// client of the engine's store: sqlite3, or psql, pg_dump and pg_restore.
func storeCLI() []string {
	if storeEngine() == "postgres" {
		return []string{"psql", "pg_dump", "pg_restore"}
	}
	return []string{"sqlite3"}
}

// storesql [-home DIR] [-f FILE | SQL]: run SQL (or the SQL in FILE) on the store the script's cmca uses,
// with the engine's own client, as an operator (or an attacker with the
// database's credentials) would: psql on $CMCA_STORE_URL when it is set,
// else sqlite3 on DIR/ra.db (DIR is cmca, the script's home, unless -home
// says otherwise). Both print rows as values separated by |, one row a
// line, and nothing for a statement that returns no rows; ".dump" is
// sqlite3's .dump or pg_dump. SQL that differs
// between the engines goes under [sqlite] / [postgres]. Guard the script
// with [!need:storecli] skip.
func cmdStoreSQL(ts *testscript.TestScript, neg bool, args []string) {
	home := "cmca"
	if len(args) == 3 && args[0] == "-home" {
		home, args = args[1], args[2:]
	}
	file := false
	if len(args) == 2 && args[0] == "-f" {
		file, args = true, args[1:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: storesql [-home DIR] [-f FILE | SQL]")
	}
	var err error
	switch u := ts.Getenv("CMCA_STORE_URL"); {
	case u != "" && args[0] == ".dump":
		err = ts.Exec("pg_dump", "-d", u)
	case u != "" && file:
		err = ts.Exec("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", u, "-f", ts.MkAbs(args[0]))
	case u != "":
		err = ts.Exec("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", u, "-c", args[0])
	case file:
		err = ts.Exec("sqlite3", "-bail", filepath.Join(home, "ra.db"), ".read "+ts.MkAbs(args[0]))
	default:
		err = ts.Exec("sqlite3", filepath.Join(home, "ra.db"), args[0])
	}
	if (err != nil) != neg {
		if neg {
			ts.Fatalf("storesql: unexpected success")
		}
		ts.Fatalf("storesql: %v", err)
	}
}

// pgdb VAR: set $VAR to the URL of a new empty PostgreSQL database, in a
// cluster shared by the scripts of this run and stopped at its end (guard
// the script with [!need:postgres] skip). $VAR_HOST is its host:port and
// $VAR_NAME its name, to build wrong URLs from; the superuser's password is
// pgtest-secret.
func cmdPGDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgdb VAR")
	}
	c, err := pgtest.Shared()
	if err != nil {
		ts.Fatalf("start PostgreSQL: %v", err)
	}
	u, err := c.CreateDatabase(context.Background())
	if err != nil {
		ts.Fatalf("create database: %v", err)
	}
	ts.Setenv(args[0], u)
	ts.Defer(func() {
		if err := c.DropDatabase(context.Background(), u); err != nil {
			ts.Logf("drop database: %v", err)
		}
	})
	pu, err := url.Parse(u)
	if err != nil {
		ts.Fatalf("pgdb: %v", err)
	}
	ts.Setenv(args[0]+"_HOST", pu.Host)
	ts.Setenv(args[0]+"_NAME", strings.TrimPrefix(pu.Path, "/"))
}

// pgrestore FILE: restore a pg_dump -Fc archive of the store the way
// docs/operations.md says, into a new empty database (pg_restore
// --no-owner), and point CMCA_STORE_URL at it: what `cmca restore FILE
// --force` is to a SQLite home (then `cmca doctor`).
func cmdPGRestore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgrestore FILE")
	}
	cmdPGDB(ts, false, []string{"PGRESTORE_DB"})
	u := ts.Getenv("PGRESTORE_DB")
	if err := ts.Exec("pg_restore", "--no-owner", "-d", u, ts.MkAbs(args[0])); err != nil {
		ts.Fatalf("pg_restore: %v", err)
	}
	ts.Setenv("CMCA_STORE_URL", u)
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

// readme-tour FILE: write the README's five-minute tour as a bash script
// (errexit, pipefail) that runs the cmca under test, so every line of the
// tour runs in a test and the script's checks keep its comments true.
func cmdReadmeTour(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: readme-tour FILE")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	ts.Check(err)
	_, after, ok := strings.Cut(string(readme), "## A five-minute tour\n")
	if !ok {
		ts.Fatalf("README.md has no \"## A five-minute tour\"")
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		ts.Fatalf("README.md's tour has no sh block")
	}
	const build = "go build -o cmca ./cmd/cmca\n"
	if !strings.HasPrefix(block, build) {
		ts.Fatalf("the tour does not start with %q", build)
	}
	script := "set -euo pipefail\n" + strings.ReplaceAll(strings.TrimPrefix(block, build), "./cmca ", "cmca ")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(script), 0o644))
}

// guide-quotes DOC LOG: every output line docs/DOC quotes after a `$ cmca`
// command (and every `cmca: ` message line) must match a line of LOG, the
// output of a script living the same story, with the variable parts
// (references, serials, passcodes, pseudonyms, dates, times) as wildcards.
// A quoted message that the code no longer prints fails the test.
func cmdGuideQuotes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: guide-quotes DOC LOG")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", args[0]))
	ts.Check(err)
	logLines := strings.Split(ts.ReadFile(args[1]), "\n")
	var missing []string
	checked := 0
	for _, q := range guideQuotes(string(doc)) {
		re := regexp.MustCompile("^" + guidePattern(q) + "$")
		found := false
		for _, l := range logLines {
			if re.MatchString(strings.TrimRight(l, " ")) {
				found = true
				break
			}
		}
		checked++
		if !found {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		ts.Fatalf("docs/%s quotes %d line(s) that cmca does not print (of %d checked):\n  %s", args[0], len(missing), checked, strings.Join(missing, "\n  "))
	}
	ts.Logf("docs/%s: %d quoted lines checked", args[0], checked)
}

// guideQuotes returns the output lines of the doc's code blocks that follow
// a `$ cmca` command, and lines starting with "cmca: " anywhere in a block.
func guideQuotes(doc string) []string {
	var out []string
	inBlock, afterCmca := false, false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, "```") {
			inBlock, afterCmca = !inBlock, false
			continue
		}
		if !inBlock {
			continue
		}
		if strings.HasPrefix(l, "$ ") {
			afterCmca = strings.HasPrefix(l, "$ cmca ")
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		if afterCmca || strings.HasPrefix(l, "cmca: ") {
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return out
}

// guidePattern turns a quoted line into a regular expression: the
// variable parts become wildcards, runs of spaces match any run.
func guidePattern(line string) string {
	vars := []struct{ re, pattern string }{
		{`\d{8}-[0-9A-Z]{8}`, `\d{8}-[0-9A-Z]{8}`},                           // reference
		{`CMCA-[0-9A-F]{24}`, `CMCA-[0-9A-F]{24}`},                           // pseudonym
		{`[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}`, `[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}`}, // passcode
		{`\b[0-9a-f]{32}\b`, `[0-9a-f]{32}`},                                 // serial
		{`\d{4}-\d{2}-\d{2}`, `\d{4}-\d{2}-\d{2}`},                           // date
		{`\d{2}:\d{2}:\d{2}`, `\d{2}:\d{2}:\d{2}`},                           // time
	}
	type span struct {
		start, end int
		pattern    string
	}
	var spans []span
	taken := make([]bool, len(line))
	for _, v := range vars {
		for _, m := range regexp.MustCompile(v.re).FindAllStringIndex(line, -1) {
			free := true
			for i := m[0]; i < m[1]; i++ {
				free = free && !taken[i]
			}
			if !free {
				continue
			}
			for i := m[0]; i < m[1]; i++ {
				taken[i] = true
			}
			spans = append(spans, span{m[0], m[1], v.pattern})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var b strings.Builder
	literal := func(s string) {
		for i, part := range regexp.MustCompile(` +`).Split(s, -1) {
			if i > 0 {
				b.WriteString(` +`)
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	at := 0
	for _, sp := range spans {
		literal(line[at:sp.start])
		b.WriteString(sp.pattern)
		at = sp.end
	}
	literal(line[at:])
	return b.String()
}
