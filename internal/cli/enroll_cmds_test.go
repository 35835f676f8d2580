package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// parseCmd runs cmd on args with its run function replaced, and returns
// the error of flag parsing and argument checks.
func parseCmd(t *testing.T, cmd *cobra.Command, args ...string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

func TestNewCmdDownload(t *testing.T) {
	tests := []struct {
		args    []string
		want    DownloadOptions
		wantErr bool
	}{
		{args: []string{"--ref", "R1", "--passcode-file", "c.txt", "--out", "me.p12", "--password-file", "pw.txt"},
			want: DownloadOptions{Ref: "R1", PasscodeFile: "c.txt", Out: "me.p12", PasswordFile: "pw.txt", KeyAlgo: "ecdsa-p256", WithCA: true}},
		{args: []string{"--ref", "R1", "--storage", "usbkey", "--token-label", "My Key", "--pin-file", "pin.txt", "--with-ca=false", "--key-algo", "rsa-2048"},
			want: DownloadOptions{Ref: "R1", Storage: "usbkey", KeyAlgo: "rsa-2048", Token: tokenFlags{Label: "My Key", PINFile: "pin.txt"}}},
		{args: []string{"--ref", "R1", "--out", "x.p12", "--force", "--token", "pkcs11:token=A"},
			want: DownloadOptions{Ref: "R1", Out: "x.p12", Force: true, KeyAlgo: "ecdsa-p256", WithCA: true, Token: tokenFlags{URI: "pkcs11:token=A"}}},
		{args: []string{"R1"}, wantErr: true},
		{args: []string{"--no-such-flag"}, wantErr: true},
	}
	for _, tt := range tests {
		f, _, _ := testFactory(t, false, nil)
		var got *DownloadOptions
		err := parseCmd(t, NewCmdDownload(f, func(o *DownloadOptions) error { got = o; return nil }), tt.args...)
		if (err != nil) != tt.wantErr {
			t.Errorf("download %q: error %v; want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.IO == nil || got.API == nil || got.Secret == nil || got.OpenToken == nil {
			t.Errorf("download %q: dependencies not filled in", tt.args)
		}
		got.IO, got.API, got.Secret, got.OpenToken = nil, nil, nil, nil
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("download %q: options = %+v; want %+v", tt.args, *got, tt.want)
		}
	}
}

func TestNewCmdRenewRevokeReissue(t *testing.T) {
	type rec struct {
		renew   *RenewOptions
		revoke  *RevokeOptions
		reissue *ReissueOptions
	}
	tests := []struct {
		cmd     string
		args    []string
		check   func(r rec) bool
		wantErr string
	}{
		{cmd: "renew", args: []string{"--p12", "me.p12", "--password-file", "pw.txt", "--out", "new.p12", "--comment", "hi"},
			check: func(r rec) bool {
				return r.renew.P12 == "me.p12" && r.renew.PasswordFile == "pw.txt" && r.renew.Out == "new.p12" && r.renew.Comment == "hi" && r.renew.RenewWindow != nil
			}},
		{cmd: "renew", args: []string{"--token-label", "K", "--serial", "1f", "--key-algo", "rsa-2048"},
			check: func(r rec) bool {
				return r.renew.Token.Label == "K" && r.renew.Serial == "1f" && r.renew.KeyAlgo == "rsa-2048" && r.renew.OpenToken != nil
			}},
		{cmd: "renew", args: []string{"--out", "x.p12"}, wantErr: "name the certificate to renew"},
		{cmd: "revoke", args: []string{"--serial", "1f", "--reason", "keyCompromise", "--direct", "--comment", "court order"},
			check: func(r rec) bool {
				return r.revoke.Serial == "1f" && r.revoke.Reason == "keyCompromise" && r.revoke.Direct && r.revoke.Comment == "court order"
			}},
		{cmd: "revoke", args: []string{"--p12", "me.p12", "--reason", "superseded"},
			check: func(r rec) bool { return r.revoke.P12 == "me.p12" && !r.revoke.Direct && r.revoke.API != nil }},
		{cmd: "revoke", args: []string{"--serial", "1f"}, wantErr: "--reason is required"},
		{cmd: "revoke", args: []string{"--reason", "superseded"}, wantErr: "name the certificate"},
		{cmd: "reissue", args: []string{"--ref", "R1", "--reason", "lost", "--comment", "c"},
			check: func(r rec) bool {
				return r.reissue.Ref == "R1" && r.reissue.Reason == "lost" && r.reissue.Comment == "c" && r.reissue.API != nil
			}},
		{cmd: "reissue", args: []string{"--ref", "R1", "--serial", "1f", "--reason", "lost"}, wantErr: "exactly one of --serial or --ref"},
		{cmd: "reissue", args: []string{"--serial", "1f"}, wantErr: "--reason is required"},
	}
	for _, tt := range tests {
		f, _, _ := testFactory(t, false, nil)
		var r rec
		var cmd *cobra.Command
		switch tt.cmd {
		case "renew":
			cmd = NewCmdRenew(f, func(o *RenewOptions) error { r.renew = o; return nil })
		case "revoke":
			cmd = NewCmdRevoke(f, func(o *RevokeOptions) error { r.revoke = o; return nil })
		case "reissue":
			cmd = NewCmdReissue(f, func(o *ReissueOptions) error { r.reissue = o; return nil })
		}
		err := parseCmd(t, cmd, tt.args...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ExitCode(err) != ExitUsage {
				t.Errorf("%s %q: error %v (exit %d); want a usage error containing %q", tt.cmd, tt.args, err, ExitCode(err), tt.wantErr)
			}
			if r != (rec{}) {
				t.Errorf("%s %q: ran despite the usage error", tt.cmd, tt.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tt.cmd, tt.args, err)
			continue
		}
		if !tt.check(r) {
			t.Errorf("%s %q: options %+v", tt.cmd, tt.args, r)
		}
	}
}

// fakeRA is the RA/CA the behaviour tests run the commands against: it
// signs every CSR with a throwaway CA, or refuses with err.
type fakeRA struct {
	storage ra.Storage
	err     error
	issued  map[string]bool
	key     *ecdsa.PrivateKey
	cert    *x509.Certificate
	renew   service.RenewInput
	revoke  service.RevokeInput
	reissue service.ReissueInput
}

func newFakeRA(t *testing.T) *fakeRA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fakeRA{storage: ra.StorageSoft, issued: map[string]bool{}, key: key, cert: cert}
}

func (a *fakeRA) sign(csrDER []byte) (*service.Issued, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	a.issued[string(csr.RawSubjectPublicKeyInfo)] = true
	n := int64(len(a.issued) + 16)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: "张三"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, csr.PublicKey, a.key)
	if err != nil {
		return nil, err
	}
	return &service.Issued{Ref: "R1", Serial: fmt.Sprintf("%x", n), Subject: "CN=张三", Storage: a.storage, Certificate: der, Chain: [][]byte{a.cert.Raw}}, nil
}

