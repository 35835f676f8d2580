package enroll

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

// Token is the part of a logged-in PKCS#11 session enrolment uses.
// *token.Session implements it.
type Token interface {
	Signer(ctx context.Context, id []byte) (crypto.Signer, error)
	GenerateKey(ctx context.Context, algo token.KeyAlgo, id []byte, label string) (crypto.Signer, error)
	ImportCertificate(ctx context.Context, id []byte, label string, cert *x509.Certificate) error
	DeleteObjects(ctx context.Context, id []byte) error
}

var _ Token = (*token.Session)(nil)

// Key is the key pair being enrolled, kept where a rerun of an interrupted
// enrolment finds it again: on a token under an ID derived from the
// request (KeyID) or the old serial (RenewKeyID), or in a pending PKCS#12
// file beside the output, under the user's password.
type Key struct {
	Signer crypto.Signer
	// Reused is true for a key an earlier, interrupted run left: the CA
	// may have certified it.
	Reused bool

	tok Token // token keys
	id  []byte

	pending  string // software keys
	password []byte
}

// String says where the key is kept, for messages.
func (k *Key) String() string {
	if k.tok != nil {
		return fmt.Sprintf("from the token (key id %x)", k.id)
	}
	return k.pending
}

// ID is the CKA_ID of a token key; nil for a software key.
func (k *Key) ID() []byte { return k.id }

// Pending is the file a software key is kept in until its certificate is
// written; "" for a token key.
func (k *Key) Pending() string { return k.pending }

// TokenKey finds the key an interrupted run left on tok under id, or
// generates one there.
func TokenKey(ctx context.Context, tok Token, id []byte, label string, algo token.KeyAlgo) (*Key, error) {
	k := &Key{tok: tok, id: id}
	signer, err := tok.Signer(ctx, id)
	switch {
	case err == nil: // an interrupted run left its key: use it
		k.Signer, k.Reused = signer, true
	case errors.Is(err, ra.ErrNotFound):
		if k.Signer, err = tok.GenerateKey(ctx, algo, id, label); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return k, nil
}

// SoftKey reuses the key an interrupted run left in the file pending, or
// makes a new one and saves it there before anything is sent (PKCS#12 with
// a placeholder certificate, under password pw, mode 0600).
func SoftKey(pending string, pw []byte, algo token.KeyAlgo) (*Key, error) {
	k := &Key{pending: pending, password: pw}
	if fi, err := os.Lstat(pending); err == nil && !fi.Mode().IsRegular() {
		return nil, errorf("%s is not a regular file (a symbolic link?); cmca keeps pending keys only in files it made: remove it and run the command again: %w", pending, ra.ErrConflict)
	}
	if sk, err := token.ReadPKCS12(pending, pw); err == nil {
		k.Signer, k.Reused = sk.Signer, true
		return k, nil
	} else if !errors.Is(err, ra.ErrNotFound) {
		return nil, errorf("an interrupted run left %s; it needs the same password (or delete it to start over): %w", pending, err)
	}
	key, err := token.GenerateSoftKey(algo)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cmca pending key"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	placeholder, _ := x509.ParseCertificate(der)
	if err := token.WritePKCS12(pending, key, placeholder, nil, pw, false); err != nil {
		return nil, err
	}
	k.Signer = key
	return k, nil
}

// RenewKey finds the key of an interrupted renewal of h, or makes and
// keeps a new one: on h's token under RenewKeyID(h.Serial), or in out +
// ".pending" under h's password.
func RenewKey(ctx context.Context, h *Holder, out string, algo token.KeyAlgo) (*Key, error) {
	if h.Token == nil {
		return SoftKey(out+".pending", h.Password, algo)
	}
	label := fmt.Sprintf("%s renewed %s", h.Cert.Subject.CommonName, time.Now().Format(time.DateOnly))
	return TokenKey(ctx, h.Token, RenewKeyID(h.Serial), label, algo)
}

// Discard removes the key (and, on a token, anything else under its ID).
// Call it only when the CA certainly certified nothing for it.
func (k *Key) Discard(ctx context.Context) error {
	if k.tok != nil {
		return k.tok.DeleteObjects(ctx, k.id)
	}
	if err := os.Remove(k.pending); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// WritePKCS12 writes a software key with its certificate and chain to out
// (atomically, under the password the key was kept with) and removes the
// pending file. On error the pending file stays: a rerun delivers the
// certificate.
func (k *Key) WritePKCS12(out string, der []byte, chainDER [][]byte) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	chain, err := ParseChain(chainDER)
	if err != nil {
		return err
	}
	if err := token.WritePKCS12(out, k.Signer, cert, chain, k.password, true); err != nil {
		return err
	}
	os.Remove(k.pending)
	return nil
}

// StoreCertificate stores a token key's certificate under the key's ID.
func (k *Key) StoreCertificate(ctx context.Context, label string, der []byte) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	return k.tok.ImportCertificate(ctx, k.id, label, cert)
}

// StoreCA stores the issuing CA certificate (the first of chainDER) on a
// token key's token, under an ID derived from its serial.
func (k *Key) StoreCA(ctx context.Context, chainDER [][]byte) error {
	chain, err := ParseChain(chainDER)
	if err != nil || len(chain) == 0 {
		return err
	}
	caID := KeyID("ca:" + chain[0].SerialNumber.String())
	return k.tok.ImportCertificate(ctx, caID, "CA "+chain[0].Subject.CommonName, chain[0])
}

// ParseChain parses a DER chain returned by a download.
func ParseChain(ders [][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
