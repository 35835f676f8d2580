package server

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// handle wraps a route: role check, rate limit, content type, body size,
// then the handler's result or error as JSON.
func (s *server) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.op = rt.op
		p, _ := principal.From(r.Context())
		if len(rt.roles) > 0 && !slices.ContainsFunc(rt.roles, p.Has) {
			s.writeError(w, r, api.RoleRequired(rt.op, rt.roleNames()...))
			return
		}
		if rt.limit != nil {
			if wait, ok := rt.limit(s).allow(rateKey(r.RemoteAddr)); !ok {
				secs := strconv.Itoa(int(wait.Round(time.Second)/time.Second) + 1)
				w.Header().Set("Retry-After", secs)
				s.writeError(w, r, api.New(api.CodeRateLimited, fmt.Sprintf("too many %s requests from this address; retry in %s seconds", rt.op, secs), "retry_after", secs))
				return
			}
		}
		if r.Method == http.MethodPost && r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				s.writeError(w, r, api.New(api.CodeContentType, fmt.Sprintf("the request body must be JSON (Content-Type: application/json), not %q", r.Header.Get("Content-Type")), "want", "application/json"))
				return
			}
			if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
				s.writeError(w, r, api.New(api.CodeContentType, fmt.Sprintf("the request body must not be compressed (Content-Encoding: %s); send plain JSON", truncated(ce)), "want", "application/json"))
				return
			}
			if r.ContentLength > s.maxBody {
				// Refused before reading, so a client waiting for
				// 100 Continue gets this answer instead of uploading.
				s.writeError(w, r, api.New(api.CodeTooLarge, fmt.Sprintf("the request body is larger than %d bytes", s.maxBody), "limit", strconv.FormatInt(s.maxBody, 10)))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		if ref := r.PathValue("ref"); len(ref) > maxRefLen {
			s.writeError(w, r, refTooLong(ref))
			return
		}
		out, err := rt.handle(s, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		info.code = "ok"
		writeJSON(w, http.StatusOK, out)
	})
}

// roleNames are the roles the route needs, for an error message: none
// when any operator role will do (or the route needs none).
func (rt route) roleNames() []string {
	if len(rt.roles) == len(principal.AllRoles) {
		return nil
	}
	names := make([]string, len(rt.roles))
	for i, role := range rt.roles {
		names[i] = string(role)
	}
	return names
}

// maxRefLen bounds a reference number in a path: longer is refused before
// any lookup, and never echoed whole (references are 17 characters, e.g.
// 20260101-AAAAAAAA).
const maxRefLen = 64

func refTooLong(ref string) *api.Error {
	e := api.New(api.CodeInvalidField, fmt.Sprintf("ref: %q is %d bytes long; a reference number (业务受理号) looks like 20260101-AAAAAAAA", truncated(ref), len(ref)), "field", "ref", "msg", "too long for a reference number")
	e.Field = "ref"
	return e
}

// truncated is s cut to 48 runes for an error message.
func truncated(s string) string {
	r := []rune(s)
	if len(r) <= 48 {
		return s
	}
	return string(r[:48]) + "…"
}

func (s *server) noRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, api.New(api.CodeMethod, fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")), "allow", strings.Join(allow, ", ")))
			return
		}
		s.writeError(w, r, api.New(api.CodeRouteNotFound, fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the structured error; an internal error's text
// goes to the log only.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := api.FromError(err)
	info := infoFrom(r.Context())
	info.code = e.Code
	if e.Class == api.ClassInternal && e.Code == api.CodeInternal {
		info.err = err.Error()
	}
	e.RequestID = info.id
	if secs := e.Params["retry_after"]; secs != "" && e.Status() == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", secs)
	}
	var ce *checkError
	if errors.As(err, &ce) {
		e.Result, _ = json.Marshal(ce.check)
	}
	writeJSON(w, e.Status(), e)
}

// caller is the principal and the name service operations record.
func caller(r *http.Request) (principal.Principal, string) {
	p, _ := principal.From(r.Context())
	return p, p.String()
}

