// Package est holds the wire formats of EST (Enrollment over Secure
// Transport, RFC 7030, as clarified by RFC 8951): base64 bodies, PKCS#10
// requests in, and "certs-only" CMS SignedData (RFC 5652 ContentInfo with
// no signers, RFC 5273's Simple PKI Response) out.
//
// It encodes and decodes ASN.1 structures only (with cryptobyte); it signs
// and verifies nothing. The CSR's signature, its proof of possession, is
// checked by the service when it signs (ca.CheckCSRSignature).
// internal/server/est.go serves the endpoints.
package est

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Paths and media types of the operations cmca serves.
const (
	PathPrefix     = "/.well-known/est/"
	PathCACerts    = PathPrefix + "cacerts"
	PathEnroll     = PathPrefix + "simpleenroll"
	PathReenroll   = PathPrefix + "simplereenroll"
	PathCSRAttrs   = PathPrefix + "csrattrs"
	MediaPKCS10    = "application/pkcs10"
	MediaPKCS7     = "application/pkcs7-mime"
	MediaCertsOnly = "application/pkcs7-mime; smime-type=certs-only"
	// MaxBody bounds a request body. A base64 PKCS#10 request for an RSA
	// 4096 key is about 2.3 KB; 64 KiB leaves room for any attributes a
	// client adds and none for abuse.
	MaxBody = 64 << 10
)

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// ErrMalformed is wrapped by every decoding error of this package.
var ErrMalformed = errors.New("malformed EST message")

// EncodeCertsOnly returns the DER of a certs-only CMS message carrying
// certs in the order given: a ContentInfo of type signedData whose
// SignedData (version 1) has no digest algorithms, no encapsulated content
// (eContentType id-data), the certificates and no signerInfos. This is what
// `openssl crl2pkcs7 -nocrl` writes and `openssl pkcs7 -print_certs` reads.
func EncodeCertsOnly(certs []*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("a certs-only message needs at least one certificate")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // digestAlgorithms
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidData) // encapContentInfo, no eContent
				})
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					for _, c := range certs {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // signerInfos
			})
		})
	})
	return b.Bytes()
}

// ParseCertsOnly returns the certificates of a DER certs-only CMS message
// (what EncodeCertsOnly writes; a signed message's signers are ignored,
// not verified). BER's indefinite lengths are refused.
func ParseCertsOnly(der []byte) ([]*x509.Certificate, error) {
	bad := func(what string) error { return fmt.Errorf("%w: PKCS#7 %s", ErrMalformed, what) }
	in := cryptobyte.String(der)
	var ci, content, sd, certs cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, bad("is not one DER ContentInfo")
	}
	if !ci.ReadASN1ObjectIdentifier(&oid) {
		return nil, bad("ContentInfo has no content type")
	}
	if !oid.Equal(oidSignedData) {
		return nil, bad(fmt.Sprintf("content type is %s, not signedData", oid))
	}
	if !ci.ReadASN1(&content, cbasn1.Tag(0).ContextSpecific().Constructed()) || !content.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, bad("signedData content is missing")
	}
	var version int64
	var present bool
	if !sd.ReadASN1Integer(&version) || !sd.SkipASN1(cbasn1.SET) || !sd.SkipASN1(cbasn1.SEQUENCE) {
		return nil, bad("SignedData header is malformed")
	}
	if !sd.ReadOptionalASN1(&certs, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, bad("certificates field is malformed")
	}
	var out []*x509.Certificate
	for !certs.Empty() {
		var raw cryptobyte.String
		if !certs.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			return nil, bad("certificate set holds something that is not a certificate")
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: PKCS#7 certificate %d: %v", ErrMalformed, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, bad("message carries no certificate")
	}
	return out, nil
}

// EncodeBody is the base64 of der in lines of 64 characters, as EST
// responses carry it (RFC 8951 §3.1) and `openssl base64 -d` reads it.
func EncodeBody(der []byte) []byte {
	s := base64.StdEncoding.EncodeToString(der)
	var b bytes.Buffer
	for len(s) > 64 {
		b.WriteString(s[:64])
		b.WriteByte('\n')
		s = s[64:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.Bytes()
}

// DecodeBody decodes a base64 EST body; white space (line breaks of any
// length) is ignored (RFC 8951 §3.1).
func DecodeBody(body []byte) ([]byte, error) {
	clean := make([]byte, 0, len(body))
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	if len(clean) == 0 {
		return nil, fmt.Errorf("%w: the body is empty; send the base64 of a DER PKCS#10 request", ErrMalformed)
	}
	if bytes.HasPrefix(clean, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("%w: the body is PEM; send the base64 of the DER (openssl req -in csr.pem -outform DER | openssl base64 > csr.b64)", ErrMalformed)
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(der, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: the body is not base64 (%v); send the base64 of a DER PKCS#10 request", ErrMalformed, err)
	}
	return der[:n], nil
}

// DecodeCSR decodes an enrolment body: the base64 of one DER PKCS#10
// request. Its signature is not checked here.
func DecodeCSR(body []byte) (*x509.CertificateRequest, error) {
	der, err := DecodeBody(body)
	if err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the body decodes from base64 but is not a DER PKCS#10 request (%v)", ErrMalformed, err)
	}
	return csr, nil
}
