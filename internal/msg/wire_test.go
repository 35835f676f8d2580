package msg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestWireArgs: a message's catalogue format and arguments cross the wire
// as strings and come back printing the same English, and its Chinese
// text; a format that is not in the catalogue, a verb that cannot be sent
// as a string, or arguments that do not give the message are refused.
func TestWireArgs(t *testing.T) {
	conflict := errors.New("wrong state")
	tests := []struct {
		name   string
		format string
		args   []any
		ok     bool
		zh     string
	}{
		{"strings and a sentinel", "the passcode of %s was already used to download certificate %s; if that certificate was lost, its holder can ask for a reissue: %w", []any{"R1", "S1", conflict}, true,
			"业务受理号 R1 的下载授权码已用于下载证书 S1；如该证书丢失，持有人可申请证书补办：状态不允许"},
		{"integers", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", []any{20, 3}, true,
			"下载授权码有 20 个字符（例如 7KQ3-PZ4M-XW2A-9HCD-1EFG），实际为 3 个"},
		{"not in the catalogue", "no such text %s", []any{"x"}, false, ""},
		{"too few arguments", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", []any{20}, false, ""},
		{"an integer as text", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", []any{"20", 3}, false, ""},
	}
	zh := For(Chinese)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, ok := EncodeArgs(tt.format, tt.args)
			if ok != tt.ok {
				t.Fatalf("EncodeArgs ok = %v; want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			english := fmt.Errorf(tt.format, tt.args...).Error()
			if got, ok := For(English).Render(tt.format, wire, english, nil); !ok || got != english {
				t.Errorf("English Render = %q, %v; want %q", got, ok, english)
			}
			if got, ok := zh.Render(tt.format, wire, english, nil); !ok || got != tt.zh {
				t.Errorf("Chinese Render = %q, %v; want %q", got, ok, tt.zh)
			}
		})
	}
}

// TestRenderRefusesForgedFormats: a server's format is used only when it
// is a catalogue ID and its arguments give back the English message; text
// arguments pass the escaping function.
func TestRenderRefusesForgedFormats(t *testing.T) {
	zh := For(Chinese)
	const f = "the passcode of %s was already used to download certificate %s; if that certificate was lost, its holder can ask for a reissue: %w"
	for _, tt := range []struct {
		format  string
		args    []string
		english string
	}{
		{"%s%s%s", []string{"a", "b", "c"}, "abc"},                                                        // not a catalogue ID
		{f, []string{"R1", "R1"}, "the passcode of R1 was already used"},                                  // too few arguments
		{f, []string{"R1", "R2", "wrong state"}, "something else"},                                        // not the message
		{"a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", []string{"x", "3"}, "x"}, // not a number
	} {
		if got, ok := zh.Render(tt.format, tt.args, tt.english, nil); ok {
			t.Errorf("Render(%q, %q) = %q; want it refused", tt.format, tt.args, got)
		}
	}
	english := "the passcode of R\x1b[31m was already used to download certificate R\x1b[31m; if that certificate was lost, its holder can ask for a reissue: wrong state"
	got, ok := zh.Render(f, []string{"R\x1b[31m", "R\x1b[31m", "wrong state"}, english, func(s string) string {
		return strings.ReplaceAll(s, "\x1b", `\x1b`)
	})
	if !ok || strings.Contains(got, "\x1b") || !strings.Contains(got, `R\x1b[31m`) {
		t.Errorf("Render = %q, %v; want the escape shown escaped", got, ok)
	}
}
