package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// testClock is a movable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testHome is a real home (store and CA) in a temporary directory.
type testHome struct {
	home string
	svc  *service.Service
	clk  *testClock
	ca   *x509.Certificate
}

func newTestHome(t *testing.T) *testHome {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	if _, err := service.Init(ctx, home, service.InitOptions{CAName: "Server Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	svc, err := service.Open(ctx, home, service.DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	svc.Now = clk.Now
	t.Cleanup(func() { svc.Close() })
	authority, err := svc.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &testHome{home: home, svc: svc, clk: clk, ca: authority.Cert}
}

// admin is the local CLI's caller.
func adminCtx() context.Context {
	return principal.With(context.Background(), principal.LocalOperator("root"))
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// operator adds an operator and returns its certificate and key.
func (h *testHome) operator(t *testing.T, name string, roles ...principal.Role) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	res, err := h.svc.AddOperator(adminCtx(), service.OperatorInput{Name: name, Roles: roles, PublicKey: key.Public()})
	if err != nil {
		t.Fatalf("AddOperator(%s): %v", name, err)
	}
	cert, err := x509.ParseCertificate(res.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// subscriber takes an application through to a downloaded certificate.
// Two applicants: 0 and 1.
func (h *testHome) subscriber(t *testing.T, who int) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	ctx := adminCtx()
	people := []ra.Applicant{
		{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
		{Name: "李四", IDType: ra.IDResident, IDNumber: "110105198001010016", Mobile: "13612345678", Email: "li@example.com"},
	}
	app := service.Application{
		Applicant: people[who],
		UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
	}
	res, err := h.svc.Apply(principal.With(context.Background(), principal.LocalOperator("clerk")), []service.Application{app}, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	ref := res[0].Ref
	if _, err := h.svc.Approve(principal.With(context.Background(), principal.LocalOperator("alice")), ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a, err := h.svc.Issue(principal.With(context.Background(), principal.LocalOperator("bob")), ref, false)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	key := newKey(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.Download(ctx, service.DownloadInput{Ref: ref, Passcode: a.Passcode, CSR: csr})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	cert, err := x509.ParseCertificate(got.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
