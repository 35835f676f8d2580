package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// Class is the kind of failure. Each class maps to one CLI exit code
// (docs/cli.md) and one default HTTP status; the code refines it.
type Class string

// The classes. They mirror the ra error sentinels.
const (
	ClassInvalid   Class = "invalid"   // exit 2: input that can never be accepted as given
	ClassNotFound  Class = "not_found" // exit 3
	ClassConflict  Class = "conflict"  // exit 4: wrong state
	ClassAuth      Class = "auth"      // exit 5: a secret or credential did not match, or a role is missing
	ClassPolicy    Class = "policy"    // exit 6: forbidden by policy (four-eyes, rate limit)
	ClassCancelled Class = "cancelled" // exit 130
	// ClassUnavailable: the store's database cannot be reached now; nothing
	// was changed, and the same request may be sent again (exit 7).
	ClassUnavailable Class = "unavailable"
	ClassInternal    Class = "internal" // exit 1: the server failed; see its log under the request ID
)

// Error is a failure as data: what crosses the wire, and what the client
// turns back into the same Go error classes (and exit codes) as local mode.
// Code and Params are stable; a translated catalogue keys on them.
type Error struct {
	Class   Class             `json:"class"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Field   string            `json:"field,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	// Format and Args are the message's catalogue format (its message ID,
	// internal/msg) and its arguments as text, so a client shows it in
	// its user's language: they render Message, or for
	// input.invalid_field the field's params.msg. Absent where the
	// message has no catalogue format; Message stays the English text.
	Format string   `json:"format,omitempty"`
	Args   []string `json:"args,omitempty"`
	// Items lists every invalid application of a rejected batch (code
	// input.batch_invalid).
	Items []service.ItemError `json:"items,omitempty"`
	// Result is what an operation still returns beside its error (the
	// check of an expired CRL).
	Result json.RawMessage `json:"result,omitempty"`
	// RequestID names the server's log record of the failure.
	RequestID string `json:"request_id,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap gives the ra sentinel of the class (so errors.Is(err,
// ra.ErrNotFound) holds on the client as on the server), the *ra.FieldError
// for a field error and the *service.BatchError for a rejected batch.
func (e *Error) Unwrap() []error {
	var out []error
	if s := e.Class.sentinel(); s != nil {
		out = append(out, s)
	}
	if e.Code == CodeIntegrity {
		out = append(out, ra.ErrIntegrity)
	}
	if e.Code == CodeInvalidField && e.Field != "" {
		fe := &ra.FieldError{Field: e.Field, Msg: e.Params["msg"]}
		if args, ok := msg.DecodeArgs(e.Format, e.Args); ok && fmt.Sprintf(strings.ReplaceAll(e.Format, "%w", "%v"), args...) == fe.Msg {
			fe.Format, fe.Args = e.Format, args
		}
		out = append(out, fe)
	}
	if len(e.Items) > 0 {
		out = append(out, &service.BatchError{Errors: e.Items})
	}
	return out
}

func (c Class) sentinel() error {
	switch c {
	case ClassInvalid:
		return ra.ErrInvalid
	case ClassNotFound:
		return ra.ErrNotFound
	case ClassConflict:
		return ra.ErrConflict
	case ClassAuth:
		return ra.ErrAuth
	case ClassPolicy:
		return ra.ErrPolicy
	case ClassCancelled:
		return context.Canceled
	case ClassUnavailable:
		return store.ErrUnavailable
	}
	return nil
}

// The code catalogue. Codes are stable: never renamed or reused. Each has
// a class and an HTTP status; docs/architecture.md lists them (a test keeps
// the two in step).
const (
	CodeInvalid          = "input.invalid"            // any other invalid input
	CodeInvalidField     = "input.invalid_field"      // params: field, msg
	CodeBatchInvalid     = "input.batch_invalid"      // items lists the invalid applications
	CodeMalformedJSON    = "input.malformed_json"     // params: offset (when known)
	CodeUnknownField     = "input.unknown_field"      // params: field
	CodeTooLarge         = "input.too_large"          // params: limit (bytes)
	CodeContentType      = "input.content_type"       // params: want
	CodeTimeout          = "input.timeout"            // the body did not arrive within the server's read timeout
	CodeNotFound         = "not_found"                // any other missing thing
	CodeRequestNotFound  = "request.not_found"        // params: ref
	CodeCertNotFound     = "certificate.not_found"    // params: serial (absent for a lookup by key)
	CodeApplicantUnknown = "applicant.not_found"      // no record of that person
	CodeRouteNotFound    = "route.not_found"          // no such API endpoint
	CodeMethod           = "route.method_not_allowed" // params: allow
	CodeConflict         = "state.conflict"           // wrong state for the operation
	CodeIntegrity        = "state.integrity"          // a row edited outside cmca, or the audit log cut behind its checkpoint
	CodePasscodeWrong    = "passcode.wrong"           // params: ref, attempts_left
	CodePasscodeLocked   = "passcode.locked"          // params: ref, attempts
	CodePasscodeExpired  = "passcode.expired"         // params: ref, expired (local time of the server)
	CodePasscodeUsed     = "passcode.used"            // params: ref
	CodePasscodeExists   = "passcode.exists"          // issue without resend; params: ref, expires
	CodeDownloadStorage  = "download.storage"         // another storage than the request's; params: ref, storage
	// CodePasscodeKeyMismatch: this instance's ca/passcode.kek is not the
	// key the store recorded, or is missing; params: path.
	CodePasscodeKeyMismatch = service.CodePasscodeKeyMismatch
	CodeAuthFailed          = "auth.failed"        // any other failed secret or proof
	CodeAuthRequired        = "auth.required"      // a credential is needed; params: role
	CodeRoleRequired        = "auth.role_required" // the caller lacks a role; params: role
	CodePolicy              = "policy.forbidden"   // any other policy refusal
	CodeFourEyes            = "policy.four_eyes"   // the four-eyes rule forbids this caller
	CodeRateLimited         = "rate.limited"       // params: retry_after (seconds)
	// CodeCertLimit: revoke and reissue requests without proof of
	// possession on one certificate are over policy ratelimit.certificate;
	// params: serial, limit, retry_after (seconds), retry_at (RFC 3339).
	CodeCertLimit        = service.CodeCertLimit
	CodeCancelled        = "request.cancelled"  // the caller went away
	CodeInternal         = "server.internal"    // see the server log under request_id
	CodeUnavailable      = "server.unavailable" // shutting down or not ready
	CodeStoreUnavailable = "store.unavailable"  // the database cannot be reached now; retry
	// CodePublishDamaged: a file the public endpoints serve from the home
	// (a CRL, the CA certificate) is missing, unreadable or not what it
	// should be; the CA's operator repairs it (`cmca crl --force`, `cmca
	// doctor`). Public endpoints and the server log only.
	CodePublishDamaged = "publish.damaged"
)

