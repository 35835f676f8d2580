package cmp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // registered for PBM's OWF and HMAC-SHA1 (OpenSSL's default MAC)
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// MaxIterations is the default limit on a PasswordBasedMac iteration count
// (OpenSSL sends 500); a larger count is refused before any hashing, so a
// request cannot make the server hash without bound.
const MaxIterations = 10000

// ErrProtection is wrapped by every protection failure.
var ErrProtection = errors.New("message protection does not verify")

// Hash functions by OID: PBM's one-way function and HMAC algorithms.
var (
	owfByOID = []struct {
		oid asn1.ObjectIdentifier
		h   crypto.Hash
	}{
		{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, crypto.SHA1},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, crypto.SHA224},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512},
	}
	macByOID = []struct {
		oid asn1.ObjectIdentifier
		h   crypto.Hash
	}{
		{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 8, 1, 2}, crypto.SHA1}, // hmac-sha1 (RFC 3370), OpenSSL's default
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}, crypto.SHA1},   // hmacWithSHA1
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}, crypto.SHA224},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, crypto.SHA256},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}, crypto.SHA384},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}, crypto.SHA512},
	}
)

func hashFor(table []struct {
	oid asn1.ObjectIdentifier
	h   crypto.Hash
}, oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, e := range table {
		if e.oid.Equal(oid) {
			return e.h, true
		}
	}
	return 0, false
}

// PBMParameter (RFC 4210 §5.1.3.1).
type pbmParameter struct {
	Salt           []byte
	OWF            pkix.AlgorithmIdentifier
	IterationCount int
	MAC            pkix.AlgorithmIdentifier
}

// PBMAC1-params (RFC 8018 §A.5, RFC 9481 §6.1.1).
type pbmac1Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	MessageAuthScheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// MACProtected reports whether the message claims password-based MAC
// protection (PasswordBasedMac or PBMAC1).
func (m *Message) MACProtected() bool {
	a := m.Header.ProtectionAlg.Algorithm
	return a.Equal(oidPBM) || a.Equal(oidPBMAC1)
}

// macSpec is a MAC key derived from a secret for one message's
// parameters; deriveMAC with a nil secret only checks the parameters.
type macSpec struct {
	h   crypto.Hash
	key []byte
}

func deriveMAC(alg pkix.AlgorithmIdentifier, secret []byte, maxIter int) (*macSpec, error) {
	if maxIter <= 0 {
		maxIter = MaxIterations
	}
	switch {
	case alg.Algorithm.Equal(oidPBM):
		var p pbmParameter
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("PBMParameter malformed: %w", ErrMalformed)
		}
		owf, ok := hashFor(owfByOID, p.OWF.Algorithm)
		if !ok {
			return nil, fmt.Errorf("PBM one-way function %v is not supported: %w", p.OWF.Algorithm, errBadAlg)
		}
		mac, ok := hashFor(macByOID, p.MAC.Algorithm)
		if !ok {
			return nil, fmt.Errorf("PBM MAC %v is not supported: %w", p.MAC.Algorithm, errBadAlg)
		}
		if p.IterationCount < 100 || p.IterationCount > maxIter {
			return nil, fmt.Errorf("PBM iteration count %d is outside 100..%d: %w", p.IterationCount, maxIter, errBadAlg)
		}
		if len(p.Salt) == 0 || len(p.Salt) > 128 {
			return nil, fmt.Errorf("PBM salt of %d bytes: %w", len(p.Salt), errBadAlg)
		}
		if secret == nil { // parameters checked, nothing to derive
			return &macSpec{h: mac}, nil
		}
		// RFC 4210 §5.1.3.1: BASEKEY = OWF(secret || salt), then OWF
		// applied iterationCount-1 more times.
		h := owf.New()
		h.Write(secret)
		h.Write(p.Salt)
		key := h.Sum(nil)
		for i := 1; i < p.IterationCount; i++ {
			h.Reset()
			h.Write(key)
			key = h.Sum(key[:0])
		}
		return &macSpec{h: mac, key: key}, nil
	case alg.Algorithm.Equal(oidPBMAC1):
		var p pbmac1Params
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("PBMAC1-params malformed: %w", ErrMalformed)
		}
		if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
			return nil, fmt.Errorf("PBMAC1 key derivation %v is not PBKDF2: %w", p.KeyDerivationFunc.Algorithm, errBadAlg)
		}
		var kdf pbkdf2Params
		if rest, err := asn1.Unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("PBKDF2-params malformed: %w", ErrMalformed)
		}
		prf := crypto.SHA1 // PBKDF2's default PRF is hmacWithSHA1
		if len(kdf.PRF.Algorithm) != 0 {
			var ok bool
			if prf, ok = hashFor(macByOID, kdf.PRF.Algorithm); !ok {
				return nil, fmt.Errorf("PBKDF2 PRF %v is not supported: %w", kdf.PRF.Algorithm, errBadAlg)
			}
		}
		mac, ok := hashFor(macByOID, p.MessageAuthScheme.Algorithm)
		if !ok {
			return nil, fmt.Errorf("PBMAC1 MAC %v is not supported: %w", p.MessageAuthScheme.Algorithm, errBadAlg)
		}
		if kdf.IterationCount < 1 || kdf.IterationCount > maxIter*10 || len(kdf.Salt) == 0 || len(kdf.Salt) > 128 {
			return nil, fmt.Errorf("PBKDF2 iteration count %d or salt length %d out of range: %w", kdf.IterationCount, len(kdf.Salt), errBadAlg)
		}
		n := kdf.KeyLength
		if n == 0 {
			n = mac.Size()
		}
		if n < 16 || n > 64 {
			return nil, fmt.Errorf("PBKDF2 key length %d out of range: %w", n, errBadAlg)
		}
		if secret == nil {
			return &macSpec{h: mac}, nil
		}
		key, err := pbkdf2.Key(prf.New, string(secret), kdf.Salt, kdf.IterationCount, n)
		if err != nil {
			return nil, fmt.Errorf("PBKDF2: %v: %w", err, errBadAlg)
		}
		return &macSpec{h: mac, key: key}, nil
	}
	return nil, fmt.Errorf("protection %v is not a password-based MAC: %w", alg.Algorithm, errBadAlg)
}

