package cli

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		cfg  []string // viper key, value pairs
		want ServeOptions
	}{
		{"flags", []string{"--listen", ":8443", "--listen-http", ":80", "--name", "ca.example.com", "--name", "10.0.0.1", "--addr-file", "a.json"}, nil,
			ServeOptions{Listen: ":8443", ListenHTTP: ":80", Names: []string{"ca.example.com", "10.0.0.1"}, AddrFile: "a.json"}},
		{"config", nil, []string{"server.listen", ":9443", "server.listen_http", ":8080", "server.names", "pki.example.com"},
			ServeOptions{Listen: ":9443", ListenHTTP: ":8080", Names: []string{"pki.example.com"}}},
		{"flag over config", []string{"--listen", ":1"}, []string{"server.listen", ":9443"}, ServeOptions{Listen: ":1"}},
		{"given certificate", []string{"--listen", ":1", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil, ServeOptions{Listen: ":1", TLSCert: "c.pem", TLSKey: "k.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := testFactory(t, false, nil, tt.cfg...)
			var got *ServeOptions
			cmd := NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got.TLSCert != tt.want.TLSCert || got.TLSKey != tt.want.TLSKey || got.Listen != tt.want.Listen || got.ListenHTTP != tt.want.ListenHTTP || got.AddrFile != tt.want.AddrFile || !slices.Equal(append([]string{}, got.Names...), append([]string{}, tt.want.Names...)) {
				t.Errorf("serve %v = %+v; want %+v", tt.args, *got, tt.want)
			}
		})
	}
}

// TestServerCertificate: the managed server certificate verifies against
// the home's CA for each name, and only for server authentication.
func TestServerCertificate(t *testing.T) {
	home := t.TempDir()
	if _, err := service.Init(t.Context(), home, service.InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	svc, err := service.Open(t.Context(), home, service.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	log := slog.New(slog.DiscardHandler)
	sc, err := serverTLS(t.Context(), svc, &ServeOptions{Names: []string{"ca.example.com", "127.0.0.1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if sc.MinVersion != tls.VersionTLS12 || sc.ClientAuth != tls.RequestClientCert || sc.ClientCAs == nil {
		t.Errorf("server TLS: MinVersion %x, ClientAuth %v, ClientCAs %v; want TLS 1.2, client certificates requested from the home's CA", sc.MinVersion, sc.ClientAuth, sc.ClientCAs)
	}
	cert, err := sc.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	// The managed certificate is kept in the home; --tls-cert/--tls-key
	// serve given files instead, both or neither.
	certFile, keyFile := filepath.Join(home, "server", "tls.crt"), filepath.Join(home, "server", "tls.key")
	given, err := serverTLS(t.Context(), svc, &ServeOptions{TLSCert: certFile, TLSKey: keyFile}, log)
	if err != nil {
		t.Fatalf("serverTLS(--tls-cert, --tls-key): %v", err)
	}
	if c, _ := given.GetCertificate(nil); c == nil || !c.Leaf.Equal(leaf) {
		t.Error("--tls-cert: not the given certificate")
	}
	for _, o := range []*ServeOptions{{TLSCert: certFile}, {TLSCert: certFile, TLSKey: filepath.Join(home, "ca", "ca.key")}} {
		if _, err := serverTLS(t.Context(), svc, o, log); ExitCode(err) != ExitUsage {
			t.Errorf("serverTLS(%+v) = %v; want a usage error", o, err)
		}
	}
	caPEM, _ := os.ReadFile(filepath.Join(home, service.CACertFile))
	tc, err := client.TLSConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.example.com", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: tc.RootCAs}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: tc.RootCAs}); err == nil {
		t.Error("verifies for a name it was not issued for")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: tc.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("verifies for client authentication")
	}
	if tc.MinVersion < tls.VersionTLS12 {
		t.Errorf("client MinVersion %x", tc.MinVersion)
	}
}
