package server

// EST (Enrollment over Secure Transport, RFC 7030 and RFC 8951) on the
// HTTPS listener, beside the JSON API:
//
//	GET  /.well-known/est/cacerts         the CA certificate(s), certs-only PKCS#7
//	POST /.well-known/est/simpleenroll    HTTP Basic reference number + passcode: `cmca download`
//	POST /.well-known/est/simplereenroll  TLS client certificate being renewed: `cmca renew`
//	GET  /.well-known/est/csrattrs        204: no CSR attributes are asked for
//
// EST authenticates by its own rules (simpleenroll the passcode in HTTP
// Basic; simplereenroll a subscriber's certificate through the server's
// authenticator, never an operator's; cacerts and simpleenroll ignore any
// client certificate), so its paths are routed ahead of the API's
// authentication (withEST) and answer errors as text/plain, which is what
// EST clients show (RFC 7030 §4.2.3), not as the API's JSON. The wire
// formats are in internal/est; docs/protocols.md says why cmca writes these
// handlers instead of using github.com/globalsign/est.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/est"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

// estRealm is the realm of simpleenroll's HTTP Basic challenge.
const estRealm = `Basic realm="cmca EST: reference number and download passcode", charset="UTF-8"`

// estRetryAfter is what a client waiting for a renewal's review is told
// (RFC 7030 §4.2.3: 202 with Retry-After).
const estRetryAfter = time.Hour

// withEST sends the EST paths to their handlers and everything else to the
// API.
func (s *server) withEST(apiHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+est.PathCACerts, s.estCACerts)
	mux.HandleFunc("POST "+est.PathEnroll, s.estEnroll)
	mux.HandleFunc("POST "+est.PathReenroll, s.estReenroll)
	mux.HandleFunc("GET "+est.PathCSRAttrs, s.estCSRAttrs)
	mux.HandleFunc(est.PathPrefix, s.estNoRoute)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, est.PathPrefix) {
			apiHandler.ServeHTTP(w, r)
			return
		}
		infoFrom(r.Context()).principal = "anonymous"
		mux.ServeHTTP(w, r)
	})
}

// estCACerts is /cacerts: the CA certificate and any chain above it.
func (s *server) estCACerts(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "est-cacerts"
	certs, err := s.caCerts()
	if err != nil {
		s.estFail(w, r, err, false)
		return
	}
	s.estCerts(w, r, est.MediaPKCS7, certs)
}

// estCSRAttrs is /csrattrs: 204, cmca asks for no attributes (the
// certificate's content comes from the approved application).
func (s *server) estCSRAttrs(w http.ResponseWriter, r *http.Request) {
	infoFrom(r.Context()).op, infoFrom(r.Context()).code = "est-csrattrs", "ok"
	w.WriteHeader(http.StatusNoContent)
}

// estEnroll is /simpleenroll: `cmca download` over EST. HTTP Basic carries
// the reference number (user) and the passcode (password); the CSR gives
// only the public key, and its signature is the proof of possession.
func (s *server) estEnroll(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "est-simpleenroll"
	ref, passcode, ok := r.BasicAuth()
	if !ok || ref == "" || passcode == "" {
		s.estText(w, r, http.StatusUnauthorized, api.CodeAuthRequired,
			"simpleenroll needs HTTP Basic authentication: the reference number (业务受理号) as the user name and the download passcode (下载授权码) as the password, e.g. curl -u REF:PASSCODE")
		return
	}
	if !s.estAllow(w, r, s.passcode) {
		return
	}
	csr, ok := s.estReadCSR(w, r)
	if !ok {
		return
	}
	out, err := s.svc.Download(r.Context(), service.DownloadInput{Ref: strings.TrimSpace(ref), Passcode: passcode, CSR: csr.Raw})
	if err != nil {
		s.estFail(w, r, err, true)
		return
	}
	s.estIssued(w, r, out)
}

