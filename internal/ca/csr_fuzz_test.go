package ca

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// FuzzCheckCSR feeds arbitrary DER to the CSR path of a download: parse,
// then CheckCSR against the default "auth" profile. It must never panic; a
// refusal must be ErrInvalid (malformed, badly signed, weak hash) or
// ErrPolicy (key not allowed); and whatever it accepts must really be
// self-signed with a strong algorithm by a key the profile allows. Seeds
// (testdata/fuzz/FuzzCheckCSR) hold good ECDSA and RSA CSRs, a SHA-1
// signed one, an RSA-1024 one, one with a broken signature and garbage.
func FuzzCheckCSR(f *testing.F) {
	prof := DefaultProfiles()[0]
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return // Download refuses it as ErrInvalid before CheckCSR
		}
		desc, err := CheckCSR(csr, &prof)
		if err != nil {
			if !errors.Is(err, ra.ErrInvalid) && !errors.Is(err, ra.ErrPolicy) {
				t.Fatalf("CheckCSR error %v is neither ErrInvalid nor ErrPolicy", err)
			}
			return
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("CheckCSR accepted a CSR whose signature does not verify: %v", err)
		}
		if weakCSRAlgorithms[csr.SignatureAlgorithm] {
			t.Fatalf("CheckCSR accepted a CSR signed with %v", csr.SignatureAlgorithm)
		}
		if !prof.AllowsKey(desc) || desc != KeyDescription(csr.PublicKey) {
			t.Fatalf("CheckCSR accepted key %q the profile does not allow (%v)", desc, prof.KeyAlgos)
		}
		if k, ok := csr.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
			t.Fatalf("CheckCSR accepted an RSA-%d key", k.N.BitLen())
		}
	})
}
