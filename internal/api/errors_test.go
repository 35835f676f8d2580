package api

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

func TestFromErrorKeepsClassAndCode(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
		is     error
	}{
		{&ra.FieldError{Field: "mobile", Msg: "11 digits"}, CodeInvalidField, 422, ra.ErrInvalid},
		{&service.BatchError{Errors: []service.ItemError{{Index: 2, Error: "x"}}}, CodeBatchInvalid, 422, ra.ErrInvalid},
		{fmt.Errorf("bad CSR: %w", ra.ErrInvalid), CodeInvalid, 400, ra.ErrInvalid},
		{ra.WithCode("request.not_found", fmt.Errorf("no request X: %w", ra.ErrNotFound), "ref", "X"), CodeRequestNotFound, 404, ra.ErrNotFound},
		{fmt.Errorf("x: %w", ra.ErrNotFound), CodeNotFound, 404, ra.ErrNotFound},
		{fmt.Errorf("x: %w", ra.ErrConflict), CodeConflict, 409, ra.ErrConflict},
		{ra.WithCode("passcode.wrong", fmt.Errorf("wrong: %w", ra.ErrAuth), "attempts_left", "2"), CodePasscodeWrong, 403, ra.ErrAuth},
		{ra.WithCode("passcode.locked", fmt.Errorf("locked: %w", ra.ErrAuth)), CodePasscodeLocked, 403, ra.ErrAuth},
		{ra.WithCode("policy.four_eyes", fmt.Errorf("4e: %w", ra.ErrPolicy)), CodeFourEyes, 403, ra.ErrPolicy},
		{ra.WithCode("no.such.code", fmt.Errorf("x: %w", ra.ErrPolicy)), CodePolicy, 403, ra.ErrPolicy},
		{RoleRequired("approve", "reviewer"), CodeRoleRequired, 403, ra.ErrAuth},
		{errors.New("disk full at /var/lib/cmca"), CodeInternal, 500, nil},
	}
	for _, tt := range tests {
		e := FromError(tt.err)
		if e.Code != tt.code || e.Status() != tt.status {
			t.Errorf("FromError(%v) = %s %d; want %s %d", tt.err, e.Code, e.Status(), tt.code, tt.status)
		}
		if tt.is != nil && !errors.Is(e, tt.is) {
			t.Errorf("FromError(%v) is not %v", tt.err, tt.is)
		}
		if tt.is == nil && strings.Contains(e.Message, "/var/lib") {
			t.Errorf("an internal error's text reached the wire: %q", e.Message)
		}
	}
	// A field error comes back as an *ra.FieldError naming the field.
	var fe *ra.FieldError
	if e := FromError(&ra.FieldError{Field: "mobile", Msg: "11 digits"}); !errors.As(e, &fe) || fe.Field != "mobile" || e.Error() != "mobile: 11 digits" {
		t.Errorf("field error round trip: %v, %+v", e, fe)
	}
	var be *service.BatchError
	if e := FromError(&service.BatchError{Errors: []service.ItemError{{Index: 2, Error: "x"}}}); !errors.As(e, &be) || len(be.Errors) != 1 {
		t.Errorf("batch error round trip: %+v", be)
	}
}

// TestCodesDocumented: docs/architecture.md lists every code of the
// catalogue.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if f := strings.Split(line, "|"); len(f) > 2 && strings.HasPrefix(strings.TrimSpace(f[1]), "`") {
			c := strings.Trim(strings.TrimSpace(f[1]), "`")
			if strings.Contains(c, ".") || c == CodeNotFound {
				documented[c] = true
			}
		}
	}
	for _, c := range Codes() {
		if !documented[c] {
			t.Errorf("error code %s is not in docs/architecture.md", c)
		}
	}
}
