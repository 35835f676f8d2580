package cli

import (
	"context"
	"strings"

	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/pflag"
)

// tokenFlags name a PKCS#11 token and how to log in to it.
type tokenFlags struct {
	Label, Serial, URI string
	Module             string
	PINFile            string
}

func (t *tokenFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&t.Label, "token-label", "", "USB key token by label")
	fs.StringVar(&t.Serial, "token-serial", "", "USB key token by serial number")
	fs.StringVar(&t.URI, "token", "", "USB key token by PKCS#11 URI (RFC 7512), e.g. 'pkcs11:token=My%20Key'")
	fs.StringVar(&t.Module, "module", "", "PKCS#11 module (env CMCA_TOKEN_MODULE, config token.module)")
	fs.StringVar(&t.PINFile, "pin-file", "", "read the user PIN from FILE (- for stdin; env CMCA_PIN; else a no-echo prompt)")
}

// named reports whether any token selector was given.
func (t *tokenFlags) named() bool { return t.Label != "" || t.Serial != "" || t.URI != "" }

// openModule opens the PKCS#11 module from the flag, the URI's module-path
// or the configuration, in that order.
func (f *Factory) openModule(t *tokenFlags, uri *token.URI) (*token.Module, error) {
	path := t.Module
	if path == "" && uri != nil {
		path = uri.ModulePath
	}
	if path == "" {
		c, err := f.Config()
		if err != nil {
			return nil, err
		}
		path = c.TokenModule
	}
	m, err := token.OpenModule(path)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() { m.Close() })
	return m, nil
}

func (t *tokenFlags) selector() (token.Selector, *token.URI, error) {
	sel := token.Selector{Label: t.Label, Serial: t.Serial}
	var uri *token.URI
	if t.URI != "" {
		u, err := token.ParseURI(t.URI)
		if err != nil {
			return sel, nil, err
		}
		uri, sel.URI = u, u
	}
	return sel, uri, nil
}

// userPIN is where a user token's PIN comes from, besides t.PINFile.
var userPIN = secret{What: "token user PIN", FileFlag: "--pin-file", Env: "CMCA_PIN"}

// openToken opens the named token (or the only one present) and, if login,
// logs in with the user PIN.
func (f *Factory) openToken(ctx context.Context, t *tokenFlags, login bool) (*token.Session, error) {
	if !login {
		return f.openTokenLogin(ctx, t, nil)
	}
	return f.openTokenLogin(ctx, t, &userPIN)
}

// openTokenLogin opens the token t names and, if pin is not nil, logs in
// with the PIN from t.PINFile, the URI's pin-source, pin.Env or a prompt.
// The token is chosen before the PIN is read, so an ambiguous or missing
// token is reported before anyone types a PIN.
func (f *Factory) openTokenLogin(ctx context.Context, t *tokenFlags, pinSrc *secret) (*token.Session, error) {
	sel, uri, err := t.selector()
	if err != nil {
		return nil, err
	}
	m, err := f.openModule(t, uri)
	if err != nil {
		return nil, err
	}
	var pin []byte
	if pinSrc != nil {
		probe, err := m.Open(ctx, sel, nil)
		if err != nil {
			return nil, err
		}
		probe.Close()
		pinFile := t.PINFile
		if pinFile == "" && uri != nil && uri.PINSource != "" {
			src, ok := strings.CutPrefix(uri.PINSource, "file:")
			if !ok && strings.HasPrefix(uri.PINSource, "/") {
				src, ok = uri.PINSource, true
			}
			if !ok {
				return nil, usagef("pin-source %q in the PKCS#11 URI is not supported; use pin-source=file:/path", uri.PINSource)
			}
			pinFile = src
		}
		src := *pinSrc
		src.File = pinFile
		pin, err = f.readSecret(src)
		if err != nil {
			return nil, err
		}
		defer wipe(pin)
	}
	s, err := m.Open(ctx, sel, pin)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() { s.Close() })
	return s, nil
}

// openHolder finds the certificate to manage: in a PKCS#12 file (its
// password from passwordFile, the environment or a prompt), or on a token
// (by serial, or the newest one there).
func openHolder(ctx context.Context, readSecret func(secret) ([]byte, error), openToken func(context.Context, *tokenFlags) (*token.Session, error),
	p12, passwordFile string, t *tokenFlags, serial string) (*enroll.Holder, error) {
	if p12 != "" {
		pw, err := readSecret(secret{What: "PKCS#12 password", FileFlag: "--password-file", File: passwordFile, Env: "CMCA_P12_PASSWORD"})
		if err != nil {
			return nil, err
		}
		return enroll.HolderFromPKCS12(p12, pw)
	}
	s, err := openToken(ctx, t)
	if err != nil {
		return nil, err
	}
	return enroll.TokenHolder(ctx, s, serial)
}
