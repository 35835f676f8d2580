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

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

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

func requestSnapshot(t *testing.T, s *Service, ref string) storeSnapshot {
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
	s, _ := newTestService(t)
	ref, code := issued(t, s)
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
			before := requestSnapshot(t, s, ref)
			_, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: code, CSR: tc.csr})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Download(%s) = %v; want %v", tc.name, err, tc.want)
			}
			if after := requestSnapshot(t, s, ref); after != before {
				t.Errorf("Download(%s) changed the store: %+v -> %+v", tc.name, before, after)
			}
		})
	}
	// The passcode still works for a good CSR afterwards.
	if _, err := s.Download(context.Background(), DownloadInput{Ref: ref, Passcode: code, CSR: good}); err != nil {
		t.Fatalf("Download(good CSR) after refusals = %v; want success", err)
	}
}
