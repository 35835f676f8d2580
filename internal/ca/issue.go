package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"slices"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// Subject is who a certificate is for, as approved by the RA. It never
// comes from the CSR.
type Subject struct {
	Name  string // commonName
	Email string // rfc822Name in subjectAltName
	// Pseudonym goes into the subject serialNumber attribute: a stable,
	// non-reversible identifier of the person, so that relying parties can
	// tell apart people of the same name without the ID number appearing in
	// the certificate.
	Pseudonym string
	// GivenName and Surname are the parts of the name, when the RA
	// recorded them separately. The S/MIME BRs want a personal name as
	// givenName and/or surname in individual-validated certificates: an
	// S/MIME profile carries them (SN, GN) beside the commonName; when
	// neither is set, it carries Name whole in surname (the BRs' rule for
	// a name that is not split), never a guessed split. Other profiles
	// carry neither.
	GivenName string
	Surname   string
}

// Extras are the CA-wide URLs put into every certificate.
type Extras struct {
	CRLDistributionPoints []string
	OCSPServers           []string
	IssuingCertificateURL []string
	// PolicyOIDs are the CA's own certificate policies (config
	// ca.policy_oid), put into every certificate before the profile's.
	PolicyOIDs []string
}

// weakCSRAlgorithms are refused in CSRs: a CSR signed with them proves
// little about possession of the key.
var weakCSRAlgorithms = map[x509.SignatureAlgorithm]bool{
	x509.MD2WithRSA: true, x509.MD5WithRSA: true, x509.SHA1WithRSA: true,
	x509.ECDSAWithSHA1: true, x509.DSAWithSHA1: true, x509.DSAWithSHA256: true,
}

// CheckCSR verifies a CSR's self-signature and that the profile accepts its
// key and signature algorithm. It returns the key description.
func CheckCSR(csr *x509.CertificateRequest, p *Profile) (string, error) {
	if err := CheckCSRSignature(csr); err != nil {
		return "", err
	}
	return CheckCSRKey(csr, p)
}

// ParseCSR parses a DER PKCS#10 request, refusing what cannot be one with
// a message that says what to send instead.
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(bytes.TrimSpace(der)) == 0 {
		return nil, msg.Errorf("the CSR is empty; send the DER of a PKCS#10 certificate request: %w", ra.ErrInvalid)
	}
	csr, err := x509.ParseCertificateRequest(der)
	switch {
	case err == nil:
		return csr, nil
	case bytes.HasPrefix(bytes.TrimSpace(der), []byte("-----BEGIN")):
		return nil, msg.Errorf("the CSR is PEM text; send its DER (the base64 between the PEM lines, decoded): %w", ra.ErrInvalid)
	case strings.Contains(err.Error(), "unsupported elliptic curve"):
		return nil, msg.Errorf("the CSR's key is on an elliptic curve cmca does not support; use P-256 or P-384: %w", ra.ErrPolicy)
	}
	return nil, msg.Errorf("the CSR is not a DER PKCS#10 certificate request (%v): %w", err, ra.ErrInvalid)
}

// CheckCSRSignature is the first half of CheckCSR: the CSR's signature
// algorithm is strong enough and its self-signature verifies. It needs no
// profile, so bulk paths run it for many CSRs at once, before the store.
func CheckCSRSignature(csr *x509.CertificateRequest) error {
	if csr.PublicKeyAlgorithm == x509.UnknownPublicKeyAlgorithm || csr.PublicKey == nil {
		// Ed448, SM2, DSA...: its signature cannot even be checked.
		return msg.Errorf("the CSR's key type is not supported; use ECDSA P-256/P-384 or RSA of 2048 bits or more: %w", ra.ErrPolicy)
	}
	if weakCSRAlgorithms[csr.SignatureAlgorithm] {
		return msg.Errorf("the CSR is signed with %s, which is too weak; use SHA-256 or stronger: %w", csr.SignatureAlgorithm, ra.ErrInvalid)
	}
	if err := csr.CheckSignature(); err != nil {
		return msg.Errorf("the CSR signature does not verify (%v): %w", err, ra.ErrInvalid)
	}
	return nil
}

