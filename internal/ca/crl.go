package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// RevokedEntry is one revoked certificate to be listed in a CRL.
//
// WriteCRL does not retain the entry (or its Serial) after the yield call
// returns, so a source may reuse one *big.Int for every entry.
type RevokedEntry struct {
	// Serial is the revoked certificate's serial number: non-negative and
	// at most 20 octets once DER-encoded (RFC 5280 §4.1.2.2).
	Serial *big.Int
	// RevokedAt is the revocation date; it must not be after the CRL's
	// ThisUpdate. It is encoded in UTC with whole-second precision.
	RevokedAt time.Time
	// Reason is the RFC 5280 §5.3.1 CRLReason code. 0 (unspecified) omits
	// the reasonCode entry extension, as RFC 5280 recommends; 7 and values
	// above 10 are rejected.
	Reason int
	// InvalidityDate, when non-zero, adds the invalidityDate entry
	// extension (RFC 5280 §5.3.2).
	InvalidityDate time.Time
}

// CRLTemplate holds the CRL-wide fields of a CRL produced by WriteCRL.
type CRLTemplate struct {
	// Number is the cRLNumber (RFC 5280 §5.2.3): required, non-negative,
	// at most 20 octets.
	Number *big.Int
	// ThisUpdate and NextUpdate are both required; NextUpdate must be
	// after ThisUpdate. Encoded in UTC with whole-second precision.
	ThisUpdate, NextUpdate time.Time
	// BaseNumber, when non-nil, makes this a delta CRL: a critical
	// deltaCRLIndicator extension (RFC 5280 §5.2.4) carrying BaseNumber is
	// added. It must be non-negative, at most 20 octets, and less than
	// Number.
	BaseNumber *big.Int
	// FreshestCRL, when non-empty, adds a non-critical freshestCRL
	// extension (RFC 5280 §5.2.6) naming where the delta CRLs of this full
	// CRL are published: one distribution point whose fullName lists these
	// URIs. OpenSSL (verify -use_deltas) applies a delta CRL only when the
	// full CRL or the certificate carries one. Not allowed on a delta CRL.
	FreshestCRL []string
}

// WriteCRL never adds an issuingDistributionPoint extension (RFC 5280
// §5.2.5): cmca's CRLs are complete for every certificate of the CA (one
// scope, no partitions, all reasons), which is what a CRL without one means,
// and the extension must be critical, which NSS refuses
// (SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION). A delta CRL has the same scope
// as its base, so it needs none either. See docs/revocation.md.

// Object identifiers and fixed encodings used by WriteCRL.
var (
	oidECDSAWithSHA256 = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}       // 1.2.840.10045.4.3.2
	oidECDSAWithSHA384 = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}       // 1.2.840.10045.4.3.3
	oidECDSAWithSHA512 = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}       // 1.2.840.10045.4.3.4
	oidSHA256WithRSA   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b} // 1.2.840.113549.1.1.11

	oidExtAuthorityKeyID = []byte{0x55, 0x1d, 0x23} // 2.5.29.35
	oidExtCRLNumber      = []byte{0x55, 0x1d, 0x14} // 2.5.29.20
	oidExtDeltaCRLIndic  = []byte{0x55, 0x1d, 0x1b} // 2.5.29.27
	oidExtFreshestCRL    = []byte{0x55, 0x1d, 0x2e} // 2.5.29.46
	oidExtReasonCode     = []byte{0x55, 0x1d, 0x15} // 2.5.29.21
	oidExtInvalidityDate = []byte{0x55, 0x1d, 0x18} // 2.5.29.24
)

const (
	// maxEntryLen bounds the DER size of one revokedCertificates entry:
	// header 2 + serial 2+20 + time 2+15 + extensions 2+26+12 = 81.
	maxEntryLen = 128
	// Entries are encoded into chunks that grow geometrically up to this
	// size, so no large buffer is ever copied while growing.
	maxChunkLen = 1 << 20
	minChunkLen = 4 << 10
)

