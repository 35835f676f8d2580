package token

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/msg"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cmca/cmca/internal/pkcs12"
	"github.com/cmca/cmca/internal/ra"
)

// MinPasswordLen is the shortest PKCS#12 password accepted for a new file.
const MinPasswordLen = 8

// CheckNewPassword rejects passwords too weak to protect a private key.
func CheckNewPassword(pw []byte) error {
	if len(pw) < MinPasswordLen {
		return ra.Fieldf("password", "the PKCS#12 password needs at least %d characters", MinPasswordLen)
	}
	return nil
}

// EncodePKCS12 encodes key, certificate and chain with modern encryption
// (PBES2 with AES-256-CBC and PBKDF2, HMAC-SHA-256 MAC), readable by
// OpenSSL 3 and current browsers and mail clients. The key bag and the
// certificate's bag carry the same localKeyID (the certificate's SHA-1
// fingerprint) and friendlyName (FriendlyName(cert)), so NSS shows a
// nickname and Java an alias instead of "1".
func EncodePKCS12(key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, password []byte) ([]byte, error) {
	data, err := pkcs12.Modern.WithFriendlyName(FriendlyName(cert)).Encode(key, cert, chain, string(password))
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return data, nil
}

// FriendlyName is the name cmca gives a certificate and its key in a
// PKCS#12 file (the friendlyName attribute; NSS's nickname, Java's alias,
// Windows' friendly name): the subject's common name and the serial in
// lower-case hex, as cmca prints it, "张三 57cfc04288a341de08660bdec207507e".
// The serial keeps renewed certificates of one person apart. Without a
// common name the first e-mail address, DNS name or "cmca" stands in;
// control characters are dropped.
func FriendlyName(cert *x509.Certificate) string {
	name := cert.Subject.CommonName
	switch {
	case name != "":
	case len(cert.EmailAddresses) > 0:
		name = cert.EmailAddresses[0]
	case len(cert.DNSNames) > 0:
		name = cert.DNSNames[0]
	default:
		name = "cmca"
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	return strings.TrimSpace(name) + " " + ra.SerialString(cert.SerialNumber)
}

// WritePKCS12 writes a PKCS#12 file atomically with mode 0600. It refuses
// to replace an existing file unless overwrite is set.
func WritePKCS12(path string, key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, password []byte, overwrite bool) error {
	data, err := EncodePKCS12(key, cert, chain, password)
	if err != nil {
		return err
	}
	return WriteSecretFile(path, data, overwrite)
}

// WriteSecretFile writes data to path as a secret file (mode 0600) through
// internal/atomicfile: a random temporary name, fsync, rename; never through
// a symlink. It refuses to replace an existing file unless overwrite is set.
func WriteSecretFile(path string, data []byte, overwrite bool) error {
	err := atomicfile.Write(path, data, atomicfile.Options{Overwrite: overwrite})
	if errors.Is(err, atomicfile.ErrExist) {
		return msg.Errorf("%s already exists; choose another --out or pass --force: %w", path, ra.ErrConflict)
	}
	if errors.Is(err, atomicfile.ErrSymlink) {
		return msg.Errorf("%s is a symbolic link; cmca does not write a key through one (remove it or choose another --out): %w", path, ra.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SoftKey is a key and certificate read from a PKCS#12 file.
type SoftKey struct {
	Signer crypto.Signer
	Cert   *x509.Certificate
	Chain  []*x509.Certificate
}

// ReadPKCS12 opens a PKCS#12 file. A wrong password is ra.ErrAuth.
func ReadPKCS12(path string, password []byte) (*SoftKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, msg.Errorf("%s does not exist: %w", path, ra.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, string(password))
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, msg.Errorf("wrong password for %s: %w", path, ra.ErrAuth)
	}
	if err != nil {
		return nil, msg.Errorf("read %s: %v: %w", path, err, ra.ErrInvalid)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, msg.Errorf("%s holds an unsupported key type %T: %w", path, key, ra.ErrInvalid)
	}
	return &SoftKey{Signer: s, Cert: cert, Chain: chain}, nil
}
