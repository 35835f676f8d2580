package server

import (
	"context"
	"crypto/x509"
	"errors"
	"github.com/cmca/cmca/internal/msg"
	"net/http"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
)

// CertPrincipals says who holds a client certificate already verified as
// issued by the home's CA and unexpired (*service.Service): the active
// operator it was issued to, with its roles from the store, or the
// subscriber of a valid certificate; ra.ErrAuth for anything else.
type CertPrincipals interface {
	PrincipalForCertificate(ctx context.Context, cert *x509.Certificate) (principal.Principal, error)
}

// CertAuthenticator is the AuthFunc of `cmca serve`: a request without a
// client certificate is anonymous; one with a certificate is the operator
// or subscriber it names, after the certificate is verified against the
// home's CA (cas: the CA certificate and any above it) at the time now
// gives, for client authentication, and found valid in the store. A
// certificate of another CA, an expired, revoked or unknown one, or one
// of a disabled operator is an error wrapping ra.ErrAuth (401): nothing
// runs with it, not even anonymously.
func CertAuthenticator(creds CertPrincipals, cas []*x509.Certificate, now func() time.Time) func(r *http.Request) (principal.Principal, error) {
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	if now == nil {
		now = time.Now
	}
	return func(r *http.Request) (principal.Principal, error) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return principal.Principal{Kind: principal.Anonymous}, nil
		}
		leaf := r.TLS.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		t := now()
		serial := ra.SerialString(leaf.SerialNumber)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			var inv x509.CertificateInvalidError
			switch {
			case errors.As(err, &inv) && inv.Reason == x509.Expired && t.After(leaf.NotAfter):
				return principal.Principal{}, msg.Errorf("the client certificate %s (%s) expired on %s; log in with a current credential: %w",
					serial, leaf.Subject.CommonName, leaf.NotAfter.Format(time.DateOnly), ra.ErrAuth)
			case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
				return principal.Principal{}, msg.Errorf("the client certificate %s (%s) is not for client authentication: %w", serial, leaf.Subject.CommonName, ra.ErrAuth)
			}
			return principal.Principal{}, msg.Errorf("the client certificate %s (%s, issued by %s) was not issued by this CA: %w",
				serial, leaf.Subject.CommonName, leaf.Issuer.CommonName, ra.ErrAuth)
		}
		return creds.PrincipalForCertificate(r.Context(), leaf)
	}
}
