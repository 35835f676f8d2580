// Package ra is the registration authority: applications, the request state
// machine, passcodes and the policy that decides who may do what.
package ra

import (
	"errors"
	"fmt"
)

// Error classes. Every error that reaches a user wraps exactly one of these,
// and the CLI maps each to a documented exit code (docs/cli.md).
var (
	// ErrInvalid: input that can never be accepted as given (bad ID number,
	// malformed CSR, unknown field). Nothing is changed.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: no such request, certificate, applicant or token.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the thing exists but is in the wrong state for the action
	// (already approved, passcode already used, certificate already revoked).
	ErrConflict = errors.New("wrong state")
	// ErrAuth: a secret did not match (passcode, PIN, PKCS#12 password) or
	// the passcode is locked or expired.
	ErrAuth = errors.New("authentication failed")
	// ErrPolicy: the action is well-formed but policy forbids it (four-eyes
	// rule, key too weak for the profile).
	ErrPolicy = errors.New("not allowed by policy")
	// ErrIntegrity: a stored row does not match what the audit log bound
	// (edited outside cmca), or the audit log does not match its signed
	// checkpoint. Nothing is changed; the CLI exits 4 like a wrong state.
	ErrIntegrity = errors.New("integrity check failed")
)

// FieldError names the input field that failed validation, so a form can
// show the message beside the field and the CLI can name the flag.
type FieldError struct {
	Field string // canonical field name, e.g. "id_number"
	Msg   string // lower-case, says what is wrong and what is expected
	// Format and Args, when set, are the fmt format Msg was made from and
	// its arguments: the message ID a translated interface looks up
	// (internal/msg). Msg stays the English text.
	Format string
	Args   []any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Fieldf is a FieldError whose message is made from a catalogue format
// (internal/msg), so a command line can show it in the user's language.
func Fieldf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
}
