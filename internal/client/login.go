package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"strings"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

// LoginOptions say where the client's credential is (--login, CMCA_LOGIN)
// and how to get its password or PIN.
type LoginOptions struct {
	// Source is a PKCS#12 file or a PKCS#11 URI (RFC 7512, "pkcs11:...")
	// naming the token and, with id= or object=, the key.
	Source string
	// Module is the PKCS#11 module when the URI has no module-path
	// (--module, CMCA_TOKEN_MODULE, config token.module).
	Module string
	// Secret returns the PKCS#12 password or the token PIN; what says which
	// ("login password" or "login PIN"). The caller decides where it comes
	// from (--login-password-file, CMCA_LOGIN_PASSWORD_FILE, a no-echo
	// prompt on a terminal) and never prompts without one.
	Secret func(what string) ([]byte, error)
}

// Login is a credential presented by TLS client authentication: an
// operator's certificate, or a subscriber's for renewal by login.
type Login struct {
	Certificate tls.Certificate
	Leaf        *x509.Certificate
	closers     []func()
}

// Close releases the token session, if any.
func (l *Login) Close() error {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
	return nil
}

// ClientCertificate is the tls.Config.GetClientCertificate hook: the login
// certificate is presented whatever CAs the server names, so a wrong
// credential is refused by the server with a message instead of silently
// not sent.
func (l *Login) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &l.Certificate, nil
}

// Configure makes cfg present the login to the server.
func (l *Login) Configure(cfg *tls.Config) {
	cfg.GetClientCertificate = l.ClientCertificate
}

// LoadLogin opens the credential: the key and certificate of a .p12 file,
// or a key on a token (a crypto.Signer that never leaves it) and the
// certificate stored beside it under the same ID.
func LoadLogin(ctx context.Context, o LoginOptions) (*Login, error) {
	if o.Source == "" {
		return nil, ra.Fieldf("login", "no credential given; pass --login FILE.p12 or --login 'pkcs11:token=...' (or set CMCA_LOGIN)")
	}
	if o.Secret == nil {
		return nil, msg.Errorf("no way to read the login password: %w", ra.ErrInvalid)
	}
	if strings.HasPrefix(o.Source, "pkcs11:") {
		return loadTokenLogin(ctx, o)
	}
	pw, err := o.Secret("login password")
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	sk, err := token.ReadPKCS12(o.Source, pw)
	if err != nil {
		return nil, err
	}
	if sk.Cert == nil {
		return nil, msg.Errorf("%s holds no certificate to log in with: %w", o.Source, ra.ErrInvalid)
	}
	l := &Login{Leaf: sk.Cert, Certificate: tls.Certificate{Certificate: [][]byte{sk.Cert.Raw}, PrivateKey: sk.Signer, Leaf: sk.Cert}}
	for _, c := range sk.Chain {
		l.Certificate.Certificate = append(l.Certificate.Certificate, c.Raw)
	}
	return l, nil
}

func loadTokenLogin(ctx context.Context, o LoginOptions) (_ *Login, err error) {
	uri, err := token.ParseURI(o.Source)
	if err != nil {
		return nil, err
	}
	module := o.Module
	if uri.ModulePath != "" {
		module = uri.ModulePath
	}
	m, err := token.OpenModule(module)
	if err != nil {
		return nil, err
	}
	l := &Login{closers: []func(){func() { m.Close() }}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	sel := token.Selector{URI: uri}
	// The token first, so a missing one is reported before a PIN is asked.
	probe, err := m.Open(ctx, sel, nil)
	if err != nil {
		return nil, err
	}
	probe.Close()
	pin, err := o.Secret("login PIN")
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	s, err := m.Open(ctx, sel, pin)
	if err != nil {
		return nil, err
	}
	l.closers = append(l.closers, func() { s.Close() })
	objs, err := s.Objects(ctx)
	if err != nil {
		return nil, err
	}
	id := uri.ID
	if id == nil && uri.Object != "" {
		if id, err = s.KeyIDByLabel(ctx, uri.Object); err != nil {
			return nil, err
		}
	}
	keys := map[string]bool{}
	for _, ob := range objs {
		if ob.Class == "private-key" {
			keys[string(ob.ID)] = true
		}
	}
	var picks []token.Object
	for _, ob := range objs {
		if ob.Class != "certificate" || ob.Certificate == nil || ob.Certificate.IsCA || !keys[string(ob.ID)] {
			continue
		}
		if id != nil && !bytes.Equal(ob.ID, id) {
			continue
		}
		if id == nil && !clientAuth(ob.Certificate) {
			continue
		}
		picks = append(picks, ob)
	}
	info := s.Info()
	switch {
	case len(picks) == 0 && id != nil:
		return nil, msg.Errorf("token %s holds no certificate with its key under id %x: %w", info.Label, id, ra.ErrNotFound)
	case len(picks) == 0:
		return nil, msg.Errorf("token %s holds no client-authentication certificate with its key: %w", info.Label, ra.ErrNotFound)
	case len(picks) > 1:
		var ids []string
		for _, p := range picks {
			ids = append(ids, fmt.Sprintf("id=%s (%s)", pctHex(p.ID), p.Certificate.Subject.CommonName))
		}
		return nil, ra.Fieldf("login", "token %s holds several login certificates; add one of %s to the URI", info.Label, strings.Join(ids, ", "))
	}
	signer, err := s.Signer(ctx, picks[0].ID)
	if err != nil {
		return nil, err
	}
	leaf := picks[0].Certificate
	l.Leaf, l.Certificate = leaf, tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: signer, Leaf: leaf}
	return l, nil
}

func clientAuth(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return len(c.ExtKeyUsage) == 0
}

// pctHex writes an ID the way a PKCS#11 URI spells it (%01%02...).
func pctHex(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02x", c)
	}
	return sb.String()
}
