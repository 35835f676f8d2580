package server

import (
	"net/http"

	"github.com/cmca/cmca/internal/principal"
)

// route is one API operation: its method and path, the roles that may call
// it (none: anyone, including anonymous callers), the rate limit it counts
// against and its handler.
type route struct {
	pattern string
	op      string
	roles   []principal.Role
	limit   func(*server) *limiter
	handle  func(*server, *http.Request) (any, error)
}

var (
	anyone    []principal.Role
	operators = principal.AllRoles
	reviewers = []principal.Role{principal.Reviewer, principal.Revoker}
	issuers   = []principal.Role{principal.Issuer}
	auditors  = []principal.Role{principal.Auditor}
	admins    = []principal.Role{principal.Admin}
)

func applyLimit(s *server) *limiter    { return s.apply }
func passcodeLimit(s *server) *limiter { return s.passcode }

// routes is every route of the API; docs/api.yaml describes each (a test
// keeps the two in step).
var routes = []route{
	{"GET /healthz", "healthz", anyone, nil, (*server).healthz},
	{"GET /readyz", "readyz", anyone, nil, (*server).readyz},

	{"GET /api/v1/ca", "ca-certificate", anyone, nil, (*server).caCertificate},
	{"GET /api/v1/config", "config", anyone, nil, (*server).config},
	{"GET /api/v1/policy", "policy", operators, nil, (*server).policy},
	{"POST /api/v1/policy/{key}", "policy-set", admins, nil, (*server).policySet},

	{"POST /api/v1/applicants/lookup", "lookup", anyone, applyLimit, (*server).lookup},
	{"POST /api/v1/applications/validate", "validate", anyone, nil, (*server).validate},
	{"POST /api/v1/requests", "apply", anyone, applyLimit, (*server).applyRequests},
	{"GET /api/v1/requests", "requests", operators, nil, (*server).requests},
	{"GET /api/v1/requests/{ref}", "status", anyone, nil, (*server).status},
	{"POST /api/v1/requests/{ref}/approve", "approve", reviewers, nil, (*server).approve},
	{"POST /api/v1/requests/{ref}/reject", "reject", reviewers, nil, (*server).reject},
	{"POST /api/v1/requests/{ref}/issue", "issue", issuers, nil, (*server).issue},
	{"POST /api/v1/requests/{ref}/download", "download", anyone, passcodeLimit, (*server).download},

	{"POST /api/v1/batches/approve", "approve-batch", reviewers, nil, (*server).approveBatch},
	{"POST /api/v1/batches/issue", "issue-batch", issuers, nil, (*server).issueBatch},
	{"POST /api/v1/batches/download", "download-batch", operators, nil, (*server).downloadBatch},

	{"GET /api/v1/certificates", "certificates", operators, nil, (*server).certificates},
	{"GET /api/v1/certificates/{serial}", "certificate", operators, nil, (*server).certificate},
	{"POST /api/v1/certificates/by-key", "certificate-for-key", anyone, passcodeLimit, (*server).certificateForKey},
	{"POST /api/v1/certificates/{serial}/renew", "renew", anyone, applyLimit, (*server).renew},
	{"POST /api/v1/certificates/{serial}/revoke", "revoke", anyone, applyLimit, (*server).revoke},
	{"POST /api/v1/reissues", "reissue", anyone, applyLimit, (*server).reissue},

	{"POST /api/v1/crls", "crl", issuers, nil, (*server).crl},
	{"POST /api/v1/crls/check", "check-crl", anyone, nil, (*server).checkCRL},

	{"GET /api/v1/audit", "audit", auditors, nil, (*server).audit},
	{"GET /api/v1/audit/verify", "verify-audit", auditors, nil, (*server).verifyAudit},
}

// Routes lists the patterns of every API route ("METHOD /path").
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.pattern
	}
	return out
}

func (s *server) routes(mux *http.ServeMux) {
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.handle(rt))
	}
	mux.Handle("/", s.noRoute(mux))
}
