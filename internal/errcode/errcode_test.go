package errcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

func TestOf(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{ra.WithCode("request.not_found", fmt.Errorf("no request X: %w", ra.ErrNotFound), "ref", "X"), RequestNotFound},
		{&ra.FieldError{Field: "mobile", Msg: "11 digits"}, InvalidField},
		{fmt.Errorf("bad CSR: %w", ra.ErrInvalid), Invalid},
		{fmt.Errorf("x: %w", ra.ErrNotFound), NotFound},
		{fmt.Errorf("x: %w", service.ErrNoHome), NoHome},
		{fmt.Errorf("x: %w", ra.ErrConflict), Conflict},
		{fmt.Errorf("x: %w", ra.ErrAuth), AuthFailed},
		{fmt.Errorf("x: %w", ra.ErrPolicy), Policy},
		{&principal.AuthError{Code: principal.CodeMissingRole, Role: "issuer"}, RoleRequired},
		{&principal.AuthError{Code: principal.CodeNoPrincipal, Role: "issuer"}, AuthRequired},
		{&service.BatchError{}, BatchInvalid},
		{context.Canceled, Cancelled},
		{errors.New("disk full"), Failed},
	}
	for _, tt := range tests {
		if got, _ := Of(tt.err); got != tt.code {
			t.Errorf("Of(%v) = %s; want %s", tt.err, got, tt.code)
		}
	}
	if _, p := Of(ra.WithCode("passcode.wrong", ra.ErrAuth, "ref", "R", "attempts_left", "2")); p["attempts_left"] != "2" {
		t.Errorf("Of(passcode.wrong) params = %v; want attempts_left 2", p)
	}
}

// TestCodesTranslatedAndDocumented: every code has a zh-Hans message and
// a row in docs/cli.md (or the serve list after it).
func TestCodesTranslatedAndDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	all := []string{Invalid, InvalidField, BatchInvalid, NotFound, RequestNotFound, CertNotFound, ApplicantUnknown,
		Conflict, PasscodeWrong, PasscodeLocked, PasscodeExpired, PasscodeUsed, AuthFailed, AuthRequired, RoleRequired,
		Policy, FourEyes, Cancelled, Usage, Failed, NoHome, RateLimited, Internal, Unavailable, MalformedJSON,
		UnknownField, TooLarge, ContentType, RouteNotFound, Method}
	for _, c := range all {
		if _, _, ok := msg.CodeTexts(c); !ok {
			t.Errorf("code %s has no message in internal/msg/zh-Hans.txt", c)
		}
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("docs/cli.md does not list error code %s", c)
		}
	}
	if len(msg.Codes()) != len(all) {
		t.Errorf("the catalogue has %d codes, errcode %d", len(msg.Codes()), len(all))
	}
}
