package enroll

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
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// The in-process service and the HTTP client both run enrolments.
var (
	_ API = (*service.Service)(nil)
	_ API = (*client.Client)(nil)
)

// fakeAPI is a CA that signs every CSR with a throwaway key, or refuses
// with err, and remembers the keys it certified.
type fakeAPI struct {
	err       error // returned by Download and Renew when set
	issued    map[string]bool
	notIssued bool // Renew: a request for review, nothing issued
	renewIn   service.RenewInput
	caKey     crypto.Signer
	caCert    *x509.Certificate
}

func newFakeAPI(t *testing.T) *fakeAPI {
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
	return &fakeAPI{issued: map[string]bool{}, caKey: key, caCert: cert}
}

func (a *fakeAPI) sign(csrDER []byte) (*service.Issued, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("bad CSR: %w", ra.ErrInvalid)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", ra.ErrInvalid)
	}
	spki := string(csr.RawSubjectPublicKeyInfo)
	retrieved := a.issued[spki]
	a.issued[spki] = true
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(len(a.issued) + 1)), Subject: pkix.Name{CommonName: "张三"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.caCert, csr.PublicKey, a.caKey)
	if err != nil {
		return nil, err
	}
	return &service.Issued{Serial: fmt.Sprint(len(a.issued) + 1), Retrieved: retrieved, Certificate: der, Chain: [][]byte{a.caCert.Raw}}, nil
}

func (a *fakeAPI) Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error) {
	if a.err != nil {
		return nil, a.err
	}
	return a.sign(in.CSR)
}

func (a *fakeAPI) Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error) {
	a.renewIn = in
	if a.err != nil {
		return nil, a.err
	}
	if a.notIssued {
		return &service.RenewResult{Ref: "R", State: ra.StateSubmitted, OldSerial: in.Serial}, nil
	}
	iss, err := a.sign(in.CSR)
	if err != nil {
		return nil, err
	}
	return &service.RenewResult{Ref: "R", State: ra.StateCompleted, OldSerial: in.Serial, Issued: iss}, nil
}

func (a *fakeAPI) CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error) {
	if a.issued[string(spki)] {
		return &ra.Certificate{}, nil
	}
	return nil, fmt.Errorf("no certificate for this key: %w", ra.ErrNotFound)
}

// fakeToken is a token holding keys by CKA_ID.
type fakeToken struct {
	keys    map[string]crypto.Signer
	certs   map[string]*x509.Certificate
	deleted int
}

func newFakeToken() *fakeToken {
	return &fakeToken{keys: map[string]crypto.Signer{}, certs: map[string]*x509.Certificate{}}
}

func (t *fakeToken) Signer(ctx context.Context, id []byte) (crypto.Signer, error) {
	if k, ok := t.keys[string(id)]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key %x: %w", id, ra.ErrNotFound)
}

func (t *fakeToken) GenerateKey(ctx context.Context, algo token.KeyAlgo, id []byte, label string) (crypto.Signer, error) {
	k, err := token.GenerateSoftKey(algo)
	if err == nil {
		t.keys[string(id)] = k
	}
	return k, err
}

func (t *fakeToken) ImportCertificate(ctx context.Context, id []byte, label string, cert *x509.Certificate) error {
	t.certs[string(id)] = cert
	return nil
}

func (t *fakeToken) DeleteObjects(ctx context.Context, id []byte) error {
	delete(t.keys, string(id))
	delete(t.certs, string(id))
	t.deleted++
	return nil
}

var pw = []byte("correct horse battery")

// TestDownloadSoft: the key is kept in the pending file before the CA is
// asked; a refusal removes a fresh key; an error of unknown outcome keeps
// it; a rerun reuses it and the result is written with the key.
func TestDownloadSoft(t *testing.T) {
	errLost := errors.New("cannot reach the server: connection reset")
	tests := []struct {
		name        string
		err         error
		wantPending bool
	}{
		{"issued", nil, false},
		{"refused", fmt.Errorf("wrong passcode: %w", ra.ErrAuth), false},
		{"unknown outcome", errLost, true},
		{"cancelled", context.Canceled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "me.p12")
			api := newFakeAPI(t)
			api.err = tt.err
			k, err := SoftKey(out+".pending", pw, token.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			if k.Reused {
				t.Errorf("SoftKey() on a fresh directory: Reused = true")
			}
			if _, err := os.Stat(out + ".pending"); err != nil {
				t.Fatalf("the key was not kept before the CA was asked: %v", err)
			}
			e := &Enroller{API: api}
			iss, err := e.Download(context.Background(), k, service.DownloadInput{Ref: "R", Passcode: "P"})
			if !errors.Is(err, tt.err) {
				t.Fatalf("Download() = %v; want %v", err, tt.err)
			}
			if err == nil {
				if err := k.WritePKCS12(out, iss.Certificate, iss.Chain); err != nil {
					t.Fatal(err)
				}
				sk, err := token.ReadPKCS12(out, pw)
				if err != nil {
					t.Fatal(err)
				}
				if !sk.Signer.Public().(*ecdsa.PublicKey).Equal(k.Signer.Public()) || len(sk.Chain) != 1 {
					t.Errorf("me.p12 holds another key or no chain")
				}
			}
			_, serr := os.Stat(out + ".pending")
			if got := serr == nil; got != tt.wantPending {
				t.Errorf("pending key kept = %v; want %v", got, tt.wantPending)
			}
		})
	}
}

