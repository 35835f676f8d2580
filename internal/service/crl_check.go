package service

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"math/big"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// CRLCheck is what `cmca crl --check` found in a CRL file.
type CRLCheck struct {
	Number     int64     `json:"number"`
	BaseNumber int64     `json:"base_number,omitempty"` // set for a delta CRL
	Issuer     string    `json:"issuer"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	Entries    int       `json:"entries"`
	// Known: the file is byte for byte the CRL this CA's store recorded
	// under that number. False for a CRL signed with the CA key but not
	// recorded here (e.g. before a restore from an older backup).
	Known bool `json:"known"`
	// Latest: no newer CRL of the same kind (full or delta) was signed.
	Latest bool `json:"latest"`
	// Expired: nextUpdate has passed (CheckCRL also returns an error).
	Expired bool `json:"expired"`
}

// crlClockSkew is how far in the future a thisUpdate may lie before a CRL
// is refused, to tolerate clocks a little apart.
const crlClockSkew = 5 * time.Minute

// oidDeltaCRLIndicator is id-ce-deltaCRLIndicator (RFC 5280 §5.2.4).
var oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}

// CheckCRL verifies a CRL file (DER or PEM) against this CA: it parses, it
// is issued by the CA certificate (name and authority key identifier), the
// signature verifies with the CA's public key, thisUpdate is not in the
// future and nextUpdate has not passed. If the store holds a CRL of the
// same number, the file must be that CRL byte for byte. A CRL failing a
// check is ra.ErrInvalid, except an expired one: ra.ErrConflict, with the
// result filled in (it was good once; sign a fresh one with `cmca crl`).
// Needs no CA key.
func (s *Service) CheckCRL(ctx context.Context, data []byte) (*CRLCheck, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return nil, msg.Errorf("the file holds a PEM %q block, not an X509 CRL: %w", b.Type, ra.ErrInvalid)
		}
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, msg.Errorf("the file is not a CRL in DER or PEM (%v): %w", err, ra.ErrInvalid)
	}
	caPEM, err := s.CACertificate()
	if err != nil {
		return nil, msg.Errorf("read CA certificate: %w", err)
	}
	certs, err := ca.ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	caCert := certs[0]
	if !bytes.Equal(crl.RawIssuer, caCert.RawSubject) {
		return nil, msg.Errorf("the CRL is issued by %q, not by this CA %q: %w", ca.DistinguishedName(crl.RawIssuer), ca.DistinguishedName(caCert.RawSubject), ra.ErrInvalid)
	}
	if len(crl.AuthorityKeyId) > 0 && len(caCert.SubjectKeyId) > 0 && !bytes.Equal(crl.AuthorityKeyId, caCert.SubjectKeyId) {
		return nil, msg.Errorf("the CRL's authority key identifier %X is not this CA's %X (another CA of the same name?): %w", crl.AuthorityKeyId, caCert.SubjectKeyId, ra.ErrInvalid)
	}
	if err := crl.CheckSignatureFrom(caCert); err != nil {
		return nil, msg.Errorf("the CRL signature does not verify with the CA certificate (%v); the file is damaged or forged: %w", err, ra.ErrInvalid)
	}
	if crl.Number == nil {
		return nil, msg.Errorf("the CRL has no CRL number (RFC 5280 §5.2.3): %w", ra.ErrInvalid)
	}
	if crl.NextUpdate.IsZero() {
		return nil, msg.Errorf("the CRL has no nextUpdate (RFC 5280 §5.1.2.5): %w", ra.ErrInvalid)
	}
	out := &CRLCheck{Number: crl.Number.Int64(), Issuer: ca.DistinguishedName(crl.RawIssuer), ThisUpdate: crl.ThisUpdate.UTC(), NextUpdate: crl.NextUpdate.UTC(),
		Entries: len(crl.RevokedCertificateEntries)}
	delta := false
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidDeltaCRLIndicator) {
			var base *big.Int
			if rest, err := asn1.Unmarshal(e.Value, &base); err != nil || len(rest) > 0 || base == nil {
				return nil, msg.Errorf("the CRL's delta CRL indicator is malformed: %w", ra.ErrInvalid)
			}
			out.BaseNumber, delta = base.Int64(), true
		}
	}
	now := s.Now()
	if crl.ThisUpdate.After(now.Add(crlClockSkew)) {
		return nil, msg.Errorf("the CRL's thisUpdate %s is in the future; check the clocks: %w", out.ThisUpdate.Format(time.RFC3339), ra.ErrInvalid)
	}
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		rec, err := tx.CRLByNumber(out.Number)
		if errors.Is(err, ra.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !crlBodyMatches(rec, der) {
			return msg.Errorf("the file's CRL number %d is not the CRL %d this CA signed at %s; a CRL number must never be signed twice: %w",
				out.Number, out.Number, rec.ThisUpdate.Format(time.RFC3339), ra.ErrInvalid)
		}
		out.Known = true
		latest, err := tx.LatestCRL(delta)
		if err != nil {
			return err
		}
		out.Latest = latest != nil && latest.Number == out.Number
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !now.Before(crl.NextUpdate) {
		out.Expired = true
		return out, msg.Errorf("CRL %d expired at its nextUpdate %s and relying parties reject it; sign a new CRL: %w", out.Number, out.NextUpdate.Format(time.RFC3339), ra.ErrConflict)
	}
	return out, nil
}
