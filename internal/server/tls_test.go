package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// failingIssuer fails while fail is set, else asks the real service.
type failingIssuer struct {
	ServerCertIssuer
	fail  bool
	calls int
}

func (f *failingIssuer) IssueServerCertificate(ctx context.Context, pub crypto.PublicKey, dns []string, ips []net.IP) (*x509.Certificate, []*x509.Certificate, error) {
	f.calls++
	if f.fail {
		return nil, nil, errors.New("CA unavailable")
	}
	return f.ServerCertIssuer.IssueServerCertificate(ctx, pub, dns, ips)
}

func serialOf(c *x509.Certificate) string { return ra.SerialString(c.SerialNumber) }

func TestCertManagerIssuesAndReuses(t *testing.T) {
	h := newTestHome(t)
	iss := &failingIssuer{ServerCertIssuer: h.svc}
	m, err := NewCertManager(adminCtx(), iss, h.home, []string{"CA.Example.com.", "127.0.0.1", "ca.example.com"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := m.Leaf()
	roots := x509.NewCertPool()
	roots.AddCert(h.ca)
	for _, name := range []string{"ca.example.com", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: h.clk.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 1 {
		t.Errorf("SANs = %v %v; want one DNS name and one IP, deduplicated", leaf.DNSNames, leaf.IPAddresses)
	}
	if ca.IsOperatorCert(leaf) || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU = %v; want serverAuth only", leaf.ExtKeyUsage)
	}
	fi, err := os.Stat(filepath.Join(h.home, TLSKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	// Recorded in the store like every certificate the CA signs.
	err = h.svc.Store().Read(context.Background(), func(tx *store.Tx) error {
		sc, err := tx.ServiceCert(serialOf(leaf))
		if err == nil && sc.Purpose != store.PurposeServer {
			t.Errorf("recorded purpose %q; want server", sc.Purpose)
		}
		return err
	})
	if err != nil {
		t.Fatalf("server certificate not recorded: %v", err)
	}

	// A restart with the same names reuses it.
	m2, err := NewCertManager(adminCtx(), iss, h.home, []string{"ca.example.com", "127.0.0.1"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(m2.Leaf()) != serialOf(leaf) || iss.calls != 1 {
		t.Errorf("restart: serial %s (issued %d times); want %s reused", serialOf(m2.Leaf()), iss.calls, serialOf(leaf))
	}
	// Other names: a new certificate.
	m3, err := NewCertManager(adminCtx(), iss, h.home, []string{"ca.example.com", "localhost", "127.0.0.1"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(m3.Leaf()) == serialOf(leaf) || !strings.Contains(strings.Join(m3.Leaf().DNSNames, ","), "localhost") {
		t.Errorf("names changed: got %s %v; want a new certificate with localhost", serialOf(m3.Leaf()), m3.Leaf().DNSNames)
	}
	// A key file readable by others is not used.
	os.Chmod(filepath.Join(h.home, TLSKeyFile), 0o644)
	m4, err := NewCertManager(adminCtx(), iss, h.home, []string{"ca.example.com", "localhost", "127.0.0.1"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(m4.Leaf()) == serialOf(m3.Leaf()) {
		t.Error("a key file of mode 0644 was used; want a new key and certificate")
	}
	if fi, _ := os.Stat(filepath.Join(h.home, TLSKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v after reissue; want 0600", fi.Mode().Perm())
	}
}

func TestCertManagerRenews(t *testing.T) {
	h := newTestHome(t)
	iss := &failingIssuer{ServerCertIssuer: h.svc}
	m, err := NewCertManager(adminCtx(), iss, h.home, []string{"localhost"}, h.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := m.Leaf()
	life := first.NotAfter.Sub(first.NotBefore)
	get := func() *x509.Certificate {
		t.Helper()
		c, err := m.GetCertificate(nil)
		if err != nil {
			t.Fatalf("GetCertificate at %s: %v", h.clk.Now(), err)
		}
		return c.Leaf
	}
	// Until two thirds of the lifetime have passed: the same certificate.
	h.clk.t = first.NotBefore.Add(life*2/3 - time.Minute)
	if got := get(); serialOf(got) != serialOf(first) {
		t.Fatalf("renewed at %s, before two thirds of the lifetime", h.clk.Now())
	}
	// Then renewal fails: the current one is served while it is valid.
	h.clk.t = first.NotBefore.Add(life*2/3 + time.Minute)
	iss.fail = true
	if got := get(); serialOf(got) != serialOf(first) {
		t.Fatal("a failed renewal replaced the certificate")
	}
	// Renewal works again: a new certificate on a new key, saved.
	iss.fail = false
	second := get()
	if serialOf(second) == serialOf(first) || second.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first.PublicKey) {
		t.Fatal("not renewed (or the key was reused) with a third of the lifetime left")
	}
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate ends %s; want after %s", second.NotAfter, first.NotAfter)
	}
	saved, err := LoadCertificateFiles(filepath.Join(h.home, TLSCertFile), filepath.Join(h.home, TLSKeyFile))
	if err != nil || serialOf(saved.Leaf) != serialOf(second) {
		t.Fatalf("saved certificate = %v, %v; want the renewed one", saved, err)
	}
	if len(saved.Certificate) != 2 {
		t.Errorf("saved chain has %d certificates; want the leaf and the CA", len(saved.Certificate))
	}
	// Expired and the CA unavailable: the handshake fails rather than
	// serving an expired certificate.
	h.clk.t = second.NotAfter.Add(time.Hour)
	iss.fail = true
	if _, err := m.GetCertificate(nil); err == nil || !strings.Contains(err.Error(), "expired and could not be renewed") {
		t.Errorf("GetCertificate with an expired certificate and no CA = %v; want an error", err)
	}
}

func TestParseServerNames(t *testing.T) {
	for _, tt := range []struct {
		in      []string
		dns     string
		ips     string
		wantErr string
	}{
		{in: []string{"localhost", "127.0.0.1", "::1"}, dns: "localhost", ips: "127.0.0.1,::1"},
		{in: []string{"CA.example.COM.", "ca.example.com", " "}, dns: "ca.example.com"},
		{in: []string{"xn--fiqs8s.example"}, dns: "xn--fiqs8s.example"},
		{in: nil, wantErr: "at least one name"},
		{in: []string{"*.example.com"}, wantErr: "neither a DNS name"},
		{in: []string{"-bad.example"}, wantErr: "neither a DNS name"},
		{in: []string{"a..b"}, wantErr: "neither a DNS name"},
		{in: []string{"ca.example.com:8443"}, wantErr: "neither a DNS name"},
		{in: []string{"https://ca.example.com"}, wantErr: "neither a DNS name"},
		{in: []string{"中国.example"}, wantErr: "neither a DNS name"},
	} {
		dns, ips, err := ParseServerNames(tt.in)
		if tt.wantErr != "" {
			if !errors.Is(err, ra.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseServerNames(%q) = %v; want an invalid-input error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(dns, ",") != tt.dns || strings.Join(ipStrings(ips), ",") != tt.ips {
			t.Errorf("ParseServerNames(%q) = %v, %v, %v; want %s, %s", tt.in, dns, ips, err, tt.dns, tt.ips)
		}
	}
}

func TestLoadCertificateFilesMismatch(t *testing.T) {
	h := newTestHome(t)
	if _, err := NewCertManager(adminCtx(), h.svc, h.home, []string{"localhost"}, h.clk.Now, nil); err != nil {
		t.Fatal(err)
	}
	// The CA key with the server certificate: refused.
	if _, err := LoadCertificateFiles(filepath.Join(h.home, TLSCertFile), filepath.Join(h.home, "ca", "ca.key")); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadCertificateFiles(mismatched key) = %v; want an error", err)
	}
}