// TestRetryGetsSameCertificateForSameKey: a run that died after the CA
// signed leaves its key; the rerun reuses it, and a refusal in between (a
// mistyped passcode) does not delete the key of an issued certificate.
func TestRetryGetsSameCertificateForSameKey(t *testing.T) {
	ctx := context.Background()
	for _, where := range []string{"soft", "token"} {
		t.Run(where, func(t *testing.T) {
			api := newFakeAPI(t)
			tok := newFakeToken()
			pending := filepath.Join(t.TempDir(), "me.p12.pending")
			newKey := func() *Key {
				var k *Key
				var err error
				if where == "soft" {
					k, err = SoftKey(pending, pw, token.ECDSAP256)
				} else {
					k, err = TokenKey(ctx, tok, KeyID("R"), "label", token.ECDSAP256)
				}
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			e := &Enroller{API: api}
			k1 := newKey()
			if _, err := e.Download(ctx, k1, service.DownloadInput{Ref: "R"}); err != nil {
				t.Fatal(err)
			} // ... and the process dies before writing
			api.err = fmt.Errorf("passcode already used: %w", ra.ErrConflict)
			k2 := newKey()
			if !k2.Reused {
				t.Fatalf("the rerun made a new key")
			}
			if _, err := e.Download(ctx, k2, service.DownloadInput{Ref: "R"}); !errors.Is(err, ra.ErrConflict) {
				t.Fatalf("Download() = %v; want the refusal", err)
			}
			api.err = nil
			k3 := newKey()
			if !k3.Reused {
				t.Fatalf("a refusal deleted the key of an issued certificate")
			}
			iss, err := e.Download(ctx, k3, service.DownloadInput{Ref: "R"})
			if err != nil {
				t.Fatal(err)
			}
			if !iss.Retrieved {
				t.Errorf("the rerun did not get the recorded certificate (Retrieved = false)")
			}
			if where == "token" {
				if err := k3.StoreCertificate(ctx, "label", iss.Certificate); err != nil {
					t.Fatal(err)
				}
				if len(tok.keys) != 1 || tok.deleted != 0 || tok.certs[string(KeyID("R"))] == nil {
					t.Errorf("token holds %d keys (deleted %d), certificate under the key's ID: %v; want 1, 0, true",
						len(tok.keys), tok.deleted, tok.certs[string(KeyID("R"))] != nil)
				}
			}
		})
	}
}

// TestRenewProvesPossession: the renewal carries a proof by the current
// key over the new key's CSR, which ca.VerifyPossession accepts; outside
// the window the new key is discarded.
func TestRenewProvesPossession(t *testing.T) {
	ctx := context.Background()
	for _, review := range []bool{false, true} {
		t.Run(fmt.Sprintf("review=%v", review), func(t *testing.T) {
			api := newFakeAPI(t)
			api.notIssued = review
			old, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			tok := newFakeToken()
			h := &Holder{Cert: &x509.Certificate{Subject: pkix.Name{CommonName: "张三"}}, Signer: old, Serial: "1f", Token: tok}
			k, err := RenewKey(ctx, h, "", token.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			res, err := (&Enroller{API: api}).Renew(ctx, h, k, "note")
			if err != nil {
				t.Fatal(err)
			}
			in := api.renewIn
			if err := ca.VerifyPossession(old.Public(), "renew", "1f", in.SignedAt, in.CSR, in.Proof); err != nil {
				t.Errorf("the proof does not verify: %v", err)
			}
			if in.Serial != "1f" || in.Comment != "note" {
				t.Errorf("RenewInput = %+v; want serial 1f, comment note", in)
			}
			_, kept := tok.keys[string(RenewKeyID("1f"))]
			if kept != !review || (res.Issued == nil) != review {
				t.Errorf("new key kept = %v, issued = %v; want %v, %v", kept, res.Issued != nil, !review, !review)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", ra.ErrAuth), true},
		{fmt.Errorf("x: %w", ra.ErrConflict), true},
		{fmt.Errorf("x: %w", ra.ErrNotFound), true},
		{fmt.Errorf("x: %w", ra.ErrPolicy), true},
		{fmt.Errorf("x: %w", ra.ErrInvalid), true},
		{errors.New("connection reset"), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := Refused(tt.err); got != tt.want {
			t.Errorf("Refused(%q) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

// TestSoftKeyRefusesLink: a pending path that is not a regular file made
// by cmca is refused, not followed.
func TestSoftKeyRefusesLink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "me.p12.pending")
	if err := os.Symlink(filepath.Join(dir, "victim"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := SoftKey(link, pw, token.ECDSAP256); !errors.Is(err, ra.ErrConflict) {
		t.Errorf("SoftKey(symlink) = %v; want ra.ErrConflict", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "victim")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SoftKey followed the link")
	}
}

// stuckToken cannot delete objects.
type stuckToken struct{ *fakeToken }

func (stuckToken) DeleteObjects(ctx context.Context, id []byte) error {
	return errors.New("CKR_TOKEN_WRITE_PROTECTED")
}

// TestDiscardFailureWarns: a refused download whose fresh key cannot be
// removed still returns the refusal, and says what was left behind.
func TestDiscardFailureWarns(t *testing.T) {
	ctx := context.Background()
	api := newFakeAPI(t)
	api.err = fmt.Errorf("wrong passcode: %w", ra.ErrAuth)
	k, err := TokenKey(ctx, stuckToken{newFakeToken()}, KeyID("R"), "label", token.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	e := &Enroller{API: api, Warn: func(msg string) { warned = append(warned, msg) }}
	if _, err := e.Download(ctx, k, service.DownloadInput{Ref: "R"}); !errors.Is(err, ra.ErrAuth) {
		t.Fatalf("Download() = %v; want the refusal", err)
	}
	want := fmt.Sprintf("could not remove the unused key from the token (key id %x): CKR_TOKEN_WRITE_PROTECTED", KeyID("R"))
	if len(warned) != 1 || warned[0] != want {
		t.Errorf("warnings = %q; want [%q]", warned, want)
	}
}
