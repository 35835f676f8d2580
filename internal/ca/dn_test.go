package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestDistinguishedName(t *testing.T) {
	for _, tt := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{CommonName: "张三", SerialNumber: "CMCA-1A2B", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidGivenName, Value: "三"}, {Type: oidSurname, Value: "张"}}},
			"SN=张,GN=三,SERIALNUMBER=CMCA-1A2B,CN=张三"},
		{pkix.Name{CommonName: "Test Personal CA", Organization: []string{"Example, Ltd"}, Country: []string{"CN"}},
			`CN=Test Personal CA,O=Example\, Ltd,C=CN`},
		{pkix.Name{CommonName: " #lead+trail "}, `CN=\ #lead\+trail\ `},
		{pkix.Name{CommonName: "#x"}, `CN=\#x`},
		{pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: 7}}}, "1.2.3.4=#020107"},
	} {
		der, err := asn1.Marshal(tt.name.ToRDNSequence())
		if err != nil {
			t.Fatal(err)
		}
		if got := DistinguishedName(der); got != tt.want {
			t.Errorf("DistinguishedName(%v) = %q; want %q", tt.name, got, tt.want)
		}
		if got := NameString(tt.name); got != tt.want {
			t.Errorf("NameString(%v) = %q; want %q", tt.name, got, tt.want)
		}
	}
	if got := DistinguishedName([]byte{0x30, 0x01}); got != "#3001" {
		t.Errorf("DistinguishedName(garbage) = %q; want #3001", got)
	}
}
