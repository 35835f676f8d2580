package service

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// TestRenewRetry: a renewal whose answer was lost (a crash after the CA
// committed) is finished by asking again with the same new key and a fresh
// proof by the old key: the recorded certificate comes back, nothing is
// written. Another key, or a proof that does not verify, gets nothing.
func TestRenewRetry(t *testing.T) {
	type proofBy int
	const (
		oldHolder proofBy = iota
		stranger
		staleProof
	)
	tests := []struct {
		name    string
		sameKey bool // the CSR is for the renewal certificate's key
		proof   proofBy
		later   time.Duration // clock moved on after the first renewal
		revoke  bool          // the old certificate is revoked before the retry
		wantErr error         // nil: the recorded certificate again
		wantMsg string
	}{
		{name: "same key", sameKey: true},
		{name: "same key after the old certificate expired", sameKey: true, later: 40 * 24 * time.Hour},
		{name: "different key", wantErr: ra.ErrConflict, wantMsg: "already renewed as"},
		{name: "same key, proof by a stranger", sameKey: true, proof: stranger, wantErr: ra.ErrAuth},
		{name: "same key, stale proof", sameKey: true, proof: staleProof, wantErr: ra.ErrAuth, wantMsg: "too far from now"},
		{name: "same key, old certificate revoked", sameKey: true, revoke: true, wantErr: ra.ErrConflict, wantMsg: "revoked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, clk := newTestService(t)
			got, oldKey := enrolledWithKey(t, s)
			renew := func(signer, key crypto.Signer, at time.Time) (*RenewResult, error) {
				csr := csrFor(t, key)
				proof, err := ca.SignPossession(signer, "renew", got.Serial, at, csr)
				if err != nil {
					t.Fatal(err)
				}
				return s.Renew(as(ctx, "subscriber"), RenewInput{Serial: got.Serial, CSR: csr, SignedAt: at, Proof: proof})
			}
			clk.Add(340 * 24 * time.Hour) // inside the renewal window
			newK := newKey(t)
			first, err := renew(oldKey, newK, clk.Now())
			if err != nil || first.Issued == nil || first.Issued.Retrieved {
				t.Fatalf("first renewal = %+v, %v; want a new certificate", first, err)
			}
			if tc.revoke {
				if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: got.Serial, Reason: "superseded", Direct: true, Comment: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			clk.Add(tc.later)
			certsBefore, auditBefore := countCertsAudit(t, s)

			key := newK
			if !tc.sameKey {
				key = newKey(t)
			}
			signer, at := oldKey, clk.Now()
			switch tc.proof {
			case stranger:
				signer = newKey(t)
			case staleProof:
				at = at.Add(-time.Hour)
			}
			again, err := renew(signer, key, at)
			if certs, audit := countCertsAudit(t, s); certs != certsBefore || audit != auditBefore {
				t.Errorf("the retry wrote: %d certificates and %d audit events, had %d and %d", certs, audit, certsBefore, auditBefore)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !contains(errString(err), tc.wantMsg) {
					t.Fatalf("retry = %+v, %v; want %v with %q", again, err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if again.Issued == nil || !again.Issued.Retrieved || again.Issued.Serial != first.Issued.Serial ||
				again.Ref != first.Ref || again.State != ra.StateCompleted || !again.AutoApprove || again.OldSerial != got.Serial {
				t.Fatalf("retry = %+v (issued %+v); want the first renewal %+v again, retrieved", again, again.Issued, first)
			}
			if string(again.Issued.Certificate) != string(first.Issued.Certificate) || len(again.Issued.Chain) == 0 {
				t.Error("the retry returned other certificate bytes or no chain")
			}
		})
	}
}

func countCertsAudit(t *testing.T, s *Service) (certs, audit int) {
	t.Helper()
	err := s.store.Read(context.Background(), func(tx *store.Tx) error {
		cs, err := tx.Certificates(store.CertFilter{})
		if err != nil {
			return err
		}
		ev, err := tx.AuditRecords(store.AuditFilter{})
		certs, audit = len(cs), len(ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return certs, audit
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
