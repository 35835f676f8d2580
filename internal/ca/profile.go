package ca

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// Profile is what a certificate of one usage type (证书使用类型) looks like.
// Profiles are data: the defaults below can be replaced or extended from the
// configuration file (key "profiles").
type Profile struct {
	Name         string   `mapstructure:"name" json:"name" yaml:"name"`
	Label        string   `mapstructure:"label" json:"label" yaml:"label"`
	KeyUsage     []string `mapstructure:"key_usage" json:"key_usage" yaml:"key_usage"`
	ExtKeyUsage  []string `mapstructure:"ext_key_usage" json:"ext_key_usage" yaml:"ext_key_usage"`
	ValidityDays int      `mapstructure:"validity_days" json:"validity_days" yaml:"validity_days"`
	// Policies are certificate policy OIDs put into every certificate of
	// this profile, after the CA-wide one (config ca.policy_oid). At most
	// one may be a CA/B Forum S/MIME policy (2.23.140.1.5.x.y), which makes
	// the profile follow the S/MIME Baseline Requirements (see SMIME).
	Policies []string `mapstructure:"policies" json:"policies,omitempty" yaml:"policies,omitempty"`
	KeyAlgos []string `mapstructure:"key_algos" json:"key_algos" yaml:"key_algos"`
}

// S/MIME Baseline Requirements policy OIDs (S/MIME BR §7.1.6.1): the arc
// 2.23.140.1.5, then the validation type, then the generation.
const (
	smimeArc = "2.23.140.1.5."
	// SMIMEIndividualStrict is individual-validated, strict generation: the
	// CA verified the person's identity; only emailProtection.
	SMIMEIndividualStrict = "2.23.140.1.5.4.3"
	// SMIMEIndividualMultipurpose allows other EKUs next to emailProtection.
	SMIMEIndividualMultipurpose = "2.23.140.1.5.4.2"
)

// KnownKeyAlgos are the key types a profile may allow.
var KnownKeyAlgos = []string{"ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096"}

// DefaultProfiles are the usage types of a personal-certificate service.
//
// email follows the CA/B Forum S/MIME Baseline Requirements as an
// individual-validated, strict-generation certificate: cmca verifies the
// applicant's identity document before issuing, which is what "individual
// validated" means, and the strict generation is the one that lints clean
// (legacy is deprecated since SMC08). It therefore needs an http CRL
// distribution point (crl.distribution_points) to be issued.
func DefaultProfiles() []Profile {
	keys := []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"}
	return []Profile{
		{Name: "auth", Label: "Identity authentication", KeyUsage: []string{"digitalSignature"},
			ExtKeyUsage: []string{"clientAuth"}, ValidityDays: 365, KeyAlgos: keys},
		// keyEncipherment is used with RSA keys, keyAgreement (ECDH) with EC
		// keys: an S/MIME certificate must be able to decrypt mail.
		{Name: "email", Label: "Secure email", KeyUsage: []string{"digitalSignature", "keyEncipherment", "keyAgreement"},
			ExtKeyUsage: []string{"emailProtection"}, ValidityDays: 365, KeyAlgos: keys,
			Policies: []string{SMIMEIndividualStrict}},
		{Name: "sign", Label: "Document signing", KeyUsage: []string{"digitalSignature", "contentCommitment"},
			ExtKeyUsage: []string{"documentSigning"}, ValidityDays: 365, KeyAlgos: keys},
	}
}

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalSignature":  x509.KeyUsageDigitalSignature,
	"contentCommitment": x509.KeyUsageContentCommitment,
	"nonRepudiation":    x509.KeyUsageContentCommitment,
	"keyEncipherment":   x509.KeyUsageKeyEncipherment,
	"dataEncipherment":  x509.KeyUsageDataEncipherment,
	"keyAgreement":      x509.KeyUsageKeyAgreement,
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"clientAuth":      x509.ExtKeyUsageClientAuth,
	"emailProtection": x509.ExtKeyUsageEmailProtection,
	"codeSigning":     x509.ExtKeyUsageCodeSigning,
}

