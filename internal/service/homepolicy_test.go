package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// TestPolicyStored: the policy is the home's, seeded at init; a caller's
// Config does not change it; PolicySet is range-checked, audited and
// effective at once.
func TestPolicyStored(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	seed := DefaultPolicy()
	seed.MaxPasscodeAttempts = 3
	if _, err := Init(ctx, home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now(), Policy: &seed}); err != nil {
		t.Fatal(err)
	}
	loose := DefaultConfig()
	loose.Policy.MaxPasscodeAttempts = 100
	s, err := Open(ctx, home, loose, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Policy().MaxPasscodeAttempts; got != 3 {
		t.Fatalf("MaxPasscodeAttempts = %d after opening with a config saying 100; want the stored 3", got)
	}

	bad := []struct{ key, value string }{
		{"passcode.max_attempts", "0"}, {"passcode.max_attempts", "101"}, {"passcode.max_attempts", "x"},
		{"passcode.ttl", "213504d"}, {"passcode.ttl", "0"}, {"renew.window", "-1h"}, {"renew.proof_max_age", "1s"},
		{"policy.four_eyes", "maybe"}, {"counter.issuers", "system"}, {"counter.issuers", "a\x1bb"}, {"usage.allowed", ""},
		{"no.such.key", "1"},
	}
	for _, b := range bad {
		if _, err := s.PolicySet(as(ctx, "root-admin"), b.key, b.value); !errors.Is(err, ra.ErrInvalid) {
			t.Errorf("PolicySet(%q, %q) = %v; want ErrInvalid", b.key, b.value, err)
		}
	}
	if _, err := s.PolicySet(withRoles(ctx, "rita", principal.Reviewer), "passcode.max_attempts", "7"); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("PolicySet without the admin role = %v; want ErrAuth", err)
	}
	ch, err := s.PolicySet(as(ctx, "root-admin"), "passcode.max_attempts", " 7 ")
	if err != nil || ch.From != "3" || ch.To != "7" {
		t.Fatalf("PolicySet = %+v, %v; want 3 -> 7", ch, err)
	}
	if got := s.Policy().MaxPasscodeAttempts; got != 7 {
		t.Errorf("MaxPasscodeAttempts = %d after set; want 7", got)
	}
	evs, err := s.Audit(as(ctx, "auditor"), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var seeded, set bool
	for _, e := range evs {
		seeded = seeded || (e.Action == "policy-seed" && strings.Contains(e.Detail, "passcode.max_attempts=3"))
		set = set || (e.Action == "policy-set" && e.Operator == "root-admin" && e.Detail == "passcode.max_attempts: 3 -> 7")
	}
	if !seeded || !set {
		t.Errorf("audit log lacks policy-seed (%v) or policy-set (%v): %+v", seeded, set, evs)
	}
	// usage.allowed narrows what may be applied for.
	setPolicy(t, s, "usage.allowed", "email, sign")
	if _, err := s.Apply(as(ctx, "clerk"), []Application{testApplication()}, false); !errors.Is(err, ra.ErrInvalid) || !strings.Contains(err.Error(), "not offered by this CA's policy") {
		t.Errorf("Apply(auth) with usage.allowed=email,sign: %v; want ErrInvalid", err)
	}
	setPolicy(t, s, "usage.allowed", "*")
	// Another process opening the home sees the change.
	other, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := other.Policy().MaxPasscodeAttempts; got != 7 {
		t.Errorf("reopened: MaxPasscodeAttempts = %d; want 7", got)
	}
	rows, err := other.PolicySettings(as(ctx, "alice"))
	if err != nil || len(rows) != len(PolicyKeys) {
		t.Fatalf("PolicySettings = %d rows, %v", len(rows), err)
	}
}

// TestPolicySeededOnceForOldHome: a home without policy rows (made before
// migration 6) is seeded once, from the first opener's configuration.
func TestPolicySeededOnceForOldHome(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	if _, err := s.Store().Raw().ExecContext(ctx, `DELETE FROM policy`); err != nil {
		t.Fatal(err)
	}
	home := s.Home()
	s.Close()
	first := DefaultConfig()
	first.Policy.FourEyes = true
	a := openTestServiceCfg(t, home, clk, first)
	if !a.Policy().FourEyes {
		t.Fatal("first open did not seed four_eyes from its configuration")
	}
	b := openTestServiceCfg(t, home, clk, DefaultConfig())
	if !b.Policy().FourEyes {
		t.Fatal("second open re-seeded the policy from its own configuration")
	}
}

// TestPasscodeLockStored: a lock stays when the limit is raised afterwards.
func TestPasscodeLockStored(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	setPolicy(t, s, "passcode.max_attempts", "2")
	ref, code := issued(t, s)
	wrong := "AAAA-BBBB-CCCC-DDDD-EEEE"
	for range 2 {
		if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: wrong, CSR: csrFor(t, newKey(t))}); !errors.Is(err, ra.ErrAuth) {
			t.Fatalf("wrong passcode: %v", err)
		}
	}
	setPolicy(t, s, "passcode.max_attempts", "10")
	if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))}); !errors.Is(err, ra.ErrAuth) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("right passcode after the limit was raised: %v; want locked", err)
	}
	a, err := s.Issue(as(ctx, "carol"), ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: a.Passcode, CSR: csrFor(t, newKey(t))}); err != nil {
		t.Fatalf("new passcode after resend: %v", err)
	}
}

func openTestServiceCfg(t *testing.T, home string, clk *clock, cfg Config) *Service {
	t.Helper()
	s, err := Open(context.Background(), home, cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Now = clk.Now
	t.Cleanup(func() { s.Close() })
	return s
}