type codeInfo struct {
	class  Class
	status int
}

// Catalogue is every code with its class and HTTP status.
var catalogue = map[string]codeInfo{
	CodeInvalid:             {ClassInvalid, http.StatusBadRequest},
	CodeInvalidField:        {ClassInvalid, http.StatusUnprocessableEntity},
	CodeBatchInvalid:        {ClassInvalid, http.StatusUnprocessableEntity},
	CodeMalformedJSON:       {ClassInvalid, http.StatusBadRequest},
	CodeUnknownField:        {ClassInvalid, http.StatusBadRequest},
	CodeTooLarge:            {ClassInvalid, http.StatusRequestEntityTooLarge},
	CodeContentType:         {ClassInvalid, http.StatusUnsupportedMediaType},
	CodeTimeout:             {ClassInvalid, http.StatusRequestTimeout},
	CodeNotFound:            {ClassNotFound, http.StatusNotFound},
	CodeRequestNotFound:     {ClassNotFound, http.StatusNotFound},
	CodeCertNotFound:        {ClassNotFound, http.StatusNotFound},
	CodeApplicantUnknown:    {ClassNotFound, http.StatusNotFound},
	CodeRouteNotFound:       {ClassNotFound, http.StatusNotFound},
	CodeMethod:              {ClassInvalid, http.StatusMethodNotAllowed},
	CodeConflict:            {ClassConflict, http.StatusConflict},
	CodeIntegrity:           {ClassConflict, http.StatusConflict},
	CodePasscodeWrong:       {ClassAuth, http.StatusForbidden},
	CodePasscodeLocked:      {ClassAuth, http.StatusForbidden},
	CodePasscodeExpired:     {ClassAuth, http.StatusForbidden},
	CodePasscodeUsed:        {ClassConflict, http.StatusConflict},
	CodePasscodeExists:      {ClassConflict, http.StatusConflict},
	CodeDownloadStorage:     {ClassInvalid, http.StatusBadRequest},
	CodePasscodeKeyMismatch: {ClassConflict, http.StatusConflict},
	CodeAuthFailed:          {ClassAuth, http.StatusForbidden},
	CodeAuthRequired:        {ClassAuth, http.StatusUnauthorized},
	CodeRoleRequired:        {ClassAuth, http.StatusForbidden},
	CodePolicy:              {ClassPolicy, http.StatusForbidden},
	CodeFourEyes:            {ClassPolicy, http.StatusForbidden},
	CodeRateLimited:         {ClassPolicy, http.StatusTooManyRequests},
	CodeCertLimit:           {ClassPolicy, http.StatusTooManyRequests},
	CodeCancelled:           {ClassCancelled, 499},
	CodeInternal:            {ClassInternal, http.StatusInternalServerError},
	CodeUnavailable:         {ClassInternal, http.StatusServiceUnavailable},
	CodeStoreUnavailable:    {ClassUnavailable, http.StatusServiceUnavailable},
	CodePublishDamaged:      {ClassInternal, http.StatusServiceUnavailable},
}

