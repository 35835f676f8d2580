package cmp

import (
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// NewResponse starts the answer to req: same transactionID, req's
// senderNonce as recipNonce, a fresh senderNonce, sender the CA's name.
// The caller protects it (ProtectMAC or ProtectSignature) and marshals it.
func NewResponse(req *Message, t BodyType, body []byte, senderName []byte, now time.Time) *Message {
	pvno := 2
	if req != nil && req.Header.PVNO == 3 {
		pvno = 3
	}
	h := Header{PVNO: pvno, Sender: directoryName(senderName), Recipient: directoryName(nil),
		MessageTime: now.UTC().Truncate(time.Second), SenderNonce: make([]byte, 16)}
	rand.Read(h.SenderNonce)
	if req != nil {
		h.Recipient = req.Header.Sender
		h.Recipient.FullBytes = nil
		h.TransactionID = req.Header.TransactionID
		h.RecipNonce = req.Header.SenderNonce
		if req.MACProtected() {
			h.RecipKID = req.Header.SenderKID
		}
	}
	return &Message{Header: h, Type: t, Body: body}
}

// GrantImplicitConfirm marks a response as implicitly confirmed.
func (m *Message) GrantImplicitConfirm() {
	m.Header.GeneralInfo = append(m.Header.GeneralInfo, InfoTypeAndValue{Type: oidImplicitConfirm, Value: asn1.NullRawValue})
	m.rawHeader = nil
}

type certifiedKeyPair struct {
	CertOrEncCert asn1.RawValue // certificate [0] CMPCertificate
}

type certResponse struct {
	CertReqID        int64
	Status           StatusInfo
	CertifiedKeyPair certifiedKeyPair `asn1:"optional"`
}

type certRepMessage struct {
	CAPubs   []asn1.RawValue `asn1:"explicit,optional,tag:1"`
	Response []certResponse
}

// CertRepBody encodes an ip, cp or kup body: one response, with the
// certificate when status is accepted.
func CertRepBody(caPubs [][]byte, certReqID int64, status StatusInfo, certDER []byte) ([]byte, error) {
	rep := certRepMessage{Response: []certResponse{{CertReqID: certReqID, Status: status}}}
	for _, c := range caPubs {
		rep.CAPubs = append(rep.CAPubs, asn1.RawValue{FullBytes: c})
	}
	if certDER != nil {
		rep.Response[0].CertifiedKeyPair.CertOrEncCert = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certDER}
	}
	return asn1.Marshal(rep)
}

// CertRep is a parsed ip, cp or kup (for clients and tests).
type CertRep struct {
	CAPubs [][]byte
	ID     int64
	Status StatusInfo
	Cert   []byte
}

// ParseCertRep reads an ip, cp or kup body's first response.
func ParseCertRep(body []byte) (*CertRep, error) {
	var rep certRepMessage
	if rest, err := asn1.Unmarshal(body, &rep); err != nil || len(rest) != 0 {
		return nil, malformed("CertRepMessage: %v", err)
	}
	if len(rep.Response) == 0 {
		return nil, malformed("CertRepMessage has no response")
	}
	out := &CertRep{ID: rep.Response[0].CertReqID, Status: rep.Response[0].Status}
	for _, c := range rep.CAPubs {
		out.CAPubs = append(out.CAPubs, c.FullBytes)
	}
	if c := rep.Response[0].CertifiedKeyPair.CertOrEncCert; c.Tag == 0 && c.Class == asn1.ClassContextSpecific {
		out.Cert = c.Bytes
	}
	return out, nil
}

type errorMsgContent struct {
	Status       StatusInfo
	ErrorCode    int             `asn1:"optional"`
	ErrorDetails []asn1.RawValue `asn1:"optional"`
}

// ErrorBody encodes an error message body.
func ErrorBody(status StatusInfo, details string) ([]byte, error) {
	return asn1.Marshal(errorMsgContent{Status: status, ErrorDetails: freeText(details)})
}

// ParseError reads an error body.
func ParseError(body []byte) (StatusInfo, string, error) {
	var e errorMsgContent
	if rest, err := asn1.Unmarshal(body, &e); err != nil || len(rest) != 0 {
		return StatusInfo{}, "", malformed("ErrorMsgContent: %v", err)
	}
	d := FreeText(e.ErrorDetails)
	if len(d) == 0 {
		return e.Status, "", nil
	}
	return e.Status, d[0], nil
}

type revRepContent struct {
	Status []StatusInfo
}

// RevRepBody encodes an rp body.
func RevRepBody(status ...StatusInfo) ([]byte, error) {
	return asn1.Marshal(revRepContent{Status: status})
}

// ParseRevRep reads an rp body.
func ParseRevRep(body []byte) ([]StatusInfo, error) {
	var r revRepContent
	if rest, err := asn1.Unmarshal(body, &r); err != nil || len(rest) != 0 {
		return nil, malformed("RevRepContent: %v", err)
	}
	return r.Status, nil
}

// PKIConfBody is the body of a pkiConf (NULL).
func PKIConfBody() []byte { return asn1.NullBytes }

// SerialHex formats a certificate serial as cmca stores it.
func SerialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }
