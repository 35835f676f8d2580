//go:build cgo

package token

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/testtool"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/cmca/cmca/internal/ra"
)

const (
	testSOPIN   = "1234"
	testUserPIN = "5678"
)

var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// softHSM creates throwaway SoftHSM tokens with the given labels (SO PIN
// 1234, user PIN 5678) in a temporary token directory, points SOFTHSM2_CONF
// at it and returns the module path.
func softHSM(t *testing.T, labels ...string) string {
	t.Helper()
	const util = "softhsm2-util"
	testtool.Need(t, util)
	module := ""
	for _, m := range softHSMModules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	if module == "" {
		testtool.Absent(t, "the SoftHSM2 PKCS#11 module")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	for _, l := range labels {
		out, err := exec.Command(util, "--init-token", "--free", "--label", l, "--so-pin", testSOPIN, "--pin", testUserPIN).CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
		}
	}
	return module
}

func openModule(t *testing.T, path string) *Module {
	t.Helper()
	m, err := OpenModule(path)
	if err != nil {
		t.Fatalf("OpenModule: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func openSession(t *testing.T, m *Module, sel Selector, pin string) *Session {
	t.Helper()
	var p []byte
	if pin != "" {
		p = []byte(pin)
	}
	s, err := m.Open(context.Background(), sel, p)
	if err != nil {
		t.Fatalf("Open(%v): %v", sel, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenModuleErrors(t *testing.T) {
	_, err := OpenModule("")
	if !errors.Is(err, ra.ErrInvalid) || !strings.Contains(err.Error(), "CMCA_TOKEN_MODULE") {
		t.Errorf("OpenModule(\"\") = %v, want ra.ErrInvalid naming CMCA_TOKEN_MODULE", err)
	}
	_, err = OpenModule(filepath.Join(t.TempDir(), "nope.so"))
	if !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("OpenModule(missing) = %v, want ra.ErrNotFound", err)
	}
	notLib := filepath.Join(t.TempDir(), "lib.so")
	os.WriteFile(notLib, []byte("not a library"), 0o600)
	_, err = OpenModule(notLib)
	if !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("OpenModule(not a library) = %v, want ra.ErrInvalid", err)
	}
}

func TestTokensAndSelection(t *testing.T) {
	module := softHSM(t, "A", "B")
	m := openModule(t, module)
	ctx := context.Background()

	// A second Module from the same file shares the initialized library.
	m2 := openModule(t, module)

	toks, err := m2.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	byLabel := map[string]TokenInfo{}
	for _, tok := range toks {
		if tok.Initialized {
			byLabel[tok.Label] = tok
		}
	}
	if len(byLabel) != 2 || byLabel["A"].Serial == "" || byLabel["B"].Serial == "" {
		t.Fatalf("Tokens = %+v, want initialized tokens A and B with serials", toks)
	}
	a := byLabel["A"]
	if !a.LoginRequired || a.ReadOnly || a.Manufacturer != "SoftHSM project" || !strings.HasPrefix(a.URI, "pkcs11:token=A;") {
		t.Errorf("token A = %+v", a)
	}
	if err := m2.Close(); err != nil {
		t.Errorf("Close of the second module: %v", err)
	}

	_, err = m.Open(ctx, Selector{}, []byte(testUserPIN))
	var amb *AmbiguousTokenError
	if !errors.As(err, &amb) || len(amb.Tokens) != 2 || !errors.Is(err, ra.ErrInvalid) {
		t.Fatalf("Open without a selector = %v, want *AmbiguousTokenError with 2 tokens", err)
	}
	if !strings.Contains(err.Error(), `"A" (serial `+a.Serial+`)`) {
		t.Errorf("ambiguity error %q does not name token A", err)
	}

	_, err = m.Open(ctx, Selector{Label: "C"}, []byte(testUserPIN))
	if !errors.Is(err, ra.ErrNotFound) || !strings.Contains(err.Error(), `"B"`) {
		t.Errorf("Open(label C) = %v, want ra.ErrNotFound listing the tokens", err)
	}

	_, err = m.Open(ctx, Selector{Label: "A"}, []byte("0000"))
	if !errors.Is(err, ra.ErrAuth) || !strings.Contains(err.Error(), "wrong PIN") {
		t.Errorf("Open with a wrong PIN = %v, want ra.ErrAuth \"wrong PIN\"", err)
	}

	uri, err := ParseURI(a.URI)
	if err != nil {
		t.Fatalf("ParseURI(%q): %v", a.URI, err)
	}
	for _, sel := range []Selector{{Label: "A"}, {Serial: a.Serial}, {URI: uri}} {
		s := openSession(t, m, sel, testUserPIN)
		if got := s.Info(); got.Label != "A" || got.Serial != a.Serial {
			t.Errorf("Open(%v) opened %+v", sel, got)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	// Open without a PIN: public objects only; writes need the PIN.
	s := openSession(t, m, Selector{Label: "B"}, "")
	if _, err := s.GenerateKey(ctx, ECDSAP256, []byte{1}, "k"); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("GenerateKey without login = %v, want ra.ErrAuth", err)
	}
	if _, err := s.Signer(ctx, []byte{1}); !errors.Is(err, ra.ErrNotFound) || !strings.Contains(err.Error(), "PIN") {
		t.Errorf("Signer without login = %v, want ra.ErrNotFound mentioning the PIN", err)
	}
	if objs, err := s.Objects(ctx); err != nil || len(objs) != 0 {
		t.Errorf("Objects on an empty token = %v, %v", objs, err)
	}
}

func TestKeys(t *testing.T) {
	module := softHSM(t, "L")
	ctx := context.Background()
	tests := []struct {
		algo KeyAlgo
		id   []byte
	}{
		{ECDSAP256, []byte{0xA1, 0x01}},
		{ECDSAP384, []byte{0xA2}},
		{RSA2048, []byte{0xB1, 0x02}},
	}
	for _, tt := range tests {
		t.Run(string(tt.algo), func(t *testing.T) {
			m := openModule(t, module)
			s := openSession(t, m, Selector{Label: "L"}, testUserPIN)
			label := "key " + string(tt.algo)

			key, err := s.GenerateKey(ctx, tt.algo, tt.id, label)
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			switch pub := key.Public().(type) {
			case *ecdsa.PublicKey:
				if tt.algo != ECDSAP256 && tt.algo != ECDSAP384 {
					t.Fatalf("Public() is %T", pub)
				}
			case *rsa.PublicKey:
				if pub.N.BitLen() != 2048 || pub.E != 65537 {
					t.Fatalf("RSA key is %d bits, e=%d", pub.N.BitLen(), pub.E)
				}
			default:
				t.Fatalf("Public() is %T", pub)
			}
			if _, err := s.GenerateKey(ctx, tt.algo, tt.id, label); !errors.Is(err, ra.ErrConflict) {
				t.Errorf("GenerateKey with a used ID = %v, want ra.ErrConflict", err)
			}

			csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: "token test"},
			}, key)
			if err != nil {
				t.Fatalf("CreateCertificateRequest: %v", err)
			}
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Fatalf("CSR signature: %v", err)
			}

			cert := selfSigned(t, key, 0)
			if _, ok := key.Public().(*rsa.PublicKey); ok {
				selfSigned(t, key, x509.SHA256WithRSAPSS)
				selfSigned(t, key, x509.SHA512WithRSA)
			}

			if err := s.ImportCertificate(ctx, tt.id, label, cert); err != nil {
				t.Fatalf("ImportCertificate: %v", err)
			}
			if err := s.ImportCertificate(ctx, tt.id, label, cert); err != nil {
				t.Fatalf("ImportCertificate again: %v", err)
			}
			other, err := GenerateSoftKey(ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ImportCertificate(ctx, tt.id, label, selfSigned(t, other, 0)); !errors.Is(err, ra.ErrConflict) {
				t.Errorf("ImportCertificate of another key's certificate = %v, want ra.ErrConflict", err)
			}

			objs, err := s.Objects(ctx)
			if err != nil {
				t.Fatalf("Objects: %v", err)
			}
			classes := map[string]int{}
			for _, o := range objs {
				if !bytes.Equal(o.ID, tt.id) {
					continue
				}
				classes[o.Class]++
				if o.Label != label {
					t.Errorf("%s has label %q, want %q", o.Class, o.Label, label)
				}
				switch o.Class {
				case "private-key":
					if o.Extractable == nil || *o.Extractable || o.Sensitive == nil || !*o.Sensitive {
						t.Errorf("private key: extractable=%v sensitive=%v, want false/true", deref(o.Extractable), deref(o.Sensitive))
					}
				case "certificate":
					if o.Certificate == nil || !o.Certificate.Equal(cert) {
						t.Errorf("certificate object does not hold the imported certificate")
					}
				}
			}
			if classes["private-key"] != 1 || classes["public-key"] != 1 || classes["certificate"] != 1 {
				t.Errorf("objects with ID %X: %v, want one private key, public key and certificate", tt.id, classes)
			}

			checkPKCS11Tool(t, module, tt.id)

			id, err := s.FindKey(ctx, key.Public())
			if err != nil || !bytes.Equal(id, tt.id) {
				t.Errorf("FindKey = %X, %v, want %X", id, err, tt.id)
			}
			if _, err := s.FindKey(ctx, other.Public()); !errors.Is(err, ra.ErrNotFound) {
				t.Errorf("FindKey(unknown key) = %v, want ra.ErrNotFound", err)
			}

			// Reopen the module (slot IDs and handles change) and sign a CRL.
			s.Close()
			if err := m.Close(); err != nil {
				t.Fatalf("Module.Close: %v", err)
			}
			m = openModule(t, module)
			s = openSession(t, m, Selector{Label: "L"}, testUserPIN)
			key2, err := s.Signer(ctx, tt.id)
			if err != nil {
				t.Fatalf("Signer after reopening: %v", err)
			}
			if !key2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatal("Signer after reopening has another public key")
			}
			crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
				Number:     big.NewInt(1),
				ThisUpdate: time.Now(),
				NextUpdate: time.Now().Add(time.Hour),
			}, cert, key2)
			if err != nil {
				t.Fatalf("CreateRevocationList: %v", err)
			}
			crl, err := x509.ParseRevocationList(crlDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(cert); err != nil {
				t.Fatalf("CRL signature: %v", err)
			}

			if err := s.DeleteObjects(ctx, tt.id); err != nil {
				t.Fatalf("DeleteObjects: %v", err)
			}
			objs, err = s.Objects(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if bytes.Equal(o.ID, tt.id) {
					t.Errorf("after DeleteObjects a %s with ID %X is left", o.Class, tt.id)
				}
			}
			if _, err := s.Signer(ctx, tt.id); !errors.Is(err, ra.ErrNotFound) {
				t.Errorf("Signer after DeleteObjects = %v, want ra.ErrNotFound", err)
			}
			if _, err := key2.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil {
				t.Error("Sign with a deleted key succeeded")
			}
		})
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// selfSigned makes a self-signed CA certificate with key and checks its
// signature. sigAlg 0 lets x509 choose.
func selfSigned(t *testing.T, key crypto.Signer, sigAlg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "token test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    sigAlg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate(%v): %v", sigAlg, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("certificate signature (%v): %v", cert.SignatureAlgorithm, err)
	}
	return cert
}