// Codes lists the catalogue, sorted.
func Codes() []string {
	out := make([]string, 0, len(catalogue))
	for c := range catalogue {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// New builds an Error of a catalogued code; params are key, value pairs.
func New(code, msg string, params ...string) *Error {
	e := &Error{Class: catalogue[code].class, Code: code, Message: msg}
	if e.Class == "" {
		e.Class, e.Code = ClassInternal, CodeInternal
	}
	for i := 0; i+1 < len(params); i += 2 {
		if e.Params == nil {
			e.Params = map[string]string{}
		}
		e.Params[params[i]] = params[i+1]
	}
	return e
}

// Status is the HTTP status of the error's code.
func (e *Error) Status() int {
	if info, ok := catalogue[e.Code]; ok {
		return info.status
	}
	return http.StatusInternalServerError
}

// FromError turns a service error into an Error, with the catalogue format
// and arguments of its message where it has them (withFormat). An error of no class
// (I/O, database, bug) becomes server.internal with a generic message: its
// text stays in the server's log, never on the wire.
func FromError(err error) *Error {
	return fromError(err).withFormat(err)
}

// withFormat adds the catalogue format and arguments of the message: the
// msg.Errorf error that makes err's whole text, or for a field error the
// ra.Fieldf format of its params.msg.
func (e *Error) withFormat(err error) *Error {
	if e.Format != "" || e.Code == CodeInternal || e.Code == CodeStoreUnavailable {
		return e
	}
	var fe *ra.FieldError
	if e.Code == CodeInvalidField && errors.As(err, &fe) {
		if args, ok := msg.EncodeArgs(fe.Format, fe.Args); ok {
			e.Format, e.Args = fe.Format, args
		}
		return e
	}
	var me *msg.Error
	if errors.As(err, &me) && me.Error() == e.Message {
		if args, ok := msg.EncodeArgs(me.Format, me.Args); ok {
			e.Format, e.Args = me.Format, args
		}
	}
	return e
}

func fromError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var coded *ra.CodedError
	if errors.As(err, &coded) {
		if _, ok := catalogue[coded.Code]; ok {
			e := New(coded.Code, err.Error())
			e.Params = coded.Params
			return e
		}
	}
	var pe *principal.AuthError
	if errors.As(err, &pe) {
		if pe.Code == principal.CodeMissingRole {
			return New(CodeRoleRequired, err.Error(), "role", string(pe.Role))
		}
		return New(CodeAuthRequired, err.Error(), "role", string(pe.Role))
	}
	var be *service.BatchError
	if errors.As(err, &be) {
		e := New(CodeBatchInvalid, err.Error())
		e.Items = be.Errors
		return e
	}
	var fe *ra.FieldError
	if errors.As(err, &fe) {
		e := New(CodeInvalidField, err.Error(), "field", fe.Field, "msg", fe.Msg)
		e.Field = fe.Field
		return e
	}
	switch {
	case errors.Is(err, store.ErrUnavailable):
		// The driver's text may name hosts: the log keeps it.
		return New(CodeStoreUnavailable, "the CA's database cannot be reached now; nothing was changed: try again shortly")
	case errors.Is(err, ra.ErrInvalid):
		return New(CodeInvalid, err.Error())
	case errors.Is(err, ra.ErrNotFound), errors.Is(err, service.ErrNoHome):
		return New(CodeNotFound, err.Error())
	case errors.Is(err, ra.ErrIntegrity):
		return New(CodeIntegrity, err.Error())
	case errors.Is(err, ra.ErrConflict):
		return New(CodeConflict, err.Error())
	case errors.Is(err, ra.ErrAuth):
		return New(CodeAuthFailed, err.Error())
	case errors.Is(err, ra.ErrPolicy):
		return New(CodePolicy, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return New(CodeCancelled, "the request was cancelled")
	}
	return New(CodeInternal, "internal server error; the server's log has the details")
}

// CredentialRefused is the refusal (401 auth.required) of a client
// credential that does not authenticate (revoked, expired, another CA's,
// unknown): the reason err gives, with its catalogue format and arguments
// so a client shows it in its own language, and for an operation that
// needs a role (op and roles, as for RoleRequired) that role in the
// parameters (operation, required_role).
func CredentialRefused(err error, op string, roles ...string) *Error {
	var params []string
	if op != "" {
		params = append(params, "operation", op)
		if len(roles) > 0 {
			// Not "role": the code's own text ("no authenticated caller;
			// this operation needs the {role} role") is for no credential
			// at all, and a client renders it when its parameters are all
			// there; this refusal's text is the reason's format.
			params = append(params, "required_role", strings.Join(roles, " or "))
		}
	}
	return New(CodeAuthRequired, err.Error(), params...).withFormat(err)
}

// RoleRequired is the refusal of a caller without the role an operation
// needs.
// No roles means any operator role.
func RoleRequired(op string, roles ...string) *Error {
	if len(roles) == 0 {
		return New(CodeRoleRequired, fmt.Sprintf("%s needs an operator credential", op), "role", "operator", "operation", op)
	}
	what := roles[0]
	for _, r := range roles[1:] {
		what += " or " + r
	}
	return New(CodeRoleRequired, fmt.Sprintf("%s needs an operator credential with the %s role", op, what), "role", what, "operation", op)
}
