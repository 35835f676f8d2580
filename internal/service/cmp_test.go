package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/cmp"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// cmpClient talks to the handler in-process, on the service's clock.
type cmpClient struct {
	t   testing.TB
	h   http.Handler
	clk func() time.Time
}

func newCMPClient(t testing.TB, s *Service) *cmpClient {
	return &cmpClient{t: t, h: cmp.NewHandler(s.CMP(), cmp.Options{Now: s.Now}), clk: s.Now}
}

func (c *cmpClient) send(m *cmp.Message) *cmp.Message {
	c.t.Helper()
	der, err := m.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, cmp.Path, bytes.NewReader(der))
	r.Header.Set("Content-Type", cmp.ContentType)
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	resp, err := cmp.ParseMessage(w.Body.Bytes())
	if err != nil {
		c.t.Fatalf("response: %v", err)
	}
	return resp
}

// ir sends an ir for key protected with secret; implicit asks for
// implicit confirmation.
func (c *cmpClient) ir(ref, secret string, key crypto.Signer, implicit bool) (*cmp.Message, *cmp.Message) {
	c.t.Helper()
	body, err := cmp.CertReqBody(key, pkix.Name{CommonName: "Mallory"}, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	req := cmp.NewRequest(cmp.BodyIR, body, []byte(ref), c.clk())
	if implicit {
		req.RequestImplicitConfirm()
	}
	if err := req.ProtectMAC([]byte(secret), nil); err != nil {
		c.t.Fatal(err)
	}
	return req, c.send(req)
}

func errorOf(t testing.TB, m *cmp.Message) (cmp.StatusInfo, string) {
	t.Helper()
	if m.Type != cmp.BodyError {
		t.Fatalf("response is %v; want error", m.Type)
	}
	si, _, err := cmp.ParseError(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return si, si.Text()
}

func certOf(t testing.TB, m *cmp.Message) *x509.Certificate {
	t.Helper()
	if m.Type != cmp.BodyIP {
		si, text, _ := cmp.ParseError(m.Body)
		t.Fatalf("response is %v (%+v %s); want ip", m.Type, si, text)
	}
	rep, err := cmp.ParseCertRep(m.Body)
	if err != nil || rep.Status.Status != cmp.StatusAccepted {
		t.Fatalf("ip: %+v, %v", rep, err)
	}
	cert, err := x509.ParseCertificate(rep.Cert)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// A certConf that rejects the certificate revokes it (cessationOfOperation);
// one that accepts it closes the transaction; either is answered by a
// pkiConf MACed with the passcode.
func TestCMPCertConf(t *testing.T) {
	for _, reject := range []bool{false, true} {
		s, _ := newTestService(t)
		c := newCMPClient(t, s)
		ref, passcode := issued(t, s)
		req, resp := c.ir(ref, passcode, newKey(t), false)
		cert := certOf(t, resp)
		body, _ := cmp.CertConfBody(cert.Raw, 0, reject, "wrong subject")
		conf := cmp.FollowUp(cmp.BodyCertConf, body, req, resp, s.Now())
		if err := conf.ProtectMAC([]byte(passcode), nil); err != nil {
			t.Fatal(err)
		}
		got := c.send(conf)
		if got.Type != cmp.BodyPKIConf {
			si, text := errorOf(t, got)
			t.Fatalf("certConf answered %+v %s; want pkiConf", si, text)
		}
		if chk, err := cmp.NewMACChecker(got, 0); err != nil || !chk.Check([]byte(passcode)) {
			t.Errorf("pkiConf not MACed with the passcode: %v", err)
		}
		var status string
		var reason int
		s.store.Raw().QueryRow(`SELECT status, COALESCE(revocation_reason, -1) FROM certificates WHERE serial = ?`, ra.SerialString(cert.SerialNumber)).Scan(&status, &reason)
		if reject && (status != string(ra.CertRevoked) || reason != 5) || !reject && status != string(ra.CertValid) {
			t.Errorf("reject=%v: certificate %s reason %d", reject, status, reason)
		}
		// The certConf sent again: its nonce was seen.
		if got := c.send(conf); got.Type != cmp.BodyError {
			t.Errorf("a replayed certConf answered %v; want error", got.Type)
		} else if si, _ := errorOf(t, got); !si.Failure(cmp.BadSenderNonce) {
			t.Errorf("replayed certConf: %+v; want badSenderNonce", si)
		}
		var boxes int
		s.store.Raw().QueryRow(`SELECT (SELECT COUNT(*) FROM passcode_boxes) + (SELECT COUNT(*) FROM cmp_transactions WHERE passcode_box IS NOT NULL)`).Scan(&boxes)
		if boxes != 0 {
			t.Errorf("%d encrypted passcodes kept after the certConf; want 0", boxes)
		}
	}
}

// implicitConfirm is granted: no certConf, nothing kept.
func TestCMPImplicitConfirm(t *testing.T) {
	s, _ := newTestService(t)
	c := newCMPClient(t, s)
	ref, passcode := issued(t, s)
	_, resp := c.ir(ref, strings.ReplaceAll(passcode, "-", ""), newKey(t), true)
	certOf(t, resp)
	if !resp.Header.ImplicitConfirm() {
		t.Error("the ip does not grant implicitConfirm")
	}
	var state string
	var box []byte
	s.store.Raw().QueryRow(`SELECT state, passcode_box FROM cmp_transactions`).Scan(&state, &box)
	if state != "confirmed" || box != nil {
		t.Errorf("transaction %s (box kept: %v); want confirmed, no box", state, box != nil)
	}
}

// Wrong MACs count against the passcode like wrong passcodes; once locked,
// even the right one is refused; the encrypted passcode is then swept.
func TestCMPPasscodeAttempts(t *testing.T) {
	s, _ := newTestService(t)
	c := newCMPClient(t, s)
	ref, passcode := issued(t, s)
	for i := 1; i <= s.Policy().MaxPasscodeAttempts; i++ {
		_, resp := c.ir(ref, "0000-0000-0000-0000-0000", newKey(t), false)
		if si, _ := errorOf(t, resp); !si.Failure(cmp.BadMessageCheck) || len(resp.Protection) != 0 {
			t.Fatalf("attempt %d: %+v; want unprotected badMessageCheck", i, si)
		}
	}
	_, resp := c.ir(ref, passcode, newKey(t), false)
	if si, text := errorOf(t, resp); !si.Failure(cmp.NotAuthorized) || !strings.Contains(text, "locked") {
		t.Fatalf("right passcode after lock-out: %+v %q; want notAuthorized, locked", si, text)
	}
	var attempts, boxes int
	s.store.Raw().QueryRow(`SELECT passcode_attempts FROM requests WHERE ref = ?`, ref).Scan(&attempts)
	s.store.Raw().QueryRow(`SELECT COUNT(*) FROM passcode_boxes`).Scan(&boxes)
	if attempts != s.Policy().MaxPasscodeAttempts || boxes != 0 {
		t.Errorf("attempts %d, boxes %d; want %d, 0", attempts, boxes, s.Policy().MaxPasscodeAttempts)
	}
}

// The passcode is stored encrypted under ca/passcode.kek (0600, created on
// first need), never in clear, and deleted when consumed.
func TestPasscodeBox(t *testing.T) {
	s, _ := newTestService(t)
	ref, passcode := issued(t, s)
	kek := filepath.Join(s.Home(), PasscodeKEKFile)
	fi, err := os.Stat(kek)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("KEK file: %v %v; want 32 bytes, mode 0600", fi, err)
	}
	var box []byte
	s.store.Raw().QueryRow(`SELECT box FROM passcode_boxes WHERE ref = ?`, ref).Scan(&box)
	if len(box) == 0 || bytes.Contains(box, []byte(passcode)) || bytes.Contains(box, []byte(ra.NormalizePasscode(passcode))) {
		t.Fatalf("box %x: want ciphertext without the passcode", box)
	}
	if got, err := s.openPasscode(ref, box); err != nil || got != passcode {
		t.Fatalf("openPasscode = %q, %v", got, err)
	}
	if _, err := s.openPasscode("RQ-OTHER", box); err == nil {
		t.Error("a box opens for another request")
	}
	if _, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: passcode, CSR: csrFor(t, newKey(t))}); err != nil {
		t.Fatal(err)
	}
	var n int
	s.store.Raw().QueryRow(`SELECT COUNT(*) FROM passcode_boxes`).Scan(&n)
	if n != 0 {
		t.Errorf("%d boxes after the download; want 0", n)
	}
	// A KEK readable by others is refused.
	os.Chmod(kek, 0o644)
	s2 := openTestService(t, s.Home(), &clock{t: s.Now()})
	if _, err := s2.LoadPasscodeKEK(context.Background(), true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("seal with a 0644 KEK: %v; want refused", err)
	}
}

