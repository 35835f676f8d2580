package service

import (
	"context"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// TestRevokeByHolder: a revocation asked by the certificate's holder,
// authenticated by TLS with that certificate (the Subscriber principal
// named by its serial), shows the reviewer that possession was proven, as
// a signed proof does; anyone else's request (another certificate's
// holder, anonymous) is filed without that mark. Every one waits for
// review: none is applied unreviewed.
func TestRevokeByHolder(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	mine, _ := enrolledWithKey(t, s)
	theirs, _ := enrolledWithKey(t, s)
	other, _ := enrolledWithKey(t, s)
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		serial string
		proven bool
	}{
		{"holder", asHolder(ctx, strings.ToUpper(mine.Serial)), mine.Serial, true},
		{"holder of another certificate", asHolder(ctx, other.Serial), theirs.Serial, false},
		{"anonymous", principal.With(ctx, principal.Principal{Kind: principal.Anonymous}), other.Serial, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.Revoke(tt.ctx, RevokeInput{Serial: tt.serial, Reason: "keyCompromise"})
			if err != nil || r.Revoked || r.State != ra.StateSubmitted {
				t.Fatalf("Revoke = %+v, %v; want a request waiting for review", r, err)
			}
			evs, err := s.Audit(as(ctx, "alice"), store.AuditFilter{Ref: r.Ref})
			if err != nil || len(evs) != 1 {
				t.Fatalf("audit of %s = %v, %v; want one record", r.Ref, evs, err)
			}
			if got := strings.Contains(evs[0].Detail, "possession=proven"); got != tt.proven {
				t.Errorf("revoke-request detail %q: possession proven = %v; want %v", evs[0].Detail, got, tt.proven)
			}
		})
	}
}
