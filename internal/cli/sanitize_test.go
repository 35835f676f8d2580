package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"张三", "张三"},
		{"alice", "alice"},
		{"a\x1b]52;c;ZXZpbA==\x07b", `a\x1b]52;c;ZXZpbA==\x07b`},
		{"a\rb\nc\td", `a\x0db\x0ac\x09d`},
		{"x\x7fy\u0085z", `x\x7fy\x85z`},
		{"ok\u202etxt.exe", `ok\u202etxt.exe`},
		{"zero\u200bwidth\u2028sep", `zero\u200bwidth\u2028sep`},
		{"bad\xffutf8", `bad\xffutf8`},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got, want := sanitizeLines("a\x1b\nb\tc"), "a\\x1b\nb\tc"; got != want {
		t.Errorf("sanitizeLines = %q; want %q", got, want)
	}
}

func TestSafeArgs(t *testing.T) {
	in := []any{"a\x1bb", ra.State("s\x1b"), errors.New("e\x1b"), 42, nil}
	got := safeArgs(in)
	want := []any{`a\x1bb`, `s\x1b`, `e\x1b`, 42, nil}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("safeArgs[%d] = %#v; want %#v", i, got[i], want[i])
		}
	}
	if in[0] != "a\x1bb" {
		t.Error("safeArgs changed its input")
	}
}

// TestPrintJSONErrValid: any bytes in an error message give valid JSON
// (it was printed with %q, whose \x1b is not JSON).
func TestPrintJSONErrValid(t *testing.T) {
	for _, msg := range []string{"plain", "read bad\x1b]52;c;eA==\x07\r.json: no such file", "bad\xffutf8", `quote " and \ backslash`} {
		var errOut bytes.Buffer
		f := &Factory{IO: &IOStreams{ErrOut: &errOut}}
		if err := f.PrintJSONErr(errors.New(msg), "not_found", map[string]string{"ref": msg}, 3); err != nil {
			t.Fatal(err)
		}
		var v struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}
		if err := json.Unmarshal(errOut.Bytes(), &v); err != nil {
			t.Errorf("PrintJSONErr(%q) = %s: invalid JSON: %v", msg, errOut.Bytes(), err)
			continue
		}
		if v.ExitCode != 3 {
			t.Errorf("exit_code = %d; want 3", v.ExitCode)
		}
	}
}
