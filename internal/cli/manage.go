package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// RenewOptions are the inputs of `cmca renew`.
type RenewOptions struct {
	F            *Factory
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
	o := &RenewOptions{F: f}
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
	f := o.F
	serial := ""
	if o.Serial != "" {
		var err error
		if serial, err = ra.ParseSerial(o.Serial); err != nil {
			return err
		}
	}
	h, err := f.openHolder(ctx, o.P12, o.PasswordFile, &o.Token, serial)
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
	if h.Session == nil && out == "" {
		out = strings.TrimSuffix(o.P12, filepath.Ext(o.P12)) + "-renewed.p12"
	}
	if h.Session == nil {
		if err := checkOut(out, o.Force); err != nil {
			return err
		}
	}
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	// The new key is kept before the CA is asked, so that a run killed after
	// the CA signed can be finished: for a PKCS#12 in OUT.pending (encrypted
	// with the same password, 0600), on a token under an ID derived from the
	// old serial. Running the same command again finds it and fetches the
	// recorded certificate (service.Renew is idempotent for one key).
	nk, err := renewKey(ctx, h, out, algo)
	if err != nil {
		return err
	}
	testhook.Point("renew:keygen")
	csr, err := makeCSR(nk.signer)
	if err != nil {
		nk.discardUnsent(ctx, f)
		return err
	}
	at := testhook.Clock()().UTC().Truncate(time.Second)
	proof, err := ca.SignPossession(h.Signer, "renew", h.Serial, at, csr)
	if err != nil {
		nk.discardUnsent(ctx, f)
		return errorf("sign the proof of possession with the current key: %w", err)
	}
	res, err := api.Renew(ctx, service.RenewInput{Serial: h.Serial, CSR: csr, SignedAt: at, Proof: proof, Comment: o.Comment})
	if err != nil {
		// A refusal removes the key, unless the CA may have certified it (an
		// earlier run's key); after an error of unknown outcome it stays.
		if definiteFailure(err) && !keyWasIssued(ctx, api, nk.signer, nk.reused) {
			nk.discard(ctx, f)
		}
		return err
	}
	where := ""
	if res.Issued == nil {
		nk.discard(ctx, f) // outside the window the key is not used: download makes a fresh one
	} else {
		testhook.Point("renew:issued")
		cert, err := x509.ParseCertificate(res.Issued.Certificate)
		if err != nil {
			return err
		}
		if h.Session != nil {
			label := fmt.Sprintf("%s %s %s", h.Cert.Subject.CommonName, res.Issued.UsageType, res.Ref)
			if err := h.Session.ImportCertificate(ctx, nk.id, label, cert); err != nil {
				return errorf("the renewed certificate %s was issued but could not be stored on the token (run the same command again to retry): %w", res.Issued.Serial, err)
			}
			where = fmt.Sprintf("token %q", h.Session.Info().Label)
		} else {
			chain, err := parseChain(res.Issued.Chain)
			if err != nil {
				return err
			}
			if err := token.WritePKCS12(out, nk.signer, cert, chain, h.Password, true); err != nil {
				return notWritten("the renewed certificate "+res.Issued.Serial, out, nk.pending, err)
			}
			os.Remove(nk.pending)
			where = out
		}
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			*service.RenewResult
			Location string `json:"location,omitempty"`
		}{res, where})
	}
	if f.Quiet() {
		if res.Issued != nil {
			f.Printf("%s\n", res.Issued.Serial)
		} else {
			f.Printf("%s\n", res.Ref)
		}
		return nil
	}
	if res.Issued != nil {
		head := f.T("Renewed inside the renewal window")
		if res.Issued.Retrieved {
			head = f.T("Renewal finished: issued by an earlier, interrupted run")
		}
		f.Printf("%s (request %s).\n  new serial: %s\n  valid to:   %s\n  stored in:  %s\n  The old certificate %s stays valid until it expires.\n",
			head, res.Ref, res.Issued.Serial, res.Issued.NotAfter.Local().Format(time.DateOnly), where, res.OldSerial)
		return nil
	}
	f.Printf("Renewal request %s submitted for review (the certificate is not yet within %s of expiry).\n  After approval you will receive a passcode; then run `cmca download --ref %s`.\n",
		res.Ref, f.renewWindow(), res.Ref)
	return nil
}

