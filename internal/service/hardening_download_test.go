package service

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// newHardeningService initialises a home in a temporary directory (real SQLite
// file, real CA key) and opens it.
func newHardeningService(t *testing.T) *Service {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if _, err := Init(ctx, home, InitOptions{CAName: "Unit Test CA", KeyAlgo: token.ECDSAP256, Validity: 5 * 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// hardeningIssued takes an application to the issued state.
func hardeningIssued(t *testing.T, s *Service) (ref, passcode string) {
	t.Helper()
	ctx := context.Background()
	res, err := s.Apply(as(ctx, "alice"), []Application{{
		Applicant: ra.Applicant{Name: "张三", IDType: ra.IDType("resident"), IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
		UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
	}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ref = res[0].Ref
	if _, err := s.Approve(as(ctx, "bob"), ref); err != nil {
		t.Fatal(err)
	}
	auth, err := s.Issue(as(ctx, "carol"), ref, false)
	if err != nil {
		t.Fatal(err)
	}
	return ref, auth.Passcode
}

func signedCSR(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, SignatureAlgorithm: alg}, key)
	if err != nil {
		t.Fatalf("create CSR (%v): %v", alg, err)
	}
	return der
}

// snapshot is what a refused download must leave untouched.
type storeSnapshot struct {
	audit    int
	state    ra.State
	attempts int
	certs    int
}

func hardeningSnapshot(t *testing.T, s *Service, ref string) storeSnapshot {
	t.Helper()
	ctx := context.Background()
	var sn storeSnapshot
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		evs, err := tx.AuditRecords(store.AuditFilter{})
		if err != nil {
			return err
		}
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		cs, err := tx.Certificates(store.CertFilter{})
		sn = storeSnapshot{len(evs), r.State, r.PasscodeAttempts, len(cs)}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestDownloadRefusesBadCSRs: malformed CSRs and weak keys are refused with
// their error class, before the passcode is looked at: no attempt is
// counted, nothing is signed, nothing is logged.
func TestDownloadRefusesBadCSRs(t *testing.T) {
	s := newHardeningService(t)
	ref, code := hardeningIssued(t, s)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := signedCSR(t, rsa2048, x509.SHA256WithRSA)
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-1] ^= 0xff // breaks the self-signature
	cases := []struct {
		name string
		csr  []byte
		want error
	}{
		{"garbage DER", []byte("\x30\x03\x02\x01\x05 not a CSR"), ra.ErrInvalid},
		{"empty", nil, ra.ErrInvalid},
		{"truncated", good[:len(good)/2], ra.ErrInvalid},
		{"bad self-signature", tampered, ra.ErrInvalid},
		{"SHA-1 signed", signedCSR(t, rsa2048, x509.SHA1WithRSA), ra.ErrInvalid},
		{"RSA-1024", signedCSR(t, rsa1024, x509.SHA256WithRSA), ra.ErrPolicy},
		{"P-521 not in the profile", signedCSR(t, p521, x509.ECDSAWithSHA512), ra.ErrPolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hardeningSnapshot(t, s, ref)
			_, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: code, CSR: tc.csr})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Download(%s) = %v; want %v", tc.name, err, tc.want)
			}
			if after := hardeningSnapshot(t, s, ref); after != before {
				t.Errorf("Download(%s) changed the store: %+v -> %+v", tc.name, before, after)
			}
		})
	}
	// The passcode still works for a good CSR afterwards.
	if _, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: code, CSR: good}); err != nil {
		t.Fatalf("Download(good CSR) after refusals = %v; want success", err)
	}
}

// TestDownloadPasscodes: unknown references, wrong, locked and expired
// passcodes, and a used one for another key, each with its class.
func TestDownloadPasscodes(t *testing.T) {
	ctx := context.Background()
	s := newHardeningService(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr := signedCSR(t, key, x509.ECDSAWithSHA256)

	ref, code := hardeningIssued(t, s)
	wrong := "AAAA-BBBB-CCCC-DDDD-EEEE"
	if wrong == code {
		wrong = "AAAA-BBBB-CCCC-DDDD-EEEF"
	}
	if _, err := s.Download(ctx, DownloadInput{Ref: "20260101-ZZZZZZZZ", Passcode: code, CSR: csr}); !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("Download(unknown ref) = %v; want ErrNotFound", err)
	}
	if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: "short", CSR: csr}); !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("Download(malformed passcode) = %v; want ErrInvalid", err)
	}
	max := s.Policy().MaxPasscodeAttempts
	for i := 1; i <= max; i++ {
		if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: wrong, CSR: csr}); !errors.Is(err, ra.ErrAuth) {
			t.Fatalf("Download(wrong passcode) #%d = %v; want ErrAuth", i, err)
		}
		if got := hardeningSnapshot(t, s, ref).attempts; got != i {
			t.Fatalf("after %d wrong passcodes the store counts %d", i, got)
		}
	}
	if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csr}); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("Download(right passcode, locked) = %v; want ErrAuth", err)
	}

	ref2, code2 := hardeningIssued(t, s)
	s.Now = func() time.Time { return time.Now().Add(s.Policy().PasscodeTTL + time.Hour) }
	if _, err := s.Download(ctx, DownloadInput{Ref: ref2, Passcode: code2, CSR: csr}); !errors.Is(err, ra.ErrAuth) {
		t.Errorf("Download(expired passcode) = %v; want ErrAuth", err)
	}
	s.Now = time.Now

	ref3, code3 := hardeningIssued(t, s)
	if _, err := s.Download(ctx, DownloadInput{Ref: ref3, Passcode: code3, CSR: csr}); err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := s.Download(ctx, DownloadInput{Ref: ref3, Passcode: code3, CSR: signedCSR(t, other, x509.ECDSAWithSHA256)}); !errors.Is(err, ra.ErrConflict) {
		t.Errorf("Download(used passcode, other key) = %v; want ErrConflict", err)
	}
	again, err := s.Download(ctx, DownloadInput{Ref: ref3, Passcode: code3, CSR: csr})
	if err != nil || !again.Retrieved {
		t.Errorf("Download(used passcode, same key) = %+v, %v; want the recorded certificate", again, err)
	}
	rep, err := s.Doctor(as(ctx, "auditor"))
	if err != nil || !rep.OK {
		t.Errorf("Doctor() = %+v, %v; want a consistent store", rep, err)
	}
}
