package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

func TestCertAuthenticator(t *testing.T) {
	h := newTestHome(t)
	alice, _ := h.operator(t, "alice", principal.Reviewer, principal.Issuer)
	bob, _ := h.operator(t, "bob", principal.Admin)
	if _, err := h.svc.RevokeOperator(adminCtx(), "bob", "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	sub, _ := h.subscriber(t, 0)
	if _, err := h.svc.Revoke(adminCtx(), service.RevokeInput{Serial: ra.SerialString(sub.SerialNumber), Reason: "keyCompromise",
		Comment: "lost", Direct: true}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	sub2, _ := h.subscriber(t, 1)

	// A CA of its own, issuing a look-alike operator certificate.
	otherKey := newKey(t)
	otherCert, err := ca.SelfSigned(ca.RootOptions{CommonName: "Other CA", Validity: 24 * time.Hour * 365, Now: h.clk.Now()}, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(otherCert, otherKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueOperator(newKey(t).Public(), "alice", ca.OperatorValidity, ca.Extras{}, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Signed by this CA but never recorded: roles come only from the store.
	authority, err := h.svc.CA(adminCtx())
	if err != nil {
		t.Fatal(err)
	}
	unrecorded, err := authority.IssueOperator(newKey(t).Public(), "mallory", ca.OperatorValidity, ca.Extras{}, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := h.svc.IssueServerCertificate(adminCtx(), newKey(t).Public(), []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	now := h.clk.Now()
	tests := []struct {
		name    string
		certs   []*x509.Certificate
		at      time.Time
		want    principal.Principal
		wantErr string
	}{
		{name: "none", want: principal.Principal{Kind: principal.Anonymous}},
		{name: "operator", certs: []*x509.Certificate{alice}, at: now,
			want: principal.Principal{Kind: principal.Operator, Name: "alice", Roles: []principal.Role{principal.Reviewer, principal.Issuer}}},
		{name: "operator with chain", certs: []*x509.Certificate{alice, h.ca}, at: now,
			want: principal.Principal{Kind: principal.Operator, Name: "alice", Roles: []principal.Role{principal.Reviewer, principal.Issuer}}},
		{name: "revoked operator", certs: []*x509.Certificate{bob}, at: now, wantErr: "operator bob was revoked"},
		{name: "expired operator", certs: []*x509.Certificate{alice}, at: alice.NotAfter.Add(time.Hour), wantErr: "expired on " + alice.NotAfter.Format(time.DateOnly)},
		{name: "not yet valid", certs: []*x509.Certificate{alice}, at: alice.NotBefore.Add(-time.Hour), wantErr: "was not issued by this CA"},
		{name: "other CA", certs: []*x509.Certificate{foreign}, at: now, wantErr: "issued by Other CA) was not issued by this CA"},
		{name: "other CA with its chain", certs: []*x509.Certificate{foreign, otherCert}, at: now, wantErr: "was not issued by this CA"},
		{name: "unrecorded operator", certs: []*x509.Certificate{unrecorded}, at: now, wantErr: "is not on record"},
		{name: "server certificate", certs: []*x509.Certificate{server}, at: now, wantErr: "not for client authentication"},
		{name: "subscriber", certs: []*x509.Certificate{sub2}, at: now,
			want: principal.Principal{Kind: principal.Subscriber, Name: ra.SerialString(sub2.SerialNumber)}},
		{name: "revoked subscriber", certs: []*x509.Certificate{sub}, at: now, wantErr: "was revoked on"},
		{name: "expired subscriber", certs: []*x509.Certificate{sub2}, at: sub2.NotAfter.Add(time.Minute), wantErr: "expired on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			h.clk.t = at
			if at.IsZero() {
				h.clk.t = now
			}
			auth := CertAuthenticator(h.svc, []*x509.Certificate{h.ca}, h.clk.Now)
			r := httptest.NewRequest("GET", "/api/v1/requests", nil)
			if tt.certs != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: tt.certs}
			}
			got, err := auth(r)
			if tt.wantErr != "" {
				if !errors.Is(err, ra.ErrAuth) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("auth(%s) = %v, %v; want an ErrAuth containing %q", tt.name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("auth(%s) = %v", tt.name, err)
			}
			if got.Kind != tt.want.Kind || got.Name != tt.want.Name || !slices.Equal(got.Roles, tt.want.Roles) {
				t.Errorf("auth(%s) = %+v; want %+v", tt.name, got, tt.want)
			}
		})
	}
	h.clk.t = now
}

// TestTLSClientCertificates runs real handshakes against a listener set up
// like `cmca serve`: the managed server certificate, client certificates
// requested, the authenticator deciding. A foreign or revoked certificate
// completes the handshake and gets a 401 that says why.
func TestTLSClientCertificates(t *testing.T) {
	h := newTestHome(t)
	alice, aliceKey := h.operator(t, "alice", principal.Auditor)
	bob, bobKey := h.operator(t, "bob", principal.Admin)
	if _, err := h.svc.RevokeOperator(adminCtx(), "bob", ""); err != nil {
		t.Fatal(err)
	}
	otherKey := newKey(t)
	otherCert, _ := ca.SelfSigned(ca.RootOptions{CommonName: "Other CA", Validity: 24 * time.Hour, Now: h.clk.Now()}, otherKey)
	other, _ := ca.New(otherCert, otherKey, nil)
	foreignKey := newKey(t)
	foreign, _ := other.IssueOperator(foreignKey.Public(), "alice", ca.OperatorValidity, ca.Extras{}, h.clk.Now())

	m, err := NewCertManager(adminCtx(), h.svc, h.home, []string{"localhost", "127.0.0.1"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := CertAuthenticator(h.svc, []*x509.Certificate{h.ca}, h.clk.Now)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", TLSConfig(m.GetCertificate, []*x509.Certificate{h.ca}))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s %v", p.Kind, p.Name, p.Roles)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	roots := x509.NewCertPool()
	roots.AddCert(h.ca)
	get := func(t *testing.T, cert *x509.Certificate, key any, maxVersion uint16) (int, string) {
		t.Helper()
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: maxVersion}
		if cert != nil {
			// Sent whatever the server asks for (Go's client would
			// withhold a certificate of a CA the server does not list;
			// openssl and curl send it).
			c := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get("https://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name       string
		cert       *x509.Certificate
		key        any
		maxVersion uint16
		code       int
		body       string
	}{
		{"anonymous", nil, nil, 0, 200, "anonymous  []"},
		{"operator", alice, aliceKey, 0, 200, "operator alice [auditor]"},
		{"operator over TLS 1.2", alice, aliceKey, tls.VersionTLS12, 200, "operator alice [auditor]"},
		{"revoked operator", bob, bobKey, 0, 401, "operator bob was revoked"},
		{"other CA", foreign, foreignKey, 0, 401, "was not issued by this CA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.cert, tt.key, tt.maxVersion)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("GET with %s = %d %q; want %d containing %q", tt.name, code, body, tt.code, tt.body)
			}
		})
	}
	// TLS 1.1 and older are refused.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}}}
	if resp, err := c.Get("https://127.0.0.1:" + port + "/"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served; want a handshake failure")
	}
}
