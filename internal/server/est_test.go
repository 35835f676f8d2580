package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/est"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

func estKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// estCSR is the base64 body of a CSR for key whose subject asks for
// something the CA must ignore.
func estCSR(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Mallory", Organization: []string{"Evil"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// newESTServer is a test server whose callers are authenticated by their
// TLS client certificates, as under `cmca serve` (CertAuthenticator).
func newESTServer(t *testing.T, o Options) *testServer {
	t.Helper()
	ts := &testServer{t: t, svc: newTestService(t), log: &syncBuffer{}}
	o.Logger = slog.New(slog.NewJSONHandler(ts.log, nil))
	o.Auth = CertAuthenticator(ts.svc, []*x509.Certificate{ts.caCert()}, nil)
	ts.h = NewServer(ts.svc, o)
	return ts
}

func operatorCtx() context.Context {
	return principal.With(context.Background(), principal.LocalOperator("alice"))
}

// issuedRef takes an application through apply, approve and issue.
func (ts *testServer) issuedRef() (ref, passcode string) {
	ts.t.Helper()
	ctx := operatorCtx()
	res, err := ts.svc.Apply(ctx, []service.Application{testApplication()}, false)
	if err != nil {
		ts.t.Fatal(err)
	}
	ref = res[0].Ref
	if _, err := ts.svc.Approve(principal.With(ctx, principal.LocalOperator("rita")), ref); err != nil {
		ts.t.Fatal(err)
	}
	a, err := ts.svc.Issue(principal.With(ctx, principal.LocalOperator("ivan")), ref, false)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ref, a.Passcode
}

type estReq struct {
	method, path, body, ctype string
	user, pass                string // HTTP Basic when user is set
	peer                      []*x509.Certificate
}

func (ts *testServer) est(q estReq) (*http.Response, string) {
	ts.t.Helper()
	if q.method == "" {
		q.method = "POST"
	}
	req := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	req.RemoteAddr = "192.0.2.9:5555"
	if q.ctype != "-" {
		if q.ctype == "" {
			q.ctype = est.MediaPKCS10
		}
		req.Header.Set("Content-Type", q.ctype)
	}
	if q.user != "" {
		req.SetBasicAuth(q.user, q.pass)
	}
	if q.peer != nil {
		req.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: q.peer}
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

// certsOnly decodes a 200 EST answer.
func certsOnly(t *testing.T, res *http.Response, body, wantType string) []*x509.Certificate {
	t.Helper()
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != wantType {
		t.Fatalf("Content-Type = %q; want %q", ct, wantType)
	}
	der, err := est.DecodeBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := est.ParseCertsOnly(der)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func (ts *testServer) caCert() *x509.Certificate {
	ts.t.Helper()
	data, err := ts.svc.CACertificate()
	if err != nil {
		ts.t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		ts.t.Fatal(err)
	}
	return c
}

func (ts *testServer) request(ref string) *ra.Request {
	ts.t.Helper()
	rs, err := ts.svc.Requests(operatorCtx(), store.RequestFilter{})
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Ref == ref {
			return r
		}
	}
	ts.t.Fatalf("no request %s", ref)
	return nil
}

func TestESTCACerts(t *testing.T) {
	ts := newTestServer(t, Options{})
	res, body := ts.est(estReq{method: "GET", path: est.PathCACerts, ctype: "-"})
	certs := certsOnly(t, res, body, est.MediaPKCS7)
	if len(certs) != 1 || !certs[0].Equal(ts.caCert()) {
		t.Fatalf("cacerts = %d certificates; want the CA certificate", len(certs))
	}
	if res.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Fatalf("Content-Transfer-Encoding = %q; want base64", res.Header.Get("Content-Transfer-Encoding"))
	}
	res, _ = ts.est(estReq{method: "GET", path: est.PathCSRAttrs, ctype: "-"})
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("csrattrs = %d; want 204", res.StatusCode)
	}
}

