package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/cmp"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testtool"
	"github.com/cmca/cmca/internal/token"
)

// cmpServer is a real service on a temp home, on the real clock (openssl
// stamps messageTime with it), served at /.well-known/cmp on loopback.
type cmpServer struct {
	s   *Service
	url string
	dir string // working directory for openssl's files
	ca  string // CA certificate PEM file
}

func newCMPServer(t *testing.T) *cmpServer {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if _, err := Init(ctx, home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	// Every certificate inside its renewal window, so kur renews at once.
	if _, err := s.PolicySet(as(ctx, "admin"), "renew.window", "365d"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+cmp.Path, cmp.NewHandler(s.CMP(), cmp.Options{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := &cmpServer{s: s, url: srv.URL + cmp.Path, dir: t.TempDir()}
	c.ca = filepath.Join(c.dir, "ca.crt")
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writeTestPEM(t, c.ca, "CERTIFICATE", authority.Cert.Raw)
	return c
}

func writeTestPEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c *cmpServer) keyFile(t *testing.T, name string) (string, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.dir, name)
	writeTestPEM(t, path, "PRIVATE KEY", der)
	return path, key
}

// openssl runs `openssl cmp` against the server with args.
func (c *cmpServer) openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"cmp", "-server", c.url, "-unprotected_errors"}, args...)
	cmd := exec.Command("openssl", all...)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	t.Logf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	return string(out), err
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (c *cmpServer) request(t *testing.T, ref string) *ra.Request {
	t.Helper()
	var r *ra.Request
	if err := c.s.store.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		r, err = tx.Request(ref)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (c *cmpServer) transactionStates(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	rows, err := c.s.store.DB().Query(`SELECT kind || ':' || state, COUNT(*) FROM cmp_transactions GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

func (c *cmpServer) countBoxes(t *testing.T) int {
	t.Helper()
	var n int
	if err := c.s.store.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM passcode_boxes) + (SELECT COUNT(*) FROM cmp_transactions WHERE passcode_box IS NOT NULL)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCMPOpenSSL drives Debian's openssl cmp through a subscriber's life:
// a wrong passcode (refused and counted), ir with the right one (subject
// from the application, not the client), a replayed ir, kur and rr.
func TestCMPOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl")
	c := newCMPServer(t)
	ref, passcode := issued(t, c.s)
	keyPath, key := c.keyFile(t, "key.pem")
	ir := func(secret, certOut string, extra ...string) (string, error) {
		return c.openssl(t, append([]string{"-cmd", "ir", "-ref", ref, "-secret", "pass:" + secret, "-newkey", keyPath,
			"-subject", "/CN=Mallory/O=Evil", "-certout", certOut, "-trusted", c.ca}, extra...)...)
	}

	// A wrong passcode is refused and counted like `cmca download`.
	out, err := ir("7KQ3-PZ4M-XW2A-9HCD-1EFG", "wrong.pem")
	if err == nil || !strings.Contains(out, "badMessageCheck") {
		t.Fatalf("ir with a wrong secret: %v\n%s\nwant refused with badMessageCheck", err, out)
	}
	if r := c.request(t, ref); r.PasscodeAttempts != 1 || r.State != ra.StateIssued {
		t.Fatalf("after a wrong secret: attempts %d, state %s; want 1, issued", r.PasscodeAttempts, r.State)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "wrong.pem")); err == nil {
		t.Fatal("a certificate was written for a wrong secret")
	}

	// The right passcode: ip with the certificate, certConf, pkiConf.
	out, err = ir(passcode, "cert.pem", "-reqout", "ir.der,certconf.der")
	if err != nil {
		t.Fatalf("ir: %v\n%s", err, out)
	}
	cert := readCert(t, filepath.Join(c.dir, "cert.pem"))
	if cert.Subject.CommonName != "张三" || len(cert.Subject.Organization) != 0 && cert.Subject.Organization[0] == "Evil" {
		t.Errorf("subject = %s; want the application's, not the client's /CN=Mallory/O=Evil", cert.Subject)
	}
	if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Error("the certificate is not for the key the client generated")
	}
	if r := c.request(t, ref); r.State != ra.StateCompleted || !r.PasscodeUsed || r.CertSerial != ra.SerialString(cert.SerialNumber) {
		t.Fatalf("after ir: %+v; want completed with the certificate", r)
	}
	if got := c.transactionStates(t); got["ir:confirmed"] != 1 || got["ir:failed"] != 1 {
		t.Errorf("transactions = %v; want one confirmed ir (certConf) and one failed", got)
	}
	if n := c.countBoxes(t); n != 0 {
		t.Errorf("%d encrypted passcodes left after the enrolment was confirmed; want 0", n)
	}

	// The saved ir sent again: refused, nothing changes.
	out, err = c.openssl(t, "-cmd", "ir", "-reqin", "ir.der", "-ref", ref, "-newkey", keyPath, "-certout", "replay.pem", "-trusted", c.ca, "-secret", "pass:"+passcode)
	if err == nil || !strings.Contains(out, "transactionIdInUse") {
		t.Fatalf("replayed ir: %v\n%s\nwant refused with transactionIdInUse", err, out)
	}
	var certs int
	c.s.store.DB().QueryRow(`SELECT COUNT(*) FROM certificates`).Scan(&certs)
	if certs != 1 {
		t.Fatalf("%d certificates after the replay; want 1", certs)
	}

	// kur signed with the current certificate and key.
	newKeyPath, newKey := c.keyFile(t, "key2.pem")
	out, err = c.openssl(t, "-cmd", "kur", "-cert", "cert.pem", "-key", keyPath, "-newkey", newKeyPath, "-certout", "cert2.pem", "-trusted", c.ca, "-reqout", "kur-signed.der,certconf-signed.der")
	if err != nil {
		t.Fatalf("kur: %v\n%s", err, out)
	}
	cert2 := readCert(t, filepath.Join(c.dir, "cert2.pem"))
	if cert2.SerialNumber.Cmp(cert.SerialNumber) == 0 || !cert2.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(newKey.Public()) || cert2.Subject.CommonName != "张三" {
		t.Fatalf("renewed certificate %s (serial %x); want a new serial for the new key, same subject", cert2.Subject, cert2.SerialNumber)
	}

	// rr signed with the renewed certificate's key: filed for review.
	out, err = c.openssl(t, "-cmd", "rr", "-cert", "cert2.pem", "-key", newKeyPath, "-oldcert", "cert2.pem", "-revreason", "1", "-trusted", c.ca)
	if err != nil {
		t.Fatalf("rr: %v\n%s", err, out)
	}
	var rs []*ra.Request
	c.s.store.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		rs, err = tx.Requests(store.RequestFilter{Serial: ra.SerialString(cert2.SerialNumber), Kinds: []ra.Kind{ra.KindRevoke}})
		return err
	})
	if len(rs) != 1 || rs[0].State != ra.StateSubmitted || rs[0].Reason != "keyCompromise" {
		t.Fatalf("revocation requests = %v; want one submitted, keyCompromise", rs)
	}
	if !bytes.Contains([]byte(out), []byte("revocation accepted")) {
		t.Errorf("rr output:\n%s\nwant revocation accepted", out)
	}
	captureCMP(t, c.dir)
}

// captureCMP copies the requests openssl sent to $CMCA_CMP_CAPTURE: that
// is how internal/cmp/testdata/openssl got its certConf seeds.
func captureCMP(t *testing.T, dir string) {
	to := os.Getenv("CMCA_CMP_CAPTURE")
	if to == "" {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.der"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cr (with -implicit_confirm) and p10cr work like ir; the passcode may be
// typed without its dashes.
func TestCMPOpenSSLCrAndP10cr(t *testing.T) {
	testtool.Need(t, "openssl")
	c := newCMPServer(t)
	keyPath, _ := c.keyFile(t, "key.pem")
	ref, passcode := issued(t, c.s)
	out, err := c.openssl(t, "-cmd", "cr", "-ref", ref, "-secret", "pass:"+strings.ReplaceAll(passcode, "-", ""), "-newkey", keyPath,
		"-subject", "/CN=x", "-implicit_confirm", "-certout", "cr.pem", "-trusted", c.ca)
	if err != nil {
		t.Fatalf("cr: %v\n%s", err, out)
	}
	if strings.Contains(out, "CERTCONF") {
		t.Errorf("implicit confirmation granted, yet openssl sent a certConf:\n%s", out)
	}
	readCert(t, filepath.Join(c.dir, "cr.pem"))

	ref2, passcode2 := issued(t, c.s)
	csr := filepath.Join(c.dir, "me.csr")
	if out, err := exec.Command("openssl", "req", "-new", "-key", keyPath, "-subj", "/CN=Mallory", "-out", csr).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	out, err = c.openssl(t, "-cmd", "p10cr", "-ref", ref2, "-secret", "pass:"+passcode2, "-csr", csr, "-certout", "p10.pem", "-trusted", c.ca)
	if err != nil {
		t.Fatalf("p10cr: %v\n%s", err, out)
	}
	if cert := readCert(t, filepath.Join(c.dir, "p10.pem")); cert.Subject.CommonName != "张三" {
		t.Errorf("p10cr subject %s; want the application's", cert.Subject)
	}
}
