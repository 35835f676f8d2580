package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildWithoutCgo builds cmca with CGO_ENABLED=0 and checks that the
// binary works and that every PKCS#11 path says plainly it needs cgo.
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cmca")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}

	env := append(os.Environ(),
		"CMCA_HOME="+filepath.Join(dir, "home"),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"CMCA_TOKEN_MODULE=/usr/lib/softhsm/libsofthsm2.so",
		"CMCA_PIN=5678",
	)
	const noCgo = "built without cgo, and USB key tokens and HSMs (PKCS#11) need a cgo build"
	tests := []struct {
		args     []string
		wantCode int // 0: success
		stdout   string
		stderr   string
	}{
		{[]string{"version"}, 0, "PKCS#11: no (built without cgo)", ""},
		{[]string{"token", "list"}, 1, "", noCgo},
		{[]string{"token", "show", "--token-label", "UserKey"}, 1, "", noCgo},
		{[]string{"init", "--ca-key", "pkcs11:token=CA;object=ca-key", "--ca-org", "Test CA Org", "--ca-country", "CN"}, 1, "", noCgo},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("cmca %s: %v", strings.Join(tt.args, " "), err)
		}
		if code != tt.wantCode {
			t.Errorf("cmca %s: exit %d; want %d\nstderr: %s", strings.Join(tt.args, " "), code, tt.wantCode, stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.stdout) {
			t.Errorf("cmca %s: stdout = %q; want it to contain %q", strings.Join(tt.args, " "), stdout.String(), tt.stdout)
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("cmca %s: stderr = %q; want it to contain %q", strings.Join(tt.args, " "), stderr.String(), tt.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "home", "ra.db")); err == nil {
		t.Errorf("cmca init --ca-key pkcs11:... without cgo created a store; want nothing changed")
	}
}
