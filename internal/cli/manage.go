package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// RenewOptions are the inputs of `cmca renew`: its flags and the narrow
// dependencies its run function uses (filled from the Factory by
// NewCmdRenew; tests pass fakes).
type RenewOptions struct {
	IO        printer
	API       func(context.Context) (enroll.API, error)
	Secret    func(secret) ([]byte, error)
	OpenToken func(context.Context, *tokenFlags) (*token.Session, error)
	// RenewWindow says how close to expiry renewals are automatic, for
	// the notice after a renewal sent for review.
	RenewWindow func() string

	P12          string
	PasswordFile string
	Out          string
	Serial       string
	KeyAlgo      string
	Comment      string
	Force        bool
	Token        tokenFlags
}

func NewCmdRenew(f *Factory, runF func(*RenewOptions) error) *cobra.Command {
	o := &RenewOptions{
		IO:          f,
		API:         func(ctx context.Context) (enroll.API, error) { return f.API(ctx) },
		Secret:      f.readSecret,
		OpenToken:   func(ctx context.Context, t *tokenFlags) (*token.Session, error) { return f.openToken(ctx, t, true) },
		RenewWindow: f.renewWindow,
	}
	cmd := &cobra.Command{
		Use:   "renew (--p12 FILE | --token-label L)",
		Short: "Renew a certificate, proving possession of its key (证书更新)",
		Long: `Renew a certificate: a new key pair is generated where the current one lives,
and the request is signed with the current key to prove possession.

Inside the renewal window before expiry (config renew.window, default 30
days) the renewal is approved automatically and the new certificate is
written at once: into a new PKCS#12 file (--out), or onto the same token.
Outside it, the renewal becomes a request for an operator to review; once
approved and issued, collect it with cmca download and the new passcode.

The new key is kept before the CA is asked: beside --out as FILE.pending,
encrypted with the same password, or on the token under an ID derived from
the old serial. If a renewal is interrupted after the CA signed (crash,
power cut, pulled token), run the same command again: the key is found
again and the recorded certificate is delivered.`,
		Example: `  cmca renew --p12 me.p12 --password-file pw.txt --out me-2027.p12
  cmca renew --token-label "My Key" --pin-file pin.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.P12 == "" && !o.Token.named() && o.Token.Module == "" && f.cfgTokenModule() == "" {
				return usagef("name the certificate to renew: --p12 FILE, or a token with --token-label/--token-serial/--token")
			}
			if runF != nil {
				return runF(o)
			}
			return renewRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.P12, "p12", "", "the current PKCS#12 file")
	fl.StringVar(&o.PasswordFile, "password-file", "", "its password from FILE (- for stdin; env CMCA_P12_PASSWORD); the new file uses the same password")
	fl.StringVar(&o.Out, "out", "", "where to write the renewed PKCS#12 (default FILE-renewed.p12)")
	fl.BoolVar(&o.Force, "force", false, "overwrite an existing --out file")
	fl.StringVar(&o.Serial, "serial", "", "token: which certificate, when the token holds several")
	fl.StringVar(&o.KeyAlgo, "key-algo", "", "algorithm of the new key (default: as the current key)")
	fl.StringVar(&o.Comment, "comment", "", "note for the reviewer")
	o.Token.add(fl)
	return cmd
}

func (f *Factory) cfgTokenModule() string {
	c, err := f.Config()
	if err != nil {
		return ""
	}
	return c.TokenModule
}

func renewRun(ctx context.Context, o *RenewOptions) error {
	serial := ""
	if o.Serial != "" {
		var err error
		if serial, err = ra.ParseSerial(o.Serial); err != nil {
			return err
		}
	}
	h, err := openHolder(ctx, o.Secret, o.OpenToken, o.P12, o.PasswordFile, &o.Token, serial)
	if err != nil {
		return err
	}
	algo := token.KeyAlgo(ca.KeyDescription(h.Cert.PublicKey))
	if o.KeyAlgo != "" {
		algo = token.KeyAlgo(o.KeyAlgo)
	}
	if algo, err = token.ParseKeyAlgo(string(algo)); err != nil {
		return err
	}
	out := o.Out
	if h.Token == nil && out == "" {
		out = strings.TrimSuffix(o.P12, filepath.Ext(o.P12)) + "-renewed.p12"
	}
	if h.Token == nil {
		if err := checkOut(out, o.Force); err != nil {
			return err
		}
	}
	api, err := o.API(ctx)
	if err != nil {
		return err
	}
	// The new key is kept before the CA is asked, so that a run killed after
	// the CA signed can be finished: for a PKCS#12 in OUT.pending (encrypted
	// with the same password, 0600), on a token under an ID derived from the
	// old serial. Running the same command again finds it and fetches the
	// recorded certificate (service.Renew is idempotent for one key).
	nk, err := enroll.RenewKey(ctx, h, out, algo)
	if err != nil {
		return err
	}
	res, err := enroller(api, o.IO).Renew(ctx, h, nk, o.Comment)
	if err != nil {
		return err
	}
	where := ""
	if res.Issued != nil {
		if h.Token != nil {
			label := fmt.Sprintf("%s %s %s", h.Cert.Subject.CommonName, res.Issued.UsageType, res.Ref)
			if err := nk.StoreCertificate(ctx, label, res.Issued.Certificate); err != nil {
				return errorf("the renewed certificate %s was issued but could not be stored on the token (run the same command again to retry): %w", res.Issued.Serial, err)
			}
			where = fmt.Sprintf("token %q", h.TokenLabel)
		} else {
			if err := nk.WritePKCS12(out, res.Issued.Certificate, res.Issued.Chain); err != nil {
				return notWritten("the renewed certificate "+res.Issued.Serial, out, nk.Pending(), err)
			}
			where = out
		}
	}
	if o.IO.JSON() {
		return o.IO.PrintJSON(struct {
			*service.RenewResult
			Location string `json:"location,omitempty"`
		}{res, where})
	}
	if o.IO.Quiet() {
		if res.Issued != nil {
			o.IO.Printf("%s\n", res.Issued.Serial)
		} else {
			o.IO.Printf("%s\n", res.Ref)
		}
		return nil
	}
	if res.Issued != nil {
		head := o.IO.T("Renewed inside the renewal window")
		if res.Issued.Retrieved {
			head = o.IO.T("Renewal finished: issued by an earlier, interrupted run")
		}
		o.IO.Printf("%s (request %s).\n  new serial: %s\n  valid to:   %s\n  stored in:  %s\n  The old certificate %s stays valid until it expires.\n",
			head, res.Ref, res.Issued.Serial, res.Issued.NotAfter.Local().Format(time.DateOnly), where, res.OldSerial)
		return nil
	}
	o.IO.Printf("Renewal request %s submitted for review (the certificate is not yet within %s of expiry).\n  After approval you will receive a passcode; then run `cmca download --ref %s`.\n",
		res.Ref, o.RenewWindow(), res.Ref)
	return nil
}

func (f *Factory) renewWindow() string {
	api, err := f.ReadAPI(context.Background()) // the server's policy in remote mode
	if err != nil {
		return "the renewal window"
	}
	return fmt.Sprintf("%d days", int(api.Policy().RenewWindow.Hours()/24))
}

// RevokeOptions are the inputs of `cmca revoke`: its flags and the
// narrow dependencies its run function uses.
type RevokeOptions struct {
	IO        printer
	API       func(context.Context) (revokeAPI, error)
	Secret    func(secret) ([]byte, error)
	OpenToken func(context.Context, *tokenFlags) (*token.Session, error)

	Serial       string
	P12          string
	PasswordFile string
	Reason       string
	Comment      string
	Direct       bool
	Token        tokenFlags
}

func NewCmdRevoke(f *Factory, runF func(*RevokeOptions) error) *cobra.Command {
	o := &RevokeOptions{
		IO:        f,
		API:       func(ctx context.Context) (revokeAPI, error) { return f.API(ctx) },
		Secret:    f.readSecret,
		OpenToken: func(ctx context.Context, t *tokenFlags) (*token.Session, error) { return f.openToken(ctx, t, true) },
	}
	cmd := &cobra.Command{
		Use:   "revoke (--serial S | --p12 FILE | --token-label L) --reason R",
		Short: "Ask for a certificate to be revoked (证书作废)",
		Long: `Ask for revocation. Revocation is permanent: a revoked certificate can never
be restored, so certificateHold and removeFromCRL are refused.

The request takes effect when an operator approves it (cmca approve REF);
the next cmca crl lists the certificate. With --p12 or a token, the request
is signed with the certificate's key, which the reviewer sees as proof that
the holder asked. Operators can revoke at once with --direct and a
justification (passive revocation).

Reasons (RFC 5280): ` + reasonList(),
		Example: `  cmca revoke --p12 me.p12 --password-file pw.txt --reason keyCompromise
  cmca revoke --serial 5f3a... --reason affiliationChanged
  cmca revoke --serial 5f3a... --reason privilegeWithdrawn --direct --comment "court order 2026-118"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Reason == "" {
				return usagef("--reason is required; one of %s", reasonList())
			}
			if o.Serial == "" && o.P12 == "" && !o.Token.named() {
				return usagef("name the certificate: --serial S, --p12 FILE, or --token-label L")
			}
			if runF != nil {
				return runF(o)
			}
			return revokeRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Serial, "serial", "", "serial number of the certificate")
	fl.StringVar(&o.P12, "p12", "", "the certificate's PKCS#12 file (proves possession)")
	fl.StringVar(&o.PasswordFile, "password-file", "", "its password from FILE (- for stdin; env CMCA_P12_PASSWORD)")
	fl.StringVar(&o.Reason, "reason", "", "RFC 5280 reason: "+reasonList())
	fl.StringVar(&o.Comment, "comment", "", "explanation for the reviewer (required with --direct)")
	fl.BoolVar(&o.Direct, "direct", false, "operator: revoke now without a separate review (recorded with --comment)")
	o.Token.add(fl)
	return cmd
}

