package ocsp

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// withNonce adds a nonce extension to a DER request without one.
func withNonce(t *testing.T, der, nonce []byte) []byte {
	t.Helper()
	var req requestASN1
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		t.Fatal(err)
	}
	v, err := asn1.Marshal(nonce)
	if err != nil {
		t.Fatal(err)
	}
	req.TBSRequest.Extensions = []pkix.Extension{{Id: oidNonce, Value: v}}
	out, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// responseNonce reads the nonce among a response's responseExtensions.
func responseNonce(der []byte) ([]byte, error) {
	var outer responseASN1
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		return nil, err
	}
	var basic basicResponseASN1
	if _, err := asn1.Unmarshal(outer.Response.Response, &basic); err != nil {
		return nil, err
	}
	var data struct {
		Version     int `asn1:"explicit,tag:0,default:0,optional"`
		ResponderID asn1.RawValue
		ProducedAt  asn1.RawValue
		Responses   asn1.RawValue
		Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	if _, err := asn1.Unmarshal(basic.TBSResponseData.FullBytes, &data); err != nil {
		return nil, err
	}
	for _, e := range data.Extensions {
		if e.Id.Equal(oidNonce) {
			var n []byte
			_, err := asn1.Unmarshal(e.Value, &n)
			return n, err
		}
	}
	return nil, nil
}
