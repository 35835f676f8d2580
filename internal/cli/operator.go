package cli

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// NewCmdOperator is `cmca operator`: the operators of `cmca serve`.
func NewCmdOperator(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Operators of cmca serve: add (issue a login credential), list, revoke",
		Long: `Operators log in to ` + "`cmca serve`" + ` with a client certificate issued by the
home's CA (extended key usage clientAuth, OU "cmca operator"). The certificate
only identifies the operator; the roles come from the store, so changing what
an operator may do never needs a new certificate. Every change is audited.

Roles: reviewer (approve, reject), issuer (issue passcodes, sign CRLs),
revoker (approve revocations), auditor (audit log, doctor), counter
(in-person applications), admin (policy and operators).`,
	}
	cmd.AddCommand(NewCmdOperatorAdd(f, nil), newCmdOperatorList(f), NewCmdOperatorRevoke(f, nil))
	return cmd
}

// OperatorAddOptions are the inputs of `cmca operator add`.
type OperatorAddOptions struct {
	F            *Factory
	Name         string
	Roles        []string
	Out          string
	PasswordFile string
	Force        bool
	KeyAlgo      string
	Token        tokenFlags
}

func NewCmdOperatorAdd(f *Factory, runF func(*OperatorAddOptions) error) *cobra.Command {
	o := &OperatorAddOptions{F: f}
	cmd := &cobra.Command{
		Use:   "add NAME --role ROLE[,ROLE...] (--out NAME.p12 | --token-label LABEL)",
		Short: "Add an operator and issue its login credential (a .p12 file or a key on a token)",
		Long: `Add an operator with the given roles and issue the certificate it logs in to
cmca serve with. The key is made where it will live: in a new PKCS#12 file
protected by a password (--out, --password-file), or on a USB key token when a
token flag is given (--token-label, --token-serial or --token; PIN from
--pin-file). Only the public key reaches the CA.

An operator name is active once: revoke it first to give it a new credential.`,
		Example: `  cmca operator add alice --role reviewer,issuer --out alice.p12 --password-file pw.txt
  cmca operator add bob --role admin --token-label "Bob Key" --pin-file pin.txt`,
		Args: needArgs(1, "the operator's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return operatorAddRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&o.Roles, "role", nil, "roles, comma-separated: reviewer, issuer, revoker, auditor, counter, admin")
	fl.StringVar(&o.Out, "out", "", "soft: PKCS#12 file to write (default NAME.p12)")
	fl.StringVar(&o.PasswordFile, "password-file", "", "soft: read the new PKCS#12 password from FILE (- for stdin; env CMCA_P12_PASSWORD; else prompt twice)")
	fl.BoolVar(&o.Force, "force", false, "soft: overwrite an existing --out file")
	fl.StringVar(&o.KeyAlgo, "key-algo", string(token.ECDSAP256), fmt.Sprintf("key algorithm: %v", token.KeyAlgos))
	o.Token.add(fl)
	return cmd
}

func operatorAddRun(ctx context.Context, o *OperatorAddOptions) error {
	f := o.F
	name, err := service.ValidateOperatorName(o.Name)
	if err != nil {
		return err
	}
	roles, err := service.ParseRoles(o.Roles)
	if err != nil {
		return usagef("--role: %v", err)
	}
	algo, err := token.ParseKeyAlgo(o.KeyAlgo)
	if err != nil {
		return err
	}
	svc, err := f.Local(ctx)
	if err != nil {
		return err
	}
	if o.Token.named() {
		return operatorAddToken(ctx, f, svc, o, name, roles, algo)
	}
	out := o.Out
	if out == "" {
		out = name + ".p12"
	}
	if err := ensureAbsent(out, o.Force); err != nil {
		return err
	}
	pw, err := f.readSecret(secret{What: "new PKCS#12 password", FileFlag: "--password-file", File: o.PasswordFile, Env: "CMCA_P12_PASSWORD", New: true})
	if err != nil {
		return err
	}
	defer wipe(pw)
	if err := token.CheckNewPassword(pw); err != nil {
		return err
	}
	key, err := token.GenerateSoftKey(algo)
	if err != nil {
		return err
	}
	res, err := svc.AddOperator(ctx, service.OperatorInput{Name: name, Roles: roles, PublicKey: key.Public()})
	if err != nil {
		return err
	}
	cert, chain, err := operatorCerts(res)
	if err != nil {
		return err
	}
	if err := token.WritePKCS12(out, key, cert, chain, pw, o.Force); err != nil {
		return errorf("operator %s was added but its credential could not be written; revoke it (`cmca operator revoke %s`) and add it again: %w", name, name, err)
	}
	return printOperatorAdded(f, res, out)
}

func operatorAddToken(ctx context.Context, f *Factory, svc *service.Service, o *OperatorAddOptions, name string, roles []principal.Role, algo token.KeyAlgo) error {
	s, err := f.openToken(ctx, &o.Token, true)
	if err != nil {
		return err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	label := "cmca operator " + name
	key, err := s.GenerateKey(ctx, algo, id, label)
	if err != nil {
		return err
	}
	res, err := svc.AddOperator(ctx, service.OperatorInput{Name: name, Roles: roles, PublicKey: key.Public()})
	if err != nil {
		if derr := s.DeleteObjects(ctx, id); derr != nil {
			f.Warnf("warning: could not remove the unused key from the token: %v\n", derr)
		}
		return err
	}
	cert, chain, err := operatorCerts(res)
	if err != nil {
		return err
	}
	if err := s.ImportCertificate(ctx, id, label, cert); err != nil {
		return errorf("operator %s was added but its certificate could not be stored on the token; revoke it and add it again: %w", name, err)
	}
	if len(chain) > 0 {
		caID := enroll.KeyID("ca:" + chain[0].SerialNumber.String())
		if err := s.ImportCertificate(ctx, caID, "CA "+chain[0].Subject.CommonName, chain[0]); err != nil {
			f.Warnf("warning: could not store the CA certificate on the token: %v\n", err)
		}
	}
	info := s.Info()
	uri := (&token.URI{Token: info.Label, Serial: info.Serial, ID: id}).String()
	return printOperatorAdded(f, res, uri)
}

func operatorCerts(res *service.OperatorResult) (*x509.Certificate, []*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(res.Certificate)
	if err != nil {
		return nil, nil, err
	}
	chain, err := enroll.ParseChain(res.Chain)
	return cert, chain, err
}

func printOperatorAdded(f *Factory, res *service.OperatorResult, where string) error {
	op := res.Operator
	if f.JSON() {
		return f.PrintJSON(struct {
			*store.Operator
			Login string `json:"login"`
		}{op, where})
	}
	if f.Quiet() {
		f.Printf("%s\n", op.Serial)
		return nil
	}
	f.Printf("Operator %s added\n  roles:    %s\n  serial:   %s\n  valid to: %s\n  login:    %s\n", op.Name, joinRoleNames(op.Roles), op.Serial,
		op.NotAfter.Local().Format(time.DateOnly), where)
	return nil
}

func ensureAbsent(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return errorf("%s already exists; choose another --out or pass --force: %w", path, ra.ErrConflict)
	}
	return nil
}

func joinRoleNames(rs []principal.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += string(r)
	}
	return s
}

func newCmdOperatorList(f *Factory) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List operators and their roles (--all: revoked ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			svc, err := f.Local(ctx)
			if err != nil {
				return err
			}
			ops, err := svc.Operators(ctx, all)
			if err != nil {
				return err
			}
			if f.JSON() {
				if ops == nil {
					ops = []*store.Operator{}
				}
				return f.PrintJSON(ops)
			}
			if f.Quiet() {
				for _, o := range ops {
					f.Printf("%s\n", o.Name)
				}
				return nil
			}
			t := newTable(f, "NAME", "ROLES", "STATUS", "SERIAL", "CREATED", "EXPIRES")
			for _, o := range ops {
				t.row(o.Name, joinRoleNames(o.Roles), o.Status, o.Serial, o.CreatedAt.Local().Format(time.DateOnly), o.NotAfter.Local().Format(time.DateOnly))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also list revoked operators")
	return cmd
}

// OperatorRevokeOptions are the inputs of `cmca operator revoke`.
type OperatorRevokeOptions struct {
	F      *Factory
	Name   string
	Reason string
}

func NewCmdOperatorRevoke(f *Factory, runF func(*OperatorRevokeOptions) error) *cobra.Command {
	o := &OperatorRevokeOptions{F: f}
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Disable an operator and revoke its credential (it appears on the next CRL)",
		Long: `Disable the operator at once (cmca serve refuses its logins from this moment)
and revoke its certificate: run ` + "`cmca crl`" + ` to publish a CRL that lists it.`,
		Args: needArgs(1, "the operator's NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return operatorRevokeRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "cessationOfOperation", "RFC 5280 revocation reason, e.g. keyCompromise, affiliationChanged")
	return cmd
}

func operatorRevokeRun(ctx context.Context, o *OperatorRevokeOptions) error {
	f := o.F
	reason, err := ra.ParseRevocationReason(o.Reason)
	if err != nil {
		return err
	}
	svc, err := f.Local(ctx)
	if err != nil {
		return err
	}
	op, err := svc.RevokeOperator(ctx, o.Name, reason)
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(op)
	}
	if f.Quiet() {
		f.Printf("%s\n", op.Serial)
		return nil
	}
	f.Printf("Operator %s revoked (certificate %s, %s); run `cmca crl` to publish it\n", op.Name, op.Serial, reason)
	return nil
}