func decode(r *http.Request, v any) error { return api.Decode(r.Body, v) }

func (s *server) healthz(r *http.Request) (any, error) { return api.Health{Status: "ok"}, nil }

func (s *server) readyz(r *http.Request) (any, error) {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			infoFrom(r.Context()).err = err.Error()
			return nil, api.New(api.CodeUnavailable, "not ready: "+err.Error())
		}
	}
	return api.Health{Status: "ok", Checks: map[string]string{"store": "ok", "ca_key": "ok"}}, nil
}

func (s *server) caCertificate(r *http.Request) (any, error) {
	data, err := s.svc.CACertificate()
	if err != nil {
		return nil, err
	}
	if err := kindCACert.check(data); err != nil {
		infoFrom(r.Context()).err = "the CA certificate: " + err.Error()
		return nil, api.New(api.CodePublishDamaged, "the CA certificate in the CA's home (ca/ca.crt) is damaged; the CA's operator must repair it: `cmca doctor` names the problem")
	}
	b, _ := pem.Decode(data)
	return api.CACertificate{PEM: string(data), DER: b.Bytes}, nil
}

func (s *server) config(r *http.Request) (any, error) {
	return api.ConfigFrom(s.svc.Config(), s.svc.Policy()), nil
}

func (s *server) policy(r *http.Request) (any, error) {
	ps, err := s.svc.PolicySettings(r.Context())
	if err != nil {
		return nil, err
	}
	return api.PolicyResponse{Settings: ps}, nil
}

func (s *server) policySet(r *http.Request) (any, error) {
	var in api.PolicySetRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return s.svc.PolicySet(r.Context(), r.PathValue("key"), in.Value)
}

func (s *server) lookup(r *http.Request) (any, error) {
	var in api.LookupRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return s.svc.Lookup(r.Context(), in.IDType, in.IDNumber)
}

func (s *server) validate(r *http.Request) (any, error) {
	var in api.ValidateRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	a, err := s.svc.Validate(in.Application)
	if err != nil {
		return nil, err
	}
	return api.ValidateResponse{Application: a}, nil
}

func (s *server) applyRequests(r *http.Request) (any, error) {
	var in api.ApplyRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Applications) == 0 {
		return nil, api.New(api.CodeInvalid, "the request holds no application")
	}
	res, err := s.svc.Apply(r.Context(), in.Applications, in.Partial)
	if err != nil {
		return nil, err
	}
	return api.ApplyResponse{Results: res}, nil
}

func isOperator(p principal.Principal) bool {
	return (p.Kind == principal.Operator || p.Kind == principal.Local) && len(p.Roles) > 0
}

func (s *server) status(r *http.Request) (any, error) {
	d, err := s.svc.Status(r.Context(), r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	out := api.RequestDetailFrom(d)
	if p, _ := caller(r); !isOperator(p) {
		out = redacted(out)
	}
	return out, nil
}

// redacted is what a caller who knows only the reference sees: where the
// request stands, not whose it is.
func redacted(d *api.RequestDetail) *api.RequestDetail {
	q := d.Request
	return &api.RequestDetail{Request: &ra.Request{
		Ref: q.Ref, Kind: q.Kind, State: q.State, UsageType: q.UsageType, AcceptancePoint: q.AcceptancePoint,
		Storage: q.Storage, CertSerial: q.CertSerial, PasscodeExpires: q.PasscodeExpires, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt,
	}, History: []ra.Event{}}
}

func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e := api.New(api.CodeInvalidField, fmt.Sprintf("%s: %q is not a non-negative number", name, v), "field", name, "msg", "not a non-negative number")
		e.Field = name
		return 0, e
	}
	return n, nil
}

func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		e := api.New(api.CodeInvalidField, fmt.Sprintf("%s: %q is not an RFC 3339 time", name, v), "field", name, "msg", "not an RFC 3339 time")
		e.Field = name
		return time.Time{}, e
	}
	return t, nil
}

