package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
)

// ServerCertIssuer issues the TLS server certificate from the home's CA and
// records it (*service.Service). It returns the certificate and the chain
// above it, the CA first.
type ServerCertIssuer interface {
	IssueServerCertificate(ctx context.Context, pub crypto.PublicKey, dnsNames []string, ips []net.IP) (*x509.Certificate, []*x509.Certificate, error)
}

// Files of the managed server certificate, under the home.
const (
	TLSDir      = "server"
	TLSKeyFile  = "server/tls.key" // mode 0600
	TLSCertFile = "server/tls.crt" // the certificate, then its chain
)

// CertManager keeps the server's TLS certificate: issued by the home's CA
// for the configured names, its key in the home (0600), renewed when less
// than a third of its lifetime is left. GetCertificate is its
// tls.Config hook, so a long-running server renews without a restart.
type CertManager struct {
	issuer ServerCertIssuer
	home   string
	dns    []string
	ips    []net.IP
	now    func() time.Time
	log    *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate
}

// ParseServerNames splits --name values (config server.names) into DNS
// names and IP addresses. A DNS name is lower-cased letters, digits and
// hyphens in dot-separated labels (no wildcards); an IP address is taken
// as is (127.0.0.1 for a loopback service).
func ParseServerNames(names []string) (dns []string, ips []net.IP, err error) {
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		d := strings.ToLower(strings.TrimSuffix(n, "."))
		if !validDNSName(d) {
			return nil, nil, ra.Fieldf("server.names", "%q is neither a DNS name nor an IP address", n)
		}
		if !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	if len(dns) == 0 && len(ips) == 0 {
		return nil, nil, ra.Fieldf("server.names", "at least one name the server is reached by is needed (--name)")
	}
	return dns, ips, nil
}

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// NewCertManager loads the server certificate from the home, or issues one
// when there is none, it does not cover names, its key does not match, or
// it is due for renewal. now is the clock (nil: time.Now).
func NewCertManager(ctx context.Context, issuer ServerCertIssuer, home string, names []string, now func() time.Time, log *slog.Logger) (*CertManager, error) {
	dns, ips, err := ParseServerNames(names)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &CertManager{issuer: issuer, home: home, dns: dns, ips: ips, now: now, log: log}
	if c, err := m.load(); err == nil && m.covers(c.Leaf) && !m.due(c.Leaf) {
		m.cert = c
		return m, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("server certificate in the home is unusable; issuing a new one", "error", err.Error())
	}
	if err := m.Renew(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Leaf is the certificate being served.
func (m *CertManager) Leaf() *x509.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cert.Leaf
}

// GetCertificate is the tls.Config hook: the current certificate, renewed
// first when less than a third of its lifetime is left. A failed renewal
// is logged and the current certificate served while it is still valid.
func (m *CertManager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.due(m.cert.Leaf) {
		ctx := context.Background()
		if hello != nil {
			ctx = hello.Context()
		}
		if err := m.renewLocked(ctx); err != nil {
			m.log.Error("server certificate renewal failed", "error", err.Error(), "not_after", m.cert.Leaf.NotAfter)
			if m.now().After(m.cert.Leaf.NotAfter) {
				return nil, fmt.Errorf("the server certificate expired and could not be renewed: %w", err)
			}
		}
	}
	return m.cert, nil
}

// Renew issues a new certificate on a new key now.
func (m *CertManager) Renew(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.renewLocked(ctx)
}

func (m *CertManager) renewLocked(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf, chain, err := m.issuer.IssueServerCertificate(ctx, key.Public(), m.dns, m.ips)
	if err != nil {
		return fmt.Errorf("issue the server certificate: %w", err)
	}
	if err := m.save(key, leaf, chain); err != nil {
		return err
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	m.cert = c
	m.log.Info("server certificate issued", "serial", ra.SerialString(leaf.SerialNumber), "not_after", leaf.NotAfter, "names", append(slices.Clone(m.dns), ipStrings(m.ips)...))
	return nil
}

// due reports whether less than a third of the certificate's lifetime is
// left.
func (m *CertManager) due(c *x509.Certificate) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return !m.now().Before(c.NotAfter.Add(-life / 3))
}

// covers reports whether c names exactly the configured names.
func (m *CertManager) covers(c *x509.Certificate) bool {
	return slices.Equal(c.DNSNames, m.dns) && slices.EqualFunc(c.IPAddresses, m.ips, func(a, b net.IP) bool { return a.Equal(b) })
}

// save writes the key (0600) before the certificate: a crash between the
// two leaves a key that matches no certificate, and the next start issues
// a new one.
func (m *CertManager) save(key *ecdsa.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate) error {
	dir := filepath.Join(m.home, TLSDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := ca.WritePEM(filepath.Join(m.home, TLSKeyFile), 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return fmt.Errorf("write the server key: %w", err)
	}
	blocks := []*pem.Block{{Type: "CERTIFICATE", Bytes: leaf.Raw}}
	for _, c := range chain {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := ca.WritePEM(filepath.Join(m.home, TLSCertFile), 0o644, blocks...); err != nil {
		return fmt.Errorf("write the server certificate: %w", err)
	}
	return nil
}

func (m *CertManager) load() (*tls.Certificate, error) {
	keyPath := filepath.Join(m.home, TLSKeyFile)
	if fi, err := os.Stat(keyPath); err != nil {
		return nil, err
	} else if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o)", keyPath, fi.Mode().Perm())
	}
	return LoadCertificateFiles(filepath.Join(m.home, TLSCertFile), keyPath)
}

// LoadCertificateFiles reads a PEM certificate (with its chain) and a PEM
// key (--tls-cert, --tls-key) and checks that they match.
func LoadCertificateFiles(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// StaticCertificate serves one certificate (--tls-cert/--tls-key).
func StaticCertificate(c *tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c, nil }
}

// TLSConfig is the HTTPS listener's configuration: TLS 1.2 or later, the
// server certificate from getCert, and client certificates requested with
// the home's CA advertised as the acceptable issuer. A client certificate
// is optional (applicants have none) and is verified by the authenticator
// (CertAuthenticator), not by the handshake, so that an expired, revoked or
// foreign certificate gets an answer that says so (401 with a structured
// error) instead of a TLS alert the client can only report as a broken
// connection.
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), clientCAs []*x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range clientCAs {
		pool.AddCert(c)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		ClientAuth:     tls.RequestClientCert,
		ClientCAs:      pool,
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
