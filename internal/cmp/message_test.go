package cmp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The messages in testdata/openssl were written by OpenSSL 3.0's
// `openssl cmp -reqout` (ir, cr, p10cr, genm with -secret pass:ABCD and
// -ref REF123; kur and rr signed by a throwaway CA), and the certConfs by
// TestCMPOpenSSL in internal/service (CMCA_CMP_CAPTURE).
func openSSLMessages(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/openssl/*.der")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".der")] = data
	}
	return out
}

func TestParseOpenSSLMessages(t *testing.T) {
	want := map[string]BodyType{"ir-ec": BodyIR, "ir-rsa-implicit": BodyIR, "cr": BodyCR, "p10cr": BodyP10CR, "kur": BodyKUR,
		"rr": BodyRR, "genm": BodyGenM, "certconf": BodyCertConf, "certconf-signed": BodyCertConf, "kur-signed": BodyKUR}
	for name, der := range openSSLMessages(t) {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(der)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if m.Type != want[name] {
				t.Errorf("type = %v; want %v", m.Type, want[name])
			}
			if m.Header.PVNO != 2 || len(m.Header.TransactionID) != 16 || len(m.Header.SenderNonce) != 16 || m.Header.MessageTime.IsZero() {
				t.Errorf("header = %+v; want pvno 2, 16-byte transactionID and nonce, a messageTime", m.Header)
			}
			again, err := m.Marshal()
			if err != nil || !bytes.Equal(again, der) {
				t.Errorf("Marshal(ParseMessage(%s)) differs from OpenSSL's bytes (%v)", name, err)
			}
			if got := m.Header.ImplicitConfirm(); got != (name == "ir-rsa-implicit") {
				t.Errorf("ImplicitConfirm = %v", got)
			}
			switch m.Type {
			case BodyIR, BodyCR, BodyP10CR, BodyKUR:
				reqs, err := ParseCertRequests(m.Type, m.Body)
				if err != nil || len(reqs) != 1 {
					t.Fatalf("ParseCertRequests = %v, %v", reqs, err)
				}
				if err := reqs[0].VerifyPOP(); err != nil {
					t.Errorf("VerifyPOP: %v", err)
				}
			case BodyRR:
				rrs, err := ParseRevocationRequests(m.Body)
				if err != nil || len(rrs) != 1 || rrs[0].Reason != 4 || len(m.ExtraCerts) == 0 || rrs[0].Serial.Cmp(m.ExtraCerts[0].SerialNumber) != 0 {
					t.Errorf("ParseRevocationRequests = %+v, %v; want the signer's serial, reason 4 (superseded)", rrs, err)
				}
			case BodyCertConf:
				st, err := ParseCertConf(m.Body)
				if err != nil || len(st) != 1 || len(st[0].CertHash) != 32 || st[0].Rejected() {
					t.Errorf("ParseCertConf = %+v, %v", st, err)
				}
			}
			if m.MACProtected() {
				c, err := NewMACChecker(m, 0)
				if err != nil {
					t.Fatal(err)
				}
				if name == "ir-ec" || name == "cr" || name == "p10cr" || name == "genm" || name == "ir-rsa-implicit" {
					if !c.Check([]byte("ABCD")) {
						t.Error("the MAC does not verify with the secret OpenSSL used")
					}
				}
				if c.Check([]byte("ABCE")) {
					t.Error("the MAC verifies with a wrong secret")
				}
			} else if err := m.VerifySignature(m.ExtraCerts[0]); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
		})
	}
}

func TestTamperedMessageFails(t *testing.T) {
	msgs := openSSLMessages(t)
	for _, name := range []string{"ir-ec", "kur"} {
		der := append([]byte(nil), msgs[name]...)
		m, _ := ParseMessage(der)
		m.Header.SenderNonce[0] ^= 1
		tampered, _ := ParseMessage(mustMarshalHeaderChange(t, m))
		if tampered.MACProtected() {
			c, _ := NewMACChecker(tampered, 0)
			if c.Check([]byte("ABCD")) {
				t.Errorf("%s: MAC verifies after the header changed", name)
			}
		} else if tampered.VerifySignature(tampered.ExtraCerts[0]) == nil {
			t.Errorf("%s: signature verifies after the header changed", name)
		}
	}
}

func mustMarshalHeaderChange(t *testing.T, m *Message) []byte {
	t.Helper()
	m.rawHeader = nil
	der, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestFailureBits(t *testing.T) {
	tests := []struct {
		fails []FailureInfo
		want  asn1.BitString
	}{
		{[]FailureInfo{BadAlg}, asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}},
		{[]FailureInfo{BadMessageCheck}, asn1.BitString{Bytes: []byte{0x40}, BitLength: 2}},
		{[]FailureInfo{BadPOP}, asn1.BitString{Bytes: []byte{0, 0x40}, BitLength: 10}},
		{[]FailureInfo{TransactionIDInUse, BadRequest}, asn1.BitString{Bytes: []byte{0x20, 0, 0x04}, BitLength: 22}},
	}
	for _, tt := range tests {
		got := failureBits(tt.fails...)
		if !bytes.Equal(got.Bytes, tt.want.Bytes) || got.BitLength != tt.want.BitLength {
			t.Errorf("failureBits(%v) = %+v; want %+v", tt.fails, got, tt.want)
		}
		si := StatusInfo{FailInfo: got}
		for _, f := range tt.fails {
			if !si.Failure(f) {
				t.Errorf("Failure(%d) = false after failureBits(%v)", f, tt.fails)
			}
		}
	}
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A request built here parses back, its POP verifies, and its MAC verifies
// with the secret only.
func TestRequestRoundTrip(t *testing.T) {
	key := newECKey(t)
	body, err := CertReqBody(key, pkix.Name{CommonName: "x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := NewRequest(BodyIR, body, []byte("REF"), time.Now())
	m.RequestImplicitConfirm()
	if err := m.ProtectMAC([]byte("s3cret"), nil); err != nil {
		t.Fatal(err)
	}
	der, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(der)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewMACChecker(got, 0)
	if err != nil || !c.Check([]byte("s3cret")) || c.Check([]byte("s3creT")) {
		t.Fatalf("MAC check: %v", err)
	}
	if !got.Header.ImplicitConfirm() || string(got.Header.SenderKID) != "REF" {
		t.Errorf("header = %+v", got.Header)
	}
	reqs, err := ParseCertRequests(got.Type, got.Body)
	if err != nil || reqs[0].VerifyPOP() != nil || !key.PublicKey.Equal(reqs[0].PublicKey) {
		t.Fatalf("request: %v", err)
	}
	// A POP by another key fails.
	other, _ := CertReqBody(newECKey(t), pkix.Name{CommonName: "x"}, 0)
	otherReqs, _ := ParseCertRequests(BodyIR, other)
	otherReqs[0].rawCertReq = reqs[0].rawCertReq
	if otherReqs[0].VerifyPOP() == nil {
		t.Error("a POP signed by another key verifies")
	}
}

func TestSignatureProtection(t *testing.T) {
	key := newECKey(t)
	tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "s"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	m := NewResponse(nil, BodyPKIConf, PKIConfBody(), cert.RawSubject, time.Now())
	m.ExtraCerts = []*x509.Certificate{cert}
	if err := m.ProtectSignature(key); err != nil {
		t.Fatal(err)
	}
	out, _ := m.Marshal()
	got, err := ParseMessage(out)
	if err != nil || got.VerifySignature(cert) != nil {
		t.Fatalf("signed message does not verify: %v", err)
	}
}

// PBMAC1 (RFC 9481): the MAC is HMAC under a PBKDF2 key, computed here
// independently of deriveMAC.
func TestPBMAC1(t *testing.T) {
	salt := []byte("0123456789abcdef")
	hmacSHA256 := pkix.AlgorithmIdentifier{Algorithm: macByOID[3].oid, Parameters: asn1.NullRawValue}
	kdf, _ := asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: 1000, KeyLength: 32, PRF: hmacSHA256})
	params, _ := asn1.Marshal(pbmac1Params{KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}}, MessageAuthScheme: hmacSHA256})
	m := NewRequest(BodyGenM, []byte{0x30, 0}, []byte("REF"), time.Now())
	m.Header.ProtectionAlg = pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: params}}
	part, _ := m.protectedPart()
	key, _ := pbkdf2.Key(sha256.New, "pw", salt, 1000, 32)
	mac := hmac.New(sha256.New, key)
	mac.Write(part)
	m.Protection = mac.Sum(nil)
	der, _ := m.Marshal()
	got, err := ParseMessage(der)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewMACChecker(got, 0)
	if err != nil || !c.Check([]byte("pw")) || c.Check([]byte("pW")) {
		t.Fatalf("PBMAC1 check wrong: %v", err)
	}
	// A response to it is PBMAC1-protected too, with a fresh salt.
	resp := NewResponse(got, BodyPKIConf, PKIConfBody(), nil, time.Now())
	if err := resp.ProtectMAC([]byte("pw"), &got.Header.ProtectionAlg); err != nil {
		t.Fatal(err)
	}
	if !resp.Header.ProtectionAlg.Algorithm.Equal(oidPBMAC1) || bytes.Equal(resp.Header.ProtectionAlg.Parameters.FullBytes, got.Header.ProtectionAlg.Parameters.FullBytes) {
		t.Errorf("response protection %v; want PBMAC1 with a new salt", resp.Header.ProtectionAlg.Algorithm)
	}
	der, _ = resp.Marshal()
	back, _ := ParseMessage(der)
	if c, err := NewMACChecker(back, 0); err != nil || !c.Check([]byte("pw")) {
		t.Errorf("PBMAC1 response does not verify: %v", err)
	}
}

func TestMACParameterLimits(t *testing.T) {
	m := NewRequest(BodyIR, []byte{0x30, 0}, []byte("REF"), time.Now())
	for _, tt := range []struct {
		iter int
		ok   bool
	}{{99, false}, {100, true}, {500, true}, {MaxIterations, true}, {MaxIterations + 1, false}, {1 << 30, false}} {
		p, _ := asn1.Marshal(pbmParameter{Salt: []byte("salt"), OWF: pkix.AlgorithmIdentifier{Algorithm: owfByOID[2].oid},
			IterationCount: tt.iter, MAC: pkix.AlgorithmIdentifier{Algorithm: macByOID[0].oid}})
		m.Header.ProtectionAlg = pkix.AlgorithmIdentifier{Algorithm: oidPBM, Parameters: asn1.RawValue{FullBytes: p}}
		m.Protection = []byte{1}
		_, err := NewMACChecker(m, 0)
		if (err == nil) != tt.ok {
			t.Errorf("NewMACChecker(iterations %d) = %v; want ok=%v", tt.iter, err, tt.ok)
		}
	}
}