func (s *server) requests(r *http.Request) (any, error) {
	q := r.URL.Query()
	var f store.RequestFilter
	var err error
	if v := q.Get("serial"); v != "" {
		if f.Serial, err = ra.ParseSerial(v); err != nil {
			return nil, err
		}
	}
	for _, v := range q["state"] {
		st, err := ra.ParseState(v)
		if err != nil {
			return nil, err
		}
		f.States = append(f.States, st)
	}
	for _, v := range q["kind"] {
		k, err := ra.ParseKind(v)
		if err != nil {
			return nil, err
		}
		f.Kinds = append(f.Kinds, k)
	}
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return nil, err
	}
	rs, err := s.svc.Requests(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = []*ra.Request{}
	}
	return api.RequestsResponse{Requests: rs}, nil
}

func (s *server) approve(r *http.Request) (any, error) {
	if err := decodeOptional(r, &struct{}{}); err != nil {
		return nil, err
	}
	return s.svc.Approve(r.Context(), r.PathValue("ref"))
}

// decodeOptional accepts an empty body or a JSON value of v's shape.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

func (s *server) reject(r *http.Request) (any, error) {
	var in api.RejectRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return s.svc.Reject(r.Context(), r.PathValue("ref"), in.Reason)
}

func (s *server) issue(r *http.Request) (any, error) {
	var in api.IssueRequest
	if err := decodeOptional(r, &in); err != nil {
		return nil, err
	}
	return s.svc.Issue(r.Context(), r.PathValue("ref"), in.Resend)
}

func (s *server) download(r *http.Request) (any, error) {
	var in api.DownloadRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	out, err := s.svc.Download(r.Context(), service.DownloadInput{Ref: r.PathValue("ref"), Passcode: in.Passcode, CSR: in.CSR, Storage: in.Storage})
	if err != nil {
		return nil, err
	}
	testhook.Point("serve:download") // committed, the answer not yet sent
	return api.IssuedFrom(out), nil
}

func (s *server) certificateForKey(r *http.Request) (any, error) {
	var in api.CertificateForKeyRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	c, err := s.svc.CertificateForKey(r.Context(), in.SPKI)
	if err != nil {
		return nil, err
	}
	return api.CertificateFrom(c), nil
}

func (s *server) renew(r *http.Request) (any, error) {
	var in api.RenewRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	res, err := s.svc.Renew(r.Context(), service.RenewInput{Serial: r.PathValue("serial"), CSR: in.CSR, SignedAt: in.SignedAt, Proof: in.Proof, Comment: in.Comment})
	if err != nil {
		return nil, err
	}
	return api.RenewResultFrom(res), nil
}

func (s *server) revoke(r *http.Request) (any, error) {
	var in api.RevokeRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if p, _ := caller(r); in.Direct && !p.Has(principal.Revoker) {
		return nil, api.RoleRequired("direct revocation", string(principal.Revoker))
	}
	return s.svc.Revoke(r.Context(), service.RevokeInput{Serial: r.PathValue("serial"), Reason: in.Reason, Comment: in.Comment, Proof: in.Proof, SignedAt: in.SignedAt, Direct: in.Direct})
}

func (s *server) reissue(r *http.Request) (any, error) {
	var in api.ReissueRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return s.svc.Reissue(r.Context(), service.ReissueInput{Serial: in.Serial, Ref: in.Ref, Reason: in.Reason, Comment: in.Comment})
}

func (s *server) crl(r *http.Request) (any, error) {
	var in api.CRLRequest
	if err := decodeOptional(r, &in); err != nil {
		return nil, err
	}
	res, err := s.svc.CRL(r.Context(), service.CRLOptions{Delta: in.Delta, Force: in.Force})
	if err != nil {
		return nil, err
	}
	return api.CRLResultFrom(res), nil
}

func (s *server) checkCRL(r *http.Request) (any, error) {
	var in api.CheckCRLRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	chk, err := s.svc.CheckCRL(r.Context(), in.CRL)
	if err != nil && chk != nil {
		return nil, &checkError{check: chk, err: err}
	}
	if err != nil {
		return nil, err
	}
	return chk, nil
}