// checkPKCS11Tool lists the token's objects with OpenSC's pkcs11-tool and
// checks the private key with the given ID is sensitive, never extractable,
// sign-only, and shares its ID with a certificate.
func checkPKCS11Tool(t *testing.T, module string, id []byte) {
	t.Helper()
	const tool = "pkcs11-tool"
	testtool.Need(t, tool)
	out, err := exec.Command(tool, "--module", module, "--token-label", "L", "--login", "--pin", testUserPIN, "--list-objects").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	// Objects are blocks: a header such as "Private Key Object; EC" and
	// indented "name: value" lines.
	type block struct {
		header string
		fields map[string]string
	}
	var blocks []*block
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			blocks = append(blocks, &block{header: line, fields: map[string]string{}})
			continue
		}
		if len(blocks) == 0 {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		blocks[len(blocks)-1].fields[k] = strings.TrimSpace(v)
	}
	want := hex.EncodeToString(id)
	var priv, certs int
	for _, b := range blocks {
		if b.fields["ID"] != want {
			continue
		}
		switch {
		case strings.HasPrefix(b.header, "Private Key Object"):
			priv++
			access := b.fields["Access"]
			for _, flag := range []string{"sensitive", "always sensitive", "never extractable", "local"} {
				if !strings.Contains(access, flag) {
					t.Errorf("pkcs11-tool: private key access %q lacks %q", access, flag)
				}
			}
			usage := b.fields["Usage"]
			if !strings.Contains(usage, "sign") || strings.Contains(usage, "decrypt") || strings.Contains(usage, "unwrap") || strings.Contains(usage, "derive") {
				t.Errorf("pkcs11-tool: private key usage %q, want sign only", usage)
			}
		case strings.HasPrefix(b.header, "Certificate Object"):
			certs++
		}
	}
	if priv != 1 || certs != 1 {
		t.Errorf("pkcs11-tool shows %d private keys and %d certificates with ID %s, want 1 and 1:\n%s", priv, certs, want, out)
	}
}