// estReenroll is /simplereenroll: `cmca renew` over EST, authenticated by
// the TLS client certificate being renewed, with the server's client
// certificate authenticator (s.auth, CertAuthenticator in auth.go: issued
// by the home's CA for client authentication, unexpired, the very
// certificate on record, not revoked). The handshake proved possession of
// its key, so the service is called as that certificate's holder (the
// Subscriber principal named by its serial) without a signed proof; the
// renewal rules are the service's.
func (s *server) estReenroll(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "est-simplereenroll"
	const how = "simplereenroll is authenticated by TLS with the certificate being renewed (curl --cert cert.pem --key key.pem)"
	p, err := s.auth(r)
	switch {
	case err != nil:
		s.estText(w, r, http.StatusForbidden, api.CodeAuthFailed, fmt.Sprintf("the client certificate was not accepted: %v; %s", err, how))
		return
	case p.Kind == principal.Anonymous || p.Kind == "":
		s.estText(w, r, http.StatusForbidden, api.CodeAuthRequired, "no client certificate was presented; "+how)
		return
	case p.Kind != principal.Subscriber:
		s.estText(w, r, http.StatusForbidden, api.CodeAuthFailed, fmt.Sprintf("the client certificate is the credential of %s, not a subscriber's certificate; %s", p.String(), how))
		return
	}
	info.principal = p.String()
	if !s.estAllow(w, r, s.apply) {
		return
	}
	csr, ok := s.estReadCSR(w, r)
	if !ok {
		return
	}
	res, err := s.svc.Renew(principal.With(r.Context(), p), service.RenewInput{Serial: p.Name, CSR: csr.Raw, Comment: "EST simplereenroll"})
	var coded *ra.CodedError
	switch {
	case errors.As(err, &coded) && coded.Code == service.CodeOpenRequest && coded.Params["kind"] == string(ra.KindRenew):
		ref := coded.Params["ref"]
		switch ra.State(coded.Params["state"]) {
		case ra.StateSubmitted, ra.StateApproved:
			s.estPending(w, r, ref)
		default:
			s.estText(w, r, http.StatusConflict, api.CodeConflict, fmt.Sprintf(
				"the renewal of certificate %s is request %s, which was approved and is %s: collect its certificate with simpleenroll, the reference number %s and the download passcode the acceptance point gives you",
				p.Name, ref, coded.Params["state"], ref))
		}
		return
	case err != nil:
		s.estFail(w, r, err, false)
		return
	case res.Issued == nil:
		s.estPending(w, r, res.Ref)
		return
	}
	s.estIssued(w, r, res.Issued)
}

// estPending is 202 for a renewal outside the renewal window, waiting for
// an operator's review.
func (s *server) estPending(w http.ResponseWriter, r *http.Request, ref string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(estRetryAfter/time.Second)))
	s.estText(w, r, http.StatusAccepted, "ok", fmt.Sprintf(
		"renewal request %s is waiting for an operator's review (the certificate is outside the renewal window, where renewals are issued at once); once it is approved and issued, collect the certificate with simpleenroll, the reference number %s and the download passcode the acceptance point gives you",
		ref, ref))
}

// caCerts is the home's CA certificate, then any chain above it.
func (s *server) caCerts() ([]*x509.Certificate, error) {
	data, err := s.svc.CACertificate()
	if err != nil {
		return nil, fmt.Errorf("read the CA certificate: %w", err)
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("the CA certificate: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("the CA certificate file holds no certificate")
	}
	return certs, nil
}

// estAllow applies a rate limit; a refusal is answered 429 with
// Retry-After.
func (s *server) estAllow(w http.ResponseWriter, r *http.Request, l *limiter) bool {
	wait, ok := l.allow(rateKey(r.RemoteAddr))
	if ok {
		return true
	}
	secs := strconv.Itoa(int(wait.Round(time.Second)/time.Second) + 1)
	w.Header().Set("Retry-After", secs)
	s.estText(w, r, http.StatusTooManyRequests, api.CodeRateLimited, "too many requests from this address; retry in "+secs+" seconds")
	return false
}

// estReadCSR reads and decodes the request body: Content-Type
// application/pkcs10, at most est.MaxBody bytes, base64 of a DER PKCS#10
// request. Anything else is answered 400 and false is returned.
func (s *server) estReadCSR(w http.ResponseWriter, r *http.Request) (*x509.CertificateRequest, bool) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != est.MediaPKCS10 {
		s.estText(w, r, http.StatusBadRequest, api.CodeContentType, fmt.Sprintf("the body must be a base64 PKCS#10 request sent as Content-Type: %s, not %q", est.MediaPKCS10, ct))
		return nil, false
	}
	if r.ContentLength > est.MaxBody {
		// Refused before reading: a client waiting for 100 Continue
		// gets the answer instead of uploading.
		s.estText(w, r, http.StatusBadRequest, api.CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes; a base64 PKCS#10 request is a few kilobytes", est.MaxBody))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, est.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.estText(w, r, http.StatusBadRequest, api.CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes; a base64 PKCS#10 request is a few kilobytes", est.MaxBody))
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			s.estText(w, r, http.StatusRequestTimeout, api.CodeTimeout, "the body did not arrive in time; send it at once after the headers")
		} else {
			s.estText(w, r, http.StatusBadRequest, api.CodeInvalid, "the body could not be read; send it again")
		}
		return nil, false
	}
	csr, err := est.DecodeCSR(body)
	if err != nil {
		s.estText(w, r, http.StatusBadRequest, api.CodeInvalid, strings.TrimPrefix(err.Error(), est.ErrMalformed.Error()+": "))
		return nil, false
	}
	return csr, true
}