// checkError is a failed check that still has a result (an expired CRL).
type checkError struct {
	check *service.CRLCheck
	err   error
}

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

func (s *server) certificates(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, err
	}
	status := ra.CertStatus(r.URL.Query().Get("status"))
	switch status {
	case "", ra.CertValid, ra.CertRevoked, ra.CertExpired:
	default:
		return nil, ra.Fieldf("status", "unknown certificate status %q; use valid, revoked or expired", truncated(string(status)))
	}
	cs, err := s.svc.Certificates(r.Context(), status, limit)
	if err != nil {
		return nil, err
	}
	out := api.CertificatesResponse{Certificates: []*api.Certificate{}}
	for _, c := range cs {
		out.Certificates = append(out.Certificates, api.CertificateFrom(c))
	}
	return out, nil
}

func (s *server) certificate(r *http.Request) (any, error) {
	d, err := s.svc.Certificate(r.Context(), r.PathValue("serial"))
	if err != nil {
		return nil, err
	}
	return api.CertificateDetailFrom(d), nil
}

func (s *server) audit(r *http.Request) (any, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Ref: q.Get("ref"), Serial: q.Get("serial"), Operator: q.Get("operator")}
	var err error
	if f.Since, err = queryTime(r, "since"); err != nil {
		return nil, err
	}
	if f.Until, err = queryTime(r, "until"); err != nil {
		return nil, err
	}
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return nil, err
	}
	evs, err := s.svc.Audit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []ra.Event{}
	}
	return api.AuditResponse{Events: evs}, nil
}

func (s *server) verifyAudit(r *http.Request) (any, error) { return s.svc.VerifyAudit(r.Context()) }

func (s *server) approveBatch(r *http.Request) (any, error) {
	var in api.ApproveBatchRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Refs) == 0 && !in.AllSubmitted {
		return nil, api.New(api.CodeInvalid, "the batch names no request: give refs, or all_submitted: true")
	}
	done, failed, err := s.svc.ApproveMany(r.Context(), in.Refs, in.AllSubmitted)
	if err != nil {
		return nil, err
	}
	if done == nil {
		done = []*service.Decision{}
	}
	return api.ApproveBatchResponse{Done: done, Failed: api.RefErrorsFrom(failed)}, nil
}

func (s *server) issueBatch(r *http.Request) (any, error) {
	var in api.IssueBatchRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Refs) == 0 && !in.AllApproved {
		return nil, api.New(api.CodeInvalid, "the batch names no request: give refs, or all_approved: true")
	}
	done, failed, err := s.svc.IssueMany(r.Context(), in.Refs, in.AllApproved, in.Resend)
	if err != nil {
		return nil, err
	}
	if done == nil {
		done = []*service.Authorisation{}
	}
	return api.IssueBatchResponse{Done: done, Failed: api.RefErrorsFrom(failed)}, nil
}

// downloadBatch is for operators collecting for many subscribers (`cmca
// download-batch`): one request may carry many passcodes, so it is not
// open to anonymous callers, whose passcode attempts are rate-limited.
func (s *server) downloadBatch(r *http.Request) (any, error) {
	var in api.DownloadBatchRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Items) == 0 {
		return nil, api.New(api.CodeInvalid, "the batch holds no item: give items, each a ref, passcode, csr and storage")
	}
	ins := make([]service.DownloadInput, len(in.Items))
	for i, it := range in.Items {
		ins[i] = service.DownloadInput{Ref: it.Ref, Passcode: it.Passcode, CSR: it.CSR, Storage: it.Storage}
	}
	outs, err := s.svc.DownloadMany(r.Context(), ins)
	if err != nil {
		return nil, err
	}
	res := api.DownloadBatchResponse{Outcomes: make([]api.DownloadOutcome, len(outs))}
	for i, o := range outs {
		res.Outcomes[i] = api.DownloadOutcome{Ref: o.Ref, Issued: api.IssuedFrom(o.Issued)}
		if o.Err != nil {
			res.Outcomes[i].Error = api.FromError(o.Err)
		}
	}
	return res, nil
}
