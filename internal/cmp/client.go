package cmp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"
)

// The client side, as far as tests, benchmarks and a future cmca client
// need it: requests are built here and parsed by the server code above.

// CertReqBody builds the CertReqMessages of an ir, cr or kur for key, with
// a signature POP over the certReq.
func CertReqBody(key crypto.Signer, subject pkix.Name, certReqID int64) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	var spkiSeq asn1.RawValue
	if _, err := asn1.Unmarshal(spki, &spkiSeq); err != nil {
		return nil, err
	}
	name, err := asn1.Marshal(subject.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	tmpl, err := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 5, IsCompound: true, Bytes: name},
		{Class: asn1.ClassContextSpecific, Tag: 6, IsCompound: true, Bytes: spkiSeq.Bytes},
	})
	if err != nil {
		return nil, err
	}
	certReq, err := asn1.Marshal(struct {
		ID       int64
		Template asn1.RawValue
	}{certReqID, asn1.RawValue{FullBytes: tmpl}})
	if err != nil {
		return nil, err
	}
	alg, sig, err := sign(key, certReq)
	if err != nil {
		return nil, err
	}
	popo, err := asn1.Marshal(popoSigningKey{Algorithm: alg, Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return nil, err
	}
	pop := asn1.RawValue{FullBytes: retag(popo, 0xa1)}
	msg, err := asn1.Marshal([]asn1.RawValue{{FullBytes: certReq}, pop})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal([]asn1.RawValue{{FullBytes: msg}})
}

// sign signs data with key the way ProtectSignature does.
func sign(key crypto.Signer, data []byte) (pkix.AlgorithmIdentifier, []byte, error) {
	h, alg := crypto.SHA256, sigAlgs[3]
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		alg = sigAlgs[0]
	case ed25519.PublicKey:
		h, alg = 0, sigAlgs[6]
	default:
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("unsupported key %T", key.Public())
	}
	digest := data
	if h != 0 {
		d := h.New()
		d.Write(data)
		digest = d.Sum(nil)
	}
	sig, err := key.Sign(rand.Reader, digest, h)
	ai := pkix.AlgorithmIdentifier{Algorithm: alg.oid}
	if alg.alg == x509.SHA256WithRSA {
		ai.Parameters = asn1.NullRawValue
	}
	return ai, sig, err
}

// NewRequest starts a client request with a fresh transactionID and
// senderNonce; senderKID names the shared secret for MAC protection.
func NewRequest(t BodyType, body []byte, senderKID []byte, now time.Time) *Message {
	h := Header{PVNO: 2, Sender: directoryName(nil), Recipient: directoryName(nil), MessageTime: now.UTC().Truncate(time.Second),
		SenderKID: senderKID, TransactionID: make([]byte, 16), SenderNonce: make([]byte, 16)}
	rand.Read(h.TransactionID)
	rand.Read(h.SenderNonce)
	return &Message{Header: h, Type: t, Body: body}
}

// FollowUp starts the next request of a transaction (a certConf after an
// ip): same transactionID, the response's senderNonce as recipNonce.
func FollowUp(t BodyType, body []byte, prev, resp *Message, now time.Time) *Message {
	m := NewRequest(t, body, prev.Header.SenderKID, now)
	m.Header.TransactionID = prev.Header.TransactionID
	m.Header.RecipNonce = resp.Header.SenderNonce
	return m
}

// RequestImplicitConfirm asks the server to skip certConf.
func (m *Message) RequestImplicitConfirm() { m.GrantImplicitConfirm() }

// CertConfBody builds a certConf for certDER; reject says the client will
// not use the certificate, with text as the reason.
func CertConfBody(certDER []byte, certReqID int64, reject bool, text string) ([]byte, error) {
	sum := crypto.SHA256.New()
	sum.Write(certDER)
	st := CertStatus{CertHash: sum.Sum(nil), CertReqID: certReqID}
	if reject {
		st.StatusInfo = newStatus(StatusRejection, text, BadCertTemplate)
	}
	return asn1.Marshal([]CertStatus{st})
}

// RevReqBody builds the body of an rr for one certificate.
func RevReqBody(cert *x509.Certificate, reason int) ([]byte, error) {
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, err
	}
	tmpl, err := asn1.Marshal([]asn1.RawValue{
		{FullBytes: retag(serial, 0x81)},
		{Class: asn1.ClassContextSpecific, Tag: 3, IsCompound: true, Bytes: cert.RawIssuer},
	})
	if err != nil {
		return nil, err
	}
	details := []asn1.RawValue{{FullBytes: tmpl}}
	if reason >= 0 {
		v, _ := asn1.Marshal(asn1.Enumerated(reason))
		ext, err := asn1.Marshal([]pkix.Extension{{Id: oidReasonCode, Value: v}})
		if err != nil {
			return nil, err
		}
		details = append(details, asn1.RawValue{FullBytes: ext})
	}
	d, err := asn1.Marshal(details)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal([]asn1.RawValue{{FullBytes: d}})
}
