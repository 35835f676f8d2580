package service

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

func TestParseRoles(t *testing.T) {
	for _, tt := range []struct {
		in      []string
		want    string
		wantErr string
	}{
		{in: []string{"admin,reviewer"}, want: "reviewer,admin"},
		{in: []string{"Issuer", " counter ", "issuer"}, want: "issuer,counter"},
		{in: []string{"auditor,"}, want: "auditor"},
		{in: nil, wantErr: "at least one role"},
		{in: []string{","}, wantErr: "at least one role"},
		{in: []string{"reviewer,root"}, wantErr: `unknown role "root"`},
	} {
		got, err := ParseRoles(tt.in)
		if tt.wantErr != "" {
			if !errors.Is(err, ra.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRoles(%q) = %v, %v; want an invalid-input error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(rolesStrings(got), ",") != tt.want {
			t.Errorf("ParseRoles(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestOperatorRoles: only an admin (or the local CLI) adds and revokes
// operators; the audit names the caller; a revoked operator's certificate
// is counted and listed for the CRL.
func TestOperatorRoles(t *testing.T) {
	s, _ := newTestService(t)
	pub := newKey(t).Public()
	in := OperatorInput{Name: "alice", Roles: []principal.Role{principal.Reviewer}, PublicKey: pub}
	reviewer := principal.With(context.Background(), principal.Principal{Kind: principal.Operator, Name: "rita", Roles: []principal.Role{principal.Reviewer, principal.Auditor}})
	for _, tt := range []struct {
		name string
		ctx  context.Context
		msg  string
	}{
		{"no caller", context.Background(), "no authenticated caller; this operation needs the admin role"},
		{"anonymous", principal.With(context.Background(), principal.Principal{Kind: principal.Anonymous}), "anonymous does not hold the admin role"},
		{"subscriber", principal.With(context.Background(), principal.Principal{Kind: principal.Subscriber, Name: "abc"}), "abc does not hold the admin role"},
		{"reviewer", reviewer, "rita does not hold the admin role"},
	} {
		if _, err := s.AddOperator(tt.ctx, in); !errors.Is(err, ra.ErrAuth) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("AddOperator as %s = %v; want ErrAuth containing %q", tt.name, err, tt.msg)
		}
		if _, err := s.RevokeOperator(tt.ctx, "alice", ""); !errors.Is(err, ra.ErrAuth) {
			t.Errorf("RevokeOperator as %s = %v; want ErrAuth", tt.name, err)
		}
	}
	// An auditor may list, a reviewer-only operator may not.
	if _, err := s.Operators(reviewer, true); err != nil {
		t.Errorf("Operators as an auditor = %v", err)
	}
	if _, err := s.Operators(principal.With(context.Background(), principal.Principal{Kind: principal.Operator, Name: "x", Roles: []principal.Role{principal.Counter}}), true); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("Operators as a counter clerk = %v; want ErrAuth", err)
	}

	admin := principal.With(context.Background(), principal.Principal{Kind: principal.Operator, Name: "ada", Roles: []principal.Role{principal.Admin}})
	res, err := s.AddOperator(admin, in)
	if err != nil {
		t.Fatalf("AddOperator as admin: %v", err)
	}
	if res.Operator.CreatedBy != "ada" || !slices.Equal(res.Operator.Roles, in.Roles) {
		t.Errorf("operator = %+v; want created by ada with roles %v", res.Operator, in.Roles)
	}
	checkpointAtHead(t, s, "operator-add")
	if _, err := s.AddOperator(admin, in); !errors.Is(err, ra.ErrConflict) {
		t.Errorf("AddOperator(alice again) = %v; want ErrConflict", err)
	}
	if _, err := s.AddOperator(admin, OperatorInput{Name: "bob", Roles: in.Roles}); !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("AddOperator(no key) = %v; want ErrInvalid", err)
	}
	if _, err := s.RevokeOperator(admin, "alice", ""); err != nil {
		t.Fatalf("RevokeOperator: %v", err)
	}
	checkpointAtHead(t, s, "operator-revoke")
	if _, err := s.RevokeOperator(admin, "alice", ""); !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("RevokeOperator(twice) = %v; want ErrNotFound", err)
	}
	err = s.store.Read(context.Background(), func(tx *store.Tx) error {
		n, err := tx.RevokedCount()
		if err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("RevokedCount = %d; want 1 (the operator certificate)", n)
		}
		var listed []string
		if err := tx.EachRevoked(s.Now(), func(r store.Revoked) error { listed = append(listed, r.Serial); return nil }); err != nil {
			return err
		}
		if !slices.Equal(listed, []string{res.Operator.Serial}) {
			t.Errorf("EachRevoked = %v; want the operator certificate %s", listed, res.Operator.Serial)
		}
		ev, err := tx.AuditRecords(store.AuditFilter{Serial: res.Operator.Serial})
		if err != nil {
			return err
		}
		if len(ev) != 2 || ev[0].Operator != "ada" || ev[0].Action != "operator-add" || ev[1].Action != "operator-revoke" || !strings.Contains(ev[1].Detail, "reason=cessationOfOperation") {
			t.Errorf("audit = %+v; want operator-add and operator-revoke by ada", ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkpointAtHead: the signed audit checkpoint names the newest record, so
// cutting the records of what just happened would be found.
func checkpointAtHead(t *testing.T, s *Service, after string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Home(), CheckpointFile))
	if err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	var cp struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	err = s.store.Read(context.Background(), func(tx *store.Tx) error {
		head, _, err := tx.AuditHead()
		if err == nil && head != cp.Seq {
			t.Errorf("after %s the checkpoint signs record %d; the log ends at %d", after, cp.Seq, head)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
