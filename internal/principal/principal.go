// Package principal says who is calling. The transport authenticates the
// caller (the local CLI from the validated operator identity; `cmca serve`
// from the TLS client certificate) and puts a Principal in the context;
// service operations read it from there and check its roles. No service
// operation takes a caller's name as a parameter.
package principal

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cmca/cmca/internal/ra"
	"golang.org/x/text/unicode/norm"
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

// AnyRole, passed to Require, asks for an operator holding any role (the
// review queue, certificate and policy reads, the batch download). It is
// not a role an operator can be given.
const AnyRole Role = "operator"

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

// Error codes of an AuthError (stable; a transport renders them).
const (
	CodeNoPrincipal = "auth.no_principal" // nobody is authenticated
	CodeMissingRole = "auth.missing_role" // the caller lacks the role
)

// AuthError says an operation was refused because of who is calling. It
// carries a code and parameters, not CLI wording; it wraps ra.ErrAuth (exit
// 5 in the CLI).
type AuthError struct {
	Code   string // CodeNoPrincipal or CodeMissingRole
	Role   Role   // the role the operation needs ("" when any caller will do)
	Caller string // who called, for CodeMissingRole
}

func (e *AuthError) Error() string {
	switch {
	case e.Code == CodeMissingRole:
		return fmt.Sprintf("%s does not hold the %s role this operation needs", e.Caller, e.Role)
	case e.Role != "":
		return fmt.Sprintf("no authenticated caller; this operation needs the %s role", e.Role)
	}
	return "no authenticated caller"
}

// Unwrap makes every AuthError an ra.ErrAuth.
func (e *AuthError) Unwrap() error { return ra.ErrAuth }

// Require returns the caller in ctx if it holds role r (any caller when r
// is "", any operator role when r is AnyRole), and an *AuthError
// otherwise. The System principal holds every role.
func Require(ctx context.Context, r Role) (Principal, error) {
	p, ok := From(ctx)
	if !ok {
		return Principal{}, &AuthError{Code: CodeNoPrincipal, Role: r}
	}
	if r == AnyRole {
		if p.Kind != System && len(p.Roles) == 0 {
			return Principal{}, &AuthError{Code: CodeMissingRole, Role: r, Caller: p.String()}
		}
		return p, nil
	}
	if r != "" && p.Kind != System && !p.Has(r) {
		return Principal{}, &AuthError{Code: CodeMissingRole, Role: r, Caller: p.String()}
	}
	return p, nil
}

// SystemPrincipal is cmca acting on its own (renewals inside the window).
func SystemPrincipal() Principal { return Principal{Kind: System, Name: "system"} }

// LocalOperator is the CLI's caller on the CA's own machine: the validated
// operator name with every role (the home's files are the trust boundary).
func LocalOperator(name string) Principal {
	return Principal{Kind: Local, Name: name, Roles: slices.Clone(AllRoles)}
}

// Same reports whether p is the operator recorded as name (four-eyes):
// names compare after NFC normalisation and trimming, so a name stored
// before operator names were validated ("alice ") matches "alice".
func (p Principal) Same(name string) bool {
	if p.Kind == System || p.Kind == Anonymous {
		return false
	}
	a, b := norm.NFC.String(strings.TrimSpace(p.Name)), norm.NFC.String(strings.TrimSpace(name))
	return a != "" && a == b
}
