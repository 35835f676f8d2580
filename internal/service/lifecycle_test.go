package service

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// clock is a movable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestService(t *testing.T) (*Service, *clock) {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if _, err := Init(ctx, home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s := openTestService(t, home, clk)
	return s, clk
}

func openTestService(t *testing.T, home string, clk *clock) *Service {
	t.Helper()
	s, err := Open(context.Background(), home, DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Now = clk.Now
	t.Cleanup(func() { s.Close() })
	return s
}

func testApplication() Application {
	return Application{
		Applicant:         ra.Applicant{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
		UsageType:         "auth",
		AcceptancePoint:   "online",
		Storage:           ra.StorageSoft,
		AgreementAccepted: true,
	}
}

func csrFor(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Mallory", Organization: []string{"Evil"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issued takes an application through apply, approve and issue.
func issued(t testing.TB, s *Service) (ref, passcode string) {
	t.Helper()
	ctx := context.Background()
	res, err := s.Apply(as(ctx, "clerk"), []Application{testApplication()}, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	ref = res[0].Ref
	if _, err := s.Approve(as(ctx, "alice"), ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a, err := s.Issue(as(ctx, "bob"), ref, false)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return ref, a.Passcode
}

func TestDownloadIssuesFromApplicationNotCSR(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	ref, code := issued(t, s)
	key := newKey(t)
	got, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, key)})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	cert, err := x509.ParseCertificate(got.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "张三" || len(cert.Subject.Organization) != 0 {
		t.Errorf("subject = %v; want CN from the application, nothing from the CSR", cert.Subject)
	}
	if len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != "zhang@example.com" {
		t.Errorf("email SAN = %v", cert.EmailAddresses)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() < 120 {
		t.Errorf("serial %x: want a positive ~128-bit random serial", cert.SerialNumber)
	}
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(authority.Cert); err != nil {
		t.Errorf("certificate does not verify against the CA: %v", err)
	}
	if string(cert.AuthorityKeyId) != string(authority.Cert.SubjectKeyId) || len(cert.SubjectKeyId) == 0 {
		t.Error("AKI/SKI missing or wrong")
	}
	for _, v := range []string{cert.Subject.String(), string(cert.Raw)} {
		if contains(v, "11010519491231002X") {
			t.Error("the raw ID number is in the certificate")
		}
	}
	d, err := s.Status(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if d.Request.State != ra.StateCompleted || d.Request.CertSerial != got.Serial {
		t.Errorf("request after download = %s/%s; want completed/%s", d.Request.State, d.Request.CertSerial, got.Serial)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestDownloadPasscodeRules: unknown references, wrong, locked, expired and
// used passcodes, each with its error class; a wrong passcode is counted in
// the store at once, malformed input costs no attempt, and a used passcode
// gives the same key its certificate again but no other key a second one.
func TestDownloadPasscodeRules(t *testing.T) {
	ctx := context.Background()
	download := func(s *Service, ref, code string, key crypto.Signer) (*Issued, error) {
		return s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, key)})
	}
	t.Run("unknown reference", func(t *testing.T) {
		s, _ := newTestService(t)
		_, code := issued(t, s)
		if _, err := download(s, "20260101-ZZZZZZZZ", code, newKey(t)); !errors.Is(err, ra.ErrNotFound) {
			t.Fatalf("unknown ref: %v; want ErrNotFound", err)
		}
	})
	t.Run("wrong then locked then resend", func(t *testing.T) {
		s, _ := newTestService(t)
		ref, code := issued(t, s)
		wrong := "AAAA-AAAA-AAAA-AAAA-AAAA"
		for i := 1; i <= s.Policy().MaxPasscodeAttempts; i++ {
			if _, err := download(s, ref, wrong, newKey(t)); !errors.Is(err, ra.ErrAuth) {
				t.Fatalf("attempt %d: %v; want ErrAuth", i, err)
			}
			if got := requestSnapshot(t, s, ref).attempts; got != i {
				t.Fatalf("after %d wrong passcodes the store counts %d", i, got)
			}
		}
		// Locked: even the right passcode fails now.
		if _, err := download(s, ref, code, newKey(t)); !errors.Is(err, ra.ErrAuth) || !contains(err.Error(), "locked") {
			t.Fatalf("right passcode after lock: %v; want locked", err)
		}
		a, err := s.Issue(as(ctx, "bob"), ref, true)
		if err != nil {
			t.Fatalf("resend: %v", err)
		}
		if _, err := download(s, ref, code, newKey(t)); !errors.Is(err, ra.ErrAuth) {
			t.Fatalf("old passcode after resend: %v; want ErrAuth", err)
		}
		if _, err := download(s, ref, a.Passcode, newKey(t)); err != nil {
			t.Fatalf("new passcode: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		s, clk := newTestService(t)
		ref, code := issued(t, s)
		clk.Add(s.Policy().PasscodeTTL + time.Minute)
		_, err := download(s, ref, code, newKey(t))
		var coded *ra.CodedError
		if !errors.Is(err, ra.ErrAuth) || !contains(err.Error(), "expired") || !errors.As(err, &coded) || coded.Code != "passcode.expired" || coded.Params["ref"] != ref {
			t.Fatalf("expired passcode: %v", err)
		}
	})
	t.Run("malformed input costs no attempt", func(t *testing.T) {
		s, _ := newTestService(t)
		ref, code := issued(t, s)
		before := requestSnapshot(t, s, ref)
		if _, err := download(s, ref, "short", newKey(t)); !errors.Is(err, ra.ErrInvalid) {
			t.Fatalf("short passcode: %v; want ErrInvalid", err)
		}
		if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: []byte("garbage")}); !errors.Is(err, ra.ErrInvalid) {
			t.Fatalf("garbage CSR: %v; want ErrInvalid", err)
		}
		if after := requestSnapshot(t, s, ref); after != before || after.state != ra.StateIssued {
			t.Fatalf("after malformed input: %+v; want %+v, issued", after, before)
		}
	})
	t.Run("single use, idempotent for the same key", func(t *testing.T) {
		s, _ := newTestService(t)
		ref, code := issued(t, s)
		key := newKey(t)
		first, err := download(s, ref, code, key)
		if err != nil {
			t.Fatal(err)
		}
		again, err := download(s, ref, code, key)
		if err != nil || again.Serial != first.Serial || !again.Retrieved {
			t.Fatalf("same key again = %+v, %v; want the recorded certificate", again, err)
		}
		if _, err := download(s, ref, code, newKey(t)); !errors.Is(err, ra.ErrConflict) {
			t.Fatalf("other key: %v; want ErrConflict (already used)", err)
		}
		rep, err := s.Doctor(as(ctx, "auditor"))
		if err != nil || !rep.OK {
			t.Errorf("Doctor() = %+v, %v; want a consistent store", rep, err)
		}
	})
}

// TestRacingDecisions: many processes' worth of store handles approve and
// reject one request at once; exactly one decision wins.
func TestRacingDecisions(t *testing.T) {
	s, clk := newTestService(t)
	ctx := context.Background()
	res, err := s.Apply(as(ctx, "clerk"), []Application{testApplication()}, false)
	if err != nil {
		t.Fatal(err)
	}
	ref := res[0].Ref
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		other := openTestService(t, s.home, clk) // its own connection pool, like another process
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, errs[i] = other.Approve(as(ctx, "alice"), ref)
			} else {
				_, errs[i] = other.Reject(as(ctx, "bob"), ref, "duplicate")
			}
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ra.ErrConflict):
			t.Errorf("decision %d: %v; want success or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d decisions won; want exactly 1", wins)
	}
}

// enrolledWithKey enrols one subscriber with a fresh key: the certificate and
// the key it certifies.
func enrolledWithKey(t testing.TB, s *Service) (*Issued, crypto.Signer) {
	t.Helper()
	ref, code := issued(t, s)
	key := newKey(t)
	got, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	return got, key
}

func TestRenewWindow(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	got, oldKey := enrolledWithKey(t, s)
	renew := func(key crypto.Signer) (*RenewResult, error) {
		csr := csrFor(t, newKey(t))
		at := clk.Now()
		proof, err := ca.SignPossession(key, "renew", got.Serial, at, csr)
		if err != nil {
			t.Fatal(err)
		}
		return s.Renew(as(ctx, "subscriber"), RenewInput{Serial: got.Serial, CSR: csr, SignedAt: at, Proof: proof})
	}
	// A key that is not the certificate's proves nothing.
	if _, err := renew(newKey(t)); !errors.Is(err, ra.ErrAuth) {
		t.Fatalf("renew with another key: %v; want ErrAuth", err)
	}
	// Far from expiry: a request for review.
	r, err := renew(oldKey)
	if err != nil || r.AutoApprove || r.State != ra.StateSubmitted || r.Issued != nil {
		t.Fatalf("renew outside window = %+v, %v; want submitted for review", r, err)
	}
	if _, err := s.Reject(as(ctx, "alice"), r.Ref, "not needed yet"); err != nil {
		t.Fatal(err)
	}
	// Inside the window: issued at once, a new serial.
	clk.Add(340 * 24 * time.Hour)
	r, err = renew(oldKey)
	if err != nil || !r.AutoApprove || r.State != ra.StateCompleted || r.Issued == nil || r.Issued.Serial == got.Serial {
		t.Fatalf("renew inside window = %+v, %v; want completed with a new certificate", r, err)
	}
	// Expired certificates cannot be renewed.
	clk.Add(60 * 24 * time.Hour)
	if _, err := renew(oldKey); !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("renew after expiry: %v; want ErrConflict", err)
	}
}