// WriteCRL encodes and signs an X.509 v2 CRL (RFC 5280 §5) issued by
// issuer and writes its DER encoding to w.
//
// The issuer name is issuer.RawSubject and the authorityKeyIdentifier
// extension carries issuer.SubjectKeyId (which must be present). If issuer
// has a KeyUsage, it must include cRLSign. signer's public key must equal
// issuer's. Supported keys: ECDSA P-256 (ecdsa-with-SHA256), P-384
// (ecdsa-with-SHA384), P-521 (ecdsa-with-SHA512) and RSA
// (sha256WithRSAEncryption, PKCS #1 v1.5). The signature is verified
// against issuer's public key before anything is written.
//
// entries is called exactly once. It must call yield for each revoked
// certificate, in the order they are to appear in the CRL, and return the
// first non-nil error yield returns (or its own error). WriteCRL does not
// sort the entries or check them for duplicate serials. If yield ever
// returns an error, WriteCRL returns that error even if entries swallows
// it, and later yield calls return it again without doing anything.
// A source that yields no entries produces a CRL without the
// revokedCertificates field.
//
// Entries are DER-encoded as they are yielded into a chunked buffer
// (about 40-70 bytes per entry, no per-entry heap allocation), so memory
// use is roughly the size of the encoded CRL. Nothing is written to w
// unless encoding and signing succeed; a failure while writing can leave
// a partial CRL in w.
func WriteCRL(w io.Writer, tmpl CRLTemplate, entries func(yield func(RevokedEntry) error) error, issuer *x509.Certificate, signer crypto.Signer) error {
	if issuer == nil {
		return errors.New("crl: issuer certificate is nil")
	}
	if signer == nil {
		return errors.New("crl: signer is nil")
	}
	if entries == nil {
		return errors.New("crl: entries is nil")
	}
	if len(issuer.RawSubject) == 0 {
		return errors.New("crl: issuer certificate has no raw subject")
	}
	if len(issuer.SubjectKeyId) == 0 {
		return errors.New("crl: issuer certificate has no subject key identifier (needed for the authority key identifier)")
	}
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errors.New("crl: issuer certificate's key usage does not include cRLSign")
	}
	pub := signer.Public()
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(issuer.PublicKey) {
		return errors.New("crl: signer's public key does not match the issuer certificate's public key")
	}
	algID, hashFunc, err := crlSignatureAlgorithm(pub)
	if err != nil {
		return err
	}

	if tmpl.ThisUpdate.IsZero() {
		return errors.New("crl: ThisUpdate is required")
	}
	if tmpl.NextUpdate.IsZero() {
		return errors.New("crl: NextUpdate is required (RFC 5280 §5.1.2.5)")
	}
	if !tmpl.NextUpdate.After(tmpl.ThisUpdate) {
		return errors.New("crl: NextUpdate must be after ThisUpdate")
	}
	if err := checkCRLInteger("Number", tmpl.Number); err != nil {
		return err
	}
	if tmpl.BaseNumber != nil {
		if err := checkCRLInteger("BaseNumber", tmpl.BaseNumber); err != nil {
			return err
		}
		if tmpl.BaseNumber.Cmp(tmpl.Number) >= 0 {
			return errors.New("crl: BaseNumber of a delta CRL must be less than Number")
		}
	}
	thisUpdate := tmpl.ThisUpdate.UTC().Truncate(time.Second)

	// Fixed parts of TBSCertList before and after revokedCertificates.
	prefix, err := crlTBSPrefix(algID, issuer.RawSubject, thisUpdate, tmpl.NextUpdate)
	if err != nil {
		return err
	}
	suffix, err := crlTBSExtensions(tmpl, issuer.SubjectKeyId)
	if err != nil {
		return err
	}

	// Encode revokedCertificates entries.
	var (
		chunks   [][]byte
		cur      []byte
		revLen   int
		count    int
		yieldErr error
	)
	yield := func(e RevokedEntry) error {
		if yieldErr != nil {
			return yieldErr
		}
		if cap(cur)-len(cur) < maxEntryLen {
			if cur != nil {
				chunks = append(chunks, cur)
			}
			size := minChunkLen
			if cur != nil {
				size = min(2*cap(cur), maxChunkLen)
			}
			cur = make([]byte, 0, size)
		}
		before := len(cur)
		var err error
		cur, err = appendCRLEntry(cur, &e, thisUpdate)
		if err != nil {
			cur = cur[:before]
			serial := "<nil>"
			if e.Serial != nil {
				serial = e.Serial.Text(16)
			}
			yieldErr = fmt.Errorf("crl: revoked entry %d (serial %s): %w", count, serial, err)
			return yieldErr
		}
		revLen += len(cur) - before
		count++
		return nil
	}
	srcErr := entries(yield)
	if yieldErr != nil {
		return yieldErr
	}
	if srcErr != nil {
		return srcErr
	}
	if cur != nil {
		chunks = append(chunks, cur)
	}

	// revokedCertificates is omitted entirely when empty (RFC 5280 §5.1.2.6).
	var revHdr []byte
	if count > 0 {
		revHdr = appendDERHeader(nil, 0x30, revLen)
	}
	tbsLen := len(prefix) + len(revHdr) + revLen + len(suffix)
	tbsHdr := appendDERHeader(nil, 0x30, tbsLen)

	h := hashFunc.New()
	h.Write(tbsHdr)
	h.Write(prefix)
	h.Write(revHdr)
	for _, c := range chunks {
		h.Write(c)
	}
	h.Write(suffix)
	digest := h.Sum(nil)

	sig, err := signer.Sign(rand.Reader, digest, hashFunc)
	if err != nil {
		return fmt.Errorf("crl: signing: %w", err)
	}
	if err := verifyCRLSignature(pub, hashFunc, digest, sig); err != nil {
		return err
	}

	// signatureAlgorithm and signatureValue BIT STRING.
	tail := make([]byte, 0, len(suffix)+len(algID)+len(sig)+8)
	tail = append(tail, suffix...)
	tail = append(tail, algID...)
	tail = appendDERHeader(tail, 0x03, len(sig)+1)
	tail = append(tail, 0x00) // no unused bits
	tail = append(tail, sig...)

	outerLen := len(tbsHdr) + tbsLen + len(tail) - len(suffix)
	head := appendDERHeader(make([]byte, 0, 16+len(tbsHdr)+len(prefix)+len(revHdr)), 0x30, outerLen)
	head = append(head, tbsHdr...)
	head = append(head, prefix...)
	head = append(head, revHdr...)

	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("crl: writing: %w", err)
	}
	for _, c := range chunks {
		if _, err := w.Write(c); err != nil {
			return fmt.Errorf("crl: writing: %w", err)
		}
	}
	if _, err := w.Write(tail); err != nil {
		return fmt.Errorf("crl: writing: %w", err)
	}
	return nil
}