func reasonList() string {
	var s []string
	for _, r := range ra.RevocationReasons {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}

// revokeAPI is what revoke needs from the RA/CA.
type revokeAPI interface {
	Revoke(ctx context.Context, in service.RevokeInput) (*service.RevokeResult, error)
}

func revokeRun(ctx context.Context, o *RevokeOptions) error {
	reason, err := ra.ParseRevocationReason(o.Reason)
	if err != nil {
		return err
	}
	if o.Direct && strings.TrimSpace(o.Comment) == "" {
		return usagef("direct revocation by an operator needs a justification: --comment TEXT")
	}
	in := service.RevokeInput{Serial: o.Serial, Reason: string(reason), Comment: o.Comment, Direct: o.Direct}
	if o.P12 != "" || o.Token.named() {
		serial := ""
		if o.Serial != "" {
			if serial, err = ra.ParseSerial(o.Serial); err != nil {
				return err
			}
		}
		h, err := openHolder(ctx, o.Secret, o.OpenToken, o.P12, o.PasswordFile, &o.Token, serial)
		if err != nil {
			return err
		}
		in.Serial = h.Serial
		if in.SignedAt, in.Proof, err = h.Prove("revoke", []byte(reason)); err != nil {
			return errorf("sign the revocation request: %w", err)
		}
	}
	api, err := o.API(ctx)
	if err != nil {
		return err
	}
	res, err := api.Revoke(ctx, in)
	if err != nil {
		return err
	}
	if o.IO.JSON() {
		return o.IO.PrintJSON(res)
	}
	if o.IO.Quiet() {
		o.IO.Printf("%s\n", res.Ref)
		return nil
	}
	if res.Revoked {
		o.IO.Printf("Certificate %s revoked (%s), request %s. Publish it: `cmca crl`.\n", res.Serial, res.Reason, res.Ref)
		return nil
	}
	o.IO.Printf("Revocation request %s submitted for certificate %s (%s).\n  It takes effect when an operator approves it: `cmca approve %s`.\n", res.Ref, res.Serial, res.Reason, res.Ref)
	return nil
}

// ReissueOptions are the inputs of `cmca reissue`: its flags and the
// narrow dependencies its run function uses.
type ReissueOptions struct {
	IO  printer
	API func(context.Context) (reissueAPI, error)

	Serial  string
	Ref     string
	Reason  string
	Comment string
}

func NewCmdReissue(f *Factory, runF func(*ReissueOptions) error) *cobra.Command {
	o := &ReissueOptions{IO: f, API: func(ctx context.Context) (reissueAPI, error) { return f.API(ctx) }}
	cmd := &cobra.Command{
		Use:   "reissue (--serial S | --ref ORIGINAL) --reason lost|damaged",
		Short: "Ask for a replacement of a lost or damaged certificate (证书补办)",
		Long: `Ask for a replacement certificate. When an operator approves, the old
certificate is revoked (lost: keyCompromise, since someone else may hold the
key; damaged: superseded) and the request is issued like a new application:
a new passcode, a new key, a new serial, the same identity data.`,
		Example: `  cmca reissue --ref 20261125-7KQ3PZ4M --reason lost
  cmca reissue --serial 5f3a... --reason damaged`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (o.Serial == "") == (o.Ref == "") {
				return usagef("name the certificate with exactly one of --serial or --ref")
			}
			if o.Reason == "" {
				return usagef("--reason is required: lost or damaged")
			}
			if runF != nil {
				return runF(o)
			}
			return reissueRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Serial, "serial", "", "serial of the certificate to replace")
	cmd.Flags().StringVar(&o.Ref, "ref", "", "reference of the request that produced it")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "lost or damaged")
	cmd.Flags().StringVar(&o.Comment, "comment", "", "note for the reviewer")
	return cmd
}

// reissueAPI is what reissue needs from the RA/CA.
type reissueAPI interface {
	Reissue(ctx context.Context, in service.ReissueInput) (*service.RevokeResult, error)
}

func reissueRun(ctx context.Context, o *ReissueOptions) error {
	api, err := o.API(ctx)
	if err != nil {
		return err
	}
	res, err := api.Reissue(ctx, service.ReissueInput{Serial: o.Serial, Ref: o.Ref, Reason: o.Reason, Comment: o.Comment})
	if err != nil {
		return err
	}
	if o.IO.JSON() {
		return o.IO.PrintJSON(res)
	}
	if o.IO.Quiet() {
		o.IO.Printf("%s\n", res.Ref)
		return nil
	}
	o.IO.Printf("Reissue request %s submitted for certificate %s (%s).\n  After approval the old certificate is revoked and a passcode is issued for the replacement.\n", res.Ref, res.Serial, res.Reason)
	return nil
}
