// Package enroll is client-side enrolment: the key pair is generated where
// it will live (a USB key token or a password-protected PKCS#12 file) and
// kept there before the CA is asked, a CSR and (for renewal) a proof of
// possession are made with it, and the certificate the CA returns is
// written next to the key. A run interrupted at any point is finished by
// running it again: the kept key is found, and the CA, which is idempotent
// for one key, returns the certificate it recorded.
//
// It runs the same against the in-process service and the HTTP client of
// `cmca serve`: it takes the RA/CA as the small API interface below. Only
// CSRs, proofs of possession and certificates cross it; keys never do.
package enroll

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/testhook"
)

// API is what enrolment needs from the RA/CA. *service.Service implements
// it in-process and *client.Client over HTTPS.
type API interface {
	Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error)
	Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error)
	CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error)
}

// Enroller runs enrolments against one API.
type Enroller struct {
	API API
	// Warn reports what went wrong but does not fail the enrolment (an
	// unused key that could not be removed); nil drops it.
	Warn func(msg string)
	// Refused reports whether an error certainly means nothing was issued,
	// so that a fresh key can be discarded; nil means the package's
	// Refused. A caller with error classes of its own (a usage error
	// raised while the CA loads its key) passes a wider test.
	Refused func(err error) bool
}

func (e *Enroller) warn(format string, a ...any) {
	if e.Warn != nil {
		e.Warn(fmt.Sprintf(format, a...))
	}
}

// Download collects the certificate of an issued request for key k: it
// sends a CSR made with k and returns what the CA issued (or, for a key an
// interrupted run already had certified, the recorded certificate, with
// Issued.Retrieved set). When the CA certainly issued nothing for k, k is
// discarded; after an error of unknown outcome (a lost connection) it is
// kept for the retry. Writing the certificate is the caller's next step
// (Key.WritePKCS12, Key.StoreCertificate).
func (e *Enroller) Download(ctx context.Context, k *Key, in service.DownloadInput) (*service.Issued, error) {
	testhook.Point("download:keygen")
	csr, err := CSR(k.Signer)
	if err != nil {
		e.discardUnsent(ctx, k)
		return nil, err
	}
	in.CSR = csr
	issued, err := e.API.Download(ctx, in)
	if err != nil {
		e.discardRefused(ctx, k, err)
		return nil, err
	}
	testhook.Point("download:issued")
	return issued, nil
}

// Renew asks the CA to certify k in place of h's certificate, proving
// possession of h's key. Inside the renewal window the result carries the
// new certificate; outside it, the renewal waits for review and k is
// discarded (download makes a fresh key after approval). As with Download,
// a refusal discards k and an error of unknown outcome keeps it.
func (e *Enroller) Renew(ctx context.Context, h *Holder, k *Key, comment string) (*service.RenewResult, error) {
	testhook.Point("renew:keygen")
	csr, err := CSR(k.Signer)
	if err != nil {
		e.discardUnsent(ctx, k)
		return nil, err
	}
	in := service.RenewInput{Serial: h.Serial, CSR: csr, Comment: comment}
	if in.SignedAt, in.Proof, err = h.Prove("renew", csr); err != nil {
		e.discardUnsent(ctx, k)
		return nil, errorf("sign the proof of possession with the current key: %w", err)
	}
	res, err := e.API.Renew(ctx, in)
	if err != nil {
		e.discardRefused(ctx, k, err)
		return nil, err
	}
	if res.Issued == nil {
		e.discard(ctx, k)
		return res, nil
	}
	testhook.Point("renew:issued")
	return res, nil
}

// discardRefused removes k after the CA refused, unless an earlier run may
// have had it certified: a later refusal (a mistyped passcode, say) must
// not delete the only copy of the key of a valid certificate.
func (e *Enroller) discardRefused(ctx context.Context, k *Key, err error) {
	refused := Refused
	if e.Refused != nil {
		refused = e.Refused
	}
	if refused(err) && !e.mayBeIssued(ctx, k) {
		e.discard(ctx, k)
	}
}

// discardUnsent removes k after a failure before the CA was asked, unless
// an earlier run may already have had it certified.
func (e *Enroller) discardUnsent(ctx context.Context, k *Key) {
	if !k.Reused {
		e.discard(ctx, k)
	}
}

func (e *Enroller) discard(ctx context.Context, k *Key) {
	if err := k.Discard(ctx); err != nil {
		e.warn("could not remove the unused key %s: %v", k, err)
	}
}

// mayBeIssued reports whether the CA may have issued a certificate for k.
// A key made by this run certainly was not; for a reused one, the CA is
// asked, and an answer other than "not found" keeps the key.
func (e *Enroller) mayBeIssued(ctx context.Context, k *Key) bool {
	if !k.Reused {
		return false
	}
	spki, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		return true
	}
	_, err = e.API.CertificateForKey(ctx, spki)
	return !errors.Is(err, ra.ErrNotFound) // found, or unknown: keep it
}

// Refused reports whether err is a classified refusal by the RA/CA (bad
// input, not found, wrong state, failed authentication, policy), after
// which it certainly issued nothing; an I/O failure or a cancellation has
// an unknown outcome.
func Refused(err error) bool {
	for _, class := range []error{ra.ErrInvalid, ra.ErrNotFound, ra.ErrConflict, ra.ErrIntegrity, ra.ErrAuth, ra.ErrPolicy} {
		if errors.Is(err, class) {
			return true
		}
	}
	return false
}

// CSR builds a CSR that proves possession of key. Its subject is a
// placeholder: the CA takes identity only from the approved application.
func CSR(key crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cmca"}}, key)
	if err != nil {
		return nil, errorf("create CSR: %w", err)
	}
	return der, nil
}

// KeyID is the CKA_ID of the key for a request: derived from the
// reference, so a download interrupted after key generation finds its key
// again.
func KeyID(ref string) []byte {
	h := sha256.Sum256([]byte("cmca-key:" + ref))
	return h[:16]
}

// RenewKeyID is the CKA_ID of the new key when renewing the certificate
// with this serial: derived from the serial, so that a rerun finds the key
// instead of making another one. A certificate is renewed once, so one ID
// per serial is enough.
func RenewKeyID(serial string) []byte { return KeyID("renew:" + serial) }

// Error is an enrolment error whose message is a catalogue format
// (internal/msg) kept with its arguments, so that the command line can show
// it in the user's language. It unwraps to what it wraps (ra.Err*).
type Error struct {
	Format string
	Args   []any
	err    error
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

func errorf(format string, a ...any) error {
	return &Error{Format: format, Args: a, err: fmt.Errorf(format, a...)}
}