// crlSignatureAlgorithm returns the DER AlgorithmIdentifier and hash for pub.
func crlSignatureAlgorithm(pub crypto.PublicKey) ([]byte, crypto.Hash, error) {
	var b cryptobyte.Builder
	var h crypto.Hash
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var oid []byte
		switch k.Curve {
		case elliptic.P256():
			oid, h = oidECDSAWithSHA256, crypto.SHA256
		case elliptic.P384():
			oid, h = oidECDSAWithSHA384, crypto.SHA384
		case elliptic.P521():
			oid, h = oidECDSAWithSHA512, crypto.SHA512
		default:
			return nil, 0, fmt.Errorf("crl: unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
			// Parameters absent for ECDSA (RFC 5758 §3.2).
		})
	case *rsa.PublicKey:
		h = crypto.SHA256
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSHA256WithRSA) })
			b.AddASN1NULL() // parameters MUST be NULL (RFC 4055 §5)
		})
	default:
		return nil, 0, fmt.Errorf("crl: unsupported signer key type %T (want ECDSA P-256/P-384/P-521 or RSA)", pub)
	}
	der, err := b.Bytes()
	if err != nil {
		return nil, 0, fmt.Errorf("crl: encoding signature algorithm: %w", err)
	}
	if !h.Available() {
		return nil, 0, fmt.Errorf("crl: hash %v not available", h)
	}
	return der, h, nil
}

// verifyCRLSignature checks sig over digest with pub, guarding against a
// faulty signer (e.g. an HSM or an RSA-CRT fault) producing a bad CRL.
func verifyCRLSignature(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("crl: signer produced an invalid ECDSA signature")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
			return fmt.Errorf("crl: signer produced an invalid RSA signature: %w", err)
		}
	}
	return nil
}

