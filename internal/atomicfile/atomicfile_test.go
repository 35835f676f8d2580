package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteNeverFollowsSymlinks plants symlinks at the target name and at
// the predictable temporary names older writers used (path.tmp,
// path.pending.tmp): the secret never reaches their targets, and the file
// written is 0600.
func TestWriteNeverFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "me.p12")
	for _, name := range []string{out + ".tmp", out + ".pending.tmp", out + ".tmp-1"} {
		if err := os.Symlink(victim, name); err != nil {
			t.Fatal(err)
		}
	}
	secret := []byte("PRIVATE KEY")
	for _, overwrite := range []bool{false, true} {
		if err := Write(out, secret, Options{Overwrite: overwrite}); err != nil {
			t.Fatalf("Write(overwrite=%v) = %v", overwrite, err)
		}
		checkMode(t, out, 0o600)
	}
	if got, _ := os.ReadFile(out); string(got) != string(secret) {
		t.Errorf("content = %q; want %q", got, secret)
	}

	// A symlink at the target itself is refused, with or without overwrite.
	link := filepath.Join(dir, "link.p12")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, overwrite := range []bool{false, true} {
		if err := Write(link, secret, Options{Overwrite: overwrite}); !errors.Is(err, ErrSymlink) {
			t.Errorf("Write(symlink, overwrite=%v) = %v; want ErrSymlink", overwrite, err)
		}
	}
	if got, _ := os.ReadFile(victim); len(got) != 0 {
		t.Errorf("the symlinks' target received %q", got)
	}
	checkMode(t, victim, 0o644)
	assertNoTemps(t, dir)
}

func TestWriteModesAndOverwrite(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		opt       Options
		exists    bool
		wantErr   error
		wantMode  os.FileMode
		wantBytes string
	}{
		{"new secret", Options{}, false, nil, 0o600, "new"},
		{"new public", Options{Mode: 0o644, NoSync: true}, false, nil, 0o644, "new"},
		{"existing kept", Options{}, true, ErrExist, 0o600, "old"},
		{"existing replaced", Options{Overwrite: true}, true, nil, 0o600, "new"},
		{"existing public replaced", Options{Mode: 0o644, Overwrite: true}, true, nil, 0o644, "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.exists {
				if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, []byte("new"), tt.opt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write = %v; want %v", err, tt.wantErr)
			}
			checkMode(t, path, tt.wantMode)
			if got, _ := os.ReadFile(path); string(got) != tt.wantBytes {
				t.Errorf("content = %q; want %q", got, tt.wantBytes)
			}
		})
	}
	assertNoTemps(t, dir)
}

// TestCommitNoOverwriteRace: a file that appears between the check and the
// commit is not replaced.
func TestCommitNoOverwriteRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	tmp, err := Temp(path, Options{}, func(f *os.File) error { _, err := f.WriteString("mine"); return err })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Commit(tmp, path, Options{}); !errors.Is(err, ErrExist) {
		t.Fatalf("Commit = %v; want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "theirs" {
		t.Errorf("content = %q; want theirs", got)
	}
	assertNoTemps(t, dir)
}

func TestWriteRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, []byte("x"), Options{Overwrite: true}); err == nil {
		t.Fatal("Write(directory) succeeded")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %#o; want %#o", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() {
			t.Errorf("temporary file left behind: %s", m)
		}
	}
}
