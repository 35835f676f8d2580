package ca

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"github.com/cmca/cmca/internal/msg"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): relying
// parties need not check the revocation status of the responder
// certificate, which is why it must be short-lived.
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// MaxOCSPSignerValidity bounds the delegated OCSP signing certificate's
// lifetime: with ocsp-nocheck it cannot be revoked in any useful way, so it
// must expire soon (CA/B Forum BR §4.9.9 asks for "relatively short").
const MaxOCSPSignerValidity = 90 * 24 * time.Hour

// IssueOCSPSigner signs a delegated OCSP responder certificate for pub
// (RFC 6960 §4.2.2.2): extended key usage id-kp-OCSPSigning only, key
// usage digitalSignature, the id-pkix-ocsp-nocheck extension, and a
// lifetime of validity (at most MaxOCSPSignerValidity, never beyond the
// CA's own).
func (c *CA) IssueOCSPSigner(pub crypto.PublicKey, validity time.Duration, now time.Time) (*x509.Certificate, error) {
	if validity <= 0 || validity > MaxOCSPSignerValidity {
		return nil, msg.Errorf("OCSP signer validity %s is out of range (up to %s): %w", validity, MaxOCSPSignerValidity, ra.ErrInvalid)
	}
	subj := pkix.Name{CommonName: c.Cert.Subject.CommonName + " OCSP Responder"}
	subj.Organization = c.Cert.Subject.Organization
	subj.Country = c.Cert.Subject.Country
	nullDER, _ := asn1.Marshal(asn1.NullRawValue)
	tmpl := &x509.Certificate{
		Subject:         subj,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: nullDER}},
	}
	// No CRL distribution point, AIA or policy: a responder certificate
	// marked ocsp-nocheck is not itself checked.
	return c.signService(tmpl, pub, validity, Extras{}, now)
}