func TestConcurrentSign(t *testing.T) {
	module := softHSM(t, "L")
	ctx := context.Background()
	m := openModule(t, module)
	s := openSession(t, m, Selector{}, testUserPIN)
	ec, err := s.GenerateKey(ctx, ECDSAP256, []byte{1}, "ec")
	if err != nil {
		t.Fatal(err)
	}
	rk, err := s.GenerateKey(ctx, RSA2048, []byte{2}, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			d := sha256.Sum256([]byte{byte(i)})
			key := ec
			if i%2 == 1 {
				key = rk
			}
			for range 5 {
				sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					errs <- err
					return
				}
				switch pub := key.Public().(type) {
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(pub, d[:], sig) {
						errs <- errors.New("bad ECDSA signature")
					}
				case *rsa.PublicKey:
					if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Bad digests are refused before reaching the token.
	if _, err := ec.Sign(rand.Reader, []byte("short"), crypto.SHA256); !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("Sign with a short digest = %v, want ra.ErrInvalid", err)
	}
	// A closed session fails clearly.
	s.Close()
	d := sha256.Sum256(nil)
	if _, err := ec.Sign(rand.Reader, d[:], crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Sign after Close = %v, want a closed-session error", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Tokens(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Tokens with a cancelled context = %v", err)
	}

	// Closing the module closes its sessions; nothing crashes afterwards.
	s2 := openSession(t, m, Selector{Label: "L"}, testUserPIN)
	k, err := s2.Signer(ctx, []byte{1})
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Module.Close: %v", err)
	}
	if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); err == nil {
		t.Error("Sign after Module.Close succeeded")
	}
	if err := s2.Close(); err != nil {
		t.Errorf("Session.Close after Module.Close: %v", err)
	}
	if _, err := m.Tokens(ctx); err == nil {
		t.Error("Tokens after Module.Close succeeded")
	}
	if _, err := m.Open(ctx, Selector{}, nil); err == nil {
		t.Error("Open after Module.Close succeeded")
	}
}