func (a *fakeRA) Status(ctx context.Context, ref string) (*service.RequestDetail, error) {
	return &service.RequestDetail{Request: &ra.Request{Ref: ref, Storage: a.storage}}, nil
}

func (a *fakeRA) Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error) {
	if a.err != nil {
		return nil, a.err
	}
	return a.sign(in.CSR)
}

func (a *fakeRA) Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error) {
	a.renew = in
	if a.err != nil {
		return nil, a.err
	}
	iss, err := a.sign(in.CSR)
	if err != nil {
		return nil, err
	}
	return &service.RenewResult{Ref: "R2", State: ra.StateCompleted, OldSerial: in.Serial, AutoApprove: true, Issued: iss}, nil
}

func (a *fakeRA) CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error) {
	if a.issued[string(spki)] {
		return &ra.Certificate{}, nil
	}
	return nil, ra.ErrNotFound
}

func (a *fakeRA) Revoke(ctx context.Context, in service.RevokeInput) (*service.RevokeResult, error) {
	a.revoke = in
	return &service.RevokeResult{Ref: "R3", State: ra.StateSubmitted, Serial: in.Serial, Reason: in.Reason}, nil
}

func (a *fakeRA) Reissue(ctx context.Context, in service.ReissueInput) (*service.RevokeResult, error) {
	a.reissue = in
	if a.err != nil {
		return nil, a.err
	}
	return &service.RevokeResult{Ref: "R4", State: ra.StateSubmitted, Serial: in.Serial, Reason: in.Reason}, nil
}