var errBadAlg = errors.New("unsupported protection algorithm")

func (s *macSpec) mac(data []byte) []byte {
	m := hmac.New(func() hash.Hash { return s.h.New() }, s.key)
	m.Write(data)
	return m.Sum(nil)
}

// MACChecker checks a MAC-protected message against candidate secrets.
type MACChecker struct {
	m       *Message
	part    []byte
	maxIter int
}

// NewMACChecker prepares a MAC check; the parameters are checked (a bad
// algorithm or an iteration count above maxIter is an error before any
// secret is tried).
func NewMACChecker(m *Message, maxIter int) (*MACChecker, error) {
	if !m.MACProtected() {
		return nil, fmt.Errorf("the message is not MAC-protected: %w", ErrProtection)
	}
	if len(m.Protection) == 0 {
		return nil, fmt.Errorf("the message has no protection value: %w", ErrProtection)
	}
	if _, err := deriveMAC(m.Header.ProtectionAlg, nil, maxIter); err != nil {
		return nil, err
	}
	part, err := m.protectedPart()
	if err != nil {
		return nil, err
	}
	return &MACChecker{m: m, part: part, maxIter: maxIter}, nil
}

// Check reports whether the message's MAC was made with secret.
func (c *MACChecker) Check(secret []byte) bool {
	if secret == nil {
		return false
	}
	spec, err := deriveMAC(c.m.Header.ProtectionAlg, secret, c.maxIter)
	if err != nil {
		return false
	}
	return hmac.Equal(spec.mac(c.part), c.m.Protection)
}

// ProtectMAC protects m with a password-based MAC using the parameters of
// like with a fresh salt (PBMAC1 for PBMAC1; otherwise PasswordBasedMac with
// like's one-way function, iteration count and MAC), or OpenSSL's defaults
// when like is nil.
func (m *Message) ProtectMAC(secret []byte, like *pkix.AlgorithmIdentifier) error {
	if like != nil && like.Algorithm.Equal(oidPBMAC1) {
		return m.protectPBMAC1(secret, like)
	}
	p := pbmParameter{OWF: pkix.AlgorithmIdentifier{Algorithm: owfByOID[2].oid}, IterationCount: 500,
		MAC: pkix.AlgorithmIdentifier{Algorithm: macByOID[0].oid}}
	if like != nil && like.Algorithm.Equal(oidPBM) {
		if _, err := asn1.Unmarshal(like.Parameters.FullBytes, &p); err != nil {
			return err
		}
	}
	p.Salt = make([]byte, 16)
	rand.Read(p.Salt)
	params, err := asn1.Marshal(p)
	if err != nil {
		return err
	}
	if secret == nil {
		secret = []byte{}
	}
	return m.protectWith(pkix.AlgorithmIdentifier{Algorithm: oidPBM, Parameters: asn1.RawValue{FullBytes: params}}, secret)
}

