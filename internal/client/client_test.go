package client_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/cli"
	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/server"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

func newTestService(t *testing.T) *service.Service {
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

// backends are the two implementations of the CLI's API: the service
// in-process and the HTTP client of a server (httptest, TLS) on its own
// home, the caller an operator with every role.
func backends(t *testing.T) map[string]cli.API {
	svc := newTestService(t)
	srv := httptest.NewTLSServer(server.NewServer(newTestService(t), server.Options{
		Auth: func(*http.Request) (principal.Principal, error) {
			return principal.Principal{Kind: principal.Operator, Name: "alice", Roles: principal.AllRoles}, nil
		},
	}))
	t.Cleanup(srv.Close)
	cl, err := client.NewWithHTTPClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]cli.API{"local": svc, "remote": cl}
}

func application() service.Application {
	return service.Application{
		Applicant:         ra.Applicant{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
		UsageType:         "auth",
		AcceptancePoint:   "online",
		Storage:           ra.StorageSoft,
		AgreementAccepted: true,
	}
}

// story is what the steps share.
type story struct {
	ref, passcode, serial, crlPath string
	key                            crypto.Signer
	csr                            []byte
}

func (s *story) csr2() []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "y"}}, k)
	return der
}

func (s *story) spki() []byte {
	b, _ := x509.MarshalPKIXPublicKey(s.key.Public())
	return b
}

