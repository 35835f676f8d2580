package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T) *ca.CA {
	t.Helper()
	key := newKey(t)
	cert, err := ca.SelfSigned(ca.RootOptions{CommonName: "Login Test CA", Validity: 24 * time.Hour, Now: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.New(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func secretIs(s string) func(string) ([]byte, error) {
	return func(string) ([]byte, error) { return []byte(s), nil }
}

// handshake presents l to a TLS server that requires a client certificate
// of authority and returns the certificate the server saw.
func handshake(t *testing.T, authority *ca.CA, l *Login) *x509.Certificate {
	t.Helper()
	srvKey := newKey(t)
	srvCert, err := authority.IssueServer(srvKey.Public(), []string{"localhost"}, nil, time.Hour, ca.Extras{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(authority.Cert)
	a, b := net.Pipe()
	server := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	l.Configure(cfg)
	client := tls.Client(b, cfg)
	done := make(chan error, 1)
	go func() { done <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	// Close the pipe, not the TLS connections: their close_notify would
	// wait for a reader that is not there.
	a.Close()
	b.Close()
	return server.ConnectionState().PeerCertificates[0]
}

func TestLoadLoginPKCS12(t *testing.T) {
	authority := newCA(t)
	key := newKey(t)
	cert, err := authority.IssueOperator(key.Public(), "alice", time.Hour, ca.Extras{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p12 := filepath.Join(t.TempDir(), "alice.p12")
	if err := token.WritePKCS12(p12, key, cert, []*x509.Certificate{authority.Cert}, []byte("correct horse battery"), false); err != nil {
		t.Fatal(err)
	}
	asked := ""
	l, err := LoadLogin(context.Background(), LoginOptions{Source: p12, Secret: func(what string) ([]byte, error) {
		asked = what
		return []byte("correct horse battery"), nil
	}})
	if err != nil {
		t.Fatalf("LoadLogin: %v", err)
	}
	defer l.Close()
	if asked != "login password" {
		t.Errorf("asked for %q; want the login password", asked)
	}
	if len(l.Certificate.Certificate) != 2 {
		t.Errorf("chain of %d certificates; want the leaf and the CA", len(l.Certificate.Certificate))
	}
	if got := handshake(t, authority, l); got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("server saw serial %x; want %x", got.SerialNumber, cert.SerialNumber)
	}

	for _, tt := range []struct {
		name string
		o    LoginOptions
		want error
		msg  string
	}{
		{"no source", LoginOptions{Secret: secretIs("x")}, ra.ErrInvalid, "--login"},
		{"wrong password", LoginOptions{Source: p12, Secret: secretIs("wrong")}, ra.ErrAuth, ""},
		{"missing file", LoginOptions{Source: p12 + ".nope", Secret: secretIs("x")}, ra.ErrNotFound, ""},
		{"secret refused", LoginOptions{Source: p12, Secret: func(string) ([]byte, error) { return nil, ra.ErrInvalid }}, ra.ErrInvalid, ""},
		{"bad URI", LoginOptions{Source: "pkcs11:token=%zz", Secret: secretIs("x")}, ra.ErrInvalid, ""},
	} {
		if _, err := LoadLogin(context.Background(), tt.o); !errors.Is(err, tt.want) || !strings.Contains(fmtErr(err), tt.msg) {
			t.Errorf("LoadLogin(%s) = %v; want %v mentioning %q", tt.name, err, tt.want, tt.msg)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
