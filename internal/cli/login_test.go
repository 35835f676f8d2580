package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

func testCA(t *testing.T) *ca.CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SelfSigned(ca.RootOptions{CommonName: "CLI Test CA", Validity: 24 * time.Hour, Now: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.New(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLogin: --login and its password come from flags, the environment or
// config; without a password source and without a terminal, the error
// names the flag and the variable; nothing named is no login.
func TestLogin(t *testing.T) {
	authority := testCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := authority.IssueOperator(key.Public(), "alice", time.Hour, ca.Extras{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p12, pwFile := filepath.Join(dir, "alice.p12"), filepath.Join(dir, "pw.txt")
	if err := token.WritePKCS12(p12, key, cert, nil, []byte("correct horse battery"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    string // CN, "" for no login
		wantErr string
	}{
		{name: "nothing named"},
		{name: "flags", args: []string{"login", p12, "login_password_file", pwFile}, want: "alice"},
		{name: "environment", env: map[string]string{"CMCA_LOGIN": p12, "CMCA_LOGIN_PASSWORD_FILE": pwFile}, want: "alice"},
		{name: "no password, no terminal", args: []string{"login", p12}, wantErr: "no login password given and no terminal to prompt on: pass --login-password-file FILE (or - for stdin) or set CMCA_LOGIN_PASSWORD_FILE"},
		{name: "wrong password", args: []string{"login", p12, "login_password_file", p12}, wantErr: "password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CMCA_LOGIN", "")
			t.Setenv("CMCA_LOGIN_PASSWORD_FILE", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f, _, _ := testFactory(t, false, nil, tt.args...)
			defer f.Close()
			l, err := f.Login(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ExitCode(err) == ExitOK {
					t.Fatalf("Login() = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login() = %v", err)
			}
			got := ""
			if l != nil {
				got = l.Leaf.Subject.CommonName
			}
			if got != tt.want {
				t.Errorf("Login() logs in as %q; want %q", got, tt.want)
			}
		})
	}
}

func TestCAFetch(t *testing.T) {
	authority := testCA(t)
	der := authority.Cert.Raw
	sum := sha256.Sum256(der)
	hexSum := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ca.crt":
			w.Write(der)
		case "/garbage":
			w.Write([]byte("<html>hello</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name, url, fp string
		code          int
		wantErr       string
	}{
		{"openssl form", srv.URL, "SHA256 Fingerprint=" + Fingerprint(der), ExitOK, ""},
		{"bare hex", srv.URL + "/", hexSum, ExitOK, ""},
		{"sha256: prefix, upper case", srv.URL + "/ca.crt", "sha256:" + strings.ToUpper(hexSum), ExitOK, ""},
		{"wrong fingerprint", srv.URL, strings.Repeat("ab", 32), ExitAuth, "has SHA-256 fingerprint " + Fingerprint(der) + ", not the one given"},
		{"short fingerprint", srv.URL, "abcd", ExitUsage, "is not a SHA-256 fingerprint"},
		{"no fingerprint", srv.URL, "", ExitUsage, "--fingerprint is required"},
		{"not a URL", "ca.example.com", hexSum, ExitUsage, "is not an http or https URL"},
		{"not there", srv.URL + "/nope.crt", hexSum, ExitNotFound, "no CA certificate there"},
		{"not a certificate", srv.URL + "/garbage", hexSum, ExitUsage, "not a certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, out, _ := testFactory(t, false, nil)
			o := &CAFetchOptions{F: f, URL: tt.url, Fingerprint: tt.fp, Out: filepath.Join(t.TempDir(), "server-ca.pem")}
			err := caFetchRun(context.Background(), o)
			if code := ExitCode(err); code != tt.code || (tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ca fetch = %v (exit %d); want exit %d containing %q", err, code, tt.code, tt.wantErr)
			}
			data, rerr := os.ReadFile(o.Out)
			if tt.code != ExitOK {
				if rerr == nil {
					t.Errorf("%s was written after a failed fetch", o.Out)
				}
				return
			}
			certs, err := ca.ParseCertificatesPEM(data)
			if err != nil || !certs[0].Equal(authority.Cert) {
				t.Fatalf("saved %q (%v); want the CA certificate", data, err)
			}
			if !strings.Contains(out.String(), "saved to "+o.Out) {
				t.Errorf("output %q", out.String())
			}
			// An existing file is not replaced without --force.
			if err := caFetchRun(context.Background(), o); !errors.Is(err, ra.ErrConflict) {
				t.Errorf("second fetch to the same file = %v; want a conflict", err)
			}
		})
	}
}