// CheckCSRKey is the second half of CheckCSR: the profile accepts the CSR's
// key. It returns the key description. Call it only on a CSR that passed
// CheckCSRSignature.
func CheckCSRKey(csr *x509.CertificateRequest, p *Profile) (string, error) {
	desc := KeyDescription(csr.PublicKey)
	switch k := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", msg.Errorf("RSA keys need at least 2048 bits, got %d: %w", k.N.BitLen(), ra.ErrPolicy)
		}
	case *ecdsa.PublicKey:
		if !slices.Contains(KnownKeyAlgos, desc) {
			return "", msg.Errorf("the ECDSA curve %s is not supported; use P-256 or P-384: %w", k.Curve.Params().Name, ra.ErrPolicy)
		}
	default:
		return "", msg.Errorf("%s keys are not supported; use ECDSA P-256/P-384 or RSA of 2048 bits or more: %w", desc, ra.ErrPolicy)
	}
	if !p.AllowsKey(desc) {
		return "", msg.Errorf("usage type %s does not accept %s keys; allowed: %v: %w", p.Name, desc, p.KeyAlgos, ra.ErrPolicy)
	}
	return desc, nil
}

// Issue signs a certificate for the CSR's public key, with subject data from
// the RA and extensions from the profile. The CSR must have passed CheckCSR.
func (c *CA) Issue(csr *x509.CertificateRequest, subj Subject, p *Profile, ex Extras, now time.Time) (*x509.Certificate, error) {
	if err := p.CheckExtras(ex); err != nil {
		return nil, err
	}
	if strings.TrimSpace(subj.Name) == "" {
		return nil, msg.Errorf("the certificate subject has no name: %w", ra.ErrInvalid)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, fmt.Errorf("draw serial: %w", err)
	}
	ski, err := SubjectKeyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-time.Minute).UTC().Truncate(time.Second)
	notAfter := notBefore.Add(p.Validity())
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter // never outlive the issuer
	}
	if !notBefore.Before(notAfter) {
		return nil, msg.Errorf("the CA certificate expires %s; renew the CA before issuing: %w", c.Cert.NotAfter.Format(time.DateOnly), ra.ErrConflict)
	}
	name := pkix.Name{CommonName: subj.Name}
	if subj.Pseudonym != "" {
		name.SerialNumber = subj.Pseudonym
	}
	// Only S/MIME profiles carry the name parts (the BRs ask for them);
	// other profiles name the person by commonName alone, as before.
	var givenName, surname string
	if p.SMIME() {
		givenName, surname = subj.GivenName, subj.Surname
		if givenName == "" && surname == "" {
			surname = subj.Name
		}
	}
	if givenName != "" {
		name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{Type: oidGivenName, Value: givenName})
	}
	if surname != "" {
		name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{Type: oidSurname, Value: surname})
	}
	_, isRSA := csr.PublicKey.(*rsa.PublicKey)
	eku, unknownEKU := p.extKeyUsage()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              p.keyUsage(isRSA),
		ExtKeyUsage:           eku,
		UnknownExtKeyUsage:    unknownEKU,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		CRLDistributionPoints: ex.CRLDistributionPoints,
		OCSPServer:            ex.OCSPServers,
		IssuingCertificateURL: ex.IssuingCertificateURL,
	}
	if subj.Email != "" {
		tmpl.EmailAddresses = []string{subj.Email}
	}
	if tmpl.Policies, err = policyOIDs(slices.Concat(ex.PolicyOIDs, p.Policies)); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, csr.PublicKey, c.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Name attribute types (RFC 5280 Appendix A).
var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)

// policyOIDs parses certificate policy OIDs in dotted form.
func policyOIDs(dotted []string) ([]x509.OID, error) {
	var out []x509.OID
	for _, o := range dotted {
		oid, err := parseOID(o)
		if err != nil {
			return nil, err
		}
		xo, err := x509.OIDFromInts(toUint64(oid))
		if err != nil {
			return nil, err
		}
		out = append(out, xo)
	}
	return out, nil
}

func toUint64(oid asn1.ObjectIdentifier) []uint64 {
	out := make([]uint64, len(oid))
	for i, n := range oid {
		out[i] = uint64(n)
	}
	return out
}