// The table: each step's outcome (a summary without refs, serials or
// times) and exit code must be the same on both backends, and as wanted.
var steps = []struct {
	name     string
	run      func(ctx context.Context, api cli.API, s *story) (string, error)
	wantExit int
	want     string
}{
	{"validate", func(ctx context.Context, api cli.API, s *story) (string, error) {
		a := application()
		a.Applicant.IDType = "身份证"
		a, err := api.Validate(a)
		return string(a.Applicant.IDType), err
	}, 0, "resident"},
	{"apply invalid", func(ctx context.Context, api cli.API, s *story) (string, error) {
		a := application()
		a.Applicant.Mobile = "12"
		_, err := api.Apply(ctx, []service.Application{a}, false)
		var fe *ra.FieldError
		if errors.As(err, &fe) {
			return fe.Field, err
		}
		return "", err
	}, 2, "mobile"},
	{"apply invalid batch", func(ctx context.Context, api cli.API, s *story) (string, error) {
		a := application()
		a.Applicant.Mobile = "12"
		_, err := api.Apply(ctx, []service.Application{a, application(), a}, false)
		var be *service.BatchError
		if errors.As(err, &be) {
			return fmt.Sprintf("%d invalid: #%d #%d", len(be.Errors), be.Errors[0].Index, be.Errors[1].Index), err
		}
		return "", err
	}, 2, "2 invalid: #1 #3"},
	{"apply", func(ctx context.Context, api cli.API, s *story) (string, error) {
		res, err := api.Apply(ctx, []service.Application{application()}, false)
		if err != nil {
			return "", err
		}
		s.ref = res[0].Ref
		return string(res[0].State), nil
	}, 0, "submitted"},
	{"lookup unknown", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Lookup(ctx, ra.IDResident, "110101199003071233")
		return "", err
	}, 3, ""},
	{"status unknown", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Status(ctx, "20260101-AAAAAAAA")
		return "", err
	}, 3, ""},
	{"status", func(ctx context.Context, api cli.API, s *story) (string, error) {
		d, err := api.Status(ctx, s.ref)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %s %d events", d.Request.State, d.Request.Applicant.Name, len(d.History)), nil
	}, 0, "submitted 张三 1 events"},
	{"requests", func(ctx context.Context, api cli.API, s *story) (string, error) {
		rs, err := api.Requests(ctx, store.RequestFilter{States: []ra.State{ra.StateSubmitted}, Limit: 10})
		return fmt.Sprint(len(rs)), err
	}, 0, "1"},
	{"issue before approval", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Issue(ctx, s.ref, false)
		return "", err
	}, 4, ""},
	{"approve", func(ctx context.Context, api cli.API, s *story) (string, error) {
		d, err := api.Approve(ctx, s.ref)
		if err != nil {
			return "", err
		}
		return string(d.State), nil
	}, 0, "approved"},
	{"lookup", func(ctx context.Context, api cli.API, s *story) (string, error) {
		a, err := api.Lookup(ctx, ra.IDResident, "11010519491231002X")
		return a.Name, err
	}, 0, "张*"},
	{"approve again", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Approve(ctx, s.ref)
		return "", err
	}, 4, ""},
	{"issue", func(ctx context.Context, api cli.API, s *story) (string, error) {
		a, err := api.Issue(ctx, s.ref, false)
		if err != nil {
			return "", err
		}
		s.passcode = a.Passcode
		return fmt.Sprintf("%s %v", a.Storage, a.Resent), nil
	}, 0, "soft false"},
	{"issue again", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Issue(ctx, s.ref, false)
		return "", err
	}, 4, ""},
	{"download wrong storage", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Download(ctx, service.DownloadInput{Ref: s.ref, Passcode: s.passcode, CSR: s.csr2(), Storage: ra.StorageUSBKey})
		return "", err
	}, 2, ""},
	{"download wrong passcode", func(ctx context.Context, api cli.API, s *story) (string, error) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		s.key = k
		s.csr, _ = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, k)
		_, err := api.Download(ctx, service.DownloadInput{Ref: s.ref, Passcode: "AAAA-BBBB-CCCC-DDDD-EEEE", CSR: s.csr, Storage: ra.StorageSoft})
		return "", err
	}, 5, ""},
	{"download", func(ctx context.Context, api cli.API, s *story) (string, error) {
		i, err := api.Download(ctx, service.DownloadInput{Ref: s.ref, Passcode: s.passcode, CSR: s.csr, Storage: ra.StorageSoft})
		if err != nil {
			return "", err
		}
		s.serial = i.Serial
		c, err := x509.ParseCertificate(i.Certificate)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s chain %d retrieved %v", c.Subject.CommonName, len(i.Chain), i.Retrieved), nil
	}, 0, "张三 chain 1 retrieved false"},
	{"download again, same key", func(ctx context.Context, api cli.API, s *story) (string, error) {
		i, err := api.Download(ctx, service.DownloadInput{Ref: s.ref, Passcode: s.passcode, CSR: s.csr, Storage: ra.StorageSoft})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("same %v retrieved %v", i.Serial == s.serial, i.Retrieved), nil
	}, 0, "same true retrieved true"},
	{"download, another key", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Download(ctx, service.DownloadInput{Ref: s.ref, Passcode: s.passcode, CSR: s.csr2(), Storage: ra.StorageSoft})
		return "", err
	}, 4, ""},
	{"reject without reason", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Reject(ctx, s.ref, "")
		return "", err
	}, 2, ""},
	{"certificate for key", func(ctx context.Context, api cli.API, s *story) (string, error) {
		c, err := api.CertificateForKey(ctx, s.spki())
		if err != nil {
			return "", err
		}
		_, perr := x509.ParseCertificate(c.DER)
		return fmt.Sprintf("same %v der %v", c.Serial == s.serial, perr == nil), nil
	}, 0, "same true der true"},
	{"certificates", func(ctx context.Context, api cli.API, s *story) (string, error) {
		cs, err := api.Certificates(ctx, ra.CertValid, 10)
		if err != nil || len(cs) != 1 {
			return fmt.Sprint(len(cs)), err
		}
		return fmt.Sprintf("%s der %v", cs[0].Status, len(cs[0].DER) > 0), nil
	}, 0, "valid der true"},
	{"certificate", func(ctx context.Context, api cli.API, s *story) (string, error) {
		d, err := api.Certificate(ctx, s.serial)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %d requests der %v", d.Status, len(d.Requests), len(d.Certificate.DER) > 0), nil
	}, 0, "valid 1 requests der true"},
	{"certificate unknown", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Certificate(ctx, "1234")
		return "", err
	}, 3, ""},
	{"renew without proof", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Renew(ctx, service.RenewInput{Serial: s.serial, CSR: s.csr, SignedAt: time.Now(), Proof: []byte("x")})
		return "", err
	}, 5, ""},
	{"revoke with proof", func(ctx context.Context, api cli.API, s *story) (string, error) {
		at := time.Now()
		proof, err := ca.SignPossession(s.key, "revoke", s.serial, at, []byte("keyCompromise"))
		if err != nil {
			return "", err
		}
		r, err := api.Revoke(ctx, service.RevokeInput{Serial: s.serial, Reason: "keyCompromise", Proof: proof, SignedAt: at})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s revoked %v", r.State, r.Revoked), nil
	}, 0, "submitted revoked false"},
	{"revoke direct", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Revoke(ctx, service.RevokeInput{Serial: s.serial, Reason: "keyCompromise", Direct: true, Comment: "lost"})
		return "", err
	}, 4, ""},
	{"reissue unknown", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.Reissue(ctx, service.ReissueInput{Ref: "20260101-AAAAAAAA", Reason: "lost"})
		return "", err
	}, 3, ""},
	{"batches", func(ctx context.Context, api cli.API, s *story) (string, error) {
		b := api.(interface {
			ApproveMany(ctx context.Context, refs []string, allSubmitted bool) ([]*service.Decision, []service.RefError, error)
			IssueMany(ctx context.Context, refs []string, allApproved, resend bool) ([]*service.Authorisation, []service.RefError, error)
			DownloadMany(ctx context.Context, ins []service.DownloadInput) ([]service.DownloadOutcome, error)
		})
		res, err := api.Apply(ctx, []service.Application{application(), application()}, false)
		if err != nil {
			return "", err
		}
		done, failed, err := b.ApproveMany(ctx, []string{res[0].Ref, "20260101-AAAAAAAA", res[1].Ref}, false)
		if err != nil {
			return "", err
		}
		out := fmt.Sprintf("approved %d failed %d (exit %d)", len(done), len(failed), cli.ExitCode(failed[0].Err))
		auths, failed, err := b.IssueMany(ctx, nil, true, false)
		if err != nil {
			return "", err
		}
		out += fmt.Sprintf("; issued %d failed %d", len(auths), len(failed))
		outs, err := b.DownloadMany(ctx, []service.DownloadInput{
			{Ref: auths[0].Ref, Passcode: auths[0].Passcode, CSR: s.csr2(), Storage: ra.StorageSoft},
			{Ref: auths[1].Ref, Passcode: "AAAA-BBBB-CCCC-DDDD-EEEE", CSR: s.csr2(), Storage: ra.StorageSoft},
		})
		if err != nil {
			return "", err
		}
		_, perr := x509.ParseCertificate(outs[0].Issued.Certificate)
		return out + fmt.Sprintf("; downloaded %v, exit %d", perr == nil, cli.ExitCode(outs[1].Err)), nil
	}, 0, "approved 2 failed 1 (exit 3); issued 2 failed 0; downloaded true, exit 5"},
	{"crl", func(ctx context.Context, api cli.API, s *story) (string, error) {
		r, err := api.CRL(ctx, service.CRLOptions{})
		if err != nil {
			return "", err
		}
		s.crlPath = r.DERPath
		return fmt.Sprintf("number %d entries %d reused %v", r.Number, r.Entries, r.Reused), nil
	}, 0, "number 1 entries 0 reused false"},
	{"check crl", func(ctx context.Context, api cli.API, s *story) (string, error) {
		der, err := os.ReadFile(s.crlPath)
		if err != nil {
			return "", err
		}
		c, err := api.CheckCRL(ctx, der)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("known %v latest %v", c.Known, c.Latest), nil
	}, 0, "known true latest true"},
	{"check not a crl", func(ctx context.Context, api cli.API, s *story) (string, error) {
		_, err := api.CheckCRL(ctx, []byte("hello"))
		return "", err
	}, 2, ""},
	{"audit", func(ctx context.Context, api cli.API, s *story) (string, error) {
		evs, err := api.Audit(ctx, store.AuditFilter{Ref: s.ref, Since: time.Now().Add(-time.Hour)})
		if err != nil {
			return "", err
		}
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
		}
		return strings.Join(acts, ","), nil
	}, 0, "apply,approve,issue,passcode-failed,download"},
	{"verify audit", func(ctx context.Context, api cli.API, s *story) (string, error) {
		r, err := api.VerifyAudit(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ok %v", r.OK), nil
	}, 0, "ok true"},
	{"ca certificate", func(ctx context.Context, api cli.API, s *story) (string, error) {
		p, err := api.CACertificate()
		if err != nil {
			return "", err
		}
		cs, err := ca.ParseCertificatesPEM(p)
		if err != nil {
			return "", err
		}
		return cs[0].Subject.CommonName, nil
	}, 0, "Test CA"},
	{"config", func(ctx context.Context, api cli.API, s *story) (string, error) {
		c := api.Config()
		return fmt.Sprintf("%d profiles %s four-eyes %v ttl %s", len(c.Profiles), c.AcceptancePoints[0].Name, api.Policy().FourEyes, c.Policy.PasscodeTTL), nil
	}, 0, "3 profiles online four-eyes false ttl 336h0m0s"},
}

