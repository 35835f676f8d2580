package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// InitOptions are the inputs of `cmca init`.
type InitOptions struct {
	F            *Factory
	CAName       string
	Organization string
	Country      string
	KeyAlgo      string
	Validity     string
	ImportCert   string
	CAKey        string // a PEM file, or a pkcs11: URI
	Token        tokenFlags
	Force        bool
}

func NewCmdInit(f *Factory, runF func(*InitOptions) error) *cobra.Command {
	o := &InitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a home: the RA store and the CA",
		Long: `Create the home directory (mode 0700) with the RA store (ra.db, 0600), the CA
certificate (ca/ca.crt) and key (ca/ca.key, 0600), and a crl/ directory.

By default the CA is self-signed. To run as a sub-CA of an offline root,
import its certificate and key with --import-cert and --ca-key. The CA key
may stay on a PKCS#11 token or HSM: give --ca-key a pkcs11: URI.`,
		Example: `  cmca init --ca-name "Example Personal CA" --key-algo ecdsa-p256 --validity 10y
  cmca init --import-cert subca.pem --ca-key subca.key
  cmca init --ca-name "HSM CA" --ca-key 'pkcs11:token=CA;object=ca-key' --module /usr/lib/softhsm/libsofthsm2.so --pin-file pin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return initRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.CAName, "ca-name", "cmca Personal Certificate CA", "CA common name")
	fl.StringVar(&o.Organization, "ca-org", "", "CA organisation (O); required for a self-signed CA (config ca.organization; asked on a terminal)")
	fl.StringVar(&o.Country, "ca-country", "", "CA country (C), two letters, e.g. CN; required for a self-signed CA (config ca.country; asked on a terminal)")
	fl.StringVar(&o.KeyAlgo, "key-algo", string(token.ECDSAP256), fmt.Sprintf("CA key algorithm: %v", token.KeyAlgos))
	fl.StringVar(&o.Validity, "validity", "10y", "CA validity (e.g. 10y, 3650d)")
	fl.StringVar(&o.ImportCert, "import-cert", "", "import an existing CA certificate (PEM, chain after it) instead of self-signing")
	fl.StringVar(&o.CAKey, "ca-key", "", "CA key: a PEM file (with --import-cert) or a pkcs11: URI of a token key")
	fl.BoolVar(&o.Force, "force", false, "replace an existing home's store and CA (destroys its records)")
	fl.StringVar(&o.Token.Module, "module", "", "PKCS#11 module for a pkcs11: --ca-key (env CMCA_TOKEN_MODULE)")
	fl.StringVar(&o.Token.PINFile, "pin-file", "", "read the CA token PIN from FILE (env CMCA_CA_PIN)")
	return cmd
}

func initRun(ctx context.Context, o *InitOptions) error {
	f := o.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	algo, err := token.ParseKeyAlgo(o.KeyAlgo)
	if err != nil {
		return err
	}
	validity, err := ParseDuration(o.Validity)
	if err != nil {
		return usagef("--validity: %v", err)
	}
	if o.ImportCert == "" {
		if err := caSubject(ctx, f, c, o); err != nil {
			return err
		}
	}
	opts := service.InitOptions{CAName: o.CAName, Organization: o.Organization, Country: o.Country, KeyAlgo: algo, Validity: validity, Force: o.Force}
	if o.ImportCert != "" {
		if opts.ImportCertPEM, err = os.ReadFile(o.ImportCert); err != nil {
			return usagef("--import-cert: %v", err)
		}
	}
	undoKey := func() {}
	if strings.HasPrefix(o.CAKey, "pkcs11:") {
		if opts.Signer, undoKey, err = f.tokenCAKey(ctx, o.CAKey, &o.Token, algo, o.ImportCert == ""); err != nil {
			return err
		}
		if opts.KeyURI, err = caKeyURI(o.CAKey, &o.Token); err != nil {
			return err
		}
	} else if o.CAKey != "" {
		if o.ImportCert == "" {
			return usagef("--ca-key FILE needs --import-cert: a key file is imported together with its certificate")
		}
		if opts.ImportKeyPEM, err = os.ReadFile(o.CAKey); err != nil {
			return usagef("--ca-key: %v", err)
		}
	}
	opts.Policy = &c.Service.Policy // the home's policy, seeded from this configuration
	res, err := service.Init(ctx, c.Home, opts)
	if err != nil {
		undoKey() // a CA key generated on a token for this init
		return err
	}
	if f.JSON() {
		return f.PrintJSON(res)
	}
	how := "self-signed"
	if res.Imported {
		how = "imported"
	}
	f.Printf("Initialised %s\n  CA:       %s (%s, %s)\n  serial:   %s\n  expires:  %s\n  CA cert:  %s\n", res.Home, res.Subject, res.KeyAlgo, how,
		res.Serial, res.NotAfter.Local().Format(time.DateOnly), res.CertPath)
	if res.KeyURI != "" {
		f.Printf("  CA key:   %s\n", res.KeyURI)
	}
	f.Printf("Next: applicants run `cmca apply`; operators run `cmca review`.\n")
	return nil
}

// caSubject completes the organisation and country of a self-signed CA:
// flags, then config, then a form on a terminal. Without them the root is
// not fit for use (zlint: e_ca_organization_name_missing,
// e_ca_country_name_missing), so init stops and says what to pass.
func caSubject(ctx context.Context, f *Factory, c *Config, o *InitOptions) error {
	if o.Organization == "" {
		o.Organization = c.CAOrganization
	}
	if o.Country == "" {
		o.Country = c.CACountry
	}
	o.Country = strings.ToUpper(strings.TrimSpace(o.Country))
	o.Organization = strings.TrimSpace(o.Organization)
	if (o.Organization == "" || o.Country == "") && f.IO.CanPrompt() {
		if err := f.runForm(ctx, huh.NewGroup(
			huh.NewNote().Title("New CA (证书认证机构)").Description(fmt.Sprintf("The subject of the self-signed CA certificate: %s, with its organisation and country.", o.CAName)),
			f.input("Organisation (O)", &o.Organization, func(s string) error {
				if strings.TrimSpace(s) == "" {
					return errors.New("the CA's organisation is required")
				}
				return nil
			}),
			f.input("Country (C), two letters", &o.Country, func(s string) error { return checkCountry(strings.ToUpper(strings.TrimSpace(s))) }),
		)); err != nil {
			return err
		}
		o.Country = strings.ToUpper(strings.TrimSpace(o.Country))
		o.Organization = strings.TrimSpace(o.Organization)
	}
	var missing []string
	if o.Organization == "" {
		missing = append(missing, "--ca-org (config ca.organization, env CMCA_CA_ORGANIZATION)")
	}
	if o.Country == "" {
		missing = append(missing, "--ca-country (config ca.country, env CMCA_CA_COUNTRY)")
	}
	if len(missing) > 0 {
		return usagef("a self-signed CA needs its organisation and country: pass %s", strings.Join(missing, " and "))
	}
	if err := checkCountry(o.Country); err != nil {
		return usagef("--ca-country: %v", err)
	}
	return nil
}

// checkCountry accepts a two-letter ISO 3166 country code.
func checkCountry(s string) error {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return errorf("%q is not a two-letter country code (ISO 3166), e.g. CN", s)
	}
	return nil
}
