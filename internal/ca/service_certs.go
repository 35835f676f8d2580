package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"net"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// OperatorOU is the organizationalUnit that marks an operator credential of
// `cmca serve`. It only says what the certificate is for: an operator's
// roles live in the store, and a certificate is accepted as an operator's
// only if the store records it for an active operator.
const OperatorOU = "cmca operator"

// ServerOU marks the TLS server certificate of `cmca serve`.
const ServerOU = "cmca server"

// Lifetimes of the certificates cmca issues for itself.
const (
	OperatorValidity = 365 * 24 * time.Hour
	ServerValidity   = 30 * 24 * time.Hour
)

// IssueOperator signs an operator's client-authentication certificate for
// pub: subject CN=name, OU=OperatorOU, keyUsage digitalSignature, extended
// key usage clientAuth only.
func (c *CA) IssueOperator(pub crypto.PublicKey, name string, validity time.Duration, ex Extras, now time.Time) (*x509.Certificate, error) {
	if strings.TrimSpace(name) == "" {
		return nil, msg.Errorf("the operator certificate has no name: %w", ra.ErrInvalid)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, OrganizationalUnit: []string{OperatorOU}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return c.signService(tmpl, pub, validity, ex, now)
}

// IssueServer signs a TLS server certificate for pub, valid for the DNS
// names and IP addresses given (at least one): extended key usage
// serverAuth only, keyUsage digitalSignature (and keyEncipherment for RSA
// keys, for TLS 1.2 RSA key exchange).
func (c *CA) IssueServer(pub crypto.PublicKey, dnsNames []string, ips []net.IP, validity time.Duration, ex Extras, now time.Time) (*x509.Certificate, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, msg.Errorf("a server certificate needs at least one name or IP address: %w", ra.ErrInvalid)
	}
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	} else {
		cn = ips[0].String()
	}
	ku := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		ku |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, OrganizationalUnit: []string{ServerOU}},
		KeyUsage:    ku,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}
	return c.signService(tmpl, pub, validity, ex, now)
}

// signService fills in what every certificate cmca issues for itself has
// (serial, validity capped by the CA's, key identifiers, the CA-wide URLs
// and policy) and signs it.
func (c *CA) signService(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration, ex Extras, now time.Time) (*x509.Certificate, error) {
	if err := (&Profile{}).CheckExtras(ex); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, fmt.Errorf("draw serial: %w", err)
	}
	ski, err := SubjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-time.Minute).UTC().Truncate(time.Second)
	notAfter := notBefore.Add(validity)
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	if !notBefore.Before(notAfter) {
		return nil, msg.Errorf("the CA certificate expires %s; renew the CA before issuing: %w", c.Cert.NotAfter.Format(time.DateOnly), ra.ErrConflict)
	}
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter, tmpl.SubjectKeyId = serial, notBefore, notAfter, ski
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, false
	tmpl.CRLDistributionPoints, tmpl.OCSPServer, tmpl.IssuingCertificateURL = ex.CRLDistributionPoints, ex.OCSPServers, ex.IssuingCertificateURL
	if tmpl.Policies, err = policyOIDs(ex.PolicyOIDs); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// IsOperatorCert reports whether cert is marked as an operator credential
// (OU=OperatorOU and the clientAuth extended key usage).
func IsOperatorCert(cert *x509.Certificate) bool {
	ou := false
	for _, u := range cert.Subject.OrganizationalUnit {
		ou = ou || u == OperatorOU
	}
	for _, e := range cert.ExtKeyUsage {
		if e == x509.ExtKeyUsageClientAuth {
			return ou
		}
	}
	return false
}
