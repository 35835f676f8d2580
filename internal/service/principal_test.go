package service

import (
	"context"
	"errors"
	"testing"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
)

// as puts a local operator with every role in ctx, as the CLI does.
func as(ctx context.Context, name string) context.Context {
	return principal.With(ctx, principal.LocalOperator(name))
}

func withRoles(ctx context.Context, name string, roles ...principal.Role) context.Context {
	return principal.With(ctx, principal.Principal{Kind: principal.Operator, Name: name, Roles: roles})
}

// TestRolesRequired: each operation needs its role; no principal at all is
// an auth error naming the role.
func TestRolesRequired(t *testing.T) {
	bg := context.Background()
	s, _ := newTestService(t)
	res, err := s.Apply(principal.With(bg, principal.Principal{Kind: principal.Anonymous}), []Application{testApplication()}, false)
	if err != nil {
		t.Fatalf("anonymous Apply: %v", err)
	}
	ref := res[0].Ref
	counterApp := testApplication()
	counterApp.DocumentsChecked = true

	tests := []struct {
		name string
		ctx  context.Context
		op   func(ctx context.Context) error
		role principal.Role
		code string
	}{
		{"approve without principal", bg, func(ctx context.Context) error { _, err := s.Approve(ctx, ref); return err }, "", principal.CodeNoPrincipal},
		{"issue without principal", bg, func(ctx context.Context) error { _, err := s.Issue(ctx, ref, false); return err }, principal.Issuer, principal.CodeNoPrincipal},
		{"approve as issuer", withRoles(bg, "ivan", principal.Issuer), func(ctx context.Context) error { _, err := s.Approve(ctx, ref); return err }, principal.Reviewer, principal.CodeMissingRole},
		{"reject as issuer", withRoles(bg, "ivan", principal.Issuer), func(ctx context.Context) error { _, err := s.Reject(ctx, ref, "no"); return err }, principal.Reviewer, principal.CodeMissingRole},
		{"issue as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error { _, err := s.Issue(ctx, ref, false); return err }, principal.Issuer, principal.CodeMissingRole},
		{"issue many as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error { _, _, err := s.IssueMany(ctx, nil, true, false); return err }, principal.Issuer, principal.CodeMissingRole},
		{"crl as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error { _, err := s.CRL(ctx, CRLOptions{}); return err }, principal.Issuer, principal.CodeMissingRole},
		{"audit as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error { _, err := s.VerifyAudit(ctx); return err }, principal.Auditor, principal.CodeMissingRole},
		{"doctor as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error { _, err := s.Doctor(ctx); return err }, principal.Auditor, principal.CodeMissingRole},
		{"counter apply as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error {
			_, err := s.Apply(ctx, []Application{counterApp}, false)
			return err
		}, principal.Counter, principal.CodeMissingRole},
		{"direct revoke as reviewer", withRoles(bg, "rita", principal.Reviewer), func(ctx context.Context) error {
			_, err := s.Revoke(ctx, RevokeInput{Serial: "0a0b0c0d", Reason: "keyCompromise", Direct: true, Comment: "x"})
			return err
		}, principal.Revoker, principal.CodeMissingRole},
		{"backup as auditor", withRoles(bg, "otto", principal.Auditor), func(ctx context.Context) error { _, err := s.Backup(ctx, t.TempDir()+"/b.db", false); return err }, principal.Admin, principal.CodeMissingRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op(tt.ctx)
			var ae *principal.AuthError
			if !errors.As(err, &ae) || !errors.Is(err, ra.ErrAuth) {
				t.Fatalf("err = %v; want an *principal.AuthError wrapping ra.ErrAuth", err)
			}
			if ae.Code != tt.code || ae.Role != tt.role {
				t.Errorf("AuthError = {%s %s}; want {%s %s}", ae.Code, ae.Role, tt.code, tt.role)
			}
		})
	}
	// Nothing changed: the request is still submitted, and the right role works.
	if d, err := s.Approve(withRoles(bg, "rita", principal.Reviewer), ref); err != nil || d.State != ra.StateApproved {
		t.Fatalf("Approve as reviewer = %v, %v", d, err)
	}
}

// TestRevocationApprovalNeedsRevoker: approving a revocation request is the
// revoker's, not the reviewer's.
func TestRevocationApprovalNeedsRevoker(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	serial := downloaded(t, s, "张三", "11010519491231002X")
	rv, err := s.Revoke(as(ctx, "holder"), RevokeInput{Serial: serial, Reason: "affiliationChanged"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(withRoles(ctx, "rita", principal.Reviewer), rv.Ref); !errors.Is(err, ra.ErrAuth) {
		t.Fatalf("reviewer approves a revocation: %v; want ErrAuth", err)
	}
	if _, err := s.Approve(withRoles(ctx, "rob", principal.Revoker), rv.Ref); err != nil {
		t.Fatalf("revoker approves a revocation: %v", err)
	}
}

// TestFourEyesComparesPrincipals: "alice " recorded by an older cmca and
// "alice" are one person.
func TestFourEyesComparesPrincipals(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	setPolicy(t, s, "policy.four_eyes", "true")
	res, err := s.Apply(as(ctx, "alice "), []Application{testApplication()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(as(ctx, "alice"), res[0].Ref); !errors.Is(err, ra.ErrPolicy) {
		t.Fatalf(`"alice" approves what "alice " submitted: %v; want ErrPolicy`, err)
	}
}

// setPolicy changes the home's policy as an admin would.
func setPolicy(t *testing.T, s *Service, key, value string) {
	t.Helper()
	if _, err := s.PolicySet(as(context.Background(), "admin"), key, value); err != nil {
		t.Fatalf("PolicySet(%s, %s): %v", key, value, err)
	}
}