// estIssued answers an issued certificate as certs-only PKCS#7.
func (s *server) estIssued(w http.ResponseWriter, r *http.Request, out *service.Issued) {
	c, err := x509.ParseCertificate(out.Certificate)
	if err != nil {
		s.estFail(w, r, fmt.Errorf("parse the issued certificate: %w", err), false)
		return
	}
	s.estCerts(w, r, est.MediaCertsOnly, []*x509.Certificate{c})
}

func (s *server) estCerts(w http.ResponseWriter, r *http.Request, mediaType string, certs []*x509.Certificate) {
	der, err := est.EncodeCertsOnly(certs)
	if err != nil {
		s.estFail(w, r, err, false)
		return
	}
	infoFrom(r.Context()).code = "ok"
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(est.EncodeBody(der))
}

// estFail answers a service error with EST's statuses: 400 invalid, 401
// (with the Basic challenge) for credentials that do not authenticate when
// basic is set, else 403, 404 not found, 409 wrong state, 403 policy, 429
// rate, 5xx the server's own failure (the details only in its log).
func (s *server) estFail(w http.ResponseWriter, r *http.Request, err error, basic bool) {
	e := api.FromError(err)
	status := e.Status()
	var fe *ra.FieldError
	credential := errors.As(err, &fe) && (fe.Field == "passcode" || fe.Field == "ref")
	switch {
	case e.Class == api.ClassAuth || (basic && (credential || e.Class == api.ClassNotFound)):
		status = http.StatusForbidden
		if basic {
			status = http.StatusUnauthorized
		}
	case e.Class == api.ClassNotFound && !basic:
		status = http.StatusForbidden // a certificate of this CA unknown to its store
	case e.Class == api.ClassInvalid:
		status = http.StatusBadRequest
	case e.Class == api.ClassConflict:
		status = http.StatusConflict
	case e.Class == api.ClassPolicy && e.Code != api.CodeRateLimited:
		status = http.StatusForbidden
	case e.Class == api.ClassInternal:
		infoFrom(r.Context()).err = err.Error()
	}
	s.estText(w, r, status, e.Code, e.Message)
}

// estText writes a text/plain answer (an error, or a 202's explanation).
// A 401 carries the Basic challenge; a server failure names the request ID
// its log line has.
func (s *server) estText(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	info := infoFrom(r.Context())
	info.code = code
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", estRealm)
	}
	if status >= 500 {
		msg += " (request ID " + info.id + ")"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// estNoRoute answers the other EST paths: an unknown operation (404;
// fullcmc, serverkeygen and labelled CA paths are not served) or a wrong
// method (405).
func (s *server) estNoRoute(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "est"
	op := strings.TrimPrefix(r.URL.Path, est.PathPrefix)
	allow := map[string]string{"cacerts": http.MethodGet, "csrattrs": http.MethodGet, "simpleenroll": http.MethodPost, "simplereenroll": http.MethodPost}
	if m, ok := allow[op]; ok {
		w.Header().Set("Allow", m)
		s.estText(w, r, http.StatusMethodNotAllowed, api.CodeMethod, fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, m))
		return
	}
	s.estText(w, r, http.StatusNotFound, api.CodeRouteNotFound, fmt.Sprintf("cmca serves no EST operation %q; it serves cacerts, csrattrs, simpleenroll and simplereenroll", op))
}
