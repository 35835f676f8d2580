package enroll_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/server"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// backend is an RA/CA with the operator steps a story needs before the
// subscriber enrols.
type backend interface {
	enroll.API
	Apply(ctx context.Context, apps []service.Application, partial bool) ([]service.ApplyResult, error)
	Approve(ctx context.Context, ref string) (*service.Decision, error)
	Issue(ctx context.Context, ref string, resend bool) (*service.Authorisation, error)
	PolicySet(ctx context.Context, key, value string) (*service.PolicyChange, error)
}

func newService(t *testing.T) *service.Service {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if _, err := service.Init(ctx, home, service.InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s, err := service.Open(ctx, home, service.DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends: the service in-process and the HTTP client of a server
// (httptest, TLS) on its own home; the caller an operator with every role.
func backends(t *testing.T) map[string]backend {
	srv := httptest.NewTLSServer(server.NewServer(newService(t), server.Options{
		Auth: func(*http.Request) (principal.Principal, error) {
			return principal.Principal{Kind: principal.Operator, Name: "alice", Roles: principal.AllRoles}, nil
		},
	}))
	t.Cleanup(srv.Close)
	cl, err := client.NewWithHTTPClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]backend{"local": newService(t), "remote": cl}
}

// TestEnrolSameOnBothBackends: one story, run against the in-process
// service and against the HTTP client: a download whose result is lost
// (the process died before writing) is finished by a rerun that reuses the
// kept key and gets the same certificate; a mistyped passcode in between
// keeps the key; the renewal proves possession, and its rerun after a lost
// result gets the same renewed certificate for the same new key.
func TestEnrolSameOnBothBackends(t *testing.T) {
	pw := []byte("correct horse battery")
	for name, api := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := principal.With(context.Background(), principal.LocalOperator("alice"))
			dir := t.TempDir()
			out := filepath.Join(dir, "me.p12")
			res, err := api.Apply(ctx, []service.Application{{
				Applicant: ra.Applicant{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
				UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
			}}, false)
			if err != nil {
				t.Fatal(err)
			}
			ref := res[0].Ref
			if _, err := api.Approve(ctx, ref); err != nil {
				t.Fatal(err)
			}
			auth, err := api.Issue(ctx, ref, false)
			if err != nil {
				t.Fatal(err)
			}
			e := &enroll.Enroller{API: api}
			in := service.DownloadInput{Ref: ref, Passcode: auth.Passcode, Storage: ra.StorageSoft}

			k1, err := enroll.SoftKey(out+".pending", pw, token.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			first, err := e.Download(ctx, k1, in)
			if err != nil {
				t.Fatal(err)
			}
			// ... the process dies here, before writing me.p12.
			k2, err := enroll.SoftKey(out+".pending", pw, token.ECDSAP256)
			if err != nil || !k2.Reused {
				t.Fatalf("the rerun found no kept key (%v)", err)
			}
			wrong := in
			wrong.Passcode = "0000-0000-0000-0000-0000"
			if _, err := e.Download(ctx, k2, wrong); !enroll.Refused(err) {
				t.Fatalf("Download(wrong passcode) = %v; want a refusal", err)
			}
			if _, err := os.Stat(out + ".pending"); err != nil {
				t.Fatalf("a refusal deleted the key of an issued certificate: %v", err)
			}
			again, err := e.Download(ctx, k2, in)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Retrieved || again.Serial != first.Serial {
				t.Errorf("rerun: serial %s retrieved %v; want %s retrieved", again.Serial, again.Retrieved, first.Serial)
			}
			if err := k2.WritePKCS12(out, again.Certificate, again.Chain); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(out + ".pending"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pending key left after the write: %v", err)
			}

			// Renewal inside the window.
			if _, err := api.PolicySet(ctx, "renew.window", "365d"); err != nil {
				t.Fatal(err)
			}
			h, err := enroll.HolderFromPKCS12(out, pw)
			if err != nil {
				t.Fatal(err)
			}
			renewed := filepath.Join(dir, "new.p12")
			n1, err := enroll.RenewKey(ctx, h, renewed, token.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			r1, err := e.Renew(ctx, h, n1, "")
			if err != nil {
				t.Fatal(err)
			}
			if r1.Issued == nil || r1.OldSerial != first.Serial {
				t.Fatalf("Renew() = %+v; want issued at once for %s", r1, first.Serial)
			}
			// ... lost again; the rerun reuses the new key.
			n2, err := enroll.RenewKey(ctx, h, renewed, token.ECDSAP256)
			if err != nil || !n2.Reused {
				t.Fatalf("the renewal rerun found no kept key (%v)", err)
			}
			r2, err := e.Renew(ctx, h, n2, "")
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Issued.Retrieved || r2.Issued.Serial != r1.Issued.Serial {
				t.Errorf("renewal rerun: serial %s retrieved %v; want %s retrieved", r2.Issued.Serial, r2.Issued.Retrieved, r1.Issued.Serial)
			}
			if err := n2.WritePKCS12(renewed, r2.Issued.Certificate, r2.Issued.Chain); err != nil {
				t.Fatal(err)
			}
			sk, err := token.ReadPKCS12(renewed, pw)
			if err != nil {
				t.Fatal(err)
			}
			if ra.SerialString(sk.Cert.SerialNumber) != r1.Issued.Serial {
				t.Errorf("new.p12 holds %s; want %s", ra.SerialString(sk.Cert.SerialNumber), r1.Issued.Serial)
			}
			pool := x509.NewCertPool()
			for _, c := range sk.Chain {
				pool.AddCert(c)
			}
			if _, err := sk.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("the renewed certificate does not chain to the CA: %v", err)
			}
		})
	}
}
