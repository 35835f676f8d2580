package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testtool"
	"github.com/cmca/cmca/internal/token"
	xocsp "golang.org/x/crypto/ocsp"
)

// ocspHome is a home on the real clock (openssl checks times against it)
// with a running responder behind an httptest server on 127.0.0.1.
type ocspHome struct {
	s      *Service
	o      *OCSP
	srv    *httptest.Server
	dir    string // files for openssl
	caFile string
	issuer *x509.Certificate
}

func newOCSPHome(t testing.TB) *ocspHome {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if _, err := Init(ctx, home, InitOptions{CAName: "OCSP Test CA", KeyAlgo: token.ECDSAP256, Validity: 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	s.Now = time.Now
	o, err := s.NewOCSP(nil)
	if err != nil {
		t.Fatalf("NewOCSP: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	if err := o.Start(runCtx, time.Hour); err != nil {
		t.Fatalf("Start: %v", err)
	}
	srv := httptest.NewServer(o.Responder.Wrap(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	h := &ocspHome{s: s, o: o, srv: srv, dir: t.TempDir(), caFile: filepath.Join(home, CACertFile)}
	data, err := os.ReadFile(h.caFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	h.issuer = certs[0]
	return h
}

// enrol issues a certificate and writes it as PEM for openssl.
func (h *ocspHome) enrol(t *testing.T) (*Issued, string) {
	t.Helper()
	got, _ := enrolledWithKey(t, h.s)
	p := filepath.Join(h.dir, got.Serial+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: got.Certificate}), 0o644); err != nil {
		t.Fatal(err)
	}
	return got, p
}

func (h *ocspHome) revoke(t *testing.T, serial, reason string) {
	t.Helper()
	rv, err := h.s.Revoke(as(context.Background(), "alice"), RevokeInput{Serial: serial, Reason: reason, Comment: "test", Direct: true})
	if err != nil || !rv.Revoked {
		t.Fatalf("Revoke(%s) = %+v, %v", serial, rv, err)
	}
}

// opensslOCSP runs `openssl ocsp -issuer CA -CAfile CA -url URL` with args.
func (h *ocspHome) opensslOCSP(t *testing.T, args ...string) string {
	t.Helper()
	all := append([]string{"ocsp", "-issuer", h.caFile, "-CAfile", h.caFile, "-url", h.srv.URL + "/ocsp"}, args...)
	out, err := exec.Command("openssl", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

func mustContain(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

// TestOCSPOpenSSL: `openssl ocsp` against the responder on a real home:
// good, revoked with reason and time, unknown serial, with and without a
// nonce; a revocation shows at once, even for a response cached before.
func TestOCSPOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl")
	h := newOCSPHome(t)
	good, goodPEM := h.enrol(t)
	bad, badPEM := h.enrol(t)
	h.revoke(t, bad.Serial, "keyCompromise")
	if _, err := h.o.Responder.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	var n int
	// Both subscribers' and the OCSP signer's own (a service certificate).
	if err := h.s.Store().Raw().QueryRow(`SELECT COUNT(*) FROM ocsp_responses WHERE hash = 'sha1'`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("pre-signed responses = %d, %v; want 3", n, err)
	}
	if w, err := h.o.Responder.Warm(context.Background()); err != nil || w != 3 {
		t.Fatalf("Warm = %d, %v; want every response cached", w, err)
	}

	for _, nonce := range []bool{false, true} {
		var extra []string
		if !nonce {
			extra = []string{"-no_nonce"}
		}
		out := h.opensslOCSP(t, append([]string{"-cert", goodPEM}, extra...)...)
		mustContain(t, "good", out, "Response verify OK", goodPEM+": good")
		out = h.opensslOCSP(t, append([]string{"-cert", badPEM}, extra...)...)
		mustContain(t, "revoked", out, "Response verify OK", badPEM+": revoked", "Reason: keyCompromise", "Revocation Time: ")
		out = h.opensslOCSP(t, append([]string{"-serial", "0x1234567890abcdef"}, extra...)...)
		mustContain(t, "unknown", out, "Response verify OK", ": unknown")
		if strings.Contains(out, "WARNING") {
			t.Errorf("nonce=%v: openssl warns:\n%s", nonce, out)
		}
	}

	// The good response is cached now; revocation must show at the next request.
	h.revoke(t, good.Serial, "affiliationChanged")
	out := h.opensslOCSP(t, "-no_nonce", "-cert", goodPEM)
	mustContain(t, "revoked at once", out, goodPEM+": revoked", "Reason: affiliationChanged")
}

// TestOCSPGet: the GET form (base64 in the path, RFC 6960 A.1) answers with
// RFC 5019 cache headers, a SHA-256 CertID is answered with a SHA-256
// CertID, and openssl accepts the response it got.
func TestOCSPGet(t *testing.T) {
	testtool.Need(t, "openssl")
	h := newOCSPHome(t)
	good, goodPEM := h.enrol(t)
	cert, err := x509.ParseCertificate(good.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		req, err := xocsp.CreateRequest(cert, h.issuer, &xocsp.RequestOptions{Hash: hash})
		if err != nil {
			t.Fatal(err)
		}
		u := h.srv.URL + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(req))
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := xocsp.ParseResponseForCert(body, cert, h.issuer)
		if err != nil {
			t.Fatalf("%v: ParseResponse: %v", hash, err)
		}
		if r.Status != xocsp.Good || r.IssuerHash != hash {
			t.Errorf("%v: status %d hash %v; want good, same hash", hash, r.Status, r.IssuerHash)
		}
		if !r.Certificate.Equal(h.o.Responder.Signer().Cert) {
			t.Errorf("%v: not signed by the delegated signer", hash)
		}
		for _, k := range []string{"Cache-Control", "ETag", "Last-Modified", "Expires"} {
			if res.Header.Get(k) == "" {
				t.Errorf("%v: no %s header", hash, k)
			}
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=300") {
			t.Errorf("Cache-Control = %q; want max-age=300", cc)
		}
		// A cache revalidating with the ETag gets 304.
		rq, _ := http.NewRequest(http.MethodGet, u, nil)
		rq.Header.Set("If-None-Match", res.Header.Get("ETag"))
		res2, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		res2.Body.Close()
		if res2.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d; want 304", res2.StatusCode)
		}
		if hash == crypto.SHA1 {
			respFile := filepath.Join(h.dir, "resp.der")
			if err := os.WriteFile(respFile, body, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "ocsp", "-respin", respFile, "-issuer", h.caFile, "-CAfile", h.caFile, "-cert", goodPEM, "-no_nonce").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl ocsp -respin: %v\n%s", err, out)
			}
			mustContain(t, "GET response", string(out), "Response verify OK", goodPEM+": good")
		}
	}
}

// TestOCSPBadInput: malformed DER, a wrong content type, an oversized body,
// another issuer and other methods get OCSP's own error answers (or a 4xx
// where OCSP has none), and nothing is stored.
func TestOCSPBadInput(t *testing.T) {
	h := newOCSPHome(t)
	good, _ := h.enrol(t)
	cert, err := x509.ParseCertificate(good.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.SelfSigned(ca.RootOptions{CommonName: "Other CA", Validity: time.Hour, Now: time.Now()}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	otherReq, err := xocsp.CreateRequest(cert, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	goodReq, err := xocsp.CreateRequest(cert, h.issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		code                      int
		want                      []byte
	}{
		{"garbage DER", "POST", "/ocsp", "application/ocsp-request", []byte{0x30, 0x03, 0x01}, 200, xocsp.MalformedRequestErrorResponse},
		{"trailing data", "POST", "/ocsp", "application/ocsp-request", append(append([]byte{}, goodReq...), 0), 200, xocsp.MalformedRequestErrorResponse},
		{"empty", "POST", "/ocsp", "application/ocsp-request", nil, 200, xocsp.MalformedRequestErrorResponse},
		{"wrong content type", "POST", "/ocsp", "text/plain", goodReq, 415, xocsp.MalformedRequestErrorResponse},
		{"oversized", "POST", "/ocsp", "application/ocsp-request", bytes.Repeat([]byte{0x30}, 64<<10), 413, xocsp.MalformedRequestErrorResponse},
		{"other issuer", "POST", "/ocsp", "application/ocsp-request", otherReq, 200, xocsp.UnauthorizedErrorResponse},
		{"GET not base64", "GET", "/ocsp/%%%", "", nil, 200, xocsp.MalformedRequestErrorResponse},
		{"GET empty", "GET", "/ocsp", "", nil, 200, xocsp.MalformedRequestErrorResponse},
		{"PUT", "PUT", "/ocsp", "application/ocsp-request", goodReq, 405, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				// "%%%" is not a URL net/http will build: send it raw.
				req, _ = http.NewRequest(tt.method, h.srv.URL+"/ocsp/x", nil)
				req.URL.RawPath, req.URL.Path = tt.path, "/ocsp/%%%"
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.code {
				t.Errorf("status %d; want %d", res.StatusCode, tt.code)
			}
			if tt.want != nil && !bytes.Equal(body, tt.want) {
				t.Errorf("body %x; want %x", body, tt.want)
			}
		})
	}
	var n int
	// (The OCSP signer's own response is signed ahead at start.)
	if err := h.s.Store().Raw().QueryRow(`SELECT COUNT(*) FROM ocsp_responses WHERE serial NOT IN (SELECT serial FROM service_certificates)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("ocsp_responses rows = %d, %v; want none stored by bad requests", n, err)
	}
}

// TestOCSPSignerRotation: the delegated signer lives in HOME/ocsp (0600),
// is reused while more than a third of its lifetime is left, and replaced
// (with an audit record) once less is; responses never outlive it.
func TestOCSPSignerRotation(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	o, err := s.NewOCSP(nil)
	if err != nil {
		t.Fatal(err)
	}
	if why, err := o.Responder.EnsureSigner(ctx, o.File, o.Issue); err != nil || why == "" {
		t.Fatalf("first EnsureSigner = %q, %v; want a new signer", why, err)
	}
	first := o.Responder.Signer().Cert
	fi, err := os.Stat(filepath.Join(s.Home(), OCSPSignerFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signer file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// A second responder on the same home (another `cmca serve`) loads it.
	o2, err := s.NewOCSP(nil)
	if err != nil {
		t.Fatal(err)
	}
	if why, err := o2.Responder.EnsureSigner(ctx, o2.File, nil); err != nil || why != "" || !o2.Responder.Signer().Cert.Equal(first) {
		t.Fatalf("second responder: %q, %v; want the signer on file", why, err)
	}
	clk.Add(19 * 24 * time.Hour) // 11 of 30 days left
	if why, err := o.Responder.EnsureSigner(ctx, o.File, o.Issue); err != nil || why != "" {
		t.Fatalf("EnsureSigner with 11 of 30 days left = %q, %v; want no rotation", why, err)
	}
	clk.Add(2 * 24 * time.Hour) // 9 of 30 days left
	why, err := o.Responder.EnsureSigner(ctx, o.File, o.Issue)
	if err != nil || why == "" {
		t.Fatalf("EnsureSigner with 9 of 30 days left = %q, %v; want a rotation", why, err)
	}
	second := o.Responder.Signer().Cert
	if second.Equal(first) || second.NotAfter.Sub(clk.Now()) < 29*24*time.Hour {
		t.Fatalf("rotated signer expires %s; want a new 30-day certificate", second.NotAfter)
	}
	events, err := s.Audit(as(ctx, "auditor"), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	signers := 0
	for _, e := range events {
		if e.Action == "ocsp-signer" {
			signers++
		}
	}
	if signers != 2 {
		t.Errorf("audit has %d ocsp-signer records; want 2", signers)
	}
}

// TestOCSPServiceCertificates: the responder answers for every certificate
// the CA issued, not only subscribers': operator credentials, the server's
// TLS certificate and the delegated OCSP signer are good while valid, their answers are
// pre-signed into the store like subscribers', and an operator's
// revocation shows at once (the "good" the cache held is dropped) as
// revoked with the reason and the date the CRL lists.
func TestOCSPServiceCertificates(t *testing.T) {
	s, clk := newTestService(t)
	ctx := context.Background()
	admin := as(ctx, "alice")
	askOCSP := ocspAsker(t, s)
	serials := map[string]string{}
	for _, name := range []string{"olga", "oscar"} {
		res, err := s.AddOperator(admin, OperatorInput{Name: name, Roles: []principal.Role{principal.Reviewer}, PublicKey: newKey(t).Public()})
		if err != nil {
			t.Fatalf("AddOperator(%s): %v", name, err)
		}
		serials[name] = res.Operator.Serial
	}
	server, _, err := s.IssueServerCertificate(ctx, newKey(t).Public(), []string{"ca.example.com"}, nil)
	if err != nil {
		t.Fatalf("IssueServerCertificate: %v", err)
	}
	serials["server"] = ra.SerialString(server.SerialNumber)
	events, err := s.Audit(as(ctx, "auditor"), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "ocsp-signer" {
			serials["ocsp signer"] = e.Serial // recorded too: the CA issued it
		}
	}
	if serials["ocsp signer"] == "" {
		t.Fatal("no ocsp-signer audit record")
	}
	for name, serial := range serials {
		if r := askOCSP(t, serial); r.Status != xocsp.Good {
			t.Errorf("OCSP for %s (%s): status %d; want good", name, serial, r.Status)
		}
	}
	var stored int
	if err := s.Store().Raw().QueryRow(`SELECT COUNT(*) FROM ocsp_responses o JOIN service_certificates c ON c.serial = o.serial WHERE o.status = 'good'`).Scan(&stored); err != nil || stored != 4 {
		t.Errorf("pre-signed good responses of service certificates = %d, %v; want 4", stored, err)
	}

	clk.Add(time.Minute)
	if _, err := s.RevokeOperator(admin, "olga", "keyCompromise"); err != nil {
		t.Fatalf("RevokeOperator: %v", err)
	}
	r := askOCSP(t, serials["olga"])
	if r.Status != xocsp.Revoked || r.RevocationReason != xocsp.KeyCompromise {
		t.Fatalf("OCSP for olga after her revocation: status %d reason %d; want revoked, keyCompromise", r.Status, r.RevocationReason)
	}
	res, err := s.CRL(admin, CRLOptions{Force: true})
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	crl, listed := checkRaceCRL(t, s, res, serials["olga"])
	if at := revocationTime(crl, serials["olga"]); !listed || !r.RevokedAt.Equal(at) {
		t.Errorf("OCSP says revoked at %v; the CRL lists olga: %v, at %v; want the same date", r.RevokedAt, listed, at)
	}
	for _, name := range []string{"oscar", "server", "ocsp signer"} {
		if r := askOCSP(t, serials[name]); r.Status != xocsp.Good {
			t.Errorf("OCSP for %s after olga's revocation: status %d; want good", name, r.Status)
		}
	}
}
