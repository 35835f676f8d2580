package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

func newTestService(t *testing.T) *service.Service {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if _, err := service.Init(ctx, home, service.InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s, err := service.Open(ctx, home, service.DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testAuth takes the caller from the X-Test-Principal header,
// "name:role,role"; no header is anonymous; "bad" fails.
func testAuth(r *http.Request) (principal.Principal, error) {
	h := r.Header.Get("X-Test-Principal")
	switch h {
	case "":
		return principal.Principal{Kind: principal.Anonymous}, nil
	case "bad":
		return principal.Principal{}, errors.New("certificate revoked")
	}
	name, roles, _ := strings.Cut(h, ":")
	p := principal.Principal{Kind: principal.Operator, Name: name}
	for _, s := range strings.Split(roles, ",") {
		if r, ok := principal.ParseRole(s); ok {
			p.Roles = append(p.Roles, r)
		}
	}
	return p, nil
}

type testServer struct {
	t   *testing.T
	svc *service.Service
	h   http.Handler
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func newTestServer(t *testing.T, o Options) *testServer {
	ts := &testServer{t: t, svc: newTestService(t), log: &syncBuffer{}}
	o.Logger = slog.New(slog.NewJSONHandler(ts.log, nil))
	if o.Auth == nil {
		o.Auth = testAuth
	}
	ts.h = NewServer(ts.svc, o)
	return ts
}

// do sends a request; body is sent as is when a string, else as JSON.
func (ts *testServer) do(method, path, who string, body any, hdr ...string) (*http.Response, []byte) {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.7:4444"
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("X-Test-Principal", who)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.Bytes()
}

func testApplication() service.Application {
	return service.Application{
		Applicant:         ra.Applicant{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
		UsageType:         "auth",
		AcceptancePoint:   "online",
		Storage:           ra.StorageSoft,
		AgreementAccepted: true,
	}
}

// snapshot is what a refused request must leave unchanged.
func (ts *testServer) snapshot() string {
	ts.t.Helper()
	ctx := principal.With(context.Background(), principal.LocalOperator("auditor"))
	rs, err := ts.svc.Requests(ctx, store.RequestFilter{})
	if err != nil {
		ts.t.Fatal(err)
	}
	evs, err := ts.svc.Audit(ctx, store.AuditFilter{})
	if err != nil {
		ts.t.Fatal(err)
	}
	b, _ := json.Marshal([]any{rs, evs})
	return string(b)
}

func decodeError(t *testing.T, body []byte) *api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		t.Fatalf("body %s is not a structured error (%v)", body, err)
	}
	return &e
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	ts := newTestServer(t, Options{})
	app, _ := json.Marshal(api.ApplyRequest{Applications: []service.Application{testApplication()}})
	// One request that exists, so approve and download have a target.
	res, body := ts.do("POST", "/api/v1/requests", "", string(app))
	if res.StatusCode != 200 {
		t.Fatalf("apply: %d %s", res.StatusCode, body)
	}
	var ar api.ApplyResponse
	json.Unmarshal(body, &ar)
	ref := ar.Results[0].Ref
	before := ts.snapshot()

	big := `{"applications": [` + strings.Repeat(string(app[len(`{"applications":[`):len(app)-2])+",", 6000) + `{}]}`
	tests := []struct {
		name, method, path, who, body, ctype string
		status                               int
		code, field                          string
	}{
		{"malformed JSON", "POST", "/api/v1/requests", "", `{"applications": [`, "", 400, api.CodeMalformedJSON, ""},
		{"not JSON", "POST", "/api/v1/requests", "", `applications=1`, "", 400, api.CodeMalformedJSON, ""},
		{"empty body", "POST", "/api/v1/requests", "", ``, "", 400, api.CodeMalformedJSON, ""},
		{"two values", "POST", "/api/v1/requests", "", string(app) + string(app), "", 400, api.CodeMalformedJSON, ""},
		{"trailing garbage", "POST", "/api/v1/requests", "", string(app) + "x", "", 400, api.CodeMalformedJSON, ""},
		{"unknown field", "POST", "/api/v1/requests", "", `{"applications": [], "operator": "root"}`, "", 400, api.CodeUnknownField, "operator"},
		{"unknown nested field", "POST", "/api/v1/requests", "", `{"applications": [{"applicant": {"name": "x", "role": "admin"}}]}`, "", 400, api.CodeUnknownField, "role"},
		{"wrong type", "POST", "/api/v1/requests", "", `{"applications": "all"}`, "", 422, api.CodeInvalidField, "applications"},
		{"oversized", "POST", "/api/v1/requests", "", big, "", 413, api.CodeTooLarge, ""},
		{"wrong content type", "POST", "/api/v1/requests", "", string(app), "text/plain", 415, api.CodeContentType, ""},
		{"no content type", "POST", "/api/v1/requests", "", string(app), "-", 415, api.CodeContentType, ""},
		{"compressed body", "POST", "/api/v1/requests", "", "\x1f\x8b\x08\x00", "gzip", 415, api.CodeContentType, ""},
		{"form content type", "POST", "/api/v1/requests/" + ref + "/download", "", `{}`, "application/x-www-form-urlencoded", 415, api.CodeContentType, ""},
		{"invalid application", "POST", "/api/v1/requests", "", `{"applications": [{"usage_type": "auth"}]}`, "", 422, api.CodeInvalidField, "name"},
		{"invalid batch", "POST", "/api/v1/requests", "", `{"applications": [{"usage_type": "auth"}, {"usage_type": "auth"}]}`, "", 422, api.CodeBatchInvalid, ""},
		{"no application", "POST", "/api/v1/requests", "", `{"applications": []}`, "", 400, api.CodeInvalid, ""},
		{"approve anonymous", "POST", "/api/v1/requests/" + ref + "/approve", "", `{}`, "", 403, api.CodeRoleRequired, ""},
		{"approve wrong role", "POST", "/api/v1/requests/" + ref + "/approve", "carol:auditor", `{}`, "", 403, api.CodeRoleRequired, ""},
		{"approve bad credential", "POST", "/api/v1/requests/" + ref + "/approve", "bad", `{}`, "", 401, api.CodeAuthRequired, ""},
		{"approve unknown field", "POST", "/api/v1/requests/" + ref + "/approve", "rita:reviewer", `{"force": true}`, "", 400, api.CodeUnknownField, "force"},
		{"download malformed CSR", "POST", "/api/v1/requests/" + ref + "/download", "", `{"passcode": "AAAA-BBBB-CCCC-DDDD-EEEE", "csr": "!!", "storage": "soft"}`, "", 422, api.CodeInvalidField, "csr"},
		{"download unknown storage", "POST", "/api/v1/requests/" + ref + "/download", "", `{"passcode": "AAAA-BBBB-CCCC-DDDD-EEEE", "csr": "AAAA", "storage": "floppy"}`, "", 422, api.CodeInvalidField, "storage"},
		{"download not issued", "POST", "/api/v1/requests/" + ref + "/download", "", `{"passcode": "AAAA-BBBB-CCCC-DDDD-EEEE", "csr": "AAAA", "storage": "soft"}`, "", 400, api.CodeInvalid, ""},
		{"status unknown", "GET", "/api/v1/requests/20260101-AAAAAAAA", "", "", "", 404, api.CodeRequestNotFound, ""},
		{"requests bad limit", "GET", "/api/v1/requests?limit=-1", "rita:reviewer", "", "", 422, api.CodeInvalidField, "limit"},
		{"audit bad since", "GET", "/api/v1/audit?since=yesterday", "aud:auditor", "", "", 422, api.CodeInvalidField, "since"},
		{"direct revoke without revoker", "POST", "/api/v1/certificates/01/revoke", "", `{"reason": "keyCompromise", "direct": true, "comment": "x"}`, "", 403, api.CodeRoleRequired, ""},
		{"counter documents without counter role", "POST", "/api/v1/requests", "", `{"applications": [{"applicant": {"name": "x"}, "documents_checked": true}]}`, "", 403, api.CodeRoleRequired, ""},
		{"requests unknown state", "GET", "/api/v1/requests?state=bogus", "rita:reviewer", "", "", 422, api.CodeInvalidField, "state"},
		{"requests unknown kind", "GET", "/api/v1/requests?kind=renewal", "rita:reviewer", "", "", 422, api.CodeInvalidField, "kind"},
		{"requests bad serial", "GET", "/api/v1/requests?serial=zz", "rita:reviewer", "", "", 422, api.CodeInvalidField, "serial"},
		{"certificates unknown status", "GET", "/api/v1/certificates?status=bogus", "rita:reviewer", "", "", 422, api.CodeInvalidField, "status"},
		{"by-key not a public key", "POST", "/api/v1/certificates/by-key", "", `{"spki": "AAAA"}`, "", 422, api.CodeInvalidField, "spki"},
		{"by-key no key", "POST", "/api/v1/certificates/by-key", "", `{}`, "", 422, api.CodeInvalidField, "spki"},
		{"approve batch names nothing", "POST", "/api/v1/batches/approve", "rita:reviewer", `{}`, "", 400, api.CodeInvalid, ""},
		{"issue batch names nothing", "POST", "/api/v1/batches/issue", "ivan:issuer", `{"refs": []}`, "", 400, api.CodeInvalid, ""},
		{"download batch names nothing", "POST", "/api/v1/batches/download", "ivan:issuer", `{"items": []}`, "", 400, api.CodeInvalid, ""},
		{"body not an object", "POST", "/api/v1/requests", "", `[]`, "", 422, api.CodeInvalidField, ""},
		{"ref too long", "GET", "/api/v1/requests/" + strings.Repeat("A", 5000), "", "", "", 422, api.CodeInvalidField, "ref"},
		{"ref too long approve", "POST", "/api/v1/requests/" + strings.Repeat("%E5", 300) + "/approve", "rita:reviewer", "", "", 422, api.CodeInvalidField, "ref"},
		{"no route", "GET", "/api/v1/nothing", "", "", "", 404, api.CodeRouteNotFound, ""},
		{"wrong method", "DELETE", "/api/v1/requests/" + ref, "", "", "", 405, api.CodeMethod, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			switch tt.ctype {
			case "":
			case "-":
				hdr = []string{"Content-Type", ""}
			case "gzip":
				hdr = []string{"Content-Encoding", "gzip"}
			default:
				hdr = []string{"Content-Type", tt.ctype}
			}
			var body any
			if tt.body != "" || tt.method == "POST" {
				body = tt.body
			}
			res, out := ts.do(tt.method, tt.path, tt.who, body, hdr...)
			e := decodeError(t, out)
			if res.StatusCode != tt.status || e.Code != tt.code {
				t.Errorf("%s %s = %d %s; want %d %s (%s)", tt.method, tt.path, res.StatusCode, e.Code, tt.status, tt.code, out)
			}
			if tt.field != "" && e.Field != tt.field {
				t.Errorf("field = %q; want %q", e.Field, tt.field)
			}
			if len(out) > 4096 {
				t.Errorf("the error is %d bytes long: input echoed without bound", len(out))
			}
			if e.Message == "" || e.RequestID == "" || e.RequestID != res.Header.Get("X-Request-ID") {
				t.Errorf("error %+v: want a message and the request ID %s", e, res.Header.Get("X-Request-ID"))
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if after := ts.snapshot(); after != before {
				t.Errorf("the store changed")
			}
		})
	}
}

func TestStatusIsRedactedForAnonymousCallers(t *testing.T) {
	ts := newTestServer(t, Options{})
	_, body := ts.do("POST", "/api/v1/requests", "", api.ApplyRequest{Applications: []service.Application{testApplication()}})
	var ar api.ApplyResponse
	json.Unmarshal(body, &ar)
	ref := ar.Results[0].Ref
	for _, tt := range []struct {
		who  string
		full bool
	}{{"", false}, {"rita:reviewer", true}} {
		_, body := ts.do("GET", "/api/v1/requests/"+ref, tt.who, nil)
		if got := bytes.Contains(body, []byte("11010519491231002X")); got != tt.full {
			t.Errorf("status as %q shows the ID number: %v; want %v", tt.who, got, tt.full)
		}
		if !bytes.Contains(body, []byte(`"state":"submitted"`)) {
			t.Errorf("status as %q: %s; want the state", tt.who, body)
		}
	}
}

func csr(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLifecycleByRoleAndLogHasNoSecrets(t *testing.T) {
	ts := newTestServer(t, Options{})
	_, body := ts.do("POST", "/api/v1/requests", "", api.ApplyRequest{Applications: []service.Application{testApplication()}})
	var ar api.ApplyResponse
	json.Unmarshal(body, &ar)
	ref := ar.Results[0].Ref
	if res, body := ts.do("POST", "/api/v1/requests/"+ref+"/approve", "rita:reviewer", nil); res.StatusCode != 200 {
		t.Fatalf("approve: %d %s", res.StatusCode, body)
	}
	if res, body := ts.do("POST", "/api/v1/requests/"+ref+"/issue", "rita:reviewer", api.IssueRequest{}); res.StatusCode != 403 {
		t.Fatalf("issue by a reviewer: %d %s; want 403", res.StatusCode, body)
	}
	res, body := ts.do("POST", "/api/v1/requests/"+ref+"/issue", "ivan:issuer", api.IssueRequest{})
	if res.StatusCode != 200 {
		t.Fatalf("issue: %d %s", res.StatusCode, body)
	}
	var auth service.Authorisation
	json.Unmarshal(body, &auth)
	res, body = ts.do("POST", "/api/v1/requests/"+ref+"/download", "", api.DownloadRequest{Passcode: auth.Passcode, CSR: csr(t), Storage: ra.StorageSoft})
	if res.StatusCode != 200 {
		t.Fatalf("download: %d %s", res.StatusCode, body)
	}
	var issued api.Issued
	json.Unmarshal(body, &issued)
	if c, err := x509.ParseCertificate(issued.Certificate); err != nil || c.Subject.CommonName != "张三" || len(issued.Chain) != 1 || !strings.HasPrefix(issued.CertificatePEM, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("downloaded certificate: %v %+v", err, issued.Issued)
	}
	// The audit log names the principals.
	_, body = ts.do("GET", "/api/v1/audit?ref="+ref, "aud:auditor", nil)
	for _, who := range []string{`"operator":"anonymous"`, `"operator":"rita"`, `"operator":"ivan"`} {
		if !bytes.Contains(body, []byte(who)) {
			t.Errorf("audit lacks %s: %s", who, body)
		}
	}
	log := ts.log.String()
	if strings.Contains(log, auth.Passcode) || strings.Contains(log, "11010519491231002X") {
		t.Errorf("the log holds a passcode or an ID number:\n%s", log)
	}
	for _, want := range []string{`"operation":"download"`, `"principal":"ivan"`, `"outcome":"ok"`, `"outcome":"auth.role_required"`, `"latency_ms"`, `"request_id"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

func TestRateLimits(t *testing.T) {
	ts := newTestServer(t, Options{ApplyLimit: Limit{Burst: 2, Every: time.Hour}, PasscodeLimit: Limit{Burst: 1, Every: time.Hour}})
	bad := `{"applications": [{"usage_type": "auth"}]}` // invalid: counts, stores nothing
	for i, want := range []int{422, 422, 429} {
		res, body := ts.do("POST", "/api/v1/requests", "", bad)
		if res.StatusCode != want {
			t.Fatalf("apply #%d: %d %s; want %d", i+1, res.StatusCode, body, want)
		}
		if want == 429 {
			e := decodeError(t, body)
			if e.Code != api.CodeRateLimited || res.Header.Get("Retry-After") == "" || e.Params["retry_after"] == "" {
				t.Errorf("rate limited: %+v, Retry-After %q", e, res.Header.Get("Retry-After"))
			}
		}
	}
	dl := api.DownloadRequest{Passcode: "AAAA-BBBB-CCCC-DDDD-EEEE", CSR: csr(t), Storage: ra.StorageSoft}
	for i, want := range []int{404, 429} {
		if res, body := ts.do("POST", "/api/v1/requests/20260101-AAAAAAAA/download", "", dl); res.StatusCode != want {
			t.Fatalf("download #%d: %d %s; want %d", i+1, res.StatusCode, body, want)
		}
	}
	// Another address has its own buckets.
	req := httptest.NewRequest("POST", "/api/v1/requests", strings.NewReader(bad))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "198.51.100.1:1"
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	if rec.Code != 422 {
		t.Errorf("apply from another address: %d; want 422", rec.Code)
	}
}

func TestLimiterRefills(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Limit{Burst: 2, Every: time.Minute}, func() time.Time { return now })
	for i, want := range []bool{true, true, false} {
		if _, ok := l.allow("a"); ok != want {
			t.Fatalf("allow #%d = %v; want %v", i+1, ok, want)
		}
	}
	now = now.Add(30 * time.Second)
	if wait, ok := l.allow("a"); ok || wait != 30*time.Second {
		t.Errorf("after 30s: allow = %v, wait %v; want false, 30s", ok, wait)
	}
	now = now.Add(30 * time.Second)
	if _, ok := l.allow("a"); !ok {
		t.Error("after a minute: refused; want one token")
	}
	now = now.Add(time.Hour)
	l.allow("b")
	if _, ok := l.buckets["a"]; ok {
		t.Error("an idle bucket was kept")
	}
}

// panicky is a service whose Status panics.
type panicky struct{ *service.Service }

func (panicky) Status(context.Context, string) (*service.RequestDetail, error) { panic("boom") }

func TestPanicIsA500StructuredError(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.h = NewServer(panicky{ts.svc}, Options{Logger: slog.New(slog.NewJSONHandler(ts.log, nil)), Auth: testAuth})
	res, body := ts.do("GET", "/api/v1/requests/20260101-AAAAAAAA", "", nil)
	e := decodeError(t, body)
	if res.StatusCode != 500 || e.Code != api.CodeInternal || strings.Contains(string(body), "boom") {
		t.Errorf("panic: %d %s; want 500 server.internal without the panic's text", res.StatusCode, body)
	}
	if !strings.Contains(ts.log.String(), "boom") {
		t.Error("the panic is not in the log")
	}
}

func TestHealth(t *testing.T) {
	var notReady error
	ts := newTestServer(t, Options{Ready: func(context.Context) error { return notReady }})
	if res, _ := ts.do("GET", "/healthz", "", nil); res.StatusCode != 200 {
		t.Errorf("healthz = %d", res.StatusCode)
	}
	if res, _ := ts.do("GET", "/readyz", "", nil); res.StatusCode != 200 {
		t.Errorf("readyz = %d", res.StatusCode)
	}
	notReady = errors.New("store: database is locked")
	res, body := ts.do("GET", "/readyz", "", nil)
	if e := decodeError(t, body); res.StatusCode != 503 || e.Code != api.CodeUnavailable {
		t.Errorf("readyz when not ready = %d %s; want 503", res.StatusCode, body)
	}
}

// TestPublicHandler: the public paths, with the CRLs from the home's files
// (SQLite) and from the store (PostgreSQL, CRLSource: service.CurrentCRL).
func TestPublicHandler(t *testing.T) {
	for _, fromStore := range []bool{false, true} {
		t.Run(map[bool]string{false: "files", true: "store"}[fromStore], func(t *testing.T) { testPublicHandler(t, fromStore) })
	}
}

func testPublicHandler(t *testing.T, fromStore bool) {
	svc := newTestService(t)
	cfg := *svc.Config()
	cfg.CRLDistributionPoint = []string{"http://pki.example.com/pub/crl/my.crl"}
	cfg.CAIssuersURL = []string{"http://pki.example.com/pub/issuer.cer"}
	cfg.DeltaCRLDistributionPoint = []string{"http://pki.example.com/delta/d.crl"}
	o := PublicOptions{Home: svc.Home(), Config: &cfg}
	if fromStore {
		o.CRLs = svc
	}
	h := NewPublicHandler(o)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	if rec := get("/crl/ca.crl"); rec.Code != 404 {
		t.Errorf("CRL before `cmca crl` = %d; want 404", rec.Code)
	}
	if _, err := svc.CRL(principal.With(context.Background(), principal.LocalOperator("alice")), service.CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, ctype string }{
		{"/ca.crt", "application/pkix-cert"}, {"/pub/issuer.cer", "application/pkix-cert"}, {"/ca.pem", "application/x-pem-file"},
		{"/crl/ca.crl", "application/pkix-crl"}, {"/pub/crl/my.crl", "application/pkix-crl"}, {"/crl/ca.crl.pem", "application/x-pem-file"},
	} {
		rec := get(tt.path)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != tt.ctype || !strings.HasPrefix(rec.Header().Get("Cache-Control"), "public, max-age=") || rec.Header().Get("Last-Modified") == "" {
			t.Errorf("GET %s = %d %q %q", tt.path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
			continue
		}
		switch tt.ctype {
		case "application/pkix-cert":
			if _, err := x509.ParseCertificate(rec.Body.Bytes()); err != nil {
				t.Errorf("GET %s: %v", tt.path, err)
			}
		case "application/pkix-crl":
			if _, err := x509.ParseRevocationList(rec.Body.Bytes()); err != nil {
				t.Errorf("GET %s: %v", tt.path, err)
			}
		}
	}
	for _, p := range []string{"/pub/crl/ca-delta.crl", "/delta/d.crl", "/crl/ca-delta.crl"} {
		if rec := get(p); rec.Code != 404 {
			t.Errorf("delta CRL %s before one is signed = %d; want 404", p, rec.Code)
		}
	}
	if _, err := svc.CRL(principal.With(context.Background(), principal.LocalOperator("alice")), service.CRLOptions{Delta: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/pub/crl/ca-delta.crl", "/delta/d.crl", "/crl/ca-delta.crl"} {
		rec := get(p)
		if rl, err := x509.ParseRevocationList(rec.Body.Bytes()); rec.Code != 200 || err != nil || rl.Number.Int64() != 2 {
			t.Errorf("delta CRL %s = %d, %v; want CRL number 2", p, rec.Code, err)
		}
	}
	if rec := get("/etc/passwd"); rec.Code != 404 {
		t.Errorf("GET /etc/passwd = %d", rec.Code)
	}
}

type fakeCRLs struct {
	cur *service.CurrentCRL
	err error
}

func (f *fakeCRLs) CurrentCRL(context.Context, bool) (*service.CurrentCRL, error) {
	return f.cur, f.err
}

// TestPublicCRLFromStore: served from a CRLSource, a CRL carries an ETag of
// its number (a cache revalidates to 304 until a newer one is signed), and
// a store that cannot be reached is a 503 with Retry-After.
func TestPublicCRLFromStore(t *testing.T) {
	src := &fakeCRLs{cur: &service.CurrentCRL{Number: 7, ThisUpdate: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), DER: []byte("der"), PEM: []byte("pem")}}
	h := NewPublicHandler(PublicOptions{Home: t.TempDir(), CRLs: src})
	get := func(path, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get("/crl/ca.crl", "")
	if rec.Code != 200 || rec.Body.String() != "der" || rec.Header().Get("ETag") != `"crl-7"` {
		t.Fatalf("GET /crl/ca.crl = %d %q ETag %q; want 200 der \"crl-7\"", rec.Code, rec.Body, rec.Header().Get("ETag"))
	}
	if rec := get("/crl/ca.crl.pem", ""); rec.Body.String() != "pem" || rec.Header().Get("ETag") != `"crl-pem-7"` {
		t.Errorf("GET /crl/ca.crl.pem = %q ETag %q", rec.Body, rec.Header().Get("ETag"))
	}
	if rec := get("/crl/ca.crl", `"crl-7"`); rec.Code != 304 {
		t.Errorf("revalidating CRL 7 = %d; want 304", rec.Code)
	}
	src.cur = &service.CurrentCRL{Number: 8, ThisUpdate: src.cur.ThisUpdate.Add(time.Hour), DER: []byte("der8")}
	if rec := get("/crl/ca.crl", `"crl-7"`); rec.Code != 200 || rec.Body.String() != "der8" {
		t.Errorf("revalidating CRL 7 once 8 is signed = %d %q; want 200 der8", rec.Code, rec.Body)
	}
	src.err = fmt.Errorf("read: %w", store.ErrUnavailable)
	if rec := get("/crl/ca-delta.crl", ""); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("GET with the store down = %d Retry-After %q; want 503", rec.Code, rec.Header().Get("Retry-After"))
	}
	src.err = fmt.Errorf("none: %w", ra.ErrNotFound)
	if rec := get("/crl/ca-delta.crl", ""); rec.Code != 404 {
		t.Errorf("GET before any delta = %d; want 404", rec.Code)
	}
}
