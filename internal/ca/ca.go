// Package ca owns the certificate authority: its certificate and signing
// key, the certificate profiles, issuance and CRLs. It knows nothing of
// requests or storage; the caller decides what may be signed.
package ca

import (
	"crypto"
	"crypto/dsa"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/msg"
	"math/big"
	"os"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// CA is a certificate and the signer for its key.
type CA struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
	// Chain holds the certificates above Cert (for a sub-CA), nearest first.
	Chain []*x509.Certificate
}

// New checks that signer holds the key of cert and that cert may sign
// certificates and CRLs.
func New(cert *x509.Certificate, signer crypto.Signer, chain []*x509.Certificate) (*CA, error) {
	if !publicKeysEqual(cert.PublicKey, signer.Public()) {
		return nil, msg.Errorf("the CA key does not match the CA certificate %q: %w", cert.Subject.CommonName, ra.ErrInvalid)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, msg.Errorf("%q is not a CA certificate (basicConstraints cA is not set): %w", cert.Subject.CommonName, ra.ErrInvalid)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, msg.Errorf("%q may not sign certificates (keyUsage lacks keyCertSign): %w", cert.Subject.CommonName, ra.ErrInvalid)
	}
	return &CA{Cert: cert, Signer: signer, Chain: chain}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// RootOptions describe a new self-signed CA.
type RootOptions struct {
	CommonName   string
	Organization string
	Country      string
	Validity     time.Duration
	Now          time.Time
}

// SelfSigned makes a self-signed CA certificate for signer.
func SelfSigned(o RootOptions, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	ski, err := SubjectKeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	subj := pkix.Name{CommonName: o.CommonName}
	if o.Organization != "" {
		subj.Organization = []string{o.Organization}
	}
	if o.Country != "" {
		subj.Country = []string{o.Country}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subj,
		NotBefore:             o.Now.Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:              o.Now.Add(o.Validity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// No pathLenConstraint: a root carries none (CA/B Forum BR
		// 7.1.2.1.4; zlint w_root_ca_basic_constraints_path_len_constraint_field_present).
		MaxPathLen:     -1,
		SubjectKeyId:   ski,
		AuthorityKeyId: ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// NewSerial draws a positive serial number of 128 random bits (RFC 5280
// allows up to 20 octets; CA/B Forum asks for at least 64 random bits).
func NewSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f // positive in DER without a padding byte...
	b[0] |= 0x40 // ...and always 16 octets long
	return new(big.Int).SetBytes(b), nil
}

// SubjectKeyID is the RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of
// the subjectPublicKey bit string.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// KeyDescription names a public key the way users write key algorithms
// ("ecdsa-p256", "rsa-2048").
func KeyDescription(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "ecdsa-p256"
		case 384:
			return "ecdsa-p384"
		case 521:
			return "ecdsa-p521"
		}
		return "ecdsa-" + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	case *dsa.PublicKey:
		return "dsa"
	case *ecdh.PublicKey:
		return "ecdh"
	}
	return fmt.Sprintf("%T", pub)
}

// WritePEM writes certificates to path as PEM.
func WritePEM(path string, perm os.FileMode, blocks ...*pem.Block) error {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return atomicfile.Write(path, out, atomicfile.Options{Mode: perm, Overwrite: true})
}

// ParseCertificatesPEM reads every CERTIFICATE block of a PEM file.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return out, nil
}

// ParsePrivateKeyPEM reads a PKCS#8, PKCS#1 or SEC 1 private key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block found")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported: decrypt it with `openssl pkey` into a 0600 file, or keep the key on a PKCS#11 token")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
}
