package cli

import (
	"encoding/pem"
	"fmt"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/spf13/cobra"
)

func NewCmdStatus(f *Factory, runF func(string) error) *cobra.Command {
	return &cobra.Command{
		Use:     "status REF",
		Short:   "Show a request's state and history",
		Example: `  cmca status 20261125-7KQ3PZ4M`,
		Args:    needArgs(1, "a reference number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(args[0])
			}
			ctx := cmd.Context()
			api, err := f.ReadAPI(ctx)
			if err != nil {
				return err
			}
			d, err := api.Status(ctx, args[0])
			if err != nil {
				return err
			}
			for _, p := range d.Integrity {
				f.Warnf("warning: %s\n", p)
			}
			d = d.ForApplicant()
			if f.JSON() {
				return f.PrintJSON(d)
			}
			if f.Quiet() {
				f.Printf("%s\n", d.Request.State)
				return nil
			}
			printRequestDetail(f, d, false)
			return nil
		},
	}
}

func NewCmdCerts(f *Factory) *cobra.Command {
	var state string
	var limit int
	cmd := &cobra.Command{
		Use:     "certs",
		Short:   "List issued certificates",
		Example: "  cmca certs --state revoked -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var st ra.CertStatus
			switch state {
			case "", "all":
			case "valid", "revoked", "expired":
				st = ra.CertStatus(state)
			default:
				return usagef("--state must be valid, revoked, expired or all, got %q", state)
			}
			api, err := f.ReadAPI(ctx)
			if err != nil {
				return err
			}
			cs, err := api.Certificates(ctx, st, limit)
			if err != nil {
				return err
			}
			now := testhook.Clock()()
			if f.JSON() {
				for _, c := range cs {
					c.Status = c.StatusAt(now)
				}
				if cs == nil {
					cs = []*ra.Certificate{}
				}
				return f.PrintJSON(cs)
			}
			if f.Quiet() {
				for _, c := range cs {
					f.Printf("%s\n", c.Serial)
				}
				return nil
			}
			t := newTable(f, "SERIAL", "STATUS", "NAME", "EMAIL", "USAGE", "STORAGE", "NOT AFTER", "REQUEST")
			for _, c := range cs {
				t.row(c.Serial, string(c.StatusAt(now)), c.Name, c.Email, c.UsageType, string(c.Storage), c.NotAfter.Local().Format(time.DateOnly), c.RequestRef)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "all", "valid, revoked, expired or all")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most N")
	return cmd
}

func NewCmdCert(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Work with one certificate"}
	var pemOut bool
	show := &cobra.Command{
		Use:     "show SERIAL",
		Short:   "Show a certificate and the requests that touched it",
		Example: "  cmca cert show 5f3a...\n  cmca cert show 5f3a... --pem > me.crt",
		Args:    needArgs(1, "a serial number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			api, err := f.ReadAPI(ctx)
			if err != nil {
				return err
			}
			d, err := api.Certificate(ctx, args[0])
			if err != nil {
				return err
			}
			for _, p := range d.Integrity {
				f.Warnf("warning: %s\n", p)
			}
			if pemOut {
				return pem.Encode(f.IO.Out, &pem.Block{Type: "CERTIFICATE", Bytes: d.Certificate.DER})
			}
			d.Certificate.Status = d.Status
			if f.JSON() {
				return f.PrintJSON(struct {
					Certificate any    `json:"certificate"`
					PEM         string `json:"pem"`
					Requests    any    `json:"requests"`
					Integrity   any    `json:"integrity,omitempty"`
				}{d.Certificate, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Certificate.DER})), d.Requests, d.Integrity})
			}
			c := d.Certificate
			f.Printf("Certificate %s\n  status:   %s\n  subject:  %s\n  email:    %s\n  usage:    %s\n  key:      %s (%s)\n  valid:    %s to %s\n  request:  %s\n",
				c.Serial, d.Status, c.Subject, c.Email, c.UsageType, c.KeyAlgo, c.Storage,
				c.NotBefore.Local().Format(time.DateTime), c.NotAfter.Local().Format(time.DateTime), c.RequestRef)
			if c.Status == ra.CertRevoked {
				f.Printf("  revoked:  %s (%s)\n", c.RevokedAt.Local().Format(time.DateTime), c.RevocationReason)
			}
			for _, r := range d.Requests {
				f.Printf("  %s %s: %s\n", r.Ref, r.Kind, r.State)
			}
			return nil
		},
	}
	show.Flags().BoolVar(&pemOut, "pem", false, "print the certificate in PEM only")
	cmd.AddCommand(show)
	return cmd
}

