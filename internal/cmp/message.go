// Package cmp is the Certificate Management Protocol codec and HTTP
// handler: RFC 4210 messages in the RFC 9483 lightweight profile, CRMF
// requests (RFC 4211), password-based MAC and signature protection, and the
// HTTP transfer of RFC 6712. It parses with encoding/asn1 and knows nothing
// of requests or storage: the handler calls a Backend that the service
// implements.
package cmp

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// BodyType is the PKIBody CHOICE tag.
type BodyType int

// The PKIBody choices (RFC 4210 §5.1.2).
const (
	BodyIR       BodyType = 0
	BodyIP       BodyType = 1
	BodyCR       BodyType = 2
	BodyCP       BodyType = 3
	BodyP10CR    BodyType = 4
	BodyKUR      BodyType = 7
	BodyKUP      BodyType = 8
	BodyRR       BodyType = 11
	BodyRP       BodyType = 12
	BodyPKIConf  BodyType = 19
	BodyGenM     BodyType = 21
	BodyGenP     BodyType = 22
	BodyError    BodyType = 23
	BodyCertConf BodyType = 24
	BodyPollReq  BodyType = 25
	BodyPollRep  BodyType = 26
)

var bodyNames = map[BodyType]string{BodyIR: "ir", BodyIP: "ip", BodyCR: "cr", BodyCP: "cp", BodyP10CR: "p10cr",
	5: "popdecc", 6: "popdecr", BodyKUR: "kur", BodyKUP: "kup", 9: "krr", 10: "krp", BodyRR: "rr", BodyRP: "rp",
	13: "ccr", 14: "ccp", 15: "ckuann", 16: "cann", 17: "rann", 18: "crlann", BodyPKIConf: "pkiconf", 20: "nested",
	BodyGenM: "genm", BodyGenP: "genp", BodyError: "error", BodyCertConf: "certConf", BodyPollReq: "pollReq", BodyPollRep: "pollRep"}

func (b BodyType) String() string {
	if n, ok := bodyNames[b]; ok {
		return n
	}
	return fmt.Sprintf("body[%d]", int(b))
}

// MaxMessageSize bounds a request body (RFC 6712 messages are small: an ir
// with an RSA-4096 key and a certificate chain is a few KiB).
const MaxMessageSize = 64 << 10

// Object identifiers.
var (
	oidPBM             = asn1.ObjectIdentifier{1, 2, 840, 113533, 7, 66, 13}
	oidPBMAC1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBKDF2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidImplicitConfirm = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 4, 13}
	oidReasonCode      = asn1.ObjectIdentifier{2, 5, 29, 21}
)

// Header is a PKIHeader (RFC 4210 §5.1.1). The module uses EXPLICIT tags.
type Header struct {
	PVNO          int
	Sender        asn1.RawValue            // GeneralName
	Recipient     asn1.RawValue            // GeneralName
	MessageTime   time.Time                `asn1:"generalized,explicit,optional,tag:0"`
	ProtectionAlg pkix.AlgorithmIdentifier `asn1:"explicit,optional,tag:1"`
	SenderKID     []byte                   `asn1:"explicit,optional,tag:2"`
	RecipKID      []byte                   `asn1:"explicit,optional,tag:3"`
	TransactionID []byte                   `asn1:"explicit,optional,tag:4"`
	SenderNonce   []byte                   `asn1:"explicit,optional,tag:5"`
	RecipNonce    []byte                   `asn1:"explicit,optional,tag:6"`
	FreeText      []asn1.RawValue          `asn1:"explicit,optional,tag:7"`
	GeneralInfo   []InfoTypeAndValue       `asn1:"explicit,optional,tag:8"`
}

// InfoTypeAndValue is one generalInfo entry.
type InfoTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

// ImplicitConfirm reports whether the header asks for (or, in a response,
// grants) implicit confirmation.
func (h *Header) ImplicitConfirm() bool {
	for _, i := range h.GeneralInfo {
		if i.Type.Equal(oidImplicitConfirm) {
			return true
		}
	}
	return false
}

// Message is a parsed PKIMessage.
type Message struct {
	Header     Header
	Type       BodyType
	Body       []byte // the DER inside the body's explicit tag
	Protection []byte
	ExtraCerts []*x509.Certificate

	rawHeader, rawBody []byte // as received, for protection checks
	rawExtra           []asn1.RawValue
}

type pkiMessage struct {
	Header     asn1.RawValue
	Body       asn1.RawValue
	Protection asn1.BitString  `asn1:"explicit,optional,tag:0"`
	ExtraCerts []asn1.RawValue `asn1:"explicit,optional,tag:1"`
}

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed CMP message")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrMalformed)
}

