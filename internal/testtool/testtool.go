// Package testtool holds the one rule for tests that need an outside tool
// (openssl, sqlite3, softhsm2, tmux, groff, NSS, GnuTLS, PostgreSQL...): on a
// developer's machine without it the test is skipped; under CI (CI set and
// non-empty) a missing tool fails the test, because .ci/run installs every
// tool the tests use.
package testtool

import (
	"os"
	"os/exec"
	"strings"
)

// Missing returns the tools among names that are not on this machine. A
// name containing a slash is a file path (a PKCS#11 module, say); any other
// name is looked up on PATH.
func Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if strings.ContainsRune(n, '/') {
			if _, err := os.Stat(n); err != nil {
				out = append(out, n)
			}
			continue
		}
		if _, err := exec.LookPath(n); err != nil {
			out = append(out, n)
		}
	}
	return out
}

// InCI reports whether the tests run under CI, where every tool must be
// present.
func InCI() bool { return os.Getenv("CI") != "" }

// T is the part of testing.TB that Need uses; a testscript.TestScript
// adapter satisfies it too.
type T interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Need skips the test when a tool is missing, or fails it under CI.
func Need(t T, names ...string) {
	t.Helper()
	miss := Missing(names...)
	if len(miss) == 0 {
		return
	}
	msg := "needs " + strings.Join(miss, ", ") + " (.ci/run installs it)"
	if InCI() {
		t.Fatalf("CI is set but a tool is missing: %s", msg)
	}
	t.Skipf("%s", msg)
}

// Absent is Need for a requirement that is not a single tool (a PKCS#11
// module found in one of several places, say): what names it.
func Absent(t T, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI is set but %s is missing (.ci/run installs it)", what)
	}
	t.Skipf("needs %s (.ci/run installs it)", what)
}
