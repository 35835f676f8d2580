package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cmca/cmca/internal/pgtest"
)

// The Go-level end-to-end tests (races, crashes) drive cmca binaries as
// separate processes on one home, the way operators and subscribers do.

// buildCmca builds the production binary (no test hooks) into the test's
// temporary directory; the Go build cache makes every build after the first
// a link only.
func buildCmca(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "cmca")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hookedCmca is the test binary installed as "cmca" by testscript.Main: it
// honours CMCA_TEST_FAULT and CMCA_TEST_NOW.
func hookedCmca(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cmca")
	if err != nil {
		t.Fatalf("the test harness did not install cmca on PATH: %v", err)
	}
	return p
}

// home is a throwaway cmca home and the environment to run cmca in it.
type home struct {
	t   *testing.T
	bin string
	dir string // work directory; the home is dir/cmca
	env []string
}

func newHome(t *testing.T, bin string) *home {
	t.Helper()
	dir := t.TempDir()
	h := &home{t: t, bin: bin, dir: dir, env: []string{
		"HOME=" + filepath.Join(dir, "userhome"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "userhome", ".config"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "userhome", ".local", "share"),
		"CMCA_HOME=" + filepath.Join(dir, "cmca"),
		"CMCA_OPERATOR=alice",
		"CMCA_CA_ORGANIZATION=Hardening Test Org",
		"CMCA_CA_COUNTRY=CN",
		"NO_COLOR=1",
		"PATH=" + os.Getenv("PATH"),
	}}
	if u := testStoreURL(t); u != "" {
		h.env = append(h.env, "CMCA_STORE_URL="+u)
	}
	h.write("pw.txt", "correct horse battery")
	h.mustRun(nil, "init", "--ca-name", "Hardening Test CA")
	if _, err := os.Stat(h.path("cmca/ra.db")); h.storeURL() != "" && err == nil {
		t.Fatal("CMCA_TEST_STORE=postgres, and init made cmca/ra.db")
	}
	return h
}

// testStoreURL is the store of a new home: under CMCA_TEST_STORE=postgres
// a fresh database in the test binary's cluster (dropped when the test
// ends), as setupStore gives each script; else "" (SQLite in the home).
func testStoreURL(t *testing.T) string {
	t.Helper()
	if storeEngine() != "postgres" {
		return ""
	}
	return pgtest.SharedDatabase(t)
}

// storeURL is the home's PostgreSQL store, "" for SQLite.
func (h *home) storeURL() string {
	for _, kv := range h.env {
		if u, ok := strings.CutPrefix(kv, "CMCA_STORE_URL="); ok {
			return u
		}
	}
	return ""
}

func (h *home) path(rel string) string { return filepath.Join(h.dir, rel) }

func (h *home) write(rel, content string) {
	h.t.Helper()
	if err := os.WriteFile(h.path(rel), []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// result is one finished cmca process.
type result struct {
	args     []string
	stdout   string
	stderr   string
	code     int  // exit code; -1 if killed by a signal
	signaled bool // killed by SIGKILL
}

func (r result) String() string {
	return "cmca " + strings.Join(r.args, " ") + "\n[stdout]\n" + r.stdout + "[stderr]\n" + r.stderr
}

// run runs cmca in the work directory with extra environment variables.
func (h *home) run(extraEnv []string, args ...string) result {
	cmd := exec.Command(h.bin, args...)
	cmd.Dir = h.dir
	cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.signaled = true
		}
	default:
		h.t.Fatalf("run cmca %v: %v", args, err)
	}
	return r
}

func (h *home) mustRun(extraEnv []string, args ...string) result {
	h.t.Helper()
	r := h.run(extraEnv, args...)
	if r.code != 0 {
		h.t.Fatalf("%s\nexit %d; want 0", r, r.code)
	}
	return r
}

// runJSON runs a command with -o json and decodes its stdout into v.
func (h *home) runJSON(v any, args ...string) {
	h.t.Helper()
	r := h.mustRun(nil, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		h.t.Fatalf("%s\ndecode JSON: %v", r, err)
	}
}

// applyApproveIssue takes a new application through approval and issue,
// returning its reference and passcode.
func (h *home) applyApproveIssue(storage string) (ref, passcode string) {
	h.t.Helper()
	var app struct{ Ref string }
	h.runJSON(&app, "apply", "--name", "张三", "--id-type", "resident", "--id-number", "11010519491231002X",
		"--mobile", "13812345678", "--email", "zhang@example.com", "--usage", "auth", "--acceptance-point", "online",
		"--storage", storage, "--agree")
	h.mustRun(nil, "approve", app.Ref)
	var iss struct{ Passcode string }
	h.runJSON(&iss, "issue", app.Ref)
	if app.Ref == "" || iss.Passcode == "" {
		h.t.Fatalf("apply/issue gave ref %q passcode %q", app.Ref, iss.Passcode)
	}
	return app.Ref, iss.Passcode
}

// enroll issues a certificate and returns its reference and serial.
func (h *home) enroll() (ref, serial string) {
	h.t.Helper()
	ref, code := h.applyApproveIssue("soft")
	var dl struct{ Serial string }
	h.runJSON(&dl, "download", "--ref", ref, "--passcode", code, "--out", ref+".p12", "--password-file", "pw.txt")
	return ref, dl.Serial
}

// doctorOK asserts `cmca doctor` finds nothing wrong.
func (h *home) doctorOK() {
	h.t.Helper()
	if r := h.run(nil, "doctor"); r.code != 0 {
		h.t.Fatalf("%s\ndoctor exit %d; want a consistent home", r, r.code)
	}
}

// auditEvents lists the audit log.
func (h *home) auditEvents(args ...string) []auditEvent {
	h.t.Helper()
	var evs []auditEvent
	h.runJSON(&evs, append([]string{"audit", "list"}, args...)...)
	return evs
}

type auditEvent struct {
	Seq      int64  `json:"seq"`
	Operator string `json:"operator"`
	Action   string `json:"action"`
	Ref      string `json:"ref"`
	Serial   string `json:"serial"`
	From     string `json:"from"`
	To       string `json:"to"`
	Detail   string `json:"detail"`
}

type certRow struct {
	Serial     string `json:"serial"`
	RequestRef string `json:"request_ref"`
	Status     string `json:"status"`
}

func (h *home) certs() []certRow {
	h.t.Helper()
	var cs []certRow
	h.runJSON(&cs, "certs")
	return cs
}

// parallel runs n commands at once and returns their results in order.
func (h *home) parallel(n int, args func(i int) []string) []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = h.run(nil, args(i)...)
		}()
	}
	close(start)
	wg.Wait()
	return out
}
