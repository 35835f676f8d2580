package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strings"
)

// dnNames are the short names RFC 4514 (section 3) and RFC 4519 give the
// attributes cmca's certificates carry, beyond the few Go's pkix.Name.String
// knows; without them Go prints `2.5.4.4=#130a...`.
var dnNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.17":                   "postalCode",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
	"1.2.840.113549.1.9.1":       "emailAddress",
}

// DistinguishedName formats a DER-encoded Name as RFC 4514 text, last RDN
// first, with attribute names for every type cmca uses (SN, GN, pseudonym,
// ...) and string values as text (UTF-8 kept, specials escaped). A type
// without a name is its dotted OID; a value that is not a string is #hex of
// its DER, as RFC 4514 says.
func DistinguishedName(der []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return "#" + hex.EncodeToString(der)
	}
	return formatRDNs(rdns)
}

// NameString is DistinguishedName for a parsed name.
func NameString(n pkix.Name) string { return formatRDNs(n.ToRDNSequence()) }

func formatRDNs(rdns pkix.RDNSequence) string {
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			typ := atv.Type.String()
			if n, ok := dnNames[typ]; ok {
				typ = n
			}
			b.WriteString(typ)
			b.WriteByte('=')
			if s, ok := atv.Value.(string); ok {
				b.WriteString(escapeDNValue(s))
				continue
			}
			der, err := asn1.Marshal(atv.Value)
			if err != nil {
				b.WriteString("#")
				continue
			}
			b.WriteString("#" + hex.EncodeToString(der))
		}
	}
	return b.String()
}

// escapeDNValue escapes a value as RFC 4514 section 2.4 asks: the specials
// anywhere, a leading space or #, a trailing space, and NUL.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '"' || r == '+' || r == ',' || r == ';' || r == '<' || r == '>' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == 0:
			b.WriteString(`\00`)
		case (r == ' ' || r == '#') && i == 0, r == ' ' && i == len(s)-1:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