func NewCmdAudit(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the hash-chained audit log"}
	var flt store.AuditFilter
	var since, until string
	var checkpoints []string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List audit records",
		Example: "  cmca audit list --ref 20261125-7KQ3PZ4M\n  cmca audit list --operator alice --since 2026-11-01",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for _, p := range []struct {
				s   string
				dst *time.Time
			}{{since, &flt.Since}, {until, &flt.Until}} {
				if p.s == "" {
					continue
				}
				t, err := time.ParseInLocation(time.DateOnly, p.s, time.Local)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, p.s); err != nil {
						return usagef("%q is not a date (2026-11-25 or RFC 3339)", p.s)
					}
				}
				*p.dst = t
			}
			api, err := f.ReadAPI(ctx)
			if err != nil {
				return err
			}
			evs, err := api.Audit(ctx, flt)
			if err != nil {
				return err
			}
			if f.JSON() {
				if evs == nil {
					evs = []ra.Event{}
				}
				return f.PrintJSON(evs)
			}
			t := newTable(f, "SEQ", "TIME", "OPERATOR", "ACTION", "REF", "SERIAL", "STATE", "DETAIL")
			for _, e := range evs {
				move := ""
				if e.To != "" {
					move = orDash(string(e.From)) + "->" + string(e.To)
				}
				t.row(fmt.Sprint(e.Seq), e.At.Local().Format("2006-01-02 15:04:05"), e.Operator, e.Action, e.Ref, e.Serial, move, e.Detail)
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&flt.Ref, "ref", "", "records of one request")
	list.Flags().StringVar(&flt.Serial, "serial", "", "records of one certificate")
	list.Flags().StringVar(&flt.Operator, "operator-name", "", "records by one operator")
	list.Flags().StringVar(&since, "since", "", "records at or after this date")
	list.Flags().StringVar(&until, "until", "", "records at or before this date")
	list.Flags().IntVar(&flt.Limit, "limit", 0, "at most N records")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit hash chain, its signed checkpoint and the rows it binds; exit 4 if anything was modified, deleted or reordered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var rep *service.AuditReport
			if len(checkpoints) > 0 {
				// The files are read where the store is: local only.
				if f.Remote() {
					return usagef("--checkpoint reads the store beside the file: run it on the CA host, without --server")
				}
				svc, err := f.ReadLocal(ctx)
				if err != nil {
					return err
				}
				rep, err = svc.VerifyAuditWith(ctx, checkpoints...)
				if err != nil {
					return err
				}
			} else {
				api, err := f.ReadAPI(ctx)
				if err != nil {
					return err
				}
				if rep, err = api.VerifyAudit(ctx); err != nil {
					return err
				}
			}
			if f.JSON() {
				_ = f.PrintJSON(rep)
			} else if rep.OK {
				f.Printf("Audit log intact: %d records verified.\n", rep.Checked)
			} else {
				for _, p := range rep.Problems {
					if p.Seq == 0 {
						f.Printf("%s\n", p.Problem)
					} else {
						f.Printf("record %d: %s\n", p.Seq, p.Problem)
					}
				}
			}
			if !rep.OK {
				if p := rep.Problems[0]; p.Seq == 0 {
					return errorf("audit check failed: %s (%d problems in %d records): %w", p.Problem, len(rep.Problems), rep.Checked, ra.ErrIntegrity)
				}
				return errorf("audit log broken at record %d (%d problems in %d records): %w", rep.Problems[0].Seq, len(rep.Problems), rep.Checked, ra.ErrIntegrity)
			}
			return nil
		},
	}
	verify.Flags().StringSliceVar(&checkpoints, "checkpoint", nil, "also check the audit log against this checkpoint file (a copy of crl/audit-checkpoint.json fetched from where CRLs are published)")
	cmd.AddCommand(list, verify)
	return cmd
}