// oidDocumentSigning is id-kp-documentSigning (RFC 9336).
var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// Validate checks a profile read from configuration.
func (p *Profile) Validate() error {
	bad := func(msg string, a ...any) error {
		return &ra.FieldError{Field: "profiles." + p.Name, Msg: fmt.Sprintf(msg, a...)}
	}
	if p.Name == "" {
		return ra.Fieldf("profiles", "a profile has no name")
	}
	for _, k := range p.KeyUsage {
		if _, ok := keyUsageNames[k]; !ok {
			return bad("unknown key usage %q", k)
		}
	}
	for _, k := range p.ExtKeyUsage {
		if _, ok := extKeyUsageNames[k]; !ok && k != "documentSigning" {
			if _, err := parseOID(k); err != nil {
				return bad("unknown extended key usage %q (a name or a dotted OID)", k)
			}
		}
	}
	smime := 0
	for _, o := range p.Policies {
		if _, err := parseOID(o); err != nil {
			return bad("policy %q is not a dotted OID", o)
		}
		if strings.HasPrefix(o, smimeArc) {
			smime++
			if o != SMIMEIndividualStrict && o != SMIMEIndividualMultipurpose {
				return bad("S/MIME policy %s is not supported: cmca validates individuals, so use %s (individual-validated strict) or %s (multipurpose); legacy is deprecated", o, SMIMEIndividualStrict, SMIMEIndividualMultipurpose)
			}
		}
	}
	if smime > 1 {
		return bad("policies list %d S/MIME policies; the S/MIME Baseline Requirements allow exactly one", smime)
	}
	if smime == 1 {
		if !slices.Contains(p.ExtKeyUsage, "emailProtection") {
			return bad("an S/MIME policy needs ext_key_usage emailProtection")
		}
		if p.smimeStrict() && len(p.ExtKeyUsage) != 1 {
			return bad("the strict S/MIME policy %s allows only the emailProtection extended key usage; use %s for more", SMIMEIndividualStrict, SMIMEIndividualMultipurpose)
		}
	}
	if p.ValidityDays <= 0 || p.ValidityDays > 3650 {
		return bad("validity_days must be between 1 and 3650, got %d", p.ValidityDays)
	}
	if len(p.KeyAlgos) == 0 {
		return bad("key_algos is empty")
	}
	for _, k := range p.KeyAlgos {
		if !slices.Contains(KnownKeyAlgos, k) {
			return bad("key_algos: %q is not allowed; use some of %s (RSA needs at least 2048 bits)", k, strings.Join(KnownKeyAlgos, ", "))
		}
		if p.keyUsage(strings.HasPrefix(k, "rsa-")) == 0 {
			return bad("key_usage %v leaves no usage for %s keys (keyEncipherment and dataEncipherment apply to RSA only, keyAgreement to EC only)", p.KeyUsage, k)
		}
	}
	return nil
}

// Validity is the profile's certificate lifetime.
func (p *Profile) Validity() time.Duration { return time.Duration(p.ValidityDays) * 24 * time.Hour }

// AllowsKey reports whether the profile accepts a key described as by
// KeyDescription.
func (p *Profile) AllowsKey(desc string) bool { return slices.Contains(p.KeyAlgos, desc) }

// SMIME reports whether the profile issues CA/B Forum S/MIME Baseline
// Requirements certificates (it lists an S/MIME policy OID).
func (p *Profile) SMIME() bool {
	return slices.ContainsFunc(p.Policies, func(o string) bool { return strings.HasPrefix(o, smimeArc) })
}

func (p *Profile) smimeStrict() bool { return slices.Contains(p.Policies, SMIMEIndividualStrict) }

// CheckExtras checks the CA-wide URLs and policy against what the profile
// needs: every URL must be an absolute http, https or ldap URL; an S/MIME
// profile needs an http CRL distribution point (S/MIME BR §7.1.2.3 b), and
// http only for CRL and AIA URLs in the strict generation.
func (p *Profile) CheckExtras(ex Extras) error {
	for _, set := range []struct {
		key  string
		urls []string
	}{{"crl.distribution_points", ex.CRLDistributionPoints}, {"aia.ocsp", ex.OCSPServers}, {"aia.ca_issuers", ex.IssuingCertificateURL}} {
		for _, u := range set.urls {
			pu, err := url.Parse(u)
			if err != nil || (pu.Host == "" && pu.Scheme != "ldap") || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "ldap") {
				return ra.Fieldf(set.key, "%q is not an absolute http, https or ldap URL", u)
			}
			if p.SMIME() && pu.Scheme != "http" {
				return msg.Errorf("usage type %s issues S/MIME certificates, whose %s URLs must be http (S/MIME BR 7.1.2.3), not %q: %w", p.Name, set.key, u, ra.ErrPolicy)
			}
		}
	}
	if p.SMIME() && len(ex.CRLDistributionPoints) == 0 {
		return msg.Errorf("usage type %s issues S/MIME certificates, which need a CRL distribution point: set crl.distribution_points to the http URL where `cmca crl` output is served (see docs/revocation.md): %w", p.Name, ra.ErrPolicy)
	}
	for _, o := range ex.PolicyOIDs {
		if _, err := parseOID(o); err != nil {
			return ra.Fieldf("ca.policy_oid", "%q is not a dotted OID", o)
		}
		if strings.HasPrefix(o, smimeArc) {
			return ra.Fieldf("ca.policy_oid", "%s is an S/MIME BR policy; put it in the email profile's policies, not the CA-wide policy", o)
		}
	}
	return nil
}

// keyUsage computes the key usage bits for a key: keyEncipherment and
// dataEncipherment only make sense for RSA, keyAgreement only for EC.
func (p *Profile) keyUsage(isRSA bool) x509.KeyUsage {
	var ku x509.KeyUsage
	for _, n := range p.KeyUsage {
		u := keyUsageNames[n]
		if !isRSA && (u == x509.KeyUsageKeyEncipherment || u == x509.KeyUsageDataEncipherment) {
			continue
		}
		if isRSA && u == x509.KeyUsageKeyAgreement {
			continue
		}
		ku |= u
	}
	return ku
}

func (p *Profile) extKeyUsage() ([]x509.ExtKeyUsage, []asn1.ObjectIdentifier) {
	var eku []x509.ExtKeyUsage
	var unknown []asn1.ObjectIdentifier
	for _, n := range p.ExtKeyUsage {
		if u, ok := extKeyUsageNames[n]; ok {
			eku = append(eku, u)
		} else if n == "documentSigning" {
			unknown = append(unknown, oidDocumentSigning)
		} else if oid, err := parseOID(n); err == nil {
			unknown = append(unknown, oid)
		}
	}
	return eku, unknown
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("not an OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("not an OID")
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, fmt.Errorf("not an OID")
	}
	return oid, nil
}
