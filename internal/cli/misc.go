package cli

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

func statFile(path string) (os.FileInfo, error) { return os.Stat(path) }

func NewCmdAgreement(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "agreement",
		Short: "Show the subscriber agreement (数字证书订户协议) in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Config()
			if err != nil {
				return err
			}
			a := c.Service.Agreement
			if f.JSON() {
				return f.PrintJSON(a)
			}
			f.Printf("Subscriber agreement, version %s\n\n%s\n\nAccept it with `cmca apply --agree`.\n", a.Version, f.agreementText(a))
			return nil
		},
	}
}

// agreementText is the agreement's text in the user's language: its
// Chinese text, where the CA has one, for zh-Hans.
func (f *Factory) agreementText(a service.Agreement) string {
	if f.P().Tag() == msg.Chinese && strings.TrimSpace(a.TextZH) != "" {
		return a.TextZH
	}
	return a.Text
}

func NewCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := map[string]string{"version": f.Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH, "pkcs11": "yes"}
			if _, err := token.OpenModule(""); err == token.ErrNoCgo {
				info["pkcs11"] = "no (built without cgo)"
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						info["commit"] = s.Value
					case "vcs.time":
						info["built"] = s.Value
					}
				}
			}
			if buildDate != "" { // release builds: -X ...cli.buildDate
				info["built"] = buildDate
			}
			if f.JSON() {
				return f.PrintJSON(info)
			}
			f.Printf("cmca %s (%s %s/%s, PKCS#11: %s)\n", info["version"], info["go"], info["os"], info["arch"], info["pkcs11"])
			if info["commit"] != "" {
				f.Printf("commit %s %s\n", info["commit"], info["built"])
			}
			return nil
		},
	}
}

func NewCmdToken(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "USB key tokens (PKCS#11): list them, show what one holds",
		Long: `Work with USB key tokens through their PKCS#11 module (--module, env
CMCA_TOKEN_MODULE, or config token.module).`,
	}
	var tf tokenFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens present",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := f.openModule(&tf, nil)
			if err != nil {
				return err
			}
			ts, err := m.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if f.JSON() {
				if ts == nil {
					ts = []token.TokenInfo{}
				}
				return f.PrintJSON(ts)
			}
			t := newTable(f, "LABEL", "SERIAL", "MANUFACTURER", "MODEL", "INITIALISED", "URI")
			for _, x := range ts {
				t.row(x.Label, x.Serial, x.Manufacturer, x.Model, fmt.Sprint(x.Initialized), x.URI)
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&tf.Module, "module", "", "PKCS#11 module (env CMCA_TOKEN_MODULE)")
	var login bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the keys and certificates on a token (--login to see private keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return tokenShow(cmd.Context(), f, &tf, login)
		},
	}
	tf.add(show.Flags())
	show.Flags().BoolVar(&login, "login", false, "log in with the user PIN to list private keys too")
	cmd.AddCommand(list, show)
	return cmd
}

func tokenShow(ctx context.Context, f *Factory, tf *tokenFlags, login bool) error {
	s, err := f.openToken(ctx, tf, login)
	if err != nil {
		return err
	}
	objs, err := s.Objects(ctx)
	if err != nil {
		return err
	}
	info := s.Info()
	if f.JSON() {
		type obj struct {
			Class       string `json:"class"`
			Label       string `json:"label"`
			ID          string `json:"id"`
			KeyType     string `json:"key_type,omitempty"`
			Extractable *bool  `json:"extractable,omitempty"`
			Sensitive   *bool  `json:"sensitive,omitempty"`
			Subject     string `json:"subject,omitempty"`
			Serial      string `json:"serial,omitempty"`
			NotAfter    string `json:"not_after,omitempty"`
		}
		out := struct {
			Token   token.TokenInfo `json:"token"`
			Objects []obj           `json:"objects"`
		}{Token: info, Objects: []obj{}}
		for _, o := range objs {
			x := obj{Class: o.Class, Label: o.Label, ID: fmt.Sprintf("%x", o.ID), KeyType: o.KeyType, Extractable: o.Extractable, Sensitive: o.Sensitive}
			if o.Certificate != nil {
				x.Subject, x.Serial, x.NotAfter = ca.DistinguishedName(o.Certificate.RawSubject), ra.SerialString(o.Certificate.SerialNumber), o.Certificate.NotAfter.Format("2006-01-02")
			}
			out.Objects = append(out.Objects, x)
		}
		return f.PrintJSON(out)
	}
	f.Printf("Token %q  serial %s  %s %s\n", info.Label, info.Serial, info.Manufacturer, info.Model)
	t := newTable(f, "CLASS", "ID", "LABEL", "DETAIL")
	for _, o := range objs {
		detail := o.KeyType
		if o.Certificate != nil {
			detail = fmt.Sprintf("%s, serial %s, expires %s", o.Certificate.Subject.CommonName, ra.SerialString(o.Certificate.SerialNumber), o.Certificate.NotAfter.Format("2006-01-02"))
		}
		if o.Extractable != nil && !*o.Extractable {
			detail += " (non-extractable)"
		}
		t.row(o.Class, fmt.Sprintf("%x", o.ID), o.Label, detail)
	}
	return t.flush()
}
