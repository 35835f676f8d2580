// Package ocsp is cmca's OCSP responder (RFC 6960, with the lightweight
// profile of RFC 5019): an http.Handler for GET and POST at /ocsp that
// answers from responses signed ahead of time by a delegated OCSP signing
// certificate (cfssl's design), so that answering costs no signature. A
// request with a nonce gets a freshly signed answer echoing the nonce.
//
// Requests are parsed and responses created with golang.org/x/crypto/ocsp;
// this package adds the nonce (which x/crypto cannot put where RFC 6960
// wants it, among the responseExtensions), the store of pre-signed
// responses, the cache in front of it and the signer's rotation.
package ocsp

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Signer is the delegated OCSP signing certificate and its key.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// oidNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// maxNonce is the longest nonce accepted (RFC 8954 §2.1: 1 to 32 octets).
const maxNonce = 32

// status is what a response says of one certificate.
type status struct {
	serial     *big.Int
	good       bool
	revoked    bool
	revokedAt  time.Time
	reason     int
	thisUpdate time.Time
	nextUpdate time.Time
	hash       crypto.Hash
}

// createResponse signs one response with a SingleResponse for each of sts
// (one, or several for a request naming several certificates) with the
// signer s, issued by issuer. nonce, if not nil, is the raw extnValue of
// the request's nonce extension, echoed among the responseExtensions.
func createResponse(issuer *x509.Certificate, s *Signer, sts []status, nonce []byte) ([]byte, error) {
	if len(sts) == 0 {
		return nil, errors.New("ocsp: no status to sign")
	}
	if len(sts) == 1 && nonce == nil {
		return xocsp.CreateResponse(issuer, s.Cert, responseTemplate(s, sts[0]), s.Key)
	}
	// x/crypto/ocsp puts one SingleResponse in a response and extensions
	// in the singleExtensions only. Let it lay out a response for each
	// status with a signer that only records the hash, then gather their
	// SingleResponses (and the nonce) into one ResponseData and sign that
	// with the real key.
	rec := &recordingSigner{pub: s.Key.Public()}
	drafts := make([][]byte, len(sts))
	for i, st := range sts {
		var err error
		if drafts[i], err = xocsp.CreateResponse(issuer, s.Cert, responseTemplate(s, st), rec); err != nil {
			return nil, err
		}
	}
	var exts []pkix.Extension
	if nonce != nil {
		exts = append(exts, pkix.Extension{Id: oidNonce, Value: nonce})
	}
	return combineResponses(drafts, exts, rec.opts, s.Key)
}

// responseTemplate is what x/crypto/ocsp needs to lay out a response for st.
func responseTemplate(s *Signer, st status) xocsp.Response {
	tmpl := xocsp.Response{
		Status:       xocsp.Unknown,
		SerialNumber: st.serial,
		ThisUpdate:   st.thisUpdate,
		NextUpdate:   st.nextUpdate,
		Certificate:  s.Cert,
		IssuerHash:   st.hash,
	}
	switch {
	case st.revoked:
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = xocsp.Revoked, st.revokedAt, st.reason
	case st.good:
		tmpl.Status = xocsp.Good
	}
	return tmpl
}

// recordingSigner stands in for the key while x/crypto/ocsp lays out a
// response: it remembers the hash asked for and returns a placeholder.
type recordingSigner struct {
	pub  crypto.PublicKey
	opts crypto.SignerOpts
}

func (r *recordingSigner) Public() crypto.PublicKey { return r.pub }

func (r *recordingSigner) Sign(_ io.Reader, _ []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.opts = opts
	return []byte{0}, nil
}

// The outer layers of an OCSP response (RFC 6960 §4.2.1), kept raw.
type responseASN1 struct {
	Status   asn1.Enumerated
	Response struct {
		ResponseType asn1.ObjectIdentifier
		Response     []byte
	} `asn1:"explicit,tag:0"`
}

