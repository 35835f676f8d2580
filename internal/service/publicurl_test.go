package service

import (
	"errors"
	"slices"
	"testing"

	"github.com/cmca/cmca/internal/ra"
)

func TestApplyPublicURL(t *testing.T) {
	c := DefaultConfig()
	if err := c.ApplyPublicURL("http://ca.example.com:8080/"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  string
		got  []string
		want string
	}{
		{"crl.distribution_points", c.CRLDistributionPoint, "http://ca.example.com:8080/crl/ca.crl"},
		{"crl.delta_distribution_points", c.DeltaCRLDistributionPoint, "http://ca.example.com:8080/crl/ca-delta.crl"},
		{"aia.ca_issuers", c.CAIssuersURL, "http://ca.example.com:8080/ca.crt"},
		{"aia.ocsp", c.OCSPServers, "http://ca.example.com:8080/ocsp"},
	} {
		if !slices.Equal(tt.got, []string{tt.want}) {
			t.Errorf("%s = %v; want [%s]", tt.key, tt.got, tt.want)
		}
	}
	// The email (S/MIME) profile can issue now.
	if _, err := c.Profile("email"); err != nil {
		t.Errorf("email profile with server.public_url: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// Explicit keys win.
	c = DefaultConfig()
	c.OCSPServers = []string{"http://ocsp.example.net/"}
	c.CRLDistributionPoint = []string{"http://crl.example.net/x.crl"}
	if err := c.ApplyPublicURL("https://ca.example.com"); err != nil {
		t.Fatal(err)
	}
	if c.OCSPServers[0] != "http://ocsp.example.net/" || c.CRLDistributionPoint[0] != "http://crl.example.net/x.crl" || c.CAIssuersURL[0] != "https://ca.example.com/ca.crt" {
		t.Errorf("explicit keys overridden: %v %v %v", c.OCSPServers, c.CRLDistributionPoint, c.CAIssuersURL)
	}

	for _, bad := range []string{"ca.example.com", "ftp://ca.example.com", "http://", "http://ca.example.com/?x=1", "http://u:p@ca.example.com", "http://例え.jp"} {
		c := DefaultConfig()
		var fe *ra.FieldError
		if err := c.ApplyPublicURL(bad); !errors.As(err, &fe) || fe.Field != "server.public_url" {
			t.Errorf("ApplyPublicURL(%q) = %v; want a server.public_url field error", bad, err)
		}
	}
}
