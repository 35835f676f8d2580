package cli

import (
	"errors"
	"os/user"
	"testing"

	"github.com/cmca/cmca/internal/principal"
)

// TestCallerIdentityRule: one rule everywhere: --operator (or
// CMCA_OPERATOR, config) > the OS user from the user database, never $USER;
// validated; a Local principal with every role.
func TestCallerIdentityRule(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no OS user here: %v", err)
	}
	t.Setenv("USER", "") // cron, containers: $USER unset
	t.Setenv("CMCA_OPERATOR", "")
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr bool
	}{
		{"OS user, $USER unset", nil, u.Username, false},
		{"flag", []string{"operator", "carol"}, "carol", false},
		{"trimmed", []string{"operator", "  carol "}, "carol", false},
		{"NFC", []string{"operator", "e\u0301ric"}, "\u00e9ric", false},
		{"reserved", []string{"operator", "system"}, "", true},
		{"control character", []string{"operator", "bob\x1b[2J"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := testFactory(t, false, nil, tt.args...)
			p, err := f.Caller()
			if tt.wantErr {
				var ue *usageError
				if !errors.As(err, &ue) || ExitCode(err) != ExitUsage {
					t.Fatalf("Caller() = %+v, %v; want a usage error", p, err)
				}
				return
			}
			if err != nil || p.Name != tt.want || p.Kind != principal.Local || len(p.Roles) != len(principal.AllRoles) {
				t.Fatalf("Caller() = %+v, %v; want a local %q with every role", p, err, tt.want)
			}
		})
	}
}
