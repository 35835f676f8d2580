// Package token owns the places private keys live: software keys written to
// password-protected PKCS#12 files, and keys generated on PKCS#11 tokens.
// Wherever a key lives, callers get a crypto.Signer.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"

	"github.com/cmca/cmca/internal/ra"
)

// KeyAlgo names a key type and size as users write it.
type KeyAlgo string

const (
	ECDSAP256 KeyAlgo = "ecdsa-p256"
	ECDSAP384 KeyAlgo = "ecdsa-p384"
	RSA2048   KeyAlgo = "rsa-2048"
	RSA3072   KeyAlgo = "rsa-3072"
)

// KeyAlgos lists the accepted algorithms, for help text and validation.
var KeyAlgos = []KeyAlgo{ECDSAP256, ECDSAP384, RSA2048, RSA3072}

// ParseKeyAlgo validates a user-supplied algorithm name.
func ParseKeyAlgo(s string) (KeyAlgo, error) {
	for _, a := range KeyAlgos {
		if string(a) == s {
			return a, nil
		}
	}
	return "", ra.Fieldf("key_algo", "unknown key algorithm %q; use one of %v", s, KeyAlgos)
}

// GenerateSoftKey makes a software key of the given algorithm.
func GenerateSoftKey(a KeyAlgo) (crypto.Signer, error) {
	switch a {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, ra.Fieldf("key_algo", "unknown key algorithm %q", a)
}
