package cli

import (
	"context"
	"os"

	"github.com/cmca/cmca/internal/client"
	"github.com/spf13/pflag"
)

// addLoginFlags adds the client credential flags of remote mode: the
// certificate an operator (or a subscriber renewing by login) presents to
// `cmca serve` by TLS client authentication.
func (f *Factory) addLoginFlags(pf *pflag.FlagSet) {
	pf.String("login", "", "remote mode: log in with the certificate in FILE.p12 or on a token ('pkcs11:token=...'; env CMCA_LOGIN)")
	pf.String("login-password-file", "", "read the --login password or PIN from FILE (- for stdin; env CMCA_LOGIN_PASSWORD_FILE; else a no-echo prompt)")
	_ = f.v.BindPFlag("login", pf.Lookup("login"))
	_ = f.v.BindPFlag("login_password_file", pf.Lookup("login-password-file"))
}

// Login opens the credential named by --login / CMCA_LOGIN / config login,
// or returns nil when none is named. Its password or PIN comes from
// --login-password-file / CMCA_LOGIN_PASSWORD_FILE, else a no-echo prompt
// on a terminal; without a terminal, a usage error names the flag. The
// token session stays open until the Factory closes.
func (f *Factory) Login(ctx context.Context) (*client.Login, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if c.Login == "" {
		return nil, nil
	}
	module := c.TokenModule
	if module == "" {
		module = os.Getenv("CMCA_TOKEN_MODULE")
	}
	l, err := client.LoadLogin(ctx, client.LoginOptions{Source: c.Login, Module: module, Secret: func(what string) ([]byte, error) {
		return f.readSecret(secret{What: what, FileFlag: "--login-password-file", File: c.LoginPasswordFile, EnvHint: "CMCA_LOGIN_PASSWORD_FILE"})
	}})
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() { l.Close() })
	return l, nil
}
