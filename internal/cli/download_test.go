package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// TestNotWrittenNamesPendingKey: after the CA signed, a failed write says
// where the key is and what to do, not just "run the same command again".
func TestNotWrittenNamesPendingKey(t *testing.T) {
	err := notWritten("the certificate 1f", "out.p12", "out.p12.pending", errors.New("disk full"))
	for _, want := range []string{"out.p12.pending", "same password", "make out.p12 writable", "same --out", "disk full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("notWritten() = %q; lacks %q", err, want)
		}
	}
}

func TestCheckOut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "old.p12")
	link := filepath.Join(dir, "link.p12")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "victim"), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		force   bool
		wantErr bool
	}{
		{filepath.Join(dir, "new.p12"), false, false},
		{file, false, true},
		{file, true, false},
		{link, false, true},
		{link, true, true},
		{dir, true, true},
	}
	for _, tt := range tests {
		err := checkOut(tt.path, tt.force)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkOut(%s, %v) = %v; want error %v", filepath.Base(tt.path), tt.force, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ra.ErrConflict) {
			t.Errorf("checkOut(%s, %v) = %v; want ra.ErrConflict (exit 4)", filepath.Base(tt.path), tt.force, err)
		}
	}
}
