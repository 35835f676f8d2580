package ocsp

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxCertIDs bounds the certificates one request may ask about. Clients
// ask about one (RFC 5019 §2.1.1); openssl ocsp sends one per -cert.
const MaxCertIDs = 32

// certIDCount counts the Requests in an OCSP request's requestList
// without allocating (0 if der is not laid out as one): the hot path asks
// only whether there is more than one.
func certIDCount(der []byte) int {
	s := cryptobyte.String(der)
	var req, tbs, list cryptobyte.String
	if !s.ReadASN1(&req, casn1.SEQUENCE) || !req.ReadASN1(&tbs, casn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(casn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipOptionalASN1(casn1.Tag(1).Constructed().ContextSpecific()) ||
		!tbs.ReadASN1(&list, casn1.SEQUENCE) {
		return 0
	}
	n := 0
	for !list.Empty() {
		if !list.SkipASN1(casn1.SEQUENCE) {
			return 0
		}
		n++
	}
	return n
}

// certID is one CertID of a request (RFC 6960 §4.1.1).
type certID struct {
	hash              crypto.Hash
	nameHash, keyHash []byte
	serial            *big.Int
}

type singleRequestASN1 struct {
	CertID struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		NameHash      []byte
		KeyHash       []byte
		Serial        *big.Int
	}
	Extensions []pkix.Extension `asn1:"explicit,tag:0,optional"`
}

// hashOIDs are the CertID hash algorithms accepted.
var hashOIDs = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

var errUnknownHash = errors.New("unknown CertID hash algorithm")

// certIDs reads every CertID of a request.
func certIDs(der []byte) ([]certID, error) {
	var req requestASN1
	if rest, err := asn1.Unmarshal(der, &req); err != nil {
		return nil, err
	} else if len(rest) > 0 {
		return nil, errors.New("trailing data after the request")
	}
	list := req.TBSRequest.RequestList
	if len(list) == 0 {
		return nil, errors.New("no CertID in the request")
	}
	out := make([]certID, 0, len(list))
	for i, raw := range list {
		var one singleRequestASN1
		if rest, err := asn1.Unmarshal(raw.FullBytes, &one); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("request %d: not a CertID", i+1)
		}
		h, ok := hashOIDs[one.CertID.HashAlgorithm.Algorithm.String()]
		if !ok {
			return nil, fmt.Errorf("request %d: %w %s", i+1, errUnknownHash, one.CertID.HashAlgorithm.Algorithm)
		}
		out = append(out, certID{hash: h, nameHash: one.CertID.NameHash, keyHash: one.CertID.KeyHash, serial: one.CertID.Serial})
	}
	return out, nil
}