// checkCRLInteger validates a CRL number: present, non-negative, <= 20 octets.
func checkCRLInteger(name string, n *big.Int) error {
	if n == nil {
		return fmt.Errorf("crl: %s is required", name)
	}
	if n.Sign() < 0 {
		return fmt.Errorf("crl: %s must not be negative", name)
	}
	if derUintLen(n) > 20 {
		return fmt.Errorf("crl: %s is longer than 20 octets (RFC 5280 §5.2.3)", name)
	}
	return nil
}

// crlTBSPrefix encodes version, signature, issuer, thisUpdate and nextUpdate.
func crlTBSPrefix(algID, rawIssuer []byte, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	b := make([]byte, 0, 3+len(algID)+len(rawIssuer)+2*17)
	b = append(b, 0x02, 0x01, 0x01) // version v2
	b = append(b, algID...)
	b = append(b, rawIssuer...)
	var err error
	if b, err = appendCRLTime(b, thisUpdate, false); err != nil {
		return nil, fmt.Errorf("crl: ThisUpdate: %w", err)
	}
	if b, err = appendCRLTime(b, nextUpdate, false); err != nil {
		return nil, fmt.Errorf("crl: NextUpdate: %w", err)
	}
	return b, nil
}

// crlTBSExtensions encodes the [0] EXPLICIT crlExtensions field.
func crlTBSExtensions(tmpl CRLTemplate, skid []byte) ([]byte, error) {
	if len(tmpl.FreshestCRL) > 0 && tmpl.BaseNumber != nil {
		return nil, errors.New("crl: a delta CRL cannot carry FreshestCRL (RFC 5280 §5.2.6)")
	}
	for _, uri := range tmpl.FreshestCRL {
		if uri == "" {
			return nil, errors.New("crl: empty FreshestCRL URI")
		}
		for i := 0; i < len(uri); i++ {
			if uri[i] >= 0x80 {
				return nil, fmt.Errorf("crl: FreshestCRL URI %q is not ASCII (IA5String)", uri)
			}
		}
	}
	var b cryptobyte.Builder
	ext := func(b *cryptobyte.Builder, oid []byte, critical bool, value func(*cryptobyte.Builder)) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
			if critical {
				b.AddASN1Boolean(true)
			}
			b.AddASN1(cbasn1.OCTET_STRING, value)
		})
	}
	b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			// authorityKeyIdentifier { keyIdentifier [0] IMPLICIT OCTET STRING }
			ext(b, oidExtAuthorityKeyID, false, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(skid) })
				})
			})
			ext(b, oidExtCRLNumber, false, func(b *cryptobyte.Builder) { b.AddASN1BigInt(tmpl.Number) })
			if tmpl.BaseNumber != nil {
				ext(b, oidExtDeltaCRLIndic, true, func(b *cryptobyte.Builder) { b.AddASN1BigInt(tmpl.BaseNumber) })
			}
			if len(tmpl.FreshestCRL) > 0 {
				// FreshestCRL ::= CRLDistributionPoints ::= SEQUENCE OF DistributionPoint
				// DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName }
				//   (a CHOICE, so EXPLICIT) fullName [0] IMPLICIT GeneralNames
				//     uniformResourceIdentifier [6] IMPLICIT IA5String
				ext(b, oidExtFreshestCRL, false, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
									for _, uri := range tmpl.FreshestCRL {
										b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(uri)) })
									}
								})
							})
						})
					})
				})
			}
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("crl: encoding extensions: %w", err)
	}
	return der, nil
}

