package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		code string
		exit int
	}{
		{usagef("--out FILE is required"), codeUsage, ExitUsage},
		{ra.WithCode("request.not_found", fmt.Errorf("no request X: %w", ra.ErrNotFound), "ref", "X"), api.CodeRequestNotFound, ExitNotFound},
		{&ra.FieldError{Field: "mobile", Msg: "11 digits"}, api.CodeInvalidField, ExitUsage},
		{fmt.Errorf("bad CSR: %w", ra.ErrInvalid), api.CodeInvalid, ExitUsage},
		{fmt.Errorf("x: %w", ra.ErrNotFound), api.CodeNotFound, ExitNotFound},
		{fmt.Errorf("x: %w", service.ErrNoHome), codeNoHome, ExitNotFound},
		{fmt.Errorf("x: %w", ra.ErrConflict), api.CodeConflict, ExitConflict},
		{ra.WithCode("passcode.wrong", fmt.Errorf("wrong: %w", ra.ErrAuth), "ref", "R", "attempts_left", "2"), api.CodePasscodeWrong, ExitAuth},
		{fmt.Errorf("x: %w", ra.ErrAuth), api.CodeAuthFailed, ExitAuth},
		{fmt.Errorf("x: %w", ra.ErrPolicy), api.CodePolicy, ExitPolicy},
		{ra.WithCode(service.CodeCertLimit, fmt.Errorf("too many: %w", ra.ErrPolicy), "serial", "0A", "retry_after", "60"), api.CodeCertLimit, ExitPolicy},
		{&principal.AuthError{Code: principal.CodeMissingRole, Role: "issuer"}, api.CodeRoleRequired, ExitAuth},
		{&principal.AuthError{Code: principal.CodeNoPrincipal, Role: "issuer"}, api.CodeAuthRequired, ExitAuth},
		{fmt.Errorf("read x: %w", errCancelled), api.CodeCancelled, ExitCancelled},
		{context.Canceled, api.CodeCancelled, ExitCancelled},
		{api.New(api.CodePasscodeLocked, "locked", "ref", "R"), api.CodePasscodeLocked, ExitAuth},
		{errors.New("disk full"), codeFailed, ExitError},
	}
	for _, tt := range tests {
		code, _ := errorCode(tt.err)
		if code != tt.code || ExitCode(tt.err) != tt.exit {
			t.Errorf("errorCode(%v) = %s, exit %d; want %s, exit %d", tt.err, code, ExitCode(tt.err), tt.code, tt.exit)
		}
	}
	if _, p := errorCode(ra.WithCode("passcode.wrong", ra.ErrAuth, "ref", "R", "attempts_left", "2")); p["attempts_left"] != "2" {
		t.Errorf("errorCode(passcode.wrong) params = %v; want attempts_left 2", p)
	}
}

// TestErrorCodesTranslatedAndDocumented: every code, the API's and the
// command line's own, has a zh-Hans message and a row in docs/cli.md.
func TestErrorCodesTranslatedAndDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	all := append(api.Codes(), cliCodes...)
	for _, c := range all {
		if _, _, ok := msg.CodeTexts(c); !ok {
			t.Errorf("code %s has no message in internal/msg/zh-Hans.txt", c)
		}
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("docs/cli.md does not list error code %s", c)
		}
	}
	if len(msg.Codes()) != len(all) {
		t.Errorf("the catalogue has %d codes, the API and the CLI %d", len(msg.Codes()), len(all))
	}
}

// TestErrorTextChinese: a coded error renders from its parameters in
// Chinese; an error whose code has no text of its own gets its class's
// text around the English detail; English keeps the error's own text.
func TestErrorTextChinese(t *testing.T) {
	zh := msg.For(msg.Chinese)
	f := &Factory{IO: &IOStreams{}, printer: &zh}
	err := ra.WithCode("passcode.locked", fmt.Errorf("locked: %w", ra.ErrAuth), "ref", "20261125-7KQ3PZ4M", "attempts", "5")
	code, params := errorCode(err)
	if got := f.errorText(err, code, params); !strings.Contains(got, "20261125-7KQ3PZ4M 的下载授权码在 5 次错误尝试后已锁定") || !strings.Contains(got, "cmca issue --resend 20261125-7KQ3PZ4M") {
		t.Errorf("errorText(passcode.locked) = %q", got)
	}
	// English too renders a code whose text names the command line's
	// remedy; the service's message names none.
	en := msg.For(msg.English)
	fen := &Factory{IO: &IOStreams{}, printer: &en}
	if got := fen.errorText(err, code, params); got != "the passcode of 20261125-7KQ3PZ4M is locked after 5 wrong attempts; ask the acceptance point to run `cmca issue --resend 20261125-7KQ3PZ4M`" {
		t.Errorf("English errorText(passcode.locked) = %q", got)
	}
	// ... but not with a parameter missing, nor a code whose text names
	// no command: the message, which carries the detail.
	partial := ra.WithCode("passcode.locked", fmt.Errorf("locked: %w", ra.ErrAuth), "ref", "20261125-7KQ3PZ4M")
	if c, p := errorCode(partial); fen.errorText(partial, c, p) != "locked: authentication failed" {
		t.Errorf("English errorText(passcode.locked without attempts) = %q", fen.errorText(partial, c, p))
	}
	wrong := ra.WithCode("passcode.wrong", fmt.Errorf("wrong passcode (1 attempt left): %w", ra.ErrAuth), "ref", "R1", "attempts_left", "1")
	if c, p := errorCode(wrong); fen.errorText(wrong, c, p) != "wrong passcode (1 attempt left): authentication failed" {
		t.Errorf("English errorText(passcode.wrong) = %q", fen.errorText(wrong, c, p))
	}
	// certificate.not_found without a serial (a look-up by key): the class text.
	err = ra.WithCode("certificate.not_found", fmt.Errorf("no certificate for that key: %w", ra.ErrNotFound))
	code, params = errorCode(err)
	if got := f.errorText(err, code, params); got != "未找到：no certificate for that key: not found" {
		t.Errorf("errorText(certificate.not_found, no serial) = %q", got)
	}
	err = usagef("%s needs %s", "cmca status", "a reference number")
	code, params = errorCode(err)
	if got := f.errorText(err, code, params); got != "用法错误：cmca status 需要 一个业务受理号" {
		t.Errorf("errorText(usage) = %q", got)
	}
	f.printer = &en
	if got := f.errorText(err, code, params); got != "cmca status needs a reference number" {
		t.Errorf("English errorText(usage) = %q", got)
	}
}
