package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/zmap/zlint/v3/lint"
)

// TestOCSPSignerLint: the delegated OCSP responder certificate carries
// id-kp-OCSPSigning, digitalSignature and ocsp-nocheck, chains to the CA,
// and is clean for the RFC 5280 lints, for EC and RSA issuers.
func TestOCSPSignerLint(t *testing.T) {
	reg := lintRegistry(t, lint.RFC5280, lint.RFC5480, lint.RFC3279)
	for name, caKey := range map[string]crypto.Signer{"ca-p256": mustP256(t), "ca-rsa": getLintKeys(t)["rsa-2048"]} {
		t.Run(name, func(t *testing.T) {
			authority := newLintCA(t, caKey)
			now := time.Now()
			cert, err := authority.IssueOCSPSigner(mustP256(t).Public(), 30*24*time.Hour, now)
			if err != nil {
				t.Fatalf("IssueOCSPSigner: %v", err)
			}
			if p := lintProblems(t, cert.Raw, reg); len(p) > 0 {
				t.Errorf("lint problems:\n  %s", strings.Join(p, "\n  "))
			}
			if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
				t.Errorf("ExtKeyUsage = %v; want OCSPSigning only", cert.ExtKeyUsage)
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v; want digitalSignature", cert.KeyUsage)
			}
			noCheck := false
			for _, e := range cert.Extensions {
				if e.Id.Equal(oidOCSPNoCheck) {
					noCheck = !e.Critical
				}
			}
			if !noCheck {
				t.Error("no non-critical id-pkix-ocsp-nocheck extension")
			}
			if err := cert.CheckSignatureFrom(authority.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if got := cert.NotAfter.Sub(cert.NotBefore); got != 30*24*time.Hour {
				t.Errorf("lifetime %s; want 720h", got)
			}
		})
	}
}

func TestOCSPSignerValidityRange(t *testing.T) {
	authority := newLintCA(t, mustP256(t))
	for _, v := range []time.Duration{0, -time.Hour, MaxOCSPSignerValidity + time.Hour} {
		if _, err := authority.IssueOCSPSigner(mustP256(t).Public(), v, time.Now()); !errors.Is(err, ra.ErrInvalid) {
			t.Errorf("IssueOCSPSigner(validity %s) = %v; want ErrInvalid", v, err)
		}
	}
}
