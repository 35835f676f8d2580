package cli

import (
	"github.com/cmca/cmca/internal/service"
	"testing"
	"time"
)

// TestParseDurationRange: long values are refused, never wrapped around
// (585y became 21 days, 213504d 25 minutes).
func TestParseDurationRange(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"14d", 14 * day, false},
		{"10y", 3650 * day, false},
		{"36h", 36 * time.Hour, false},
		{"0d", 0, false},
		{"100y", MaxDuration, false},
		{"36500d", MaxDuration, false},
		{"101y", 0, true},
		{"36501d", 0, true},
		{"585y", 0, true},
		{"213504d", 0, true},
		{"9223372036854775807d", 0, true},
		{"99999999999999999999y", 0, true},
		{"876001h", 0, true},
		{"9999999999h", 0, true},
		{"-1d", 0, true},
		{"-5h", 0, true},
		{"1.5d", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDurationKeyRanges(t *testing.T) {
	tests := []struct {
		key, in string
		wantErr bool
	}{
		{"passcode.ttl", "14d", false},
		{"passcode.ttl", "213504d", true},
		{"passcode.ttl", "366d", true},
		{"passcode.ttl", "0s", true},
		{"renew.window", "0d", false},
		{"renew.proof_max_age", "10m", false},
		{"renew.proof_max_age", "2d", true},
		{"crl.validity", "7d", false},
		{"crl.validity", "1m", true},
	}
	for _, tt := range tests {
		var err error
		if service.IsPolicyKey(tt.key) {
			// policy durations: the range check `cmca policy set` and init make
			var p service.Policy
			err = p.Set(tt.key, tt.in)
		} else {
			var k durationKey
			for _, dk := range durationKeys {
				if dk.key == tt.key {
					k = dk
				}
			}
			if k.key == "" {
				t.Fatalf("no duration key %s", tt.key)
			}
			_, err = parseDurationKey(k, tt.in)
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("range check of %s = %q: %v; want error %v", tt.key, tt.in, err, tt.wantErr)
		}
	}
}
