package ca

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
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
	Policies     []string `mapstructure:"policies" json:"policies,omitempty" yaml:"policies,omitempty"`
	KeyAlgos     []string `mapstructure:"key_algos" json:"key_algos" yaml:"key_algos"`
}

// DefaultProfiles are the usage types of a personal-certificate service.
func DefaultProfiles() []Profile {
	keys := []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"}
	return []Profile{
		{Name: "auth", Label: "Identity authentication", KeyUsage: []string{"digitalSignature"},
			ExtKeyUsage: []string{"clientAuth"}, ValidityDays: 365, KeyAlgos: keys},
		{Name: "email", Label: "Secure email", KeyUsage: []string{"digitalSignature", "keyEncipherment"},
			ExtKeyUsage: []string{"emailProtection"}, ValidityDays: 365, KeyAlgos: keys},
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
		return &ra.FieldError{Field: "profiles", Msg: "a profile has no name"}
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
	for _, o := range p.Policies {
		if _, err := parseOID(o); err != nil {
			return bad("policy %q is not a dotted OID", o)
		}
	}
	if p.ValidityDays <= 0 || p.ValidityDays > 3650 {
		return bad("validity_days must be between 1 and 3650, got %d", p.ValidityDays)
	}
	if len(p.KeyAlgos) == 0 {
		return bad("key_algos is empty")
	}
	return nil
}

// Validity is the profile's certificate lifetime.
func (p *Profile) Validity() time.Duration { return time.Duration(p.ValidityDays) * 24 * time.Hour }

// AllowsKey reports whether the profile accepts a key described as by
// KeyDescription.
func (p *Profile) AllowsKey(desc string) bool { return slices.Contains(p.KeyAlgos, desc) }

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
	return oid, nil
}
