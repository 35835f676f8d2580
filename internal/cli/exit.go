package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// Exit codes, documented in docs/cli.md. Scripts may rely on them.
const (
	ExitOK        = 0
	ExitError     = 1   // unexpected failure (I/O, database, bug)
	ExitUsage     = 2   // bad flags or invalid input; nothing changed
	ExitNotFound  = 3   // no such request, certificate, token or home
	ExitConflict  = 4   // wrong state: already approved, passcode already used, already revoked; or an integrity check failed
	ExitAuth      = 5   // wrong/expired/locked passcode, wrong PIN or password
	ExitPolicy    = 6   // forbidden by policy (four-eyes, weak key)
	ExitCancelled = 130 // cancelled at a prompt or by Ctrl-C
)

// usageError is a command-line mistake.
type usageError struct {
	msg    string
	format string // the catalogue format of msg (usagef), if any
	args   []any
}

func (e *usageError) Error() string { return e.msg }

// cancelledError means the user stopped at a prompt.
var errCancelled = errors.New("cancelled")

// ExitCode maps an error to its exit code.
func ExitCode(err error) int {
	var ue *usageError
	var amb *token.AmbiguousTokenError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errCancelled), errors.Is(err, huh.ErrUserAborted), errors.Is(err, context.Canceled):
		return ExitCancelled
	case errors.As(err, &ue), errors.As(err, &amb), errors.Is(err, ra.ErrInvalid):
		return ExitUsage
	case errors.Is(err, ra.ErrNotFound), errors.Is(err, service.ErrNoHome):
		return ExitNotFound
	case errors.Is(err, ra.ErrConflict), errors.Is(err, ra.ErrIntegrity):
		return ExitConflict
	case errors.Is(err, ra.ErrAuth):
		return ExitAuth
	case errors.Is(err, ra.ErrPolicy):
		return ExitPolicy
	}
	return ExitError
}

// usagef is a usage error whose message is a catalogue format
// (internal/msg), shown in the user's language.
func usagef(format string, a ...any) *usageError {
	return &usageError{msg: fmt.Sprintf(format, a...), format: format, args: a}
}

// cliError is an error made by this package whose message is a catalogue
// format (internal/msg): fmt.Errorf that keeps its format and arguments,
// so the message can be shown in the user's language. Errors wrapped with
// %w stay reachable by errors.Is and errors.As.
type cliError struct {
	err    error
	format string
	args   []any
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// errorf is fmt.Errorf with a translatable message.
func errorf(format string, a ...any) error {
	return &cliError{err: fmt.Errorf(format, a...), format: format, args: a}
}
