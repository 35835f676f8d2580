package service

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ocsp"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// OCSPSignerFile is the delegated OCSP signer's key and certificate
// (0600), in the home.
const OCSPSignerFile = "ocsp/signer.pem"

// Defaults of the OCSP configuration keys.
const (
	DefaultOCSPValidity       = 24 * time.Hour
	DefaultOCSPSignerValidity = 30 * 24 * time.Hour
	DefaultOCSPMaxAge         = 5 * time.Minute
	// OCSPRevisionPoll bounds how long a revocation made by another
	// process (`cmca revoke` on the home, another `cmca serve` on the
	// store) can go unseen by a responder's cache; one made through the
	// responder's own service shows at the next request.
	OCSPRevisionPoll = time.Second
)

// ocspStore adapts the store to what the responder needs.
type ocspStore struct{ *store.Store }

func (o ocspStore) PutOCSPResponse(ctx context.Context, r *store.OCSPResponse) error {
	return o.Tx(ctx, func(tx *store.Tx) error { return tx.PutOCSPResponse(r) })
}

func (o ocspStore) OCSPStale(ctx context.Context, hash string, now, due time.Time, limit int) ([]store.OCSPCertificate, error) {
	var out []store.OCSPCertificate
	err := o.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.OCSPStale(hash, now, due, limit)
		return err
	})
	return out, err
}

// OCSP is the home's OCSP responder: mount Responder (or Responder.Wrap)
// at ocsp.Path, and run Run in the background.
type OCSP struct {
	Responder *ocsp.Responder
	File      ocsp.SignerFile
	Issue     ocsp.IssueFunc
	log       *slog.Logger
}

// NewOCSP makes the responder for the home's CA. It reads the CA
// certificate only; the CA key is asked for when the signer needs
// (re)issuing, through the service's CA loader, which a running server
// has already loaded (a token PIN is asked once, at start).
func (s *Service) NewOCSP(logger *slog.Logger) (*OCSP, error) {
	pemData, err := s.CACertificate()
	if err != nil {
		return nil, msg.Errorf("read CA certificate: %w", err)
	}
	certs, err := ca.ParseCertificatesPEM(pemData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	r, err := ocsp.New(ocsp.Options{Issuer: certs[0], Store: ocspStore{s.store}, Validity: s.cfg.OCSPValidity,
		MaxAge: s.cfg.OCSPMaxAge, RevisionPoll: OCSPRevisionPoll, Now: func() time.Time { return s.Now() }, Logger: logger})
	if err != nil {
		return nil, err
	}
	validity := s.cfg.OCSPSignerValidity
	if validity <= 0 {
		validity = DefaultOCSPSignerValidity
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &OCSP{Responder: r, File: ocsp.SignerFile{Path: filepath.Join(s.home, OCSPSignerFile)}, log: logger}
	o.Issue = func(ctx context.Context, pub crypto.PublicKey) (*x509.Certificate, error) {
		authority, err := s.CA(ctx)
		if err != nil {
			return nil, err
		}
		cert, err := authority.IssueOCSPSigner(pub, validity, s.Now())
		if err != nil {
			return nil, err
		}
		serial := ra.SerialString(cert.SerialNumber)
		if err := s.store.Tx(ctx, func(tx *store.Tx) error {
			// Recorded like every certificate the CA key signs: OCSP
			// answers for it too (relying parties need not ask: it
			// carries ocsp-nocheck).
			if err := tx.InsertServiceCert(serviceCertFrom(cert, store.PurposeOCSPSigner)); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "system", Action: "ocsp-signer", Serial: serial,
				Detail: "not_after=" + cert.NotAfter.UTC().Format(time.RFC3339)})
		}); err != nil {
			return nil, err
		}
		s.checkpoint(ctx, authority) // the CA key signed: anchor the log
		return cert, nil
	}
	return o, nil
}

// Start makes sure a signer is in place (signing one with the CA key if
// needed) and then keeps it rotated and the responses fresh in the
// background until ctx ends.
func (o *OCSP) Start(ctx context.Context, interval time.Duration) error {
	if _, err := o.Responder.EnsureSigner(ctx, o.File, o.Issue); err != nil {
		return err
	}
	go func() {
		if _, err := o.Responder.Warm(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("ocsp: warm the cache", "err", err)
		}
		o.Responder.Run(ctx, o.File, o.Issue, interval)
	}()
	return nil
}