// ParseMessage parses a DER PKIMessage. It checks structure only; the
// protection is checked by VerifyMAC or VerifySignature.
func ParseMessage(der []byte) (*Message, error) {
	if len(der) > MaxMessageSize {
		return nil, malformed("message of %d bytes is larger than %d", len(der), MaxMessageSize)
	}
	var pm pkiMessage
	rest, err := asn1.Unmarshal(der, &pm)
	if err != nil {
		return nil, malformed("PKIMessage: %v", err)
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes after the PKIMessage", len(rest))
	}
	m := &Message{rawHeader: pm.Header.FullBytes, rawBody: pm.Body.FullBytes, rawExtra: pm.ExtraCerts}
	if pm.Header.Class != asn1.ClassUniversal || pm.Header.Tag != asn1.TagSequence {
		return nil, malformed("PKIHeader is not a SEQUENCE")
	}
	if rest, err := asn1.Unmarshal(pm.Header.FullBytes, &m.Header); err != nil {
		return nil, malformed("PKIHeader: %v", err)
	} else if len(rest) != 0 {
		return nil, malformed("trailing bytes in PKIHeader")
	}
	if m.Header.Sender.Class != asn1.ClassContextSpecific || m.Header.Recipient.Class != asn1.ClassContextSpecific {
		return nil, malformed("sender and recipient must be GeneralNames")
	}
	if pm.Body.Class != asn1.ClassContextSpecific || !pm.Body.IsCompound {
		return nil, malformed("PKIBody is not a tagged choice")
	}
	m.Type, m.Body = BodyType(pm.Body.Tag), pm.Body.Bytes
	if pm.Protection.BitLength%8 != 0 {
		return nil, malformed("protection is not a whole number of bytes")
	}
	m.Protection = pm.Protection.Bytes
	for i, c := range pm.ExtraCerts {
		cert, err := x509.ParseCertificate(c.FullBytes)
		if err != nil {
			return nil, malformed("extraCerts[%d]: %v", i, err)
		}
		m.ExtraCerts = append(m.ExtraCerts, cert)
	}
	return m, nil
}

// protectedPart is the DER of ProtectedPart ::= SEQUENCE { header, body }.
func (m *Message) protectedPart() ([]byte, error) {
	if m.rawHeader == nil {
		h, err := asn1.Marshal(m.Header)
		if err != nil {
			return nil, err
		}
		m.rawHeader = h
	}
	if m.rawBody == nil {
		m.rawBody = explicit(int(m.Type), m.Body)
	}
	return asn1.Marshal(struct{ H, B asn1.RawValue }{asn1.RawValue{FullBytes: m.rawHeader}, asn1.RawValue{FullBytes: m.rawBody}})
}

// Marshal encodes the message. A message parsed from DER marshals back to
// the same header and body bytes.
func (m *Message) Marshal() ([]byte, error) {
	if _, err := m.protectedPart(); err != nil {
		return nil, err
	}
	pm := pkiMessage{Header: asn1.RawValue{FullBytes: m.rawHeader}, Body: asn1.RawValue{FullBytes: m.rawBody}}
	if m.Protection != nil {
		pm.Protection = asn1.BitString{Bytes: m.Protection, BitLength: 8 * len(m.Protection)}
	}
	if m.rawExtra == nil {
		for _, c := range m.ExtraCerts {
			m.rawExtra = append(m.rawExtra, asn1.RawValue{FullBytes: c.Raw})
		}
	}
	pm.ExtraCerts = m.rawExtra
	return asn1.Marshal(pm)
}

// explicit wraps DER in a context-specific constructed tag.
func explicit(tag int, der []byte) []byte {
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: der})
	return b
}

// directoryName is a GeneralName [4] holding a DER Name.
func directoryName(rawName []byte) asn1.RawValue {
	if len(rawName) == 0 {
		rawName = []byte{0x30, 0}
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: rawName}
}

// FreeText decodes a PKIFreeText.
func FreeText(raw []asn1.RawValue) []string {
	var out []string
	for _, r := range raw {
		var s string
		if _, err := asn1.UnmarshalWithParams(r.FullBytes, &s, "utf8"); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// freeText encodes a PKIFreeText (SEQUENCE OF UTF8String).
func freeText(lines ...string) []asn1.RawValue {
	var out []asn1.RawValue
	for _, l := range lines {
		if l == "" {
			continue
		}
		b, _ := asn1.MarshalWithParams(l, "utf8")
		out = append(out, asn1.RawValue{FullBytes: b})
	}
	return out
}
