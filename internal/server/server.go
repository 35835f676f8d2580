// Package server is `cmca serve`: the JSON API v1 (internal/api) over
// HTTPS for every role, and the public plain-HTTP endpoints (CA
// certificate, CRLs). NewServer returns an http.Handler; routes.go lists
// every route; middleware are plain func(http.Handler) http.Handler.
//
// The transport authenticates (AuthFunc), puts the principal in the
// request's context with principal.With and checks the role each route
// needs; the service checks again and applies policy.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// Service is what the server needs from the RA/CA (*service.Service).
type Service interface {
	Lookup(ctx context.Context, idType ra.IDType, idNumber string) (ra.Applicant, error)
	Validate(a service.Application) (service.Application, error)
	Apply(ctx context.Context, apps []service.Application, partial bool) ([]service.ApplyResult, error)
	Status(ctx context.Context, ref string) (*service.RequestDetail, error)
	Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error)
	Approve(ctx context.Context, ref string) (*service.Decision, error)
	Reject(ctx context.Context, ref, reason string) (*service.Decision, error)
	Issue(ctx context.Context, ref string, resend bool) (*service.Authorisation, error)
	Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error)
	CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error)
	Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error)
	Revoke(ctx context.Context, in service.RevokeInput) (*service.RevokeResult, error)
	Reissue(ctx context.Context, in service.ReissueInput) (*service.RevokeResult, error)
	CRL(ctx context.Context, o service.CRLOptions) (*service.CRLResult, error)
	CheckCRL(ctx context.Context, data []byte) (*service.CRLCheck, error)
	Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error)
	Certificate(ctx context.Context, serial string) (*service.CertificateDetail, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]ra.Event, error)
	VerifyAudit(ctx context.Context) (*service.AuditReport, error)
	CACertificate() ([]byte, error)
	Config() *service.Config
	Policy() service.Policy
	PolicySettings(ctx context.Context) ([]service.PolicySetting, error)
	PolicySet(ctx context.Context, key, value string) (*service.PolicyChange, error)
	ApproveMany(ctx context.Context, refs []string, allSubmitted bool) ([]*service.Decision, []service.RefError, error)
	IssueMany(ctx context.Context, refs []string, allApproved, resend bool) ([]*service.Authorisation, []service.RefError, error)
	DownloadMany(ctx context.Context, ins []service.DownloadInput) ([]service.DownloadOutcome, error)
}

// AuthFunc says who is calling. It returns an anonymous principal for a
// caller without a credential, and an error (answered 401) for a
// credential that does not authenticate. internal/server/auth.go has the
// TLS client-certificate authenticator.
type AuthFunc func(r *http.Request) (principal.Principal, error)

// Anonymous authenticates nobody: every caller is anonymous.
func Anonymous(*http.Request) (principal.Principal, error) {
	return principal.Principal{Kind: principal.Anonymous}, nil
}

// Options configure the handler.
type Options struct {
	Logger *slog.Logger
	Auth   AuthFunc // default Anonymous
	// Ready reports whether the store is reachable and the CA key usable
	// (/readyz); nil means always ready.
	Ready func(ctx context.Context) error
	// Per client address: applications (apply, revoke, reissue, renew)
	// and passcode attempts (download), as a burst and a refill interval.
	ApplyLimit    Limit
	PasscodeLimit Limit
	// LimitsFromPolicy reads both limits from the home's policy
	// (ratelimit.apply, ratelimit.passcode) at every request instead, so
	// `cmca policy set` applies at once; ApplyLimit and PasscodeLimit are
	// then ignored.
	LimitsFromPolicy bool
	// Limits, when set, are the buckets to count against (shared with
	// the CMP handlers of cmca serve); the three fields above are then
	// ignored.
	Limits  *Limits
	MaxBody int64 // default api.MaxBody
	Now     func() time.Time
}

// Limit is a token bucket: Burst requests at once, one more every Every.
// A zero Burst disables the limit.
type Limit struct {
	Burst int
	Every time.Duration
}

// Default limits per client address (the default policy's).
var (
	DefaultApplyLimit    = Limit(service.DefaultPolicy().ApplyLimit)
	DefaultPasscodeLimit = Limit(service.DefaultPolicy().PasscodeLimit)
)

type server struct {
	svc      Service
	log      *slog.Logger
	auth     AuthFunc
	ready    func(ctx context.Context) error
	apply    *limiter
	passcode *limiter
	maxBody  int64
	mux      *http.ServeMux // the routes, for routeOf
}

// NewServer returns the API handler.
func NewServer(svc Service, o Options) http.Handler {
	s := &server{svc: svc, log: o.Logger, auth: o.Auth, ready: o.Ready, maxBody: o.MaxBody}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.auth == nil {
		s.auth = Anonymous
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s.apply = newLimiter(o.ApplyLimit, now)
	s.passcode = newLimiter(o.PasscodeLimit, now)
	if o.LimitsFromPolicy {
		s.apply = newDynamicLimiter(func() Limit { return Limit(svc.Policy().ApplyLimit) }, now)
		s.passcode = newDynamicLimiter(func() Limit { return Limit(svc.Policy().PasscodeLimit) }, now)
	}
	if o.Limits != nil {
		s.apply, s.passcode = o.Limits.apply, o.Limits.passcode
	}
	mux := http.NewServeMux()
	s.routes(mux)
	s.mux = mux
	var h http.Handler = mux
	h = s.authenticate(h)
	h = s.withEST(h) // EST authenticates by its own rules (est.go)
	h = s.logRequests(h)
	h = recoverPanics(s.log)(h)
	h = requestID(h)
	return h
}