// SoftHSM never locks a PIN and cannot be unplugged, so the mapping of
// those return values is tested here.
func TestMapP11Error(t *testing.T) {
	tests := []struct {
		rv    uint
		class error
		msg   string
	}{
		{pkcs11.CKR_PIN_INCORRECT, ra.ErrAuth, "wrong PIN"},
		{pkcs11.CKR_PIN_LEN_RANGE, ra.ErrAuth, "wrong PIN"},
		{pkcs11.CKR_PIN_LOCKED, ra.ErrAuth, "PIN is locked"},
		{pkcs11.CKR_PIN_EXPIRED, ra.ErrAuth, "expired"},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, ra.ErrAuth, "user PIN"},
		{pkcs11.CKR_TOKEN_WRITE_PROTECTED, ra.ErrConflict, "write-protected"},
		{pkcs11.CKR_SESSION_READ_ONLY, ra.ErrConflict, "write-protected"},
		{pkcs11.CKR_DEVICE_MEMORY, ra.ErrConflict, "token is full"},
		{pkcs11.CKR_DEVICE_REMOVED, ra.ErrNotFound, "token removed"},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, ra.ErrNotFound, "token removed"},
		{pkcs11.CKR_MECHANISM_INVALID, ra.ErrInvalid, "does not support"},
		{pkcs11.CKR_CURVE_NOT_SUPPORTED, ra.ErrInvalid, "curve"},
		{pkcs11.CKR_GENERAL_ERROR, nil, "CKR_GENERAL_ERROR"},
	}
	classes := []error{ra.ErrInvalid, ra.ErrNotFound, ra.ErrConflict, ra.ErrAuth, ra.ErrPolicy}
	for _, tt := range tests {
		rv := pkcs11.Error(tt.rv)
		t.Run(rv.Error(), func(t *testing.T) {
			err := mapP11Error(fmt.Errorf("wrapped: %w", rv), "log in")
			for _, c := range classes {
				if got, want := errors.Is(err, c), c == tt.class; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, c, got, want)
				}
			}
			if !errors.Is(err, rv) {
				t.Errorf("%v does not wrap %v", err, rv)
			}
			if !strings.HasPrefix(err.Error(), "log in: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q, want it to start with the operation and mention %q", err, tt.msg)
			}
		})
	}
	if err := mapP11Error(errors.New("plain"), "x"); err.Error() != "x: plain" {
		t.Errorf("non-PKCS#11 error mapped to %q", err)
	}
	locked := mapP11Error(pkcs11.Error(pkcs11.CKR_PIN_LOCKED), "log in")
	if !strings.Contains(locked.Error(), "SO PIN") {
		t.Errorf("locked-PIN message %q does not say to unblock with the SO PIN", locked)
	}
}