type basicResponseASN1 struct {
	TBSResponseData    asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

// draftParts reads a draft response: its outer layers, and the elements of
// its ResponseData (RFC 6960 §4.2.1: version [0] (absent for v1),
// responderID, producedAt, responses, no responseExtensions), of which
// responses is the one universal SEQUENCE.
func draftParts(draft []byte) (responseASN1, basicResponseASN1, []asn1.RawValue, int, error) {
	var outer responseASN1
	var basic basicResponseASN1
	if _, err := asn1.Unmarshal(draft, &outer); err != nil {
		return outer, basic, nil, 0, fmt.Errorf("ocsp: re-read draft response: %w", err)
	}
	if _, err := asn1.Unmarshal(outer.Response.Response, &basic); err != nil {
		return outer, basic, nil, 0, fmt.Errorf("ocsp: re-read draft basic response: %w", err)
	}
	var elems []asn1.RawValue
	responses := -1
	for rest := basic.TBSResponseData.Bytes; len(rest) > 0; {
		var e asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &e); err != nil {
			return outer, basic, nil, 0, fmt.Errorf("ocsp: re-read draft response data: %w", err)
		}
		if e.Class == asn1.ClassUniversal && e.Tag == asn1.TagSequence {
			responses = len(elems)
		}
		elems = append(elems, e)
	}
	if responses < 0 || responses != len(elems)-1 {
		return outer, basic, nil, 0, errors.New("ocsp: draft response data is not laid out as expected")
	}
	return outer, basic, elems, responses, nil
}

// combineResponses builds one response from drafts (each with one
// SingleResponse and no responseExtensions, signed by a recordingSigner):
// the first draft's responderID and producedAt, every draft's
// SingleResponse in order, then exts as the responseExtensions; it signs
// that with key, using the hash x/crypto/ocsp chose for the key.
func combineResponses(drafts [][]byte, exts []pkix.Extension, opts crypto.SignerOpts, key crypto.Signer) ([]byte, error) {
	if opts == nil {
		return nil, errors.New("ocsp: draft response was not signed")
	}
	outer, basic, elems, responses, err := draftParts(drafts[0])
	if err != nil {
		return nil, err
	}
	singles := append([]byte{}, elems[responses].Bytes...)
	for _, d := range drafts[1:] {
		_, _, e, i, err := draftParts(d)
		if err != nil {
			return nil, err
		}
		singles = append(singles, e[i].Bytes...)
	}
	var content []byte
	for _, e := range elems[:responses] {
		content = append(content, e.FullBytes...)
	}
	seq, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: singles})
	if err != nil {
		return nil, err
	}
	content = append(content, seq...)
	if len(exts) > 0 {
		// responseExtensions [1] EXPLICIT Extensions OPTIONAL, last.
		der, err := asn1.Marshal(exts)
		if err != nil {
			return nil, err
		}
		tagged, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: der})
		if err != nil {
			return nil, err
		}
		content = append(content, tagged...)
	}
	tbs, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: content})
	if err != nil {
		return nil, err
	}
	digest := tbs
	if h := opts.HashFunc(); h != 0 {
		hh := h.New()
		hh.Write(tbs)
		digest = hh.Sum(nil)
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("ocsp: sign response: %w", err)
	}
	basic.TBSResponseData = asn1.RawValue{FullBytes: tbs}
	basic.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	body, err := asn1.Marshal(basic)
	if err != nil {
		return nil, err
	}
	outer.Response.Response = body
	return asn1.Marshal(outer)
}

// requestASN1 is an OCSPRequest (RFC 6960 §4.1.1), read only for its
// requestExtensions: x/crypto/ocsp parses the rest.
type requestASN1 struct {
	TBSRequest struct {
		Version     int              `asn1:"explicit,tag:0,default:0,optional"`
		RequestorID asn1.RawValue    `asn1:"explicit,tag:1,optional"`
		RequestList []asn1.RawValue  // one or more Request
		Extensions  []pkix.Extension `asn1:"explicit,tag:2,optional"`
	}
	Signature asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

// errBadNonce is a nonce extension that RFC 8954 does not allow.
var errBadNonce = errors.New("ocsp: nonce is empty or longer than 32 octets")

// requestNonce returns the raw extnValue of the request's nonce extension
// (nil if there is none).
func requestNonce(der []byte) ([]byte, error) {
	var req requestASN1
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil, err
	}
	for _, e := range req.TBSRequest.Extensions {
		if !e.Id.Equal(oidNonce) {
			continue
		}
		// extnValue holds an OCTET STRING of the nonce (RFC 8954 §2.1).
		var n []byte
		if rest, err := asn1.Unmarshal(e.Value, &n); err != nil || len(rest) > 0 || len(n) == 0 || len(n) > maxNonce {
			return nil, errBadNonce
		}
		return e.Value, nil
	}
	return nil, nil
}
