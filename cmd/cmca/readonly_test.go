package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/testtool"
)

// TestReadOnlyHome: the commands that only read (review, status, certs,
// cert show, audit list, audit verify, doctor, crl --check, backup) work
// for a user who cannot write the home, and change nothing in it; a
// command that writes fails. Run as root (as CI does), the commands run as
// nobody via setpriv on a home owned by nobody with every write bit off,
// because root ignores file modes.
func TestReadOnlyHome(t *testing.T) {
	bin := buildCmca(t)
	h := newHome(t, bin)
	ref, serial := h.enroll()
	h.mustRun(nil, "crl")
	cmcaHome := h.path("cmca")
	if os.Getuid() == 0 {
		testtool.Need(t, "setpriv")
		// nobody owns the work directory (for backup --out) and the home,
		// and must reach the binary.
		for _, d := range []string{filepath.Dir(h.dir), filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, 65534, 65534)
		})
		if err != nil {
			t.Fatal(err)
		}
		h.bin = "setpriv"
	}
	// Every write bit off below the home.
	err := filepath.WalkDir(cmcaHome, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o500)
		}
		return os.Chmod(p, 0o400)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(cmcaHome, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	snapshot := func() map[string][]byte {
		files := map[string][]byte{}
		filepath.WalkDir(cmcaHome, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(p)
				files[p] = data
			}
			return nil
		})
		return files
	}
	before := snapshot()
	run := func(args ...string) result {
		if h.bin == "setpriv" {
			args = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)
		}
		return h.run(nil, args...)
	}
	for _, args := range [][]string{
		{"review"},
		{"status", ref},
		{"certs"},
		{"cert", "show", serial},
		{"audit", "list"},
		{"audit", "verify"},
		{"doctor"},
		{"crl", "--check", filepath.Join(cmcaHome, "crl", "ca.crl")},
	} {
		if r := run(args...); r.code != 0 {
			t.Errorf("%s\nexit %d on a read-only home; want 0", r, r.code)
		}
	}
	// A backup is read-only too; its audit record cannot be written, and
	// it says so. (SQLite: on PostgreSQL backups are pg_dump's, and cmca
	// backup says so.)
	if r := run("backup", "--out", h.path("b.db"), "-o", "json"); h.storeURL() != "" {
		if r.code != 2 || !strings.Contains(r.stderr, "pg_dump") {
			t.Errorf("%s\nbackup of a PostgreSQL store: exit %d; want 2, naming pg_dump", r, r.code)
		}
	} else {
		if r.code != 0 {
			t.Fatalf("%s\nexit %d on a read-only home; want 0", r, r.code)
		}
		var res struct {
			Audited bool   `json:"audited"`
			Warning string `json:"warning"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%s\n%v", r, err)
		}
		if res.Audited || !strings.Contains(r.stderr, "not recorded in the audit log") {
			t.Errorf("%s\nbackup of a read-only home: audited %v; want false with a warning", r, res.Audited)
		}
	}
	// A command that writes fails, and writes nothing either.
	if r := run("crl", "--force"); r.code == 0 {
		t.Errorf("%s\ncrl --force on a read-only home succeeded", r)
	}
	after := snapshot()
	for p, data := range after {
		if old, ok := before[p]; !ok {
			t.Errorf("%s was created", p)
		} else if !bytes.Equal(old, data) {
			t.Errorf("%s was changed", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s was removed", p)
		}
	}
}