const testPassword = "correct horse battery"

// noToken fails the test if a command opens a token.
func noToken(t *testing.T) func(context.Context, *tokenFlags) (*token.Session, error) {
	return func(context.Context, *tokenFlags) (*token.Session, error) {
		t.Errorf("a token was opened")
		return nil, errors.New("no token")
	}
}

func secretsFrom(t *testing.T, f *Factory) func(secret) ([]byte, error) {
	return func(s secret) ([]byte, error) {
		if s.File == "" {
			t.Errorf("secret %q asked for without a file", s.What)
		}
		return f.readSecret(s)
	}
}

func TestDownloadRun(t *testing.T) {
	tests := []struct {
		name     string
		storage  string
		err      error
		output   []string // viper settings
		wantExit int
		wantOut  string
		wantP12  bool
	}{
		{name: "issued", wantOut: "Certificate issued\n  serial:   11\n", wantP12: true},
		{name: "quiet", output: []string{"quiet", "true"}, wantOut: "11\n", wantP12: true},
		{name: "json", output: []string{"output", "json"}, wantOut: `"location": "`, wantP12: true},
		{name: "wrong passcode", err: fmt.Errorf("wrong passcode: %w", ra.ErrAuth), wantExit: ExitAuth},
		{name: "other storage", storage: "usbkey", wantExit: ExitUsage},
		{name: "lost connection", err: errors.New("cannot reach the server"), wantExit: ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pwFile := filepath.Join(dir, "pw.txt")
			os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600)
			f, out, _ := testFactory(t, false, nil, tt.output...)
			api := newFakeRA(t)
			api.err = tt.err
			o := newDownloadOptions(f)
			o.API = func(context.Context) (downloadAPI, error) { return api, nil }
			o.OpenToken = noToken(t)
			o.Secret = secretsFrom(t, f)
			o.Ref, o.Passcode, o.Storage, o.Out, o.PasswordFile, o.KeyAlgo = "R1", "AAAA-BBBB-CCCC-DDDD-EEEE", tt.storage, filepath.Join(dir, "me.p12"), pwFile, "ecdsa-p256"
			err := downloadRun(context.Background(), o)
			if got := ExitCode(err); got != tt.wantExit {
				t.Fatalf("downloadRun() = %v (exit %d); want exit %d", err, got, tt.wantExit)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q; want %q", out, tt.wantOut)
			}
			sk, rerr := token.ReadPKCS12(o.Out, []byte(testPassword))
			if (rerr == nil) != tt.wantP12 {
				t.Errorf("me.p12 readable = %v (%v); want %v", rerr == nil, rerr, tt.wantP12)
			}
			if rerr == nil && (sk.Cert == nil || len(sk.Chain) != 1) {
				t.Errorf("me.p12 lacks its certificate or chain")
			}
			_, perr := os.Stat(o.Out + ".pending")
			wantPending := tt.wantExit == ExitError // unknown outcome: keep the key for a retry
			if (perr == nil) != wantPending {
				t.Errorf("me.p12.pending exists = %v; want %v", perr == nil, wantPending)
			}
		})
	}
}

// writeHolder writes a PKCS#12 with a certificate and its key.
func writeHolder(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1f), Subject: pkix.Name{CommonName: "张三"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := token.WritePKCS12(path, key, cert, nil, []byte(testPassword), false); err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestRenewRunSoft: renew proves possession with the current key, keeps
// the new key beside --out until the certificate is written, and writes
// the renewed PKCS#12 under the same password.
func TestRenewRunSoft(t *testing.T) {
	dir := t.TempDir()
	p12, pwFile := filepath.Join(dir, "me.p12"), filepath.Join(dir, "pw.txt")
	os.WriteFile(pwFile, []byte(testPassword), 0o600)
	old := writeHolder(t, p12)
	f, out, _ := testFactory(t, false, nil)
	api := newFakeRA(t)
	o := &RenewOptions{IO: f, API: func(context.Context) (enroll.API, error) { return api, nil }, Secret: secretsFrom(t, f), OpenToken: noToken(t),
		RenewWindow: func() string { return "30 days" }, P12: p12, PasswordFile: pwFile, Comment: "note"}
	if err := renewRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	in := api.renew
	if err := ca.VerifyPossession(old.PublicKey, "renew", "1f", in.SignedAt, in.CSR, in.Proof); err != nil || in.Serial != "1f" || in.Comment != "note" {
		t.Errorf("RenewInput %+v: proof %v", in, err)
	}
	renewed := filepath.Join(dir, "me-renewed.p12")
	sk, err := token.ReadPKCS12(renewed, []byte(testPassword))
	if err != nil {
		t.Fatalf("renewed file: %v", err)
	}
	if sk.Signer.Public().(*ecdsa.PublicKey).Equal(old.PublicKey) {
		t.Errorf("the renewal kept the old key")
	}
	if _, err := os.Stat(renewed + ".pending"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending key is still there: %v", err)
	}
	if want := "Renewed inside the renewal window (request R2).\n  new serial: 11\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("output %q; want it to start with %q", out, want)
	}
}

