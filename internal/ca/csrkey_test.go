package ca

import (
	"crypto/dsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

// ed448CSR is `openssl req -new -newkey ed448 -subj /CN=x -outform DER`: a
// well-formed CSR whose key type Go (and cmca) does not support.
const ed448CSR = "MIHWMFgCAQAwDDEKMAgGA1UEAwwBeDBDMAUGAytlcQM6AO+POjGvTwH5sYqN3BFRvdqU5ih2Vo7GsAmAXudmQqfvlBY1iio00P5vRsxJuRZzqL28O5CisjSPAKAAMAUGAytlcQNzAAphZY0r4DPx/dGoFR0GXzf0kiV51APpzQNeEpGwygN3/KiO7G4riK3BewInEghSCPlvQnrWI0dIAIlvpWjNbLX3EJ4V5HYLdp7WM2nNOrizCqPSrqkkK9wdRpfht29gsiue+hXLwkTj5lJjJcjs7YMvAA=="

// TestCheckCSRUnsupportedKeyType: a CSR with a key type cmca cannot use is
// refused as an unsupported key (policy), naming what to use, not as a
// signature that "does not verify (algorithm unimplemented)".
func TestCheckCSRUnsupportedKeyType(t *testing.T) {
	der, _ := base64.StdEncoding.DecodeString(ed448CSR)
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCSRSignature(csr)
	if !errors.Is(err, ra.ErrPolicy) || !strings.Contains(err.Error(), "not supported") || !strings.Contains(err.Error(), "ECDSA P-256") {
		t.Errorf("CheckCSRSignature(Ed448 CSR) = %v; want a policy error saying the key type is not supported and what to use", err)
	}
}

// TestKeyDescriptionNamesKeyTypes: refusals name a key type as users know
// it ("ed25519"), never by its Go type ("ed25519.PublicKey").
func TestKeyDescriptionNamesKeyTypes(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got := KeyDescription(pub); got != "ed25519" {
		t.Errorf("KeyDescription(ed25519 key) = %q; want ed25519", got)
	}
	if got := KeyDescription(&dsa.PublicKey{}); got != "dsa" {
		t.Errorf("KeyDescription(DSA key) = %q; want dsa", got)
	}
}

// secp256k1CSR is `openssl req -new -newkey ec -pkeyopt
// ec_paramgen_curve:secp256k1 -subj /CN=x -outform DER`.
const secp256k1CSR = "MIHCMGsCAQAwDDEKMAgGA1UEAwwBeDBWMBAGByqGSM49AgEGBSuBBAAKA0IABGEZPpU4WGHT7qs7CONA7gI8+Nb7ks0SZnilmOBl115B09djjis8T26w3ginmBD4/AzjuAi2q7myfv9AH++g7cWgADAKBggqhkjOPQQDAgNHADBEAiBuTLj36qvwgsHhgEjrrm9JFT5SziQm8ZzA2S/TrVXCFAIgPwz5Jcf3JCIz6RJ/BAAYuJXdg1VX5kQ1M2GnIBIUHWI="

// TestParseCSRErrors: a CSR that cannot be used says why in words the
// sender can act on: empty, PEM where DER was wanted, a curve cmca does
// not support (a key refusal, like other unsupported keys), or not a
// PKCS#10 request at all.
func TestParseCSRErrors(t *testing.T) {
	k1, _ := base64.StdEncoding.DecodeString(secp256k1CSR)
	tests := []struct {
		name     string
		der      []byte
		class    error
		contains string
	}{
		{"empty", nil, ra.ErrInvalid, "the CSR is empty"},
		{"PEM", []byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"), ra.ErrInvalid, "PEM text; send its DER"},
		{"secp256k1", k1, ra.ErrPolicy, "elliptic curve cmca does not support; use P-256 or P-384"},
		{"garbage", []byte{0, 0, 0}, ra.ErrInvalid, "is not a DER PKCS#10 certificate request"},
	}
	for _, tt := range tests {
		_, err := ParseCSR(tt.der)
		if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("ParseCSR(%s) = %v; want %v saying %q", tt.name, err, tt.class, tt.contains)
		}
	}
	good, _ := base64.StdEncoding.DecodeString(ed448CSR) // parses; its key is refused later
	if _, err := ParseCSR(good); err != nil {
		t.Errorf("ParseCSR(Ed448 CSR) = %v; want it parsed", err)
	}
}
