package service

import (
	"context"
	"errors"
	"testing"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// TestOperatorReadsCheckTheCaller: the service checks the caller of every
// operation itself, not only the transport's route table: the review
// queue, the certificate list and detail, the policy settings and the
// batch download need an operator (any role); anonymous callers,
// subscribers and callers without a principal are refused with ErrAuth.
func TestOperatorReadsCheckTheCaller(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	got, _ := enrolledWithKey(t, s)
	ops := map[string]func(ctx context.Context) error{
		"Requests":       func(ctx context.Context) error { _, err := s.Requests(ctx, store.RequestFilter{}); return err },
		"Certificates":   func(ctx context.Context) error { _, err := s.Certificates(ctx, "", 0); return err },
		"Certificate":    func(ctx context.Context) error { _, err := s.Certificate(ctx, got.Serial); return err },
		"PolicySettings": func(ctx context.Context) error { _, err := s.PolicySettings(ctx); return err },
		"DownloadMany":   func(ctx context.Context) error { _, err := s.DownloadMany(ctx, nil); return err },
	}
	callers := map[string]context.Context{
		"no principal": ctx,
		"anonymous":    principal.With(ctx, principal.Principal{Kind: principal.Anonymous}),
		"subscriber":   asHolder(ctx, got.Serial),
		"no roles":     withRoles(ctx, "nobody"),
	}
	for op, call := range ops {
		for who, c := range callers {
			if err := call(c); !errors.Is(err, ra.ErrAuth) {
				t.Errorf("%s as %s = %v; want ErrAuth", op, who, err)
			}
		}
		for who, c := range map[string]context.Context{
			"auditor": withRoles(ctx, "bob", principal.Auditor),
			"counter": withRoles(ctx, "carl", principal.Counter),
			"local":   as(ctx, "alice"),
			"system":  principal.With(ctx, principal.SystemPrincipal()),
		} {
			if err := call(c); err != nil {
				t.Errorf("%s as %s = %v; want it allowed", op, who, err)
			}
		}
	}
}