func TestRevokeAndReissue(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	ref, code := issued(t, s)
	got, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))})
	if err != nil {
		t.Fatal(err)
	}
	re, err := s.Reissue(as(ctx, "subscriber"), ReissueInput{Ref: ref, Reason: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reissue(as(ctx, "subscriber"), ReissueInput{Serial: got.Serial, Reason: "lost"}); !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("second reissue request: %v; want ErrConflict", err)
	}
	d, err := s.Approve(as(ctx, "alice"), re.Ref)
	if err != nil || d.RevokedSerial != got.Serial {
		t.Fatalf("approve reissue = %+v, %v; want the old certificate revoked", d, err)
	}
	c, err := s.Certificate(as(ctx, "alice"), got.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != ra.CertRevoked || c.Certificate.RevocationReason != "keyCompromise" {
		t.Fatalf("old certificate = %s/%s; want revoked keyCompromise", c.Status, c.Certificate.RevocationReason)
	}
	a, err := s.Issue(as(ctx, "bob"), re.Ref, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Download(ctx, DownloadInput{Ref: re.Ref, Passcode: a.Passcode, CSR: csrFor(t, newKey(t))})
	if err != nil || n.Serial == got.Serial {
		t.Fatalf("reissued download = %+v, %v", n, err)
	}
	// Revocation is permanent.
	if _, err := s.Revoke(as(ctx, "subscriber"), RevokeInput{Serial: got.Serial, Reason: "superseded"}); !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("revoke a revoked certificate: %v; want ErrConflict", err)
	}
	rv, err := s.Revoke(as(ctx, "subscriber"), RevokeInput{Serial: n.Serial, Reason: "affiliationChanged"})
	if err != nil || rv.Revoked {
		t.Fatalf("revoke request = %+v, %v; want a pending request", rv, err)
	}
	if _, err := s.Approve(as(ctx, "alice"), rv.Ref); err != nil {
		t.Fatal(err)
	}
	crl, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil || crl.Entries != 2 || crl.Number != 1 {
		t.Fatalf("CRL = %+v, %v; want number 1 with 2 entries", crl, err)
	}
	clk.Add(time.Minute)
	again, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil || !again.Reused || again.Number != 1 {
		t.Fatalf("second CRL = %+v, %v; want the same CRL reused", again, err)
	}
	forced, err := s.CRL(as(ctx, "alice"), CRLOptions{Force: true})
	if err != nil || forced.Number != 2 {
		t.Fatalf("forced CRL = %+v, %v; want number 2", forced, err)
	}
	parsed, err := x509.ParseRevocationList(crlDER(t, forced))
	if err != nil || len(parsed.RevokedCertificateEntries) != 2 {
		t.Fatalf("parse CRL: %v", err)
	}
	rep, err := s.VerifyAudit(as(ctx, "auditor"))
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v, %v", rep, err)
	}
}