// protectWith sets m's protection algorithm and computes its MAC over the
// re-encoded protected part.
func (m *Message) protectWith(alg pkix.AlgorithmIdentifier, secret []byte) error {
	m.Header.ProtectionAlg = alg
	m.rawHeader, m.rawBody = nil, nil
	spec, err := deriveMAC(alg, secret, 1<<30)
	if err != nil {
		return err
	}
	part, err := m.protectedPart()
	if err != nil {
		return err
	}
	m.Protection = spec.mac(part)
	return nil
}

func (m *Message) protectPBMAC1(secret []byte, like *pkix.AlgorithmIdentifier) error {
	var p pbmac1Params
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(like.Parameters.FullBytes, &p); err != nil {
		return err
	}
	if _, err := asn1.Unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		return err
	}
	kdf.Salt = make([]byte, 16)
	rand.Read(kdf.Salt)
	kdfDER, err := asn1.Marshal(kdf)
	if err != nil {
		return err
	}
	p.KeyDerivationFunc.Parameters = asn1.RawValue{FullBytes: kdfDER}
	params, err := asn1.Marshal(p)
	if err != nil {
		return err
	}
	return m.protectWith(pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: params}}, append([]byte{}, secret...))
}

// Signature algorithms accepted for protection and POP.
var sigAlgs = []struct {
	oid asn1.ObjectIdentifier
	alg x509.SignatureAlgorithm
	h   crypto.Hash
}{
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, x509.SHA256WithRSA, crypto.SHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, x509.SHA384WithRSA, crypto.SHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, x509.SHA512WithRSA, crypto.SHA512},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, x509.ECDSAWithSHA256, crypto.SHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, x509.ECDSAWithSHA384, crypto.SHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, x509.ECDSAWithSHA512, crypto.SHA512},
	{asn1.ObjectIdentifier{1, 3, 101, 112}, x509.PureEd25519, 0},
}

// checkSignature verifies a signature with crypto/x509 (no SHA-1).
func checkSignature(pub crypto.PublicKey, alg pkix.AlgorithmIdentifier, signed, sig []byte) error {
	for _, a := range sigAlgs {
		if a.oid.Equal(alg.Algorithm) {
			if err := (&x509.Certificate{PublicKey: pub}).CheckSignature(a.alg, signed, sig); err != nil {
				return fmt.Errorf("signature does not verify: %w", ErrProtection)
			}
			return nil
		}
	}
	return fmt.Errorf("signature algorithm %v is not supported: %w", alg.Algorithm, errBadAlg)
}

// VerifySignature checks a signature-protected message against cert (the
// sender's certificate, which the caller has found and validated).
func (m *Message) VerifySignature(cert *x509.Certificate) error {
	if len(m.Protection) == 0 {
		return fmt.Errorf("the message has no protection value: %w", ErrProtection)
	}
	part, err := m.protectedPart()
	if err != nil {
		return err
	}
	return checkSignature(cert.PublicKey, m.Header.ProtectionAlg, part, m.Protection)
}

// ProtectSignature signs m with signer, whose certificate (and chain) the
// caller puts in ExtraCerts.
func (m *Message) ProtectSignature(signer crypto.Signer) error {
	var alg asn1.ObjectIdentifier
	var h crypto.Hash
	var opts crypto.SignerOpts
	switch k := signer.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			alg, h = sigAlgs[4].oid, crypto.SHA384
		case elliptic.P521():
			alg, h = sigAlgs[5].oid, crypto.SHA512
		default:
			alg, h = sigAlgs[3].oid, crypto.SHA256
		}
		opts = h
	case *rsa.PublicKey:
		alg, h, opts = sigAlgs[0].oid, crypto.SHA256, crypto.SHA256
	case ed25519.PublicKey:
		alg, opts = sigAlgs[6].oid, crypto.Hash(0)
	default:
		return fmt.Errorf("cannot sign CMP messages with a %T key", k)
	}
	m.Header.ProtectionAlg = pkix.AlgorithmIdentifier{Algorithm: alg}
	if _, ok := signer.Public().(*rsa.PublicKey); ok {
		m.Header.ProtectionAlg.Parameters = asn1.NullRawValue
	}
	m.rawHeader, m.rawBody = nil, nil
	part, err := m.protectedPart()
	if err != nil {
		return err
	}
	digest := part
	if h != 0 {
		d := h.New()
		d.Write(part)
		digest = d.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return fmt.Errorf("sign CMP message: %w", err)
	}
	m.Protection = sig
	return nil
}
