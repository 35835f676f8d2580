package service

import (
	"errors"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		in   string
		want RateLimit
		text string // canonical text; "" means the input is refused
	}{
		{"10/6s", RateLimit{10, 6 * time.Second}, "10/6s"},
		{" 20 / 30s ", RateLimit{20, 30 * time.Second}, "20/30s"},
		{"1/1d", RateLimit{1, 24 * time.Hour}, "1/1d"},
		{"1000000/1ms", RateLimit{1_000_000, time.Millisecond}, "1000000/1ms"},
		{"off", RateLimit{}, "off"},
		{"OFF", RateLimit{}, "off"},
		{"0/6s", RateLimit{}, ""},
		{"-1/6s", RateLimit{}, ""},
		{"1000001/1s", RateLimit{}, ""},
		{"10/0s", RateLimit{}, ""},
		{"10/25h", RateLimit{}, ""},
		{"10", RateLimit{}, ""},
		{"10/", RateLimit{}, ""},
		{"/6s", RateLimit{}, ""},
		{"ten/6s", RateLimit{}, ""},
		{"", RateLimit{}, ""},
	}
	for _, tt := range tests {
		got, err := parseRateLimit("ratelimit.passcode", tt.in)
		if tt.text == "" {
			var fe *ra.FieldError
			if !errors.As(err, &fe) || fe.Field != "ratelimit.passcode" {
				t.Errorf("parseRateLimit(%q) = %v, %v; want a field error naming ratelimit.passcode", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.text {
			t.Errorf("parseRateLimit(%q) = %v (%q), %v; want %v (%q)", tt.in, got, got.String(), err, tt.want, tt.text)
		}
	}
	if p := DefaultPolicy(); p.ApplyLimit.String() != "20/30s" || p.PasscodeLimit.String() != "10/6s" {
		t.Errorf("default limits %s, %s; want 20/30s, 10/6s", p.ApplyLimit, p.PasscodeLimit)
	}
}