// appendCRLEntry appends one revokedCertificates entry:
//
//	SEQUENCE { userCertificate INTEGER, revocationDate Time,
//	           crlEntryExtensions Extensions OPTIONAL }
//
// b must have at least maxEntryLen bytes of spare capacity.
func appendCRLEntry(b []byte, e *RevokedEntry, thisUpdate time.Time) ([]byte, error) {
	if e.Serial == nil {
		return b, errors.New("serial is nil")
	}
	if e.Serial.Sign() < 0 {
		return b, errors.New("serial is negative")
	}
	n := derUintLen(e.Serial)
	if n > 20 {
		return b, errors.New("serial is longer than 20 octets")
	}
	if e.RevokedAt.IsZero() {
		return b, errors.New("revocation time is zero")
	}
	revokedAt := e.RevokedAt.UTC().Truncate(time.Second)
	if revokedAt.After(thisUpdate) {
		return b, errors.New("revocation time is after the CRL's ThisUpdate")
	}
	switch {
	case e.Reason < 0 || e.Reason > 10:
		return b, fmt.Errorf("reason code %d is not a CRLReason", e.Reason)
	case e.Reason == 7:
		return b, errors.New("reason code 7 is not used (RFC 5280 §5.3.1)")
	}

	start := len(b)
	b = append(b, 0x30, 0x00) // length patched below; always < 128

	// userCertificate INTEGER
	b = append(b, 0x02, byte(n))
	var buf [20]byte
	mag := (e.Serial.BitLen() + 7) / 8
	if mag == 0 {
		b = append(b, 0x00)
	} else {
		pad := n - mag // 0 or 1 leading zero octet
		e.Serial.FillBytes(buf[pad:n])
		b = append(b, buf[:n]...)
	}

	var err error
	if b, err = appendCRLTime(b, revokedAt, false); err != nil {
		return b[:start], fmt.Errorf("revocation time: %w", err)
	}

	if e.Reason != 0 || !e.InvalidityDate.IsZero() {
		extStart := len(b)
		b = append(b, 0x30, 0x00)
		// Same order as crypto/x509.CreateRevocationList, so the output is
		// byte-identical to it for the same input.
		if !e.InvalidityDate.IsZero() {
			// SEQUENCE { OID invalidityDate, OCTET STRING { GeneralizedTime } }
			b = append(b, 0x30, 0x18, 0x06, 0x03)
			b = append(b, oidExtInvalidityDate...)
			b = append(b, 0x04, 0x11)
			if b, err = appendCRLTime(b, e.InvalidityDate.UTC().Truncate(time.Second), true); err != nil {
				return b[:start], fmt.Errorf("invalidity date: %w", err)
			}
		}
		if e.Reason != 0 {
			// SEQUENCE { OID reasonCode, OCTET STRING { ENUMERATED } }
			b = append(b, 0x30, 0x0a, 0x06, 0x03)
			b = append(b, oidExtReasonCode...)
			b = append(b, 0x04, 0x03, 0x0a, 0x01, byte(e.Reason))
		}
		b[extStart+1] = byte(len(b) - extStart - 2)
	}

	l := len(b) - start - 2
	if l >= 0x80 {
		// Cannot happen given the bounds above.
		return b[:start], errors.New("internal error: entry too long")
	}
	b[start+1] = byte(l)
	return b, nil
}

// derUintLen returns the length of the DER INTEGER content for n >= 0.
func derUintLen(n *big.Int) int {
	bl := n.BitLen()
	if bl == 0 {
		return 1
	}
	return bl/8 + 1 // one extra octet when the top bit of the top byte is set
}

// appendCRLTime appends t (already UTC) as UTCTime for 1950-2049 and as
// GeneralizedTime otherwise (RFC 5280 §5.1.2.4), or always as
// GeneralizedTime if generalized is set.
func appendCRLTime(b []byte, t time.Time, generalized bool) ([]byte, error) {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return b, fmt.Errorf("year %d cannot be encoded", year)
	}
	if !generalized && year >= 1950 && year < 2050 {
		b = append(b, byte(cbasn1.UTCTime), 13)
		b = append2(b, year%100)
	} else {
		b = append(b, byte(cbasn1.GeneralizedTime), 15)
		b = append2(b, year/100)
		b = append2(b, year%100)
	}
	b = append2(b, int(month))
	b = append2(b, day)
	b = append2(b, hour)
	b = append2(b, minute)
	b = append2(b, sec)
	return append(b, 'Z'), nil
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendDERHeader appends a DER tag and definite length.
func appendDERHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	var tmp [8]byte
	i := len(tmp)
	for v := uint64(n); v > 0; v >>= 8 {
		i--
		tmp[i] = byte(v)
	}
	b = append(b, 0x80|byte(len(tmp)-i))
	return append(b, tmp[i:]...)
}