// TestRevokeRunProof: with --p12 the revocation request is signed with the
// certificate's key; with --serial alone it carries no proof.
func TestRevokeRunProof(t *testing.T) {
	dir := t.TempDir()
	p12, pwFile := filepath.Join(dir, "me.p12"), filepath.Join(dir, "pw.txt")
	os.WriteFile(pwFile, []byte(testPassword), 0o600)
	old := writeHolder(t, p12)
	for _, withKey := range []bool{true, false} {
		f, out, _ := testFactory(t, false, nil)
		api := newFakeRA(t)
		o := &RevokeOptions{IO: f, API: func(context.Context) (revokeAPI, error) { return api, nil }, Secret: secretsFrom(t, f), OpenToken: noToken(t),
			Reason: "keyCompromise", Serial: "1f"}
		if withKey {
			o.P12, o.PasswordFile = p12, pwFile
		}
		if err := revokeRun(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		in := api.revoke
		if withKey {
			if err := ca.VerifyPossession(old.PublicKey, "revoke", "1f", in.SignedAt, []byte("keyCompromise"), in.Proof); err != nil {
				t.Errorf("revoke --p12: proof does not verify: %v", err)
			}
		} else if in.Proof != nil {
			t.Errorf("revoke --serial: a proof without a key")
		}
		if want := "Revocation request R3 submitted for certificate 1f (keyCompromise).\n"; !strings.HasPrefix(out.String(), want) {
			t.Errorf("output %q; want %q", out, want)
		}
	}
	f, _, _ := testFactory(t, false, nil)
	err := revokeRun(context.Background(), &RevokeOptions{IO: f, Reason: "certificateHold", Serial: "1f",
		API: func(context.Context) (revokeAPI, error) { t.Error("asked the CA about a bad reason"); return nil, nil }})
	if ExitCode(err) != ExitUsage {
		t.Errorf("revoke --reason certificateHold = %v; want a usage error", err)
	}
}

func TestReissueRun(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		output   []string
		wantOut  string
		wantExit int
	}{
		{name: "human", wantOut: "Reissue request R4 submitted for certificate 1f (lost).\n"},
		{name: "quiet", output: []string{"quiet", "true"}, wantOut: "R4\n"},
		{name: "json", output: []string{"output", "json"}, wantOut: `"ref": "R4"`},
		{name: "refused", err: fmt.Errorf("already revoked: %w", ra.ErrConflict), wantExit: ExitConflict},
	}
	for _, tt := range tests {
		f, out, _ := testFactory(t, false, nil, tt.output...)
		api := newFakeRA(t)
		api.err = tt.err
		o := &ReissueOptions{IO: f, API: func(context.Context) (reissueAPI, error) { return api, nil }, Serial: "1f", Reason: "lost", Comment: "c"}
		err := reissueRun(context.Background(), o)
		if ExitCode(err) != tt.wantExit {
			t.Errorf("%s: reissueRun() = %v; want exit %d", tt.name, err, tt.wantExit)
		}
		if !strings.Contains(out.String(), tt.wantOut) {
			t.Errorf("%s: output %q; want %q", tt.name, out, tt.wantOut)
		}
		if api.reissue != (service.ReissueInput{Serial: "1f", Reason: "lost", Comment: "c"}) {
			t.Errorf("%s: ReissueInput = %+v", tt.name, api.reissue)
		}
	}
}
