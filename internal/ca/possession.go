package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// possessionDigest is what a certificate holder signs to prove it holds the
// key: a domain-separated statement binding the certificate, the time and
// the new CSR, so a proof cannot be replayed for another request or later.
func possessionDigest(action, serial string, at time.Time, payload []byte) []byte {
	p := sha256.Sum256(payload)
	msg := fmt.Sprintf("cmca-possession-v1\naction=%s\nserial=%s\nat=%s\npayload=%s\n", action, serial, at.UTC().Format(time.RFC3339), hex.EncodeToString(p[:]))
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

// SignPossession signs a proof of possession with the holder's key (on a
// token or in software).
func SignPossession(key crypto.Signer, action, serial string, at time.Time, payload []byte) ([]byte, error) {
	return key.Sign(rand.Reader, possessionDigest(action, serial, at, payload), crypto.SHA256)
}

// VerifyPossession checks a proof made by SignPossession against the public
// key of the holder's certificate.
func VerifyPossession(pub crypto.PublicKey, action, serial string, at time.Time, payload, sig []byte) error {
	d := possessionDigest(action, serial, at, payload)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, d, sig) {
			return nil
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, d, sig) == nil {
			return nil
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return errors.New("the proof of possession does not verify with the certificate's key")
}