// TestESTSimpleEnroll: HTTP Basic is the reference number and the passcode,
// by the rules of `cmca download`.
func TestESTSimpleEnroll(t *testing.T) {
	ts := newTestServer(t, Options{})
	ref, code := ts.issuedRef()
	key := estKey(t)
	body := estCSR(t, key)
	enroll := func(user, pass, body string) (*http.Response, string) {
		return ts.est(estReq{path: est.PathEnroll, body: body, user: user, pass: pass})
	}

	// No credentials, an unknown reference, a malformed passcode: 401 with
	// the challenge, nothing counted.
	for name, cred := range map[string][2]string{
		"none":               {"", ""},
		"unknown reference":  {"20260101-AAAAAAAA", code},
		"malformed passcode": {ref, "not-a-passcode"},
		"malformed ref":      {"x", code},
	} {
		res, out := enroll(cred[0], cred[1], body)
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic realm=") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("enroll with %s credentials = %d %q %s; want 401 with a Basic challenge", name, res.StatusCode, res.Header.Get("WWW-Authenticate"), out)
		}
	}
	if n := ts.request(ref).PasscodeAttempts; n != 0 {
		t.Fatalf("%d passcode attempts counted; want 0", n)
	}

	// A wrong passcode is counted against the limit, as `cmca download`.
	wrong := "AAAA-BBBB-CCCC-DDDD-EEEE"
	if strings.EqualFold(ra.NormalizePasscode(wrong), ra.NormalizePasscode(code)) {
		wrong = "ZZZZ-BBBB-CCCC-DDDD-EEEE"
	}
	res, out := enroll(ref, wrong, body)
	if res.StatusCode != 401 || !strings.Contains(out, "attempts left") {
		t.Fatalf("wrong passcode = %d %s; want 401 with the attempts left", res.StatusCode, out)
	}
	if n := ts.request(ref).PasscodeAttempts; n != 1 {
		t.Fatalf("%d passcode attempts counted; want 1", n)
	}

	// The right one: the certificate for the CSR's key with the identity
	// of the application, issued by the CA.
	res, out = enroll(ref, code, body)
	certs := certsOnly(t, res, out, est.MediaCertsOnly)
	leaf := certs[0]
	if len(certs) != 1 || !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatalf("simpleenroll = %d certificates; want one for the CSR's key", len(certs))
	}
	if strings.Contains(leaf.Subject.String(), "Mallory") || !strings.Contains(leaf.Subject.String(), "张三") {
		t.Fatalf("subject %q; want the application's, not the CSR's", leaf.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ts.caCert())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}

	// Used passcode: the same key gets the same certificate again, another
	// key is refused (409).
	res, out = enroll(ref, code, body)
	if again := certsOnly(t, res, out, est.MediaCertsOnly); !again[0].Equal(leaf) {
		t.Fatal("retry with the same key gave another certificate")
	}
	res, out = enroll(ref, code, estCSR(t, estKey(t)))
	if res.StatusCode != 409 || !strings.Contains(out, "already used") {
		t.Fatalf("used passcode with another key = %d %s; want 409 already used", res.StatusCode, out)
	}
}