func TestFourEyes(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	setPolicy(t, s, "policy.four_eyes", "true")
	res, err := s.Apply(as(ctx, "alice"), []Application{testApplication()}, false)
	if err != nil {
		t.Fatal(err)
	}
	ref := res[0].Ref
	if _, err := s.Approve(as(ctx, "alice"), ref); !errors.Is(err, ra.ErrPolicy) {
		t.Fatalf("submitter approves: %v; want ErrPolicy", err)
	}
	if _, err := s.Approve(as(ctx, "bob"), ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(as(ctx, "bob"), ref, false); !errors.Is(err, ra.ErrPolicy) {
		t.Fatalf("approver issues: %v; want ErrPolicy", err)
	}
	if _, err := s.Issue(as(ctx, "carol"), ref, false); err != nil {
		t.Fatal(err)
	}
}

func TestApplyBatchAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	good := testApplication()
	bad := testApplication()
	bad.Applicant.IDNumber = "110105194912310021" // wrong check digit
	if _, err := s.Apply(as(ctx, "clerk"), []Application{good, bad}, false); !errors.Is(err, ra.ErrInvalid) {
		t.Fatalf("batch with a bad item: %v; want ErrInvalid", err)
	}
	rs, err := s.Requests(as(ctx, "alice"), store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Fatalf("%d requests stored after a rejected batch; want 0", len(rs))
	}
	res, err := s.Apply(as(ctx, "clerk"), []Application{good, bad}, true)
	if err != nil || res[0].Ref == "" || res[1].Error == nil {
		t.Fatalf("partial batch = %+v, %v", res, err)
	}
	if rs, err = s.Requests(as(ctx, "alice"), store.RequestFilter{}); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d requests stored after a partial batch; want 1", len(rs))
	}
}
