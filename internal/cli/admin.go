package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/spf13/cobra"
)

// ReviewOptions are the inputs of `cmca review`.
type ReviewOptions struct {
	F           *Factory
	Ref         string
	States      []string
	Kinds       []string
	Limit       int
	Interactive bool
}

func NewCmdReview(f *Factory, runF func(*ReviewOptions) error) *cobra.Command {
	o := &ReviewOptions{F: f}
	cmd := &cobra.Command{
		Use:   "review [REF]",
		Short: "The review queue, or one request in full (审核)",
		Long: `Without REF, list requests waiting for a decision (state submitted), oldest
first; --state and --kind choose others. With REF, show the whole request:
applicant, agent, usage, storage, history and certificates.

On a terminal, --interactive steps through the pending requests and asks
approve / reject / skip for each.`,
		Example: `  cmca review
  cmca review --state approved,issued --kind new -o json
  cmca review 20261125-7KQ3PZ4M`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Ref = args[0]
			}
			if runF != nil {
				return runF(o)
			}
			return reviewRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringSliceVar(&o.States, "state", []string{"submitted"}, "states to list: submitted, approved, rejected, issued, completed, or all")
	cmd.Flags().StringSliceVar(&o.Kinds, "kind", nil, "kinds to list: new, renew, revoke, reissue")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "list at most N requests")
	cmd.Flags().BoolVarP(&o.Interactive, "interactive", "i", false, "step through pending requests: approve, reject or skip each")
	return cmd
}

func parseFilter(states, kinds []string, limit int) (store.RequestFilter, error) {
	var flt store.RequestFilter
	flt.Limit = limit
	for _, s := range states {
		if s == "all" {
			flt.States = nil
			break
		}
		st, err := ra.ParseState(s)
		if err != nil {
			return flt, err
		}
		flt.States = append(flt.States, st)
	}
	for _, k := range kinds {
		kd, err := ra.ParseKind(k)
		if err != nil {
			return flt, err
		}
		flt.Kinds = append(flt.Kinds, kd)
	}
	return flt, nil
}

func reviewRun(ctx context.Context, o *ReviewOptions) error {
	f := o.F
	open := f.ReadAPI // review only reads; --interactive decides
	if o.Interactive {
		open = f.API
	}
	api, err := open(ctx)
	if err != nil {
		return err
	}
	if o.Ref != "" {
		d, err := api.Status(ctx, o.Ref)
		if err != nil {
			return err
		}
		for _, p := range d.Integrity {
			f.Warnf("warning: %s\n", p)
		}
		if f.JSON() {
			return f.PrintJSON(d)
		}
		printRequestDetail(f, d, true)
		return nil
	}
	flt, err := parseFilter(o.States, o.Kinds, o.Limit)
	if err != nil {
		return err
	}
	rs, err := api.Requests(ctx, flt)
	if err != nil {
		return err
	}
	if o.Interactive {
		if !f.IO.CanPrompt() {
			return usagef("--interactive needs a terminal; use `cmca approve REF` in scripts")
		}
		return reviewInteractive(ctx, f, api, rs)
	}
	if f.JSON() {
		if rs == nil {
			rs = []*ra.Request{}
		}
		return f.PrintJSON(rs)
	}
	if f.Quiet() {
		for _, r := range rs {
			f.Printf("%s\n", r.Ref)
		}
		return nil
	}
	if len(rs) == 0 {
		f.Printf("No requests in state %s.\n", strings.Join(o.States, ", "))
		return nil
	}
	t := newTable(f, "REF", "KIND", "STATE", "NAME", "USAGE", "STORAGE", "POINT", "SUBMITTED", "TARGET")
	for _, r := range rs {
		t.row(r.Ref, string(r.Kind), string(r.State), r.Applicant.Name, r.UsageType, string(r.Storage), r.AcceptancePoint, r.CreatedAt.Local().Format("2006-01-02 15:04"), targetStatus(r))
	}
	return t.flush()
}

