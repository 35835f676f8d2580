package enroll

import (
	"context"
	"crypto"
	"crypto/x509"
	"sort"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/token"
)

// Holder is a certificate and the key that proves possession of it: in a
// PKCS#12 file (Password set) or on a token (Token set).
type Holder struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
	Serial string
	// token holders
	Token      Token
	ID         []byte
	TokenLabel string
	// software holders
	Password []byte
	Chain    []*x509.Certificate
}

// HolderFromPKCS12 is the certificate and key in a PKCS#12 file.
func HolderFromPKCS12(path string, pw []byte) (*Holder, error) {
	sk, err := token.ReadPKCS12(path, pw)
	if err != nil {
		return nil, err
	}
	if sk.Cert == nil {
		return nil, errorf("%s holds no certificate: %w", path, ra.ErrInvalid)
	}
	return &Holder{Cert: sk.Cert, Signer: sk.Signer, Serial: ra.SerialString(sk.Cert.SerialNumber), Password: pw, Chain: sk.Chain}, nil
}

// TokenHolder is the certificate with this serial on s, or the newest one
// whose key is there when serial is "".
func TokenHolder(ctx context.Context, s *token.Session, serial string) (*Holder, error) {
	certs, err := TokenCertificates(ctx, s)
	if err != nil {
		return nil, err
	}
	var pick *token.Object
	for i := range certs {
		if serial == "" || ra.SerialString(certs[i].Certificate.SerialNumber) == serial {
			pick = &certs[i]
			break
		}
	}
	if pick == nil {
		if serial != "" {
			return nil, errorf("token %s holds no certificate with serial %s and its key: %w", s.Info().Label, serial, ra.ErrNotFound)
		}
		return nil, errorf("token %s holds no certificate with its key: %w", s.Info().Label, ra.ErrNotFound)
	}
	signer, err := s.Signer(ctx, pick.ID)
	if err != nil {
		return nil, err
	}
	return &Holder{Cert: pick.Certificate, Signer: signer, Serial: ra.SerialString(pick.Certificate.SerialNumber), Token: s, ID: pick.ID, TokenLabel: s.Info().Label}, nil
}

// TokenCertificates lists the certificates on a token whose private key is
// also there, newest first.
func TokenCertificates(ctx context.Context, s *token.Session) ([]token.Object, error) {
	objs, err := s.Objects(ctx)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, o := range objs {
		if o.Class == "private-key" {
			keys[string(o.ID)] = true
		}
	}
	var out []token.Object
	for _, o := range objs {
		if o.Class == "certificate" && o.Certificate != nil && keys[string(o.ID)] && !o.Certificate.IsCA {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Certificate.NotBefore.After(out[j].Certificate.NotBefore) })
	return out, nil
}

// Prove signs a proof of possession of h's key for action on payload (the
// statement ca.SignPossession defines), dated now by the test-aware clock
// to the second.
func (h *Holder) Prove(action string, payload []byte) (at time.Time, proof []byte, err error) {
	at = testhook.Clock()().UTC().Truncate(time.Second)
	proof, err = ca.SignPossession(h.Signer, action, h.Serial, at, payload)
	return at, proof, err
}
