package ra

import (
	"errors"
	"testing"
)

func TestValidateOperator(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means refused
	}{
		{"alice", "alice"},
		{"alice ", "alice"},
		{"\talice\n", "alice"},
		{"Alice Smith", "Alice Smith"},
		{"张三", "张三"},
		{"e\u0301ric", "\u00e9ric"}, // NFC
		{"", ""},
		{"   ", ""},
		{"system", ""},
		{"System", ""},
		{" SYSTEM ", ""},
		{"anonymous", ""},
		{"a\x1b]52;c;Zm9v\x07", ""}, // OSC 52 clipboard write
		{"alice\rbob", ""},
		{"a\u202eb", ""}, // right-to-left override
		{"a\u200bb", ""}, // zero-width space
		{"a\u200db", ""}, // zero-width joiner
		{"a\u00a0b", ""}, // no-break space
		{"a  b", ""},
		{"\xff", ""},
		{string(make([]byte, 65)), ""},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm", ""},
	}
	for _, tt := range tests {
		got, err := ValidateOperator(tt.in)
		if tt.want == "" {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "operator" || !errors.Is(err, ErrInvalid) {
				t.Errorf("ValidateOperator(%q) = %q, %v; want an operator FieldError", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateOperator(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
