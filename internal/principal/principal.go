// Package principal says who is calling. The transport authenticates the
// caller (the local CLI from the validated operator identity; `cmca serve`
// from the TLS client certificate) and puts a Principal in the context;
// service operations read it from there and check its roles. No service
// operation takes a caller's name as a parameter.
package principal

import (
	"context"
	"slices"
	"strings"
)

// Role is a permission an operator holds.
type Role string

// The roles. Admin changes policy and manages operators; it does not imply
// the others.
const (
	Reviewer Role = "reviewer" // approve or reject requests
	Issuer   Role = "issuer"   // authorise issuance (passcodes), sign CRLs
	Revoker  Role = "revoker"  // approve revocations
	Auditor  Role = "auditor"  // read the audit log, run doctor
	Counter  Role = "counter"  // enter in-person applications
	Admin    Role = "admin"    // policy and operators
)

// AllRoles lists every role, in display order.
var AllRoles = []Role{Reviewer, Issuer, Revoker, Auditor, Counter, Admin}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, bool) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	return r, slices.Contains(AllRoles, r)
}

// Kind is how the caller was identified.
type Kind string

// The kinds of caller.
const (
	// Local: the CLI on the CA's own machine, with the home's files; the
	// name is the validated operator identity. Whoever can run cmca on the
	// home holds every role there (the files are the trust boundary).
	Local Kind = "local"
	// Operator: authenticated by an operator certificate (cmca serve).
	Operator Kind = "operator"
	// Subscriber: authenticated by their own certificate or a passcode.
	Subscriber Kind = "subscriber"
	// Anonymous: nothing authenticated (apply over the network).
	Anonymous Kind = "anonymous"
	// System: cmca itself (renewals inside the window, scheduled CRLs).
	System Kind = "system"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind  Kind   `json:"kind"`
	Name  string `json:"name"`            // operator name, subscriber's serial, or "" for anonymous
	Roles []Role `json:"roles,omitempty"` // operator roles
}

// Has reports whether the principal holds role r.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// String is the name written in audit records.
func (p Principal) String() string {
	switch p.Kind {
	case Anonymous:
		return "anonymous"
	case System:
		return "system"
	}
	return p.Name
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal in ctx, and false when there is none.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
