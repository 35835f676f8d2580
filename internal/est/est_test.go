package est

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/testtool"
)

func testCert(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCSR(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertsOnlyRoundTrip(t *testing.T) {
	certs := []*x509.Certificate{testCert(t, "one"), testCert(t, "two")}
	der, err := EncodeCertsOnly(certs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCertsOnly(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(certs[0]) || !got[1].Equal(certs[1]) {
		t.Fatalf("ParseCertsOnly(EncodeCertsOnly) = %d certificates; want the two, in order", len(got))
	}
	if _, err := EncodeCertsOnly(nil); err == nil {
		t.Fatal("EncodeCertsOnly(nil) succeeded; want an error")
	}
	back, err := DecodeBody(EncodeBody(der))
	if err != nil || !bytes.Equal(back, der) {
		t.Fatalf("DecodeBody(EncodeBody(der)) = %x, %v; want der", back, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(EncodeBody(der))), "\n") {
		if len(line) > 64 {
			t.Fatalf("EncodeBody line of %d characters; want at most 64", len(line))
		}
	}
}

// TestCertsOnlyWithOpenSSL: openssl reads what EncodeCertsOnly writes, and
// ParseCertsOnly reads what openssl crl2pkcs7 writes.
func TestCertsOnlyWithOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl")
	dir := t.TempDir()
	certs := []*x509.Certificate{testCert(t, "Alpha CA"), testCert(t, "Beta CA")}
	der, err := EncodeCertsOnly(certs)
	if err != nil {
		t.Fatal(err)
	}
	b64 := filepath.Join(dir, "certs.b64")
	if err := os.WriteFile(b64, EncodeBody(der), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", "openssl base64 -d -in "+b64+" | openssl pkcs7 -inform DER -print_certs -noout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CN = Alpha CA") || !strings.Contains(string(out), "CN = Beta CA") {
		t.Fatalf("openssl pkcs7 -print_certs printed\n%s\nwant both subjects", out)
	}

	var pemCerts bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&pemCerts, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	pemFile := filepath.Join(dir, "certs.pem")
	if err := os.WriteFile(pemFile, pemCerts.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p7, err := exec.Command("openssl", "crl2pkcs7", "-nocrl", "-certfile", pemFile, "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl crl2pkcs7: %v", err)
	}
	got, err := ParseCertsOnly(p7)
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseCertsOnly(openssl crl2pkcs7) = %d, %v; want 2 certificates", len(got), err)
	}
}

// TestDecodeCSRFromOpenSSL: the body a user makes with `openssl req
// -outform DER | openssl base64` decodes.
func TestDecodeCSRFromOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl")
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=x -outform DER | openssl base64")
	cmd.Dir = dir
	body, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl req: %v", err)
	}
	csr, err := DecodeCSR(body)
	if err != nil {
		t.Fatalf("DecodeCSR(openssl output): %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
}

func TestDecodeCSRRefusals(t *testing.T) {
	csr := testCSR(t)
	b64 := base64.StdEncoding.EncodeToString(csr)
	cert := testCert(t, "x")
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "empty"},
		{"blank", " \r\n\t", "empty"},
		{"not base64", "this is not base64!", "not base64"},
		{"truncated base64", b64[:len(b64)-3], "not base64"},
		{"PEM", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})), "PEM"},
		{"base64 of junk", base64.StdEncoding.EncodeToString([]byte("junk")), "not a DER PKCS#10"},
		{"base64 of a certificate", base64.StdEncoding.EncodeToString(cert.Raw), "not a DER PKCS#10"},
		{"trailing data", base64.StdEncoding.EncodeToString(append(append([]byte{}, csr...), 0)), "not a DER PKCS#10"},
	}
	for _, tt := range tests {
		_, err := DecodeCSR([]byte(tt.body))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeCSR(%s) = %v; want ErrMalformed saying %q", tt.name, err, tt.want)
		}
	}
	// Line breaks anywhere, CRLF or long lines: accepted (RFC 8951).
	wrapped := strings.Join([]string{b64[:10], b64[10:100], b64[100:]}, "\r\n") + "\n"
	if _, err := DecodeCSR([]byte(wrapped)); err != nil {
		t.Fatalf("DecodeCSR(wrapped) = %v; want the CSR", err)
	}
}

func TestParseCertsOnlyRefusals(t *testing.T) {
	good, err := EncodeCertsOnly([]*x509.Certificate{testCert(t, "x")})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":          nil,
		"trailing":       append(append([]byte{}, good...), 0),
		"truncated":      good[:len(good)-10],
		"not signedData": {0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01},
		"no certificate": mustEncodeEmpty(t),
	}
	for name, der := range tests {
		if _, err := ParseCertsOnly(der); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCertsOnly(%s) = %v; want ErrMalformed", name, err)
		}
	}
}

// mustEncodeEmpty is a certs-only message with an empty certificate set
// (a "certificate" of no bytes).
func mustEncodeEmpty(t *testing.T) []byte {
	t.Helper()
	out, err := EncodeCertsOnly([]*x509.Certificate{{}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecodeCSR: any body decodes to a CSR or a malformed error, never a
// panic; what decodes re-encodes to itself.
func FuzzDecodeCSR(f *testing.F) {
	csr := testCSR(f)
	f.Add([]byte(base64.StdEncoding.EncodeToString(csr)))
	f.Add(EncodeBody(csr))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----"))
	f.Add([]byte("MAA="))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeCSR(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeCSR error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := DecodeCSR(EncodeBody(c.Raw))
		if err != nil || !bytes.Equal(again.Raw, c.Raw) {
			t.Fatalf("DecodeCSR(EncodeBody(raw)) = %v; want the same CSR", err)
		}
	})
}

// FuzzParseCertsOnly: any DER gives certificates or a malformed error.
func FuzzParseCertsOnly(f *testing.F) {
	good, err := EncodeCertsOnly([]*x509.Certificate{testCert(f, "x")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		if _, err := ParseCertsOnly(der); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseCertsOnly error %v is not ErrMalformed", err)
		}
	})
}
