package cmp

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// CertRequest is one CRMF CertReqMsg (RFC 4211) of an ir, cr or kur, or the
// PKCS#10 request of a p10cr.
type CertRequest struct {
	ID int64 // certReqId; 0 for p10cr
	// PublicKey and RawSPKI come from the template (or the CSR).
	PublicKey crypto.PublicKey
	RawSPKI   []byte
	// Subject is what the client asked for. The CA ignores it: the
	// certificate's content comes from the approved application.
	Subject pkix.RDNSequence
	// CSR is set for p10cr.
	CSR *x509.CertificateRequest

	rawCertReq []byte // DER of CertRequest, what a signature POP signs
	pop        asn1.RawValue
}

type certRequest struct {
	ID       int64
	Template asn1.RawValue
	Controls asn1.RawValue `asn1:"optional"`
}

type popoSigningKey struct {
	Input     asn1.RawValue `asn1:"optional,tag:0"`
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

// retag replaces the outer tag of a single-byte-tagged DER value by the
// universal SEQUENCE tag: IMPLICIT [n] SEQUENCE back to SEQUENCE.
func retag(full []byte, tag byte) []byte {
	b := append([]byte(nil), full...)
	b[0] = tag
	return b
}

// ParseCertRequests reads the body of an ir, cr, kur (CertReqMessages) or
// p10cr (a PKCS#10 CertificationRequest). It checks structure, not POP.
func ParseCertRequests(t BodyType, body []byte) ([]*CertRequest, error) {
	if t == BodyP10CR {
		csr, err := x509.ParseCertificateRequest(body)
		if err != nil {
			return nil, malformed("p10cr: %v", err)
		}
		return []*CertRequest{{PublicKey: csr.PublicKey, RawSPKI: csr.RawSubjectPublicKeyInfo, CSR: csr}}, nil
	}
	var msgs []asn1.RawValue
	if rest, err := asn1.Unmarshal(body, &msgs); err != nil || len(rest) != 0 {
		return nil, malformed("CertReqMessages: %v", err)
	}
	if len(msgs) == 0 {
		return nil, malformed("CertReqMessages is empty")
	}
	var out []*CertRequest
	for i, msg := range msgs {
		var parts []asn1.RawValue
		if rest, err := asn1.Unmarshal(msg.FullBytes, &parts); err != nil || len(rest) != 0 || len(parts) == 0 {
			return nil, malformed("CertReqMsg %d: not a SEQUENCE", i)
		}
		r, err := parseCertRequest(parts[0].FullBytes)
		if err != nil {
			return nil, malformed("CertReqMsg %d: %v", i, err)
		}
		if len(parts) > 1 && parts[1].Class == asn1.ClassContextSpecific {
			r.pop = parts[1]
		}
		out = append(out, r)
	}
	return out, nil
}

func parseCertRequest(der []byte) (*CertRequest, error) {
	var cr certRequest
	if rest, err := asn1.Unmarshal(der, &cr); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("CertRequest: %v", err)
	}
	if cr.Template.Tag != asn1.TagSequence || cr.Template.Class != asn1.ClassUniversal {
		return nil, fmt.Errorf("CertTemplate is not a SEQUENCE")
	}
	r := &CertRequest{ID: cr.ID, rawCertReq: der}
	var fields []asn1.RawValue
	if rest, err := asn1.Unmarshal(cr.Template.FullBytes, &fields); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("CertTemplate: %v", err)
	}
	for _, f := range fields {
		if f.Class != asn1.ClassContextSpecific || len(f.FullBytes) == 0 || f.FullBytes[0]&0x1f == 0x1f {
			return nil, fmt.Errorf("CertTemplate: unexpected element")
		}
		switch f.Tag {
		case 5: // subject [5] Name (a CHOICE, so explicitly tagged)
			if _, err := asn1.Unmarshal(f.Bytes, &r.Subject); err != nil {
				return nil, fmt.Errorf("CertTemplate subject: %v", err)
			}
		case 6: // publicKey [6] IMPLICIT SubjectPublicKeyInfo
			if !f.IsCompound {
				return nil, fmt.Errorf("CertTemplate publicKey is not constructed")
			}
			r.RawSPKI = retag(f.FullBytes, 0x30)
			pub, err := x509.ParsePKIXPublicKey(r.RawSPKI)
			if err != nil {
				return nil, fmt.Errorf("CertTemplate publicKey: %v", err)
			}
			r.PublicKey = pub
		}
	}
	if r.PublicKey == nil {
		return nil, fmt.Errorf("CertTemplate has no public key (central key generation is not offered)")
	}
	return r, nil
}

