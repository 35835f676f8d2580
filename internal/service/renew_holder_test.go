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
)

func asHolder(ctx context.Context, serial string) context.Context {
	return principal.With(ctx, principal.Principal{Kind: principal.Subscriber, Name: serial})
}

// TestRenewByHolder: without a signed proof, only the Subscriber principal
// named by the certificate's serial (authenticated by TLS with it) renews,
// under the same rules as a signed proof: the renewal window, once per
// certificate, revoked certificates refused.
func TestRenewByHolder(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	got, _ := enrolledWithKey(t, s)
	other, _ := enrolledWithKey(t, s)
	renew := func(ctx context.Context, serial string, csr []byte) (*RenewResult, error) {
		return s.Renew(ctx, RenewInput{Serial: serial, CSR: csr})
	}
	renewals := func() int {
		t.Helper()
		rs, err := s.Requests(as(ctx, "alice"), store.RequestFilter{Kinds: []ra.Kind{ra.KindRenew}})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}

	// Anyone else without a proof is refused and nothing is recorded.
	for name, c := range map[string]context.Context{
		"anonymous":          principal.With(ctx, principal.Principal{Kind: principal.Anonymous}),
		"local operator":     as(ctx, "alice"),
		"holder of another":  asHolder(ctx, other.Serial),
		"operator by serial": principal.With(ctx, principal.Principal{Kind: principal.Operator, Name: got.Serial}),
	} {
		if _, err := renew(c, got.Serial, csrFor(t, newKey(t))); !errors.Is(err, ra.ErrAuth) || !strings.Contains(err.Error(), "proof of possession") {
			t.Errorf("Renew as %s without proof = %v; want ErrAuth asking for a proof of possession", name, err)
		}
	}
	if n := renewals(); n != 0 {
		t.Fatalf("%d renewal requests after refusals; want 0", n)
	}

	// The holder, far from expiry: a request for review; the audit says how
	// possession was proven. A retry names the open request (coded).
	r, err := renew(asHolder(ctx, strings.ToUpper(got.Serial)), got.Serial, csrFor(t, newKey(t)))
	if err != nil || r.State != ra.StateSubmitted || r.Issued != nil {
		t.Fatalf("holder renew outside window = %+v, %v; want submitted", r, err)
	}
	evs, err := s.Audit(as(ctx, "alice"), store.AuditFilter{Ref: r.Ref})
	if err != nil || len(evs) == 0 || evs[0].Operator != got.Serial || !strings.Contains(evs[0].Detail, "TLS client authentication") {
		t.Fatalf("audit of %s = %+v, %v; want the holder recorded with TLS possession", r.Ref, evs, err)
	}
	_, err = renew(asHolder(ctx, got.Serial), got.Serial, csrFor(t, newKey(t)))
	var coded *ra.CodedError
	if !errors.Is(err, ra.ErrConflict) || !errors.As(err, &coded) || coded.Code != CodeOpenRequest || coded.Params["ref"] != r.Ref {
		t.Fatalf("second holder renew = %v; want %s naming %s", err, CodeOpenRequest, r.Ref)
	}
	if _, err := s.Reject(as(ctx, "alice"), r.Ref, "not yet"); err != nil {
		t.Fatal(err)
	}

	// Inside the window: issued at once, the identity from the application.
	clk.Add(340 * 24 * time.Hour)
	newKey1 := newKey(t)
	csr := csrFor(t, newKey1)
	r, err = renew(asHolder(ctx, got.Serial), got.Serial, csr)
	if err != nil || !r.AutoApprove || r.Issued == nil || r.Issued.Serial == got.Serial {
		t.Fatalf("holder renew inside window = %+v, %v; want a new certificate", r, err)
	}
	if strings.Contains(r.Issued.Subject, "Mallory") {
		t.Fatalf("renewed subject %q came from the CSR", r.Issued.Subject)
	}
	// Once per certificate: the same key gets it again, another key not.
	again, err := renew(asHolder(ctx, got.Serial), got.Serial, csr)
	if err != nil || again.Issued == nil || !again.Issued.Retrieved || again.Issued.Serial != r.Issued.Serial {
		t.Fatalf("holder renew retry = %+v, %v; want the same certificate retrieved", again, err)
	}
	if _, err := renew(asHolder(ctx, got.Serial), got.Serial, csrFor(t, newKey(t))); !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("holder renew with another key after renewal = %v; want ErrConflict", err)
	}

	// Revoked: refused.
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: other.Serial, Reason: "keyCompromise", Comment: "test", Direct: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := renew(asHolder(ctx, other.Serial), other.Serial, csrFor(t, newKey(t))); !errors.Is(err, ra.ErrConflict) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("holder renew of a revoked certificate = %v; want ErrConflict saying revoked", err)
	}
}