var _ = store.ErrReplay

// signed builds a request signed with key, its certificate first in
// extraCerts.
func (c *cmpClient) signed(t cmp.BodyType, body []byte, cert *x509.Certificate, key crypto.Signer) *cmp.Message {
	c.t.Helper()
	m := cmp.NewRequest(t, body, nil, c.clk())
	m.ExtraCerts = []*x509.Certificate{cert}
	if err := m.ProtectSignature(key); err != nil {
		c.t.Fatal(err)
	}
	return m
}

func countKind(t *testing.T, s *Service, kind ra.Kind) int {
	t.Helper()
	var n int
	s.store.Raw().QueryRow(`SELECT COUNT(*) FROM requests WHERE kind = ?`, string(kind)).Scan(&n)
	return n
}

// kur outside the renewal window and rr for someone else's certificate are
// refused with signed errors, and nothing is filed; rr for one's own
// certificate is filed for review.
func TestCMPSignedRequests(t *testing.T) {
	s, _ := newTestService(t)
	c := newCMPClient(t, s)
	authority, err := s.CA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, keyA := enrolledWithKey(t, s)
	b, _ := enrolledWithKey(t, s)
	certA, _ := x509.ParseCertificate(a.Certificate)
	certB, _ := x509.ParseCertificate(b.Certificate)

	check := func(name string, resp *cmp.Message, fail cmp.FailureInfo) {
		t.Helper()
		si, text := errorOf(t, resp)
		if !si.Failure(fail) {
			t.Errorf("%s: %+v %q; want failure bit %d", name, si, text, fail)
		}
		if err := resp.VerifySignature(authority.Cert); err != nil {
			t.Errorf("%s: the error is not signed by the CA: %v", name, err)
		}
	}
	body, _ := cmp.CertReqBody(newKey(t), pkix.Name{}, 0)
	check("kur outside the window", c.send(c.signed(cmp.BodyKUR, body, certA, keyA)), cmp.NotAuthorized)
	if n := countKind(t, s, ra.KindRenew); n != 0 {
		t.Errorf("%d renewal requests filed; want 0", n)
	}
	rrB, _ := cmp.RevReqBody(certB, 1)
	check("rr for another's certificate", c.send(c.signed(cmp.BodyRR, rrB, certA, keyA)), cmp.NotAuthorized)
	if n := countKind(t, s, ra.KindRevoke); n != 0 {
		t.Errorf("%d revocation requests filed; want 0", n)
	}

	// A certificate from elsewhere signs nothing here.
	stranger := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: certA.SerialNumber, Subject: certA.Subject, NotBefore: certA.NotBefore, NotAfter: certA.NotAfter}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, stranger.Public(), stranger)
	fake, _ := x509.ParseCertificate(der)
	rrA, _ := cmp.RevReqBody(certA, 1)
	resp := c.send(c.signed(cmp.BodyRR, rrA, fake, stranger))
	if si, _ := errorOf(t, resp); !si.Failure(cmp.SignerNotTrusted) {
		t.Errorf("rr signed by a foreign certificate: %+v; want signerNotTrusted", si)
	}

	resp = c.send(c.signed(cmp.BodyRR, rrA, certA, keyA))
	if resp.Type != cmp.BodyRP {
		si, text := errorOf(t, resp)
		t.Fatalf("rr: %+v %q; want rp", si, text)
	}
	if st, err := cmp.ParseRevRep(resp.Body); err != nil || st[0].Status != cmp.StatusAccepted || !strings.Contains(st[0].Text(), "filed") {
		t.Errorf("rp = %+v, %v; want accepted, filed for review", st, err)
	}
	var state, reason, by string
	s.store.Raw().QueryRow(`SELECT state, reason, submitted_by FROM requests WHERE kind = ?`, string(ra.KindRevoke)).Scan(&state, &reason, &by)
	if state != string(ra.StateSubmitted) || reason != "keyCompromise" || by != a.Serial {
		t.Errorf("revocation request %s %s by %q; want submitted keyCompromise by %s", state, reason, by, a.Serial)
	}
}
