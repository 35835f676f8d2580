package token

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/testtool"
)

func TestFriendlyName(t *testing.T) {
	serial, _ := new(big.Int).SetString("57cfc04288a341de08660bdec207507e", 16)
	tests := []struct {
		name string
		cert x509.Certificate
		want string
	}{
		{"common name", x509.Certificate{Subject: pkix.Name{CommonName: "张三"}}, "张三 57cfc04288a341de08660bdec207507e"},
		{"extension B", x509.Certificate{Subject: pkix.Name{CommonName: "𠀀𪚥"}}, "𠀀𪚥 57cfc04288a341de08660bdec207507e"},
		{"e-mail without CN", x509.Certificate{EmailAddresses: []string{"zhang@example.com"}, DNSNames: []string{"x.example"}}, "zhang@example.com 57cfc04288a341de08660bdec207507e"},
		{"DNS name without CN", x509.Certificate{DNSNames: []string{"x.example"}}, "x.example 57cfc04288a341de08660bdec207507e"},
		{"nothing", x509.Certificate{}, "cmca 57cfc04288a341de08660bdec207507e"},
		{"control characters dropped", x509.Certificate{Subject: pkix.Name{CommonName: " a\x00b\nc\u0085 "}}, "abc 57cfc04288a341de08660bdec207507e"},
	}
	for _, tt := range tests {
		tt.cert.SerialNumber = serial
		if got := FriendlyName(&tt.cert); got != tt.want {
			t.Errorf("%s: FriendlyName(%q) = %q; want %q", tt.name, tt.cert.Subject.CommonName, got, tt.want)
		}
	}
}

func writeNamedP12(t *testing.T, cn string) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := GenerateSoftKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1a2b), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.p12")
	if err := WritePKCS12(path, key, cert, nil, []byte("correct horse battery"), false); err != nil {
		t.Fatal(err)
	}
	sk, err := ReadPKCS12(path, []byte("correct horse battery"))
	if err != nil {
		t.Fatalf("ReadPKCS12: %v", err)
	}
	if !sk.Cert.Equal(cert) {
		t.Fatalf("ReadPKCS12 returned another certificate")
	}
	return cert, []byte(path)
}

// TestWritePKCS12NamesOpenSSL: openssl shows the same friendlyName and
// localKeyID on the key bag and the certificate's bag. (OpenSSL 3.0 prints
// only the low byte of each BMPString character, so Chinese names are
// checked with NSS and Java in testdata/script/pkcs12_names.txtar.)
func TestWritePKCS12NamesOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl")
	for _, cn := range []string{"Alice Example", "o'Brien-2"} {
		_, path := writeNamedP12(t, cn)
		out, err := exec.Command("openssl", "pkcs12", "-info", "-in", string(path), "-passin", "pass:correct horse battery", "-noenc").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
		}
		names := regexp.MustCompile(`(?m)^ +friendlyName: (.*)$`).FindAllStringSubmatch(string(out), -1)
		ids := regexp.MustCompile(`(?m)^ +localKeyID: (.*)$`).FindAllStringSubmatch(string(out), -1)
		if len(names) != 2 || len(ids) != 2 {
			t.Fatalf("openssl shows %d friendlyName and %d localKeyID lines; want 2 of each:\n%s", len(names), len(ids), out)
		}
		want := cn + " 1a2b"
		for _, n := range names {
			if strings.TrimSpace(n[1]) != want {
				t.Errorf("openssl friendlyName = %q; want %q", n[1], want)
			}
		}
		if ids[0][1] != ids[1][1] {
			t.Errorf("localKeyID differs between the bags: %q, %q", ids[0][1], ids[1][1])
		}
	}
}