// VerifyPOP checks the proof of possession of the request's key: the
// signature POP over the DER of certReq (RFC 4211 §4.1), or, for p10cr, the
// CSR's own signature.
func (r *CertRequest) VerifyPOP() error {
	if r.CSR != nil {
		return r.CSR.CheckSignature()
	}
	if r.pop.Class != asn1.ClassContextSpecific {
		return fmt.Errorf("the request has no proof of possession")
	}
	if r.pop.Tag != 1 || !r.pop.IsCompound {
		return fmt.Errorf("only signature proof of possession is accepted (got choice [%d])", r.pop.Tag)
	}
	var sk popoSigningKey
	if rest, err := asn1.Unmarshal(retag(r.pop.FullBytes, 0x30), &sk); err != nil || len(rest) != 0 {
		return fmt.Errorf("POPOSigningKey: malformed")
	}
	if len(sk.Input.FullBytes) != 0 {
		return fmt.Errorf("POPOSigningKey with poposkInput is not accepted; put the subject and key in the template")
	}
	return checkSignature(r.PublicKey, sk.Algorithm, r.rawCertReq, sk.Signature.RightAlign())
}

// RevocationRequest is one RevDetails of an rr.
type RevocationRequest struct {
	Serial *big.Int
	Issuer pkix.RDNSequence
	Reason int // RFC 5280 CRLReason; -1 when absent
}

// ParseRevocationRequests reads the body of an rr.
func ParseRevocationRequests(body []byte) ([]RevocationRequest, error) {
	var details []asn1.RawValue
	if rest, err := asn1.Unmarshal(body, &details); err != nil || len(rest) != 0 || len(details) == 0 {
		return nil, malformed("RevReqContent: malformed or empty")
	}
	var out []RevocationRequest
	for i, d := range details {
		var parts []asn1.RawValue
		if rest, err := asn1.Unmarshal(d.FullBytes, &parts); err != nil || len(rest) != 0 || len(parts) == 0 {
			return nil, malformed("RevDetails %d: malformed", i)
		}
		rr := RevocationRequest{Reason: -1}
		var fields []asn1.RawValue
		if rest, err := asn1.Unmarshal(parts[0].FullBytes, &fields); err != nil || len(rest) != 0 {
			return nil, malformed("RevDetails %d: CertTemplate malformed", i)
		}
		for _, f := range fields {
			if f.Class != asn1.ClassContextSpecific || len(f.FullBytes) == 0 || f.FullBytes[0]&0x1f == 0x1f {
				return nil, malformed("RevDetails %d: unexpected element", i)
			}
			switch f.Tag {
			case 1: // serialNumber [1] IMPLICIT INTEGER
				if f.IsCompound {
					return nil, malformed("RevDetails %d: serialNumber is constructed", i)
				}
				rr.Serial = new(big.Int)
				if _, err := asn1.Unmarshal(retag(f.FullBytes, 0x02), &rr.Serial); err != nil {
					return nil, malformed("RevDetails %d: serialNumber: %v", i, err)
				}
			case 3: // issuer [3] Name
				if _, err := asn1.Unmarshal(f.Bytes, &rr.Issuer); err != nil {
					return nil, malformed("RevDetails %d: issuer: %v", i, err)
				}
			}
		}
		if rr.Serial == nil {
			return nil, malformed("RevDetails %d: no serialNumber", i)
		}
		if len(parts) > 1 {
			var exts []pkix.Extension
			if rest, err := asn1.Unmarshal(parts[1].FullBytes, &exts); err != nil || len(rest) != 0 {
				return nil, malformed("RevDetails %d: crlEntryDetails: malformed", i)
			}
			for _, e := range exts {
				if e.Id.Equal(oidReasonCode) {
					var reason asn1.Enumerated
					if _, err := asn1.Unmarshal(e.Value, &reason); err != nil || reason < 0 || reason > 10 {
						return nil, malformed("RevDetails %d: bad reasonCode", i)
					}
					rr.Reason = int(reason)
				}
			}
		}
		out = append(out, rr)
	}
	return out, nil
}

// CertStatus is one entry of a certConf.
type CertStatus struct {
	CertHash   []byte
	CertReqID  int64
	StatusInfo StatusInfo               `asn1:"optional"`
	HashAlg    pkix.AlgorithmIdentifier `asn1:"explicit,optional,tag:0"`
}

// Rejected reports whether the client refused the certificate.
func (c *CertStatus) Rejected() bool { return c.StatusInfo.Status == StatusRejection }

// ParseCertConf reads the body of a certConf.
func ParseCertConf(body []byte) ([]CertStatus, error) {
	var out []CertStatus
	if rest, err := asn1.Unmarshal(body, &out); err != nil || len(rest) != 0 {
		return nil, malformed("CertConfirmContent: %v", err)
	}
	return out, nil
}
