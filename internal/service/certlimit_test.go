package service

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

func anonymous(ctx context.Context) context.Context {
	return principal.With(ctx, principal.Principal{Kind: principal.Anonymous})
}

// certLimitCode returns the code and parameters of err when it is the
// per-certificate limit's refusal.
func certLimitCode(err error) (map[string]string, bool) {
	var ce *ra.CodedError
	if errors.As(err, &ce) && ce.Code == CodeCertLimit && errors.Is(err, ra.ErrPolicy) {
		return ce.Params, true
	}
	return nil, false
}

// footprint is what filing a request writes: the requests on serial and
// the audit records.
func footprint(t *testing.T, s *Service, serial string) (requests, audit int) {
	t.Helper()
	err := s.store.Read(context.Background(), func(tx *store.Tx) error {
		rs, err := tx.Requests(store.RequestFilter{Serial: serial})
		if err != nil {
			return err
		}
		evs, err := tx.AuditRecords(store.AuditFilter{})
		requests, audit = len(rs), len(evs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return requests, audit
}

// TestCertLimit: revoke and reissue requests without proof of possession
// are limited per certificate (ratelimit.certificate, N in any window, by
// the store's clock); the refusal is a policy error with code
// ratelimit.certificate saying when to file again, and writes nothing.
// Requests with a proof (signed, the holder logged in with the
// certificate) and those an operator files are neither counted nor
// limited. The window slides: the oldest request leaving it makes room
// for one more.
func TestCertLimit(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	admin, rev := as(ctx, "admin"), as(ctx, "rev")
	if _, err := s.PolicySet(admin, "ratelimit.certificate", "3/1d"); err != nil {
		t.Fatal(err)
	}
	got, key := enrolledWithKey(t, s)
	serial := got.Serial
	anon := anonymous(ctx)
	revoke := func(c context.Context) (*RevokeResult, error) {
		return s.Revoke(c, RevokeInput{Serial: serial, Reason: "keyCompromise"})
	}
	reissue := func(c context.Context) (*RevokeResult, error) {
		return s.Reissue(c, ReissueInput{Serial: serial, Reason: "lost"})
	}
	filed := func(what string, r *RevokeResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v; want a request filed", what, err)
		}
		if _, err := s.Reject(rev, r.Ref, "identity not confirmed"); err != nil {
			t.Fatalf("Reject %s: %v", r.Ref, err)
		}
	}
	refused := func(what string, wantWait time.Duration, r *RevokeResult, err error) {
		t.Helper()
		params, ok := certLimitCode(err)
		if !ok {
			t.Fatalf("%s = %+v, %v; want the ratelimit.certificate refusal", what, r, err)
		}
		if want := strconv.Itoa(int(wantWait / time.Second)); params["retry_after"] != want || params["serial"] != serial || params["limit"] != "3/1d" {
			t.Errorf("%s: params %v; want retry_after %s, serial %s, limit 3/1d", what, params, want, serial)
		}
		if want := clk.Now().Add(wantWait).UTC().Format(time.RFC3339); params["retry_at"] != want {
			t.Errorf("%s: retry_at %s; want %s", what, params["retry_at"], want)
		}
	}

	first := clk.Now()
	r, err := revoke(anon)
	filed("anonymous revoke 1", r, err)
	clk.Add(time.Hour)
	r, err = reissue(anon)
	filed("anonymous reissue 2", r, err)
	clk.Add(time.Hour)
	r, err = revoke(asHolder(ctx, "1234")) // another certificate's holder proves nothing
	filed("revoke by someone else's login 3", r, err)
	clk.Add(time.Hour)

	reqs, audit := footprint(t, s, serial)
	r, err = reissue(anon)
	refused("anonymous reissue 4", first.Add(24*time.Hour).Sub(clk.Now()), r, err)
	r, err = revoke(anon)
	refused("anonymous revoke 4", first.Add(24*time.Hour).Sub(clk.Now()), r, err)
	if r2, a2 := footprint(t, s, serial); r2 != reqs || a2 != audit {
		t.Errorf("refusals wrote: requests %d -> %d, audit records %d -> %d; want nothing", reqs, r2, audit, a2)
	}

	// Proven requests and an operator's are not limited, and not counted.
	at := clk.Now()
	proof, err := ca.SignPossession(key, "revoke", serial, at, []byte("keyCompromise"))
	if err != nil {
		t.Fatal(err)
	}
	r, err = s.Revoke(anon, RevokeInput{Serial: serial, Reason: "keyCompromise", Proof: proof, SignedAt: at})
	filed("revoke with a signed proof", r, err)
	r, err = revoke(asHolder(ctx, serial))
	filed("revoke by the holder's login", r, err)
	r, err = reissue(asHolder(ctx, serial))
	filed("reissue by the holder's login", r, err)
	r, err = reissue(withRoles(ctx, "carl", principal.Counter))
	filed("reissue filed by a counter operator", r, err)
	r, err = revoke(as(ctx, "alice"))
	filed("revoke filed by a local operator", r, err)

	// Still three unproven in the window: refused until the first leaves it.
	clk.Add(20 * time.Hour) // first + 23h
	r, err = revoke(anon)
	refused("anonymous revoke after 23h", time.Hour, r, err)
	clk.Add(time.Hour) // first + 24h: the first is out of the window
	r, err = revoke(anon)
	filed("anonymous revoke once the first left the window", r, err)
	r, err = reissue(anon)
	refused("anonymous reissue right after", time.Hour, r, err) // the second leaves at first+25h

	if _, err := s.PolicySet(admin, "ratelimit.certificate", "off"); err != nil {
		t.Fatal(err)
	}
	r, err = reissue(anon)
	filed("anonymous reissue with the limit off", r, err)
}

// TestCertLimitPolicy: the key's syntax and range.
func TestCertLimitPolicy(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"3/24h", "3/1d", true},
		{" 5 / 7d ", "5/7d", true},
		{"1/1m", "1/1m0s", true},
		{"OFF", "off", true},
		{"0/1d", "", false},
		{"1001/1d", "", false},
		{"3/30s", "", false},
		{"3/366d", "", false},
		{"3", "", false},
		{"three/1d", "", false},
		{"", "", false},
	} {
		var p Policy
		err := p.Set("ratelimit.certificate", tt.in)
		if got, _ := p.Get("ratelimit.certificate"); (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("Set(ratelimit.certificate, %q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got := DefaultPolicy().CertLimit.String(); got != "3/1d" {
		t.Errorf("default ratelimit.certificate = %s; want 3/1d", got)
	}
}

// TestCertLimitRace: filings without proof on one certificate race across
// two instances on one store (two cmca serve instances on one PostgreSQL
// database, two processes on one ra.db), limit 1 per day: a revoke and
// two reissues at once, round after round. Exactly one is filed each
// round; the revoke and reissue kinds guard only their own kind against a
// second open request, so the loser of the other kind is refused by the
// limit, counted in the same transaction that files.
func TestCertLimitRace(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if _, err := Init(ctx, home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	ss := []*Service{openTestService(t, home, clk), openTestService(t, home, clk)}
	if _, err := ss[0].PolicySet(as(ctx, "admin"), "ratelimit.certificate", "1/1d"); err != nil {
		t.Fatal(err)
	}
	got, _ := enrolledWithKey(t, ss[0])
	anon := anonymous(ctx)
	for round := range 5 {
		var refs [3]string
		errs := fanOut(3, func(i int) error {
			var r *RevokeResult
			var err error
			if i == 0 {
				r, err = ss[0].Revoke(anon, RevokeInput{Serial: got.Serial, Reason: "keyCompromise"})
			} else {
				r, err = ss[i%2].Reissue(anon, ReissueInput{Serial: got.Serial, Reason: "lost"})
			}
			if err == nil {
				refs[i] = r.Ref
			}
			return err
		})
		wins, limited := 0, 0
		for i, err := range errs {
			if err == nil {
				wins++
				if _, err := ss[1].Reject(as(ctx, "rev"), refs[i], "not the holder"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, ok := certLimitCode(err); ok {
				limited++
			} else if !errors.Is(err, ra.ErrConflict) {
				t.Errorf("round %d, filing %d: %v; want success, the limit or an open request", round, i, err)
			}
		}
		if wins != 1 || limited < 1 {
			t.Fatalf("round %d: %d filed, %d refused by the limit (errors %v); want exactly 1 filed, the others refused", round, wins, limited, errs)
		}
		var n int
		err := ss[1].store.Read(ctx, func(tx *store.Tx) error {
			at, err := tx.UnprovenSince(got.Serial, time.Time{})
			n = len(at)
			return err
		})
		if err != nil || n != round+1 {
			t.Fatalf("round %d: %d requests counted, %v; want %d", round, n, err, round+1)
		}
		clk.Add(24*time.Hour + time.Second)
	}
}