func (f *Factory) renewWindow() string {
	api, err := f.ReadAPI(context.Background()) // the server's policy in remote mode
	if err != nil {
		return "the renewal window"
	}
	return fmt.Sprintf("%d days", int(api.Policy().RenewWindow.Hours()/24))
}

// RevokeOptions are the inputs of `cmca revoke`.
type RevokeOptions struct {
	F            *Factory
	Serial       string
	P12          string
	PasswordFile string
	Reason       string
	Comment      string
	Direct       bool
	Token        tokenFlags
}

func NewCmdRevoke(f *Factory, runF func(*RevokeOptions) error) *cobra.Command {
	o := &RevokeOptions{F: f}
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

func revokeRun(ctx context.Context, o *RevokeOptions) error {
	f := o.F
	reason, err := ra.ParseRevocationReason(o.Reason)
	if err != nil {
		return err
	}
	in := service.RevokeInput{Serial: o.Serial, Reason: string(reason), Comment: o.Comment, Direct: o.Direct}
	if o.P12 != "" || o.Token.named() {
		serial := ""
		if o.Serial != "" {
			if serial, err = ra.ParseSerial(o.Serial); err != nil {
				return err
			}
		}
		h, err := f.openHolder(ctx, o.P12, o.PasswordFile, &o.Token, serial)
		if err != nil {
			return err
		}
		in.Serial, in.SignedAt = h.Serial, testhook.Clock()().UTC().Truncate(time.Second)
		if in.Proof, err = ca.SignPossession(h.Signer, "revoke", h.Serial, in.SignedAt, []byte(reason)); err != nil {
			return errorf("sign the revocation request: %w", err)
		}
	}
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	res, err := api.Revoke(ctx, in)
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(res)
	}
	if f.Quiet() {
		f.Printf("%s\n", res.Ref)
		return nil
	}
	if res.Revoked {
		f.Printf("Certificate %s revoked (%s), request %s. Publish it: `cmca crl`.\n", res.Serial, res.Reason, res.Ref)
		return nil
	}
	f.Printf("Revocation request %s submitted for certificate %s (%s).\n  It takes effect when an operator approves it: `cmca approve %s`.\n", res.Ref, res.Serial, res.Reason, res.Ref)
	return nil
}

// ReissueOptions are the inputs of `cmca reissue`.
type ReissueOptions struct {
	F       *Factory
	Serial  string
	Ref     string
	Reason  string
	Comment string
}

func NewCmdReissue(f *Factory, runF func(*ReissueOptions) error) *cobra.Command {
	o := &ReissueOptions{F: f}
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
			ctx := cmd.Context()
			api, err := f.API(ctx)
			if err != nil {
				return err
			}
			res, err := api.Reissue(ctx, service.ReissueInput{Serial: o.Serial, Ref: o.Ref, Reason: o.Reason, Comment: o.Comment})
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(res)
			}
			if f.Quiet() {
				f.Printf("%s\n", res.Ref)
				return nil
			}
			f.Printf("Reissue request %s submitted for certificate %s (%s).\n  After approval the old certificate is revoked and a passcode is issued for the replacement.\n", res.Ref, res.Serial, res.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Serial, "serial", "", "serial of the certificate to replace")
	cmd.Flags().StringVar(&o.Ref, "ref", "", "reference of the request that produced it")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "lost or damaged")
	cmd.Flags().StringVar(&o.Comment, "comment", "", "note for the reviewer")
	return cmd
}
