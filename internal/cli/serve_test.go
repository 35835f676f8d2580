package cli

import (
	"crypto/tls"
	"crypto/x509"
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
			if got.Listen != tt.want.Listen || got.ListenHTTP != tt.want.ListenHTTP || got.AddrFile != tt.want.AddrFile || !slices.Equal(append([]string{}, got.Names...), append([]string{}, tt.want.Names...)) {
				t.Errorf("serve %v = %+v; want %+v", tt.args, *got, tt.want)
			}
		})
	}
}

// TestServerCertificate: the interim server certificate verifies against
// the home's CA for each name, and only for server authentication.
func TestServerCertificate(t *testing.T) {
	home := t.TempDir()
	if _, err := service.Init(t.Context(), home, service.InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	authority, err := service.LoadFileCA(home, false)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := issueServerCert(authority, []string{"ca.example.com", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
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
