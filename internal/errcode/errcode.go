// Package errcode names every failure with a stable code: the `code` of the
// CLI's JSON error envelope and of the serve API's errors, and the key of
// the translated message (internal/msg). Codes are never renamed or reused;
// docs/cli.md lists them.
//
// The strings are the serve API's catalogue (internal/api on the serve
// branch) plus the codes only the command line has (cli.*, home.*).
package errcode

import (
	"context"
	"errors"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

// The codes. Params named in the comments.
const (
	Invalid          = "input.invalid"            // any other invalid input
	InvalidField     = "input.invalid_field"      // params: field, msg
	BatchInvalid     = "input.batch_invalid"      // some applications of a batch are invalid
	NotFound         = "not_found"                // any other missing thing
	RequestNotFound  = "request.not_found"        // params: ref
	CertNotFound     = "certificate.not_found"    // params: serial (absent for a lookup by key)
	ApplicantUnknown = "applicant.not_found"      // no record of that person
	Conflict         = "state.conflict"           // wrong state for the operation
	PasscodeWrong    = "passcode.wrong"           // params: ref, attempts_left
	PasscodeLocked   = "passcode.locked"          // params: ref
	PasscodeExpired  = "passcode.expired"         // params: ref
	PasscodeUsed     = "passcode.used"            // params: ref, serial
	AuthFailed       = "auth.failed"              // any other failed secret or proof
	AuthRequired     = "auth.required"            // a credential is needed; params: role
	RoleRequired     = "auth.role_required"       // the caller lacks a role; params: role
	Policy           = "policy.forbidden"         // any other policy refusal
	FourEyes         = "policy.four_eyes"         // params: ref
	Cancelled        = "request.cancelled"        // stopped at a prompt, by Ctrl-C or the caller going away
	Usage            = "cli.usage"                // a command-line mistake: flag, argument, config value
	Failed           = "cli.failed"               // an unexpected failure (I/O, database); exit 1
	NoHome           = "home.not_found"           // no CA home; params: home
	RateLimited      = "rate.limited"             // params: retry_after (seconds); serve only
	Internal         = "server.internal"          // serve only
	Unavailable      = "server.unavailable"       // serve only
	MalformedJSON    = "input.malformed_json"     // serve only
	UnknownField     = "input.unknown_field"      // serve only
	TooLarge         = "input.too_large"          // serve only
	ContentType      = "input.content_type"       // serve only
	RouteNotFound    = "route.not_found"          // serve only
	Method           = "route.method_not_allowed" // serve only
)

// Of gives the code and parameters of an error of the service or the
// store: the code an error carries (ra.WithCode, principal.AuthError), else
// the generic code of its class. A command-line mistake (cli.usage) is the
// caller's to recognise first; anything unrecognised is cli.failed.
func Of(err error) (string, map[string]string) {
	var coded *ra.CodedError
	if errors.As(err, &coded) {
		return coded.Code, coded.Params
	}
	var pe *principal.AuthError
	if errors.As(err, &pe) {
		if pe.Code == principal.CodeMissingRole {
			return RoleRequired, map[string]string{"role": string(pe.Role)}
		}
		return AuthRequired, map[string]string{"role": string(pe.Role)}
	}
	var be *service.BatchError
	if errors.As(err, &be) {
		return BatchInvalid, nil
	}
	var fe *ra.FieldError
	if errors.As(err, &fe) {
		return InvalidField, map[string]string{"field": fe.Field, "msg": fe.Msg}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Cancelled, nil
	case errors.Is(err, ra.ErrInvalid):
		return Invalid, nil
	case errors.Is(err, service.ErrNoHome):
		return NoHome, nil
	case errors.Is(err, ra.ErrNotFound):
		return NotFound, nil
	case errors.Is(err, ra.ErrConflict):
		return Conflict, nil
	case errors.Is(err, ra.ErrAuth):
		return AuthFailed, nil
	case errors.Is(err, ra.ErrPolicy):
		return Policy, nil
	}
	return Failed, nil
}
