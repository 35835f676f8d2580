package service

import (
	"net/url"
	"strings"

	"github.com/cmca/cmca/internal/ra"
)

// Public paths of `cmca serve`'s HTTP listener: where the URLs certificates
// carry point when they default from server.public_url.
const (
	PublicPathCRL      = "/crl/ca.crl"
	PublicPathDeltaCRL = "/crl/ca-delta.crl"
	PublicPathCACert   = "/ca.crt"
	PublicPathOCSP     = "/ocsp"
)

// ApplyPublicURL sets the URLs certificates carry from the server's public
// URL (config server.public_url, e.g. http://ca.example.com:8080): the CRL
// distribution point, the delta CRL (freshest CRL) URL, AIA caIssuers and
// AIA OCSP, each unless its own key (crl.distribution_points,
// crl.delta_distribution_points, aia.ca_issuers, aia.ocsp) is set. An
// empty publicURL changes nothing.
func (c *Config) ApplyPublicURL(publicURL string) error {
	if publicURL == "" {
		return nil
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || !isASCII(publicURL) {
		return ra.Fieldf("server.public_url", "%q is not an absolute http or https URL (scheme, host, optional port and path; no query)", publicURL)
	}
	base := strings.TrimRight(publicURL, "/")
	set := func(dst *[]string, p string) {
		if len(*dst) == 0 {
			*dst = []string{base + p}
		}
	}
	set(&c.CRLDistributionPoint, PublicPathCRL)
	set(&c.DeltaCRLDistributionPoint, PublicPathDeltaCRL)
	set(&c.CAIssuersURL, PublicPathCACert)
	set(&c.OCSPServers, PublicPathOCSP)
	return nil
}
