package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/ca"
)

// IssueFunc has the CA sign a delegated OCSP signing certificate for pub.
// It needs the CA key: a running server passes its loaded CA (which may
// live on a token whose PIN was given at start).
type IssueFunc func(ctx context.Context, pub crypto.PublicKey) (*x509.Certificate, error)

// SignerFile keeps the delegated signer's key and certificate in one PEM
// file (mode 0600), written atomically, so that key and certificate never
// disagree after a crash.
type SignerFile struct {
	Path string
}

// LoadSigner reads the signer file. A missing file gives fs.ErrNotExist.
func (f SignerFile) LoadSigner() (*Signer, error) {
	fi, err := os.Stat(f.Path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o); run `chmod 600 %s`", f.Path, fi.Mode().Perm(), f.Path)
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	key, err := ca.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := certs[0].PublicKey.(equaler); !ok || !k.Equal(key.Public()) {
		return nil, fmt.Errorf("%s: the key does not match the certificate", f.Path)
	}
	return &Signer{Cert: certs[0], Key: key}, nil
}

// needsNew reports why s cannot go on signing for issuer at now ("" if it
// can): it is missing, not issued by this CA, or has less than a third of
// its lifetime left.
func needsNew(s *Signer, issuer *x509.Certificate, now time.Time) string {
	switch {
	case s == nil:
		return "no signer"
	case s.Cert.CheckSignatureFrom(issuer) != nil:
		return "signer certificate not issued by this CA"
	case now.Before(s.Cert.NotBefore):
		return "signer certificate not yet valid"
	case s.Cert.NotAfter.Sub(now) < s.Cert.NotAfter.Sub(s.Cert.NotBefore)/3:
		return "signer certificate has less than a third of its lifetime left"
	}
	return ""
}

// EnsureSigner makes sure the responder has a signer that can sign for the
// next while: it loads the signer file, and if the signer there is missing,
// for another CA or has less than a third of its lifetime left, generates
// a new P-256 key, has issue sign its certificate and writes the file. It
// reports why it rotated ("" if it did not).
func (r *Responder) EnsureSigner(ctx context.Context, f SignerFile, issue IssueFunc) (string, error) {
	now := r.o.Now()
	cur := r.signer.Load()
	if needsNew(cur, r.o.Issuer, now) != "" {
		// Another responder sharing the home may have rotated already.
		s, err := f.LoadSigner()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.o.Logger.Warn("ocsp: signer file unusable; signing a new one", "err", err)
		}
		if err == nil && needsNew(s, r.o.Issuer, now) == "" {
			r.signer.Store(s)
			return "", nil
		}
	}
	why := needsNew(r.signer.Load(), r.o.Issuer, now)
	if why == "" {
		return "", nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("OCSP signer key: %w", err)
	}
	cert, err := issue(ctx, key.Public())
	if err != nil {
		return "", fmt.Errorf("issue OCSP signer certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return "", err
	}
	if err := atomicfile.Write(f.Path, data, atomicfile.Options{Mode: 0o600, Overwrite: true}); err != nil {
		return "", fmt.Errorf("write OCSP signer: %w", err)
	}
	r.signer.Store(&Signer{Cert: cert, Key: key})
	r.o.Logger.Info("ocsp: new signer", "why", why, "serial", cert.SerialNumber.Text(16), "not_after", cert.NotAfter)
	return why, nil
}

// Refresh signs the responses that are missing (SHA-1 CertIDs, what
// clients send by default) or past half their validity, in batches, and
// reports how many it signed.
func (r *Responder) Refresh(ctx context.Context) (int, error) {
	const batch = 256
	n := 0
	for {
		now := r.o.Now()
		stale, err := r.o.Store.OCSPStale(ctx, "sha1", now, now.Add(r.o.Validity/2), batch)
		if err != nil {
			return n, err
		}
		for i := range stale {
			c := &stale[i]
			h := hashByName(c.Response.Hash)
			serial, ok := parseSerial(c.Serial)
			if h == 0 || !ok {
				continue
			}
			der, st, err := r.sign(serial, h, c, now, nil)
			if err != nil {
				return n, err
			}
			if err := r.o.Store.PutOCSPResponse(ctx, storeResponse(c.Serial, c.Response.Hash, c.Status, st, der)); err != nil {
				return n, err
			}
			n++
		}
		if len(stale) < batch || ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// Run keeps the signer rotated and the pre-signed responses fresh until ctx
// ends, checking every interval.
func (r *Responder) Run(ctx context.Context, f SignerFile, issue IssueFunc, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.EnsureSigner(ctx, f, issue); err != nil {
			r.o.Logger.Error("ocsp: rotate signer", "err", err)
		}
		if n, err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.o.Logger.Error("ocsp: refresh responses", "err", err)
		} else if n > 0 {
			r.o.Logger.Info("ocsp: signed responses ahead", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