// TestESTBadInput: malformed bodies, wrong content types, oversized bodies
// and wrong methods are answered 4xx in text, cost no passcode attempt and
// change nothing.
func TestESTBadInput(t *testing.T) {
	ts := newTestServer(t, Options{})
	ref, code := ts.issuedRef()
	body := estCSR(t, estKey(t))
	der, _ := base64.StdEncoding.DecodeString(body)
	before := ts.snapshot()
	tests := []struct {
		name   string
		q      estReq
		status int
		want   string
	}{
		{"wrong content type", estReq{body: body, ctype: "application/json"}, 400, "Content-Type: application/pkcs10"},
		{"no content type", estReq{body: body, ctype: "-"}, 400, "Content-Type"},
		{"oversized", estReq{body: strings.Repeat("QUFB", est.MaxBody/4+1)}, 400, "larger than"},
		{"empty", estReq{body: ""}, 400, "empty"},
		{"not base64", estReq{body: "%%%"}, 400, "not base64"},
		{"raw DER", estReq{body: string(der)}, 400, "not base64"},
		{"PEM", estReq{body: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}, 400, "PEM"},
		{"base64 junk", estReq{body: "AAAA"}, 400, "not a DER PKCS#10"},
		{"bad CSR signature", estReq{body: base64.StdEncoding.EncodeToString(tamper(der))}, 400, ""},
		{"RSA-1024 key", estReq{body: rsaCSR(t, 1024)}, 403, "at least 2048 bits"},
		{"GET simpleenroll", estReq{method: "GET"}, 405, "use POST"},
		{"POST cacerts", estReq{path: est.PathCACerts}, 405, "use GET"},
		{"unknown operation", estReq{path: est.PathPrefix + "serverkeygen"}, 404, "no EST operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.path == "" {
				q.path = est.PathEnroll
			}
			q.user, q.pass = ref, code
			res, out := ts.est(q)
			if res.StatusCode != tt.status || !strings.Contains(out, tt.want) || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("%s = %d %q %s; want %d saying %q", tt.name, res.StatusCode, res.Header.Get("Content-Type"), out, tt.status, tt.want)
			}
			if after := ts.snapshot(); after != before {
				t.Errorf("the store changed")
			}
		})
	}
}

// tamper flips a bit in the CSR's signature (its last byte).
func tamper(der []byte) []byte {
	out := append([]byte{}, der...)
	out[len(out)-1] ^= 1
	return out
}

