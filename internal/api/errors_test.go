package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
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

// TestFromErrorCarriesFormat: an error whose message is a catalogue format
// (msg.Errorf, ra.Fieldf) crosses the wire with its format and arguments
// beside the unchanged English message; a message of no catalogue format,
// and an internal error, carry none.
func TestFromErrorCarriesFormat(t *testing.T) {
	const f = "request %s is %s and has nothing to download; its history says why: %w"
	e := FromError(msg.Errorf(f, "R1", "revoked", ra.ErrConflict))
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Error
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	want := "request R1 is revoked and has nothing to download; its history says why: wrong state"
	if back.Message != want || back.Format != f || strings.Join(back.Args, "|") != "R1|revoked|wrong state" {
		t.Errorf("wire error %s; want message %q, format %q, args R1 revoked wrong state", data, want, f)
	}
	fe := FromError(ra.Fieldf("passcode", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", 20, 3))
	var got *ra.FieldError
	if !errors.As(fe, &got) || got.Format == "" || fmt.Sprintf(got.Format, got.Args...) != got.Msg || strings.Join(fe.Args, "|") != "20|3" {
		t.Errorf("field error %+v, unwrapped %+v; want its format and arguments", fe, got)
	}
	for _, err := range []error{
		fmt.Errorf("plain: %w", ra.ErrConflict),
		msg.Errorf("no such catalogue text %s: %w", "x", ra.ErrConflict),
		msg.Errorf("create backup: %w", errors.New("disk full at /var/lib/cmca")),
	} {
		if e := FromError(err); e.Format != "" || e.Args != nil {
			t.Errorf("FromError(%v) has format %q args %q; want none", err, e.Format, e.Args)
		}
	}
}
