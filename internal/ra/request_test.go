package ra

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCanTransition(t *testing.T) {
	tests := []struct {
		kind     Kind
		from, to State
		want     bool
	}{
		{KindNew, StateSubmitted, StateApproved, true},
		{KindNew, StateSubmitted, StateRejected, true},
		{KindNew, StateSubmitted, StateIssued, false}, // no issuance without approval
		{KindNew, StateApproved, StateIssued, true},
		{KindNew, StateApproved, StateCompleted, false}, // a new certificate needs a passcode
		{KindNew, StateIssued, StateIssued, true},       // resend
		{KindNew, StateIssued, StateCompleted, true},
		{KindNew, StateRejected, StateApproved, false}, // rejection is final
		{KindNew, StateCompleted, StateIssued, false},  // completion is final
		{KindRevoke, StateSubmitted, StateCompleted, true},
		{KindRevoke, StateSubmitted, StateApproved, false},
		{KindRevoke, StateCompleted, StateSubmitted, false}, // revocation never reverses
		{KindRenew, StateApproved, StateCompleted, true},    // inside the renewal window
		{KindReissue, StateApproved, StateCompleted, false},
		{KindReissue, StateApproved, StateIssued, true},
	}
	for _, tt := range tests {
		if got := CanTransition(tt.kind, tt.from, tt.to); got != tt.want {
			t.Errorf("CanTransition(%s, %s, %s) = %v; want %v", tt.kind, tt.from, tt.to, got, tt.want)
		}
	}
	err := CheckTransition("R1", KindNew, StateCompleted, StateIssued)
	if !errors.Is(err, ErrConflict) {
		t.Errorf("CheckTransition from a final state = %v; want ErrConflict", err)
	}
}

func TestFinalStatesHaveNoExit(t *testing.T) {
	for _, k := range Kinds {
		for _, from := range States {
			if !from.Final() {
				continue
			}
			for _, to := range States {
				if CanTransition(k, from, to) {
					t.Errorf("%s: final state %s can move to %s", k, from, to)
				}
			}
		}
	}
}

func TestPasscode(t *testing.T) {
	code, hash := NewPasscode()
	if len(code) != 24 || strings.Count(code, "-") != 4 {
		t.Fatalf("NewPasscode() = %q; want five groups of four", code)
	}
	if strings.Contains(hash, NormalizePasscode(code)) {
		t.Fatalf("hash %q contains the passcode", hash)
	}
	tests := []struct {
		in   string
		want bool
	}{
		{code, true},
		{strings.ToLower(code), true},
		{strings.ReplaceAll(code, "-", " "), true},
		{strings.ReplaceAll(code, "-", ""), true},
		{code[:len(code)-1] + flip(code[len(code)-1]), false},
		{"", false},
	}
	for _, tt := range tests {
		if got := CheckPasscode(hash, tt.in); got != tt.want {
			t.Errorf("CheckPasscode(hash, %q) = %v; want %v", tt.in, got, tt.want)
		}
	}
	// Two passcodes never share a hash, even for the same text (salted).
	if HashPasscode(code) == HashPasscode(code) {
		t.Error("HashPasscode is not salted")
	}
	// Confusable characters map to the alphabet.
	if NormalizePasscode("o1-il") != "0111" {
		t.Errorf("NormalizePasscode(%q) = %q; want 0111", "o1-il", NormalizePasscode("o1-il"))
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestPasscodeEntropy(t *testing.T) {
	// 20 characters of a 32-symbol alphabet: 100 bits. Check draws differ
	// and use the whole alphabet.
	seen := map[string]bool{}
	used := map[rune]bool{}
	for range 2000 {
		c, _ := NewPasscode()
		if seen[c] {
			t.Fatalf("NewPasscode repeated %q", c)
		}
		seen[c] = true
		for _, r := range NormalizePasscode(c) {
			used[r] = true
		}
	}
	if len(used) != 32 {
		t.Errorf("passcodes used %d symbols; want all 32", len(used))
	}
}

func TestValidatePasscodeFormat(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"7KQ3-PZ4M-XW2A-9HCD-1EFG", true},
		{"7kq3pz4mxw2a9hcd1efg", true},
		{"7KQ3-PZ4M", false},
		{"7KQ3-PZ4M-XW2A-9HCD-1EF!", false},
		{"7KQ3-PZ4M-XW2A-9HCD-1EFGH", false},
	}
	for _, tt := range tests {
		err := ValidatePasscodeFormat(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidatePasscodeFormat(%q) = %v; want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePasscodeFormat(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
}

func TestParseRevocationReason(t *testing.T) {
	tests := []struct {
		in   string
		want RevocationReason
		err  string
	}{
		{"keyCompromise", "keyCompromise", ""},
		{"key-compromise", "keyCompromise", ""},
		{"SUPERSEDED", "superseded", ""},
		{"cessationOfOperation", "cessationOfOperation", ""},
		{"certificateHold", "", "permanent"},
		{"removeFromCRL", "", "permanent"},
		{"cACompromise", "", "authority"},
		{"stolen", "", "unknown reason"},
	}
	for _, tt := range tests {
		got, err := ParseRevocationReason(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseRevocationReason(%q) = %v; want error containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRevocationReason(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if c := RevocationReason("keyCompromise").Code(); c != 1 {
		t.Errorf("keyCompromise code = %d; want 1", c)
	}
	if ReissueLost.RevocationReason() != "keyCompromise" || ReissueDamaged.RevocationReason() != "superseded" {
		t.Error("reissue reasons map to the wrong revocation reasons")
	}
}

func TestParseSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"5F3A0001", "5f3a0001"},
		{"5f:3a:00:01", "5f3a0001"},
		{"0x5f3a0001", "5f3a0001"},
		{"005f3a0001", "5f3a0001"},
	}
	for _, tt := range tests {
		if got, err := ParseSerial(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSerial(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "xyz", "0", "-5", strings.Repeat("f", 41)} {
		if _, err := ParseSerial(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSerial(%q) = %v; want ErrInvalid", bad, err)
		}
	}
}

func TestNewRef(t *testing.T) {
	at := time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)
	r := NewRef(at)
	if !strings.HasPrefix(r, "20261125-") || len(r) != 17 {
		t.Errorf("NewRef = %q; want 20261125-XXXXXXXX", r)
	}
}