// TestESTSimpleReenroll: authenticated by the TLS client certificate being
// renewed; the renewal rules are the service's.
func TestESTSimpleReenroll(t *testing.T) {
	ts := newESTServer(t, Options{})
	ref, code := ts.issuedRef()
	oldKey := estKey(t)
	got, err := ts.svc.Download(context.Background(), service.DownloadInput{Ref: ref, Passcode: code, CSR: mustDecode(t, estCSR(t, oldKey))})
	if err != nil {
		t.Fatal(err)
	}
	holder, err := x509.ParseCertificate(got.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	reenroll := func(peer []*x509.Certificate, body string) (*http.Response, string) {
		return ts.est(estReq{path: est.PathReenroll, body: body, peer: peer})
	}
	before := ts.snapshot()

	// No client certificate, another CA's, a CA certificate, a certificate
	// of this CA the store does not know: 403, nothing changes.
	stranger := selfSigned(t, "Stranger", false)
	unknown := ts.issueOutsideStore()
	opRes, err := ts.svc.AddOperator(operatorCtx(), service.OperatorInput{Name: "olga", Roles: []principal.Role{principal.Reviewer}, PublicKey: estKey(t).Public()})
	if err != nil {
		t.Fatal(err)
	}
	opCert, err := x509.ParseCertificate(opRes.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	before = ts.snapshot()
	for _, tt := range []struct {
		name string
		peer []*x509.Certificate
		want string
	}{
		{"no", nil, "no client certificate"},
		{"another CA's", []*x509.Certificate{stranger}, "not issued by this CA"},
		{"the CA's own", []*x509.Certificate{ts.caCert()}, "not accepted"},
		{"an unrecorded", []*x509.Certificate{unknown}, "neither an operator credential nor a subscriber certificate"},
		{"an operator's", []*x509.Certificate{opCert}, "not a subscriber's certificate"},
	} {
		res, out := reenroll(tt.peer, estCSR(t, estKey(t)))
		if res.StatusCode != 403 || !strings.Contains(out, tt.want) {
			t.Errorf("reenroll with %s certificate = %d %s; want 403 saying %q", tt.name, res.StatusCode, out, tt.want)
		}
	}
	if after := ts.snapshot(); after != before {
		t.Fatal("a refused reenroll changed the store")
	}

	// Far from expiry: 202 with Retry-After, the request waiting for
	// review; a retry is still 202 for the same request.
	res, out := reenroll([]*x509.Certificate{holder}, estCSR(t, estKey(t)))
	if res.StatusCode != 202 || res.Header.Get("Retry-After") == "" || !strings.Contains(out, "waiting for an operator's review") {
		t.Fatalf("reenroll outside window = %d %s; want 202 with Retry-After", res.StatusCode, out)
	}
	rs, err := ts.svc.Requests(operatorCtx(), store.RequestFilter{Kinds: []ra.Kind{ra.KindRenew}})
	if err != nil || len(rs) != 1 || !strings.Contains(out, rs[0].Ref) {
		t.Fatalf("renewal requests = %v, %v; want one, named in %q", rs, err, out)
	}
	res, out2 := reenroll([]*x509.Certificate{holder}, estCSR(t, estKey(t)))
	if res.StatusCode != 202 || !strings.Contains(out2, rs[0].Ref) {
		t.Fatalf("second reenroll = %d %s; want 202 naming %s", res.StatusCode, out2, rs[0].Ref)
	}
	if _, err := ts.svc.Reject(principal.With(context.Background(), principal.LocalOperator("rita")), rs[0].Ref, "not yet"); err != nil {
		t.Fatal(err)
	}

	// Inside the renewal window (the service's clock moved on): the new
	// certificate at once, for the new key, with the application's
	// identity; the same key again gets it again.
	ts.svc.Now = func() time.Time { return holder.NotAfter.Add(-24 * time.Hour) }
	newKey := estKey(t)
	body := estCSR(t, newKey)
	res, out = reenroll([]*x509.Certificate{holder}, body)
	certs := certsOnly(t, res, out, est.MediaCertsOnly)
	if !certs[0].PublicKey.(*ecdsa.PublicKey).Equal(newKey.Public()) || certs[0].SerialNumber.Cmp(holder.SerialNumber) == 0 || certs[0].Subject.String() != holder.Subject.String() {
		t.Fatalf("renewed certificate %s for another key or subject", certs[0].Subject)
	}
	res, out = reenroll([]*x509.Certificate{holder}, body)
	if again := certsOnly(t, res, out, est.MediaCertsOnly); !again[0].Equal(certs[0]) {
		t.Fatal("retry gave another certificate")
	}
	// Once per certificate: another key is refused.
	res, out = reenroll([]*x509.Certificate{holder}, estCSR(t, estKey(t)))
	if res.StatusCode != 409 || !strings.Contains(out, "already renewed") {
		t.Fatalf("second renewal = %d %s; want 409 already renewed", res.StatusCode, out)
	}
	// Renewal needs a new key (policy: 403); revoked certificates are
	// refused (409). (Another certificate: the renewed one is valid only
	// from the service's moved clock on.)
	ts.svc.Now = time.Now
	ref2, code2 := ts.issuedRef()
	key2 := estKey(t)
	body2 := estCSR(t, key2)
	got2, err := ts.svc.Download(context.Background(), service.DownloadInput{Ref: ref2, Passcode: code2, CSR: mustDecode(t, body2)})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := x509.ParseCertificate(got2.Certificate)
	res, out = reenroll([]*x509.Certificate{second}, body2)
	if res.StatusCode != 403 || !strings.Contains(out, "new key") {
		t.Fatalf("renewal with the same key = %d %s; want 403 new key", res.StatusCode, out)
	}
	if _, err := ts.svc.Revoke(operatorCtx(), service.RevokeInput{Serial: got2.Serial, Reason: "keyCompromise", Comment: "test", Direct: true}); err != nil {
		t.Fatal(err)
	}
	res, out = reenroll([]*x509.Certificate{second}, estCSR(t, estKey(t)))
	if res.StatusCode != 403 || !strings.Contains(out, "revoked") {
		t.Fatalf("renewal of a revoked certificate = %d %s; want 403 revoked", res.StatusCode, out)
	}
}

func rsaCSR(t *testing.T, bits int) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return estCSR(t, key)
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func selfSigned(t *testing.T, cn string, isCA bool) *x509.Certificate {
	t.Helper()
	key := estKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// issueOutsideStore signs a certificate with the CA's key that the store
// never recorded (like serve's own server certificate).
func (ts *testServer) issueOutsideStore() *x509.Certificate {
	ts.t.Helper()
	authority, err := ts.svc.CA(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	key := estKey(ts.t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(424242), Subject: pkix.Name{CommonName: "not recorded"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, authority.Cert, key.Public(), authority.Signer)
	if err != nil {
		ts.t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestESTRateLimits: simpleenroll counts against the passcode limit of the
// client address, like the API's download.
func TestESTRateLimits(t *testing.T) {
	ts := newTestServer(t, Options{PasscodeLimit: Limit{Burst: 1, Every: time.Hour}})
	q := estReq{path: est.PathEnroll, body: "AAAA", user: "20260101-AAAAAAAA", pass: "AAAA-BBBB-CCCC-DDDD-EEEE"}
	if res, out := ts.est(q); res.StatusCode != 400 {
		t.Fatalf("first enroll = %d %s; want 400 (a junk body)", res.StatusCode, out)
	}
	res, out := ts.est(q)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second enroll = %d %s; want 429 with Retry-After", res.StatusCode, out)
	}
	if strings.Contains(ts.log.String(), "AAAA-BBBB-CCCC-DDDD-EEEE") {
		t.Fatal("the log holds the passcode")
	}
	if !strings.Contains(ts.log.String(), `"operation":"est-simpleenroll"`) {
		t.Fatalf("log %s; want the EST operation named", ts.log.String())
	}
}

// TestESTReenrollOverTLS: through a real TLS handshake with the server's
// TLS configuration (TLSConfig asks for client certificates without
// requiring one), the client certificate reaches simplereenroll.
func TestESTReenrollOverTLS(t *testing.T) {
	ts := newESTServer(t, Options{})
	ref, code := ts.issuedRef()
	key := estKey(t)
	got, err := ts.svc.Download(context.Background(), service.DownloadInput{Ref: ref, Passcode: code, CSR: mustDecode(t, estCSR(t, key))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(ts.h)
	srv.TLS = TLSConfig(nil, []*x509.Certificate{ts.caCert()})
	srv.StartTLS()
	defer srv.Close()
	post := func(certs []tls.Certificate) (int, string) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		c := &http.Client{Transport: tr}
		res, err := c.Post(srv.URL+est.PathReenroll, est.MediaPKCS10, strings.NewReader(estCSR(t, estKey(t))))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, res.Body)
		return res.StatusCode, b.String()
	}
	if status, out := post(nil); status != 403 || !strings.Contains(out, "no client certificate") {
		t.Fatalf("reenroll without a client certificate = %d %s; want 403", status, out)
	}
	status, out := post([]tls.Certificate{{Certificate: [][]byte{got.Certificate}, PrivateKey: key}})
	if status != 202 {
		t.Fatalf("reenroll with the certificate = %d %s; want 202 (outside the renewal window)", status, out)
	}
}

// TestAPIRenewByTLSHolder: the API's renew takes the same holder path as
// simplereenroll: without a proof, only a caller authenticated with the
// certificate being renewed is accepted.
func TestAPIRenewByTLSHolder(t *testing.T) {
	ts := newESTServer(t, Options{})
	ref, code := ts.issuedRef()
	key := estKey(t)
	got, err := ts.svc.Download(context.Background(), service.DownloadInput{Ref: ref, Passcode: code, CSR: mustDecode(t, estCSR(t, key))})
	if err != nil {
		t.Fatal(err)
	}
	holder, _ := x509.ParseCertificate(got.Certificate)
	renew := func(peer []*x509.Certificate) (int, string) {
		body := `{"csr": "` + estCSR(t, estKey(t)) + `"}`
		req := httptest.NewRequest("POST", "/api/v1/certificates/"+got.Serial+"/renew", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if peer != nil {
			req.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: peer}
		}
		rec := httptest.NewRecorder()
		ts.h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if status, out := renew(nil); status != 403 || !strings.Contains(out, "proof of possession") {
		t.Fatalf("anonymous renew without proof = %d %s; want 403 asking for a proof", status, out)
	}
	if status, out := renew([]*x509.Certificate{holder}); status != 200 || !strings.Contains(out, `"state":"submitted"`) {
		t.Fatalf("holder renew without proof = %d %s; want a submitted renewal", status, out)
	}
}
