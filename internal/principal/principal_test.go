package principal

import (
	"context"
	"errors"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// TestRequireAnyRole: AnyRole admits an operator of any role and the
// System principal; a caller with no role, an anonymous one, a
// subscriber and no principal at all are refused with ErrAuth. AnyRole is
// not a role an operator can be given.
func TestRequireAnyRole(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		ok   bool
	}{
		{"auditor", With(ctx, Principal{Kind: Operator, Name: "bob", Roles: []Role{Auditor}}), true},
		{"counter", With(ctx, Principal{Kind: Operator, Name: "carl", Roles: []Role{Counter}}), true},
		{"local", With(ctx, LocalOperator("alice")), true},
		{"system", With(ctx, SystemPrincipal()), true},
		{"no roles", With(ctx, Principal{Kind: Operator, Name: "nobody"}), false},
		{"subscriber", With(ctx, Principal{Kind: Subscriber, Name: "0a1b"}), false},
		{"anonymous", With(ctx, Principal{Kind: Anonymous}), false},
		{"no principal", ctx, false},
	} {
		_, err := Require(tt.ctx, AnyRole)
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, ra.ErrAuth) {
			t.Errorf("Require(%s, AnyRole) = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
	if _, ok := ParseRole(string(AnyRole)); ok {
		t.Errorf("ParseRole(%q) accepted; AnyRole must not be a role an operator holds", AnyRole)
	}
}