// TestRemoteNamesThePrincipal: the server records the authenticated
// caller, never the name a client passes.
func TestRemoteNamesThePrincipal(t *testing.T) {
	ctx := context.Background()
	api := backends(t)["remote"]
	res, err := api.Apply(ctx, []service.Application{application()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Approve(ctx, res[0].Ref); err != nil {
		t.Fatal(err)
	}
	d, err := api.Status(ctx, res[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	if d.Request.SubmittedBy != "alice" || d.Request.DecidedBy != "alice" {
		t.Errorf("submitted by %q, decided by %q; want the principal alice", d.Request.SubmittedBy, d.Request.DecidedBy)
	}
}

func TestAPIConformance(t *testing.T) {
	// The local caller, as the CLI puts it in the context; the remote one
	// comes from the server's AuthFunc.
	ctx := principal.With(context.Background(), principal.LocalOperator("alice"))
	bs := backends(t)
	stories := map[string]*story{"local": {}, "remote": {}}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, errs := map[string]string{}, map[string]error{}
			for name, api := range bs {
				out, err := st.run(ctx, api, stories[name])
				if code := cli.ExitCode(err); code != st.wantExit {
					t.Errorf("%s: exit %d (%v); want %d", name, code, err, st.wantExit)
				}
				got[name], errs[name] = out, err
			}
			if got["local"] != got["remote"] {
				t.Errorf("local %q, remote %q; want the same", got["local"], got["remote"])
			}
			// A failure reads the same in Chinese from the server as
			// from the home: the server sends its message's catalogue
			// format and arguments (format, args).
			if errs["local"] != nil && errs["remote"] != nil {
				local, remote := zhText(errs["local"]), zhText(errs["remote"])
				t.Logf("zh: %s", local)
				if local != remote {
					t.Errorf("in Chinese, local %q, remote %q; want the same", local, remote)
				}
			}
			if got["local"] != st.want {
				t.Errorf("local %q; want %q", got["local"], st.want)
			}
			if errs["local"] != nil && errs["remote"] != nil {
				local, remote := enText(errs["local"]), enText(errs["remote"])
				if local != remote {
					t.Errorf("in English, local %q, remote %q; want the same", local, remote)
				}
			}
			checkNoCLIWording(t, errs["remote"])
			if hint := cliHints[st.name]; hint != "" {
				for _, tag := range []language.Tag{msg.English, msg.Chinese} {
					if s := cli.ErrorText(errs["remote"], tag); !strings.Contains(s, hint) {
						t.Errorf("%v: CLI text %q; want the remedy %q", tag, s, hint)
					}
				}
			}
		})
	}
}

// cliHints: the command line's remedy its text must hold, from the code's
// catalogue text (the service's message has none).
var cliHints = map[string]string{
	"status unknown":         "cmca review --state all",
	"issue again":            "--resend",
	"download wrong storage": "--storage soft",
	"download, another key":  "cmca reissue --ref",
}

// cliWording matches a cmca command or a command-line flag.
var cliWording = regexp.MustCompile("`cmca |(^|[\\s(])--[a-z]")

// checkNoCLIWording: what a remote client reads of an error (its message,
// a field's message, a batch's items) names no cmca command or flag; the
// command line renders its remedies from the code.
func checkNoCLIWording(t *testing.T, err error) {
	t.Helper()
	var e *api.Error
	if err == nil {
		return
	}
	if !errors.As(err, &e) {
		t.Errorf("remote error %T %v; want an *api.Error", err, err)
		return
	}
	texts := []string{e.Message, e.Params["msg"]}
	for _, it := range e.Items {
		texts = append(texts, it.Error)
	}
	for _, s := range texts {
		if cliWording.MatchString(s) {
			t.Errorf("API message %q (code %s) names a cmca command or flag", s, e.Code)
		}
	}
}

// enText is an error's message in English as the CLI shows it,
// references and serials replaced by X.
func enText(err error) string {
	return refOrSerial.ReplaceAllString(cli.ErrorText(err, msg.English), "X")
}

// refOrSerial matches the references and serials, which differ between
// the two backends.
var refOrSerial = regexp.MustCompile(`\b(\d{8}-[0-9A-Z]{8}|[0-9a-f]{32})\b`)

// zhText is an error's message in Chinese, references and serials
// replaced by X.
func zhText(err error) string {
	return refOrSerial.ReplaceAllString(cli.ErrorText(err, msg.Chinese), "X")
}

// TestConcurrentRemoteDownloadsOnePasscode: 16 clients with 16 keys race
// one passcode over HTTPS; exactly one gets a certificate, every other gets
// exit 4, and the CA issued one certificate.
func TestConcurrentRemoteDownloadsOnePasscode(t *testing.T) {
	ctx := principal.With(context.Background(), principal.LocalOperator("alice"))
	svc := newTestService(t)
	srv := httptest.NewTLSServer(server.NewServer(svc, server.Options{}))
	t.Cleanup(srv.Close)
	cl, err := client.NewWithHTTPClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Apply(ctx, []service.Application{application()}, false)
	if err != nil {
		t.Fatal(err)
	}
	ref := res[0].Ref
	if _, err := svc.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	auth, err := svc.Issue(principal.With(ctx, principal.LocalOperator("bob")), ref, false)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cl.Download(ctx, service.DownloadInput{Ref: ref, Passcode: auth.Passcode, CSR: csr, Storage: ra.StorageSoft})
			codes <- cli.ExitCode(err)
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[0] != 1 || count[4] != n-1 {
		t.Errorf("exit codes %v; want one 0 and %d 4s", count, n-1)
	}
	cs, err := svc.Certificates(ctx, "", 0)
	if err != nil || len(cs) != 1 {
		t.Errorf("%d certificates (%v); want 1", len(cs), err)
	}
}