func printRequestDetail(f *Factory, d *service.RequestDetail, admin bool) {
	r := d.Request
	f.Printf("Request %s (%s)\n  state:            %s\n", r.Ref, r.Kind, r.State)
	f.Printf("  applicant:        %s\n", r.Applicant.Name)
	if r.Applicant.Surname != "" || r.Applicant.GivenName != "" {
		f.Printf("  surname (姓):     %s\n  given name (名):  %s\n", r.Applicant.Surname, r.Applicant.GivenName)
	}
	if admin {
		f.Printf("  ID:               %s %s\n", r.Applicant.IDType, r.Applicant.IDNumber)
		f.Printf("  mobile:           %s\n", r.Applicant.Mobile)
		if r.Applicant.Address != "" {
			f.Printf("  address:          %s\n", r.Applicant.Address)
		}
		if r.Agent != nil {
			f.Printf("  agent (经办人):    %s (%s %s)\n", r.Agent.Name, r.Agent.IDType, r.Agent.IDNumber)
		}
	}
	f.Printf("  email:            %s\n  usage type:       %s\n  acceptance point: %s\n  storage:          %s\n", r.Applicant.Email, r.UsageType, r.AcceptancePoint, r.Storage)
	if r.AgreementVersion != "" {
		f.Printf("  agreement:        version %s accepted\n", r.AgreementVersion)
	}
	if r.TargetSerial != "" {
		f.Printf("  certificate:      %s (%s)\n", r.TargetSerial, targetStatus(r))
	}
	if r.Reason != "" {
		f.Printf("  reason:           %s\n", r.Reason)
	}
	if r.Comment != "" {
		f.Printf("  comment:          %s\n", r.Comment)
	}
	if r.DecisionReason != "" {
		f.Printf("  decision:         %s (by %s)\n", r.DecisionReason, r.DecidedBy)
	}
	if r.State == ra.StateIssued {
		f.Printf("  passcode expires: %s (%d wrong attempts)\n", r.PasscodeExpires.Local().Format(time.DateTime), r.PasscodeAttempts)
	}
	if r.CertSerial != "" {
		f.Printf("  issued:           %s\n", r.CertSerial)
	}
	f.Printf("History:\n")
	for _, e := range d.History {
		move := e.Action
		if e.To != "" {
			move = fmt.Sprintf("%s: %s -> %s", e.Action, orDash(string(e.From)), e.To)
		}
		f.Printf("  %s  %-10s %s %s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Operator, move, e.Detail)
	}
}

// targetStatus is what review shows of the certificate a renew, revoke or
// reissue request acts on: its status now, with the reason if revoked
// ("revoked: keyCompromise"); "-" for a new application.
func targetStatus(r *ra.Request) string {
	switch {
	case r.TargetSerial == "":
		return "-"
	case r.TargetStatus == ra.CertRevoked && r.TargetRevocationReason != "":
		return string(r.TargetStatus) + ": " + r.TargetRevocationReason
	}
	return orDash(string(r.TargetStatus))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ApproveOptions are the inputs of `cmca approve`.
type ApproveOptions struct {
	F            *Factory
	Refs         []string
	Reject       bool
	Reason       string
	AllSubmitted bool
}

func NewCmdApprove(f *Factory, runF func(*ApproveOptions) error) *cobra.Command {
	o := &ApproveOptions{F: f}
	cmd := &cobra.Command{
		Use:   "approve REF...",
		Short: "Approve requests, or reject them with a reason (审核通过/拒绝)",
		Long: `Record an operator's decision on submitted requests. Approving a revocation
request revokes the certificate; approving a reissue revokes the certificate
it replaces (lost: keyCompromise, damaged: superseded). Several requests
(or --all-submitted) are decided in one transaction, each on its own: if
another operator decided one first, that one fails with exit code 4 and
changes nothing, and the others are approved.`,
		Example: `  cmca approve 20261125-7KQ3PZ4M
  cmca approve --reject --reason "ID copy unreadable; please resubmit" 20261125-7KQ3PZ4M
  cmca review -q | xargs cmca approve`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Refs = args
			if len(args) == 0 && !o.AllSubmitted {
				return usagef("approve needs at least one reference number (or --all-submitted)")
			}
			if len(args) > 0 && o.AllSubmitted {
				return usagef("--all-submitted takes no reference numbers")
			}
			if o.AllSubmitted && o.Reject {
				return usagef("--all-submitted cannot be combined with --reject; reject requests one by one")
			}
			if o.Reject && strings.TrimSpace(o.Reason) == "" {
				return usagef("--reject needs --reason TEXT: the applicant is told why")
			}
			if !o.Reject && o.Reason != "" {
				return usagef("--reason goes with --reject")
			}
			if runF != nil {
				return runF(o)
			}
			return approveRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Reject, "reject", false, "reject instead of approve")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why the request is rejected (required with --reject)")
	cmd.Flags().BoolVar(&o.AllSubmitted, "all-submitted", false, "approve every request waiting for review, in one transaction")
	return cmd
}

func approveRun(ctx context.Context, o *ApproveOptions) error {
	f := o.F
	if !o.Reject && (o.AllSubmitted || len(o.Refs) > 1) {
		return approveManyRun(ctx, o) // one transaction for the batch
	}
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	var out []any
	var firstErr error
	failed := 0
	for _, ref := range o.Refs {
		var d *service.Decision
		if o.Reject {
			d, err = api.Reject(ctx, ref, o.Reason)
		} else {
			d, err = api.Approve(ctx, ref)
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			out = append(out, map[string]any{"ref": ref, "error": err.Error(), "exit_code": ExitCode(err)})
			if !f.JSON() && len(o.Refs) > 1 {
				f.Warnf("%s: %v\n", ref, err)
			}
			continue
		}
		out = append(out, d)
		switch {
		case f.JSON():
		case f.Quiet():
			f.Printf("%s\n", d.Ref)
		default:
			f.Printf("%s (%s): %s", d.Ref, d.Kind, d.State)
			if d.RevokedSerial != "" {
				f.Printf("; certificate %s revoked", d.RevokedSerial)
			}
			if d.State == ra.StateApproved {
				f.Printf("; next: `cmca issue %s`", d.Ref)
			}
			f.Printf("\n")
			if d.RevokedSerial != "" {
				f.Printf("  Publish the revocation: `cmca crl` signs a new CRL; relying parties see it once they fetch it.\n")
			}
		}
	}
	if f.JSON() {
		if len(out) == 1 && firstErr == nil {
			_ = f.PrintJSON(out[0])
		} else {
			_ = f.PrintJSON(out)
		}
	}
	if failed > 1 {
		return errorf("%d of %d requests failed; first: %w", failed, len(o.Refs), firstErr)
	}
	return firstErr
}

// IssueOptions are the inputs of `cmca issue`.
type IssueOptions struct {
	F           *Factory
	Refs        []string
	Resend      bool
	AllApproved bool
}

func NewCmdIssue(f *Factory, runF func(*IssueOptions) error) *cobra.Command {
	o := &IssueOptions{F: f}
	cmd := &cobra.Command{
		Use:   "issue REF...",
		Short: "Authorise issuance: print the one-time download passcode (签发)",
		Long: `Authorise issuance of approved requests. For each, a one-time download
passcode (下载授权码) is drawn and printed — this is the only time it is shown;
the store keeps only a hash. Send it to the applicant by a secure channel,
separately from the reference number. It expires (config passcode.ttl,
default 14 days) and locks after passcode.max_attempts wrong tries.

--resend replaces a lost, expired or locked passcode; the old one stops
working at once.`,
		Example: `  cmca issue 20261125-7KQ3PZ4M
  cmca issue --resend 20261125-7KQ3PZ4M -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Refs = args
			if len(args) == 0 && !o.AllApproved {
				return usagef("issue needs at least one reference number (or --all-approved)")
			}
			if len(args) > 0 && o.AllApproved {
				return usagef("--all-approved takes no reference numbers")
			}
			if runF != nil {
				return runF(o)
			}
			return issueRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Resend, "resend", false, "replace the outstanding passcode (lost, expired or locked)")
	cmd.Flags().BoolVar(&o.AllApproved, "all-approved", false, "authorise every approved request, in one transaction (-q prints REF PASSCODE lines)")
	return cmd
}

func issueRun(ctx context.Context, o *IssueOptions) error {
	f := o.F
	if o.AllApproved || len(o.Refs) > 1 {
		return issueManyRun(ctx, o) // one transaction for the batch
	}
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	var out []*service.Authorisation
	var errs []error
	for _, ref := range o.Refs {
		a, err := api.Issue(ctx, ref, o.Resend)
		if err != nil {
			errs = append(errs, err)
			if len(o.Refs) > 1 {
				f.Warnf("%s: %v\n", ref, err)
			}
			continue
		}
		out = append(out, a)
		switch {
		case f.JSON():
		case f.Quiet():
			f.Printf("%s %s\n", a.Ref, a.Passcode)
		default:
			f.Printf("Request %s authorised for download.\n  passcode (下载授权码): %s\n  expires:             %s\n  This passcode is shown once; give it to the applicant by a secure channel.\n",
				a.Ref, a.Passcode, a.Expires.Local().Format(time.DateTime))
		}
	}
	if f.JSON() {
		if len(o.Refs) == 1 && len(out) == 1 {
			_ = f.PrintJSON(out[0])
		} else if len(out) > 0 {
			_ = f.PrintJSON(out)
		}
	}
	if len(errs) > 0 {
		if len(errs) == 1 {
			return errs[0]
		}
		return errorf("%d of %d requests failed; first: %w", len(errs), len(o.Refs), errs[0])
	}
	return nil
}

// CRLOptions are the inputs of `cmca crl`.
type CRLOptions struct {
	F     *Factory
	Out   string
	Delta bool
	Force bool
	Check string // verify this CRL file instead of signing
}

func NewCmdCRL(f *Factory, runF func(*CRLOptions) error) *cobra.Command {
	o := &CRLOptions{F: f}
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Sign and publish the certificate revocation list",
		Long: `Sign a CRL listing every revoked, unexpired certificate, with a CRL number
that is never reused, thisUpdate and nextUpdate (config crl.validity), and
publish it under HOME/crl (ca.crl in DER, ca.crl.pem, and a numbered copy).

If the current CRL already lists every revocation and is less than half way
to its nextUpdate, it is republished without signing: run cmca crl from
cron as often as you like. --force signs a new one anyway.

--check FILE verifies a CRL file (DER or PEM) against the CA instead:
issuer, signature, thisUpdate and nextUpdate; it prints the CRL number and
the number of entries. Exit 2 if the file is not a good CRL of this CA,
4 if it has expired (publish a fresh one). See docs/revocation.md.`,
		Example: `  cmca crl
  cmca crl --out /var/www/crl/ca.crl
  cmca crl --delta
  cmca crl --check /var/www/crl/ca.crl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return crlRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "also write the DER CRL to FILE")
	cmd.Flags().BoolVar(&o.Delta, "delta", false, "a delta CRL against the latest full CRL")
	cmd.Flags().BoolVar(&o.Force, "force", false, "sign a new CRL even if the current one is up to date")
	cmd.Flags().StringVar(&o.Check, "check", "", "verify the CRL in `FILE` (DER or PEM) against the CA; signs nothing")
	return cmd
}

func crlRun(ctx context.Context, o *CRLOptions) error {
	f := o.F
	if o.Check != "" && (o.Out != "" || o.Delta || o.Force) {
		return usagef("--check verifies a CRL and signs nothing; it cannot be combined with --out, --delta or --force")
	}
	if o.Check != "" {
		api, err := f.ReadAPI(ctx)
		if err != nil {
			return err
		}
		return crlCheckRun(ctx, o, api)
	}
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	res, err := api.CRL(ctx, service.CRLOptions{Delta: o.Delta, Force: o.Force})
	if err != nil {
		return err
	}
	if res.Warning != "" {
		f.Warnf("warning: %s\n", res.Warning)
	}
	if o.Out != "" {
		if err := service.CopyPublicFile(o.Out, res.File); err != nil {
			return err
		}
	}
	if f.JSON() {
		return f.PrintJSON(res)
	}
	if f.Quiet() {
		f.Printf("%d\n", res.Number)
		return nil
	}
	state := f.T("signed")
	if res.Reused {
		state = f.T("up to date (not re-signed)")
	}
	f.Printf("CRL %d %s: %d revoked certificates, next update %s\n  %s\n  %s\n", res.Number, state, res.Entries,
		res.NextUpdate.Local().Format(time.DateTime), res.DERPath, res.PEMPath)
	waitingRevocations(ctx, f, api)
	return nil
}

// waitingRevocations tells the operator who just published a CRL about
// revocation (and reissue) requests still waiting for review: they are not
// on the CRL until approved.
func waitingRevocations(ctx context.Context, f *Factory, api API) {
	rs, err := api.Requests(ctx, store.RequestFilter{States: []ra.State{ra.StateSubmitted}, Kinds: []ra.Kind{ra.KindRevoke, ra.KindReissue}})
	if err != nil || len(rs) == 0 {
		return
	}
	f.Warnf("note: %d revocation request(s) still wait for review and are not on this CRL; approve them, then run `cmca crl` again: `cmca review --kind revoke,reissue`\n", len(rs))
}

// crlCheckRun is `cmca crl --check FILE`. An expired CRL still prints what
// it holds, then fails.
func crlCheckRun(ctx context.Context, o *CRLOptions, api API) error {
	f := o.F
	data, err := os.ReadFile(o.Check)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errorf("CRL file %s does not exist: %w", o.Check, ra.ErrNotFound)
		}
		return errorf("read CRL: %w", err)
	}
	res, err := api.CheckCRL(ctx, data)
	if err != nil && res == nil {
		return errorf("%s: %w", o.Check, err)
	}
	switch {
	case f.JSON():
		if perr := f.PrintJSON(res); perr != nil {
			return perr
		}
	case f.Quiet():
		f.Printf("%d %d\n", res.Number, res.Entries)
	default:
		kind := "CRL"
		if res.BaseNumber != 0 {
			kind = fmt.Sprintf("delta CRL (base %d)", res.BaseNumber)
		}
		status := "OK"
		if res.Expired {
			status = "EXPIRED"
		}
		f.Printf("%s: %s %s %d: %d revoked certificates, this update %s, next update %s\n", o.Check, status, kind, res.Number, res.Entries,
			res.ThisUpdate.Local().Format(time.DateTime), res.NextUpdate.Local().Format(time.DateTime))
		switch {
		case !res.Known:
			f.Printf("  signed by this CA's key, but not recorded in this store (restored from an older backup?)\n")
		case !res.Latest:
			f.Printf("  a newer CRL has been signed since; publish it (cmca crl)\n")
		}
	}
	if err != nil {
		return errorf("%s: %w", o.Check, err)
	}
	return nil
}
