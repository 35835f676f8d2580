package cli

import (
	"context"
	"fmt"

	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// counterOptions are the inputs of counter mode (`cmca apply --counter`):
// an operator at an acceptance point takes a walk-in application, checks the
// identity documents in person, and may carry it through approve, issue and
// download in one sitting.
type counterOptions struct {
	Enabled          bool
	DocumentsChecked bool
	Issue            bool
	Out              string
	PasswordFile     string
	KeyAlgo          string
	Token            tokenFlags

	active bool   // counter mode in force (flag or config)
	point  string // acceptance point of this counter
}

func (c *counterOptions) addFlags(fl *pflag.FlagSet) {
	fl.BoolVar(&c.Enabled, "counter", false, "counter mode: a walk-in application taken by an operator (default on when config counter.acceptance_point is set)")
	fl.BoolVar(&c.DocumentsChecked, "documents-checked", false, "counter: the operator checked the identity documents in person (asked on a terminal)")
	fl.BoolVar(&c.Issue, "issue", false, "counter: approve, issue and download at once (operator listed in policy counter.issuers; not with policy.four_eyes)")
	fl.StringVar(&c.Out, "out", "", "counter --issue, soft: PKCS#12 file to write (default REF.p12)")
	fl.StringVar(&c.PasswordFile, "password-file", "", "counter --issue, soft: read the new PKCS#12 password (at least 8 characters) from FILE (else the applicant types it, twice)")
	fl.StringVar(&c.KeyAlgo, "key-algo", string(token.ECDSAP256), fmt.Sprintf("counter --issue: key algorithm: %v", token.KeyAlgos))
	c.Token.add(fl)
}

// begin decides whether counter mode is on and checks, before anything is
// stored, that what was asked for is allowed.
func (c *counterOptions) begin(cmd *cobra.Command, f *Factory, api API, o *ApplyOptions) error {
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	c.active = c.Enabled || (cfg.CounterPoint != "" && !cmd.Flags().Changed("counter"))
	if !c.active {
		for _, name := range []string{"documents-checked", "issue", "out", "password-file", "key-algo", "token-label", "token-serial", "token", "module", "pin-file"} {
			if cmd.Flags().Changed(name) {
				return usagef("--%s goes with --counter (a walk-in application at an acceptance point)", name)
			}
		}
		return nil
	}
	if o.FromFile != "" {
		return usagef("--counter takes one walk-in applicant at a time; submit files without --counter")
	}
	c.point = o.Record.AcceptancePoint
	if !o.Set["acceptance_point"] && cfg.CounterPoint != "" {
		c.point = cfg.CounterPoint
	}
	if c.point == "" {
		return usagef("counter mode needs the acceptance point of this counter: pass --acceptance-point NAME or set counter.acceptance_point in the config")
	}
	o.Record.AcceptancePoint = c.point
	o.Set["acceptance_point"] = true
	if err := c.storageFromFlags(cmd, o); err != nil {
		return err
	}
	if !c.Issue {
		return nil
	}
	op, err := counterOperator(cmd.Context(), f)
	if err != nil {
		return err
	}
	pol := api.Policy()
	if pol.FourEyes {
		return errorf("the four-eyes rule (policy.four_eyes) forbids one operator approving and issuing a request; submit without --issue and ask another operator to approve it: %w", ra.ErrPolicy)
	}
	if !pol.MayIssueAtCounter(op) {
		return errorf("operator %q may not issue at the counter (not in policy counter.issuers; see `cmca policy show`); submit without --issue and the request waits for review: %w", op, ra.ErrPolicy)
	}
	return nil
}

// counterOperator names who works at this counter, for the counter.issuers
// check made before anything is stored. Against a server that is the
// operator its login credential names (the server takes the same name from
// the TLS handshake and checks every step's role itself), never the local
// OS user; in local mode it is the caller identity.
func counterOperator(ctx context.Context, f *Factory) (string, error) {
	if !f.Remote() {
		return f.Operator(), nil
	}
	l, err := f.Login(ctx)
	if err != nil {
		return "", err
	}
	if l == nil || l.Leaf == nil {
		return "", errorf("counter mode against a server needs an operator credential with the counter role: pass --login FILE or set CMCA_LOGIN: %w", ra.ErrAuth)
	}
	return l.Leaf.Subject.CommonName, nil
}

// storageFromFlags takes the storage from the flags already given: --out or
// --password-file mean a PKCS#12 file (soft), token flags mean a USB key, so
// the form does not ask (and does not default to the USB key) again. A
// --storage that contradicts them is a usage error.
func (c *counterOptions) storageFromFlags(cmd *cobra.Command, o *ApplyOptions) error {
	changed := func(names ...string) string {
		for _, n := range names {
			if cmd.Flags().Changed(n) {
				return "--" + n
			}
		}
		return ""
	}
	soft := changed("out", "password-file")
	usb := changed("token-label", "token-serial", "token", "module", "pin-file")
	switch {
	case soft != "" && usb != "":
		return usagef("%s is for a PKCS#12 file and %s for a USB key; give one kind of storage", soft, usb)
	case o.Set["storage"] && soft != "" && o.Record.Storage != string(ra.StorageSoft):
		return usagef("%s writes a PKCS#12 file, but --storage is %s", soft, o.Record.Storage)
	case o.Set["storage"] && usb != "" && o.Record.Storage != string(ra.StorageUSBKey):
		return usagef("%s names a USB key, but --storage is %s", usb, o.Record.Storage)
	case o.Set["storage"]:
	case soft != "":
		o.Record.Storage, o.Set["storage"] = string(ra.StorageSoft), true
	case usb != "":
		o.Record.Storage, o.Set["storage"] = string(ra.StorageUSBKey), true
	}
	return nil
}

// confirmDocuments makes the operator confirm the identity documents were
// checked in person, and marks the application with who did it.
func (c *counterOptions) confirmDocuments(ctx context.Context, f *Factory, api API, a *service.Application) error {
	if !c.active {
		return nil
	}
	if _, err := api.Validate(*a); err != nil { // fix the data before anyone vouches for it
		return err
	}
	c.point = a.AcceptancePoint // the form may have changed it
	if !c.DocumentsChecked {
		if !f.IO.CanPrompt() {
			return usagef("counter mode: confirm you checked the identity documents in person with --documents-checked (no terminal to ask on)")
		}
		what := fmt.Sprintf("%s, %s %s", a.Applicant.Name, f.T(a.Applicant.IDType.Label()), a.Applicant.IDNumber)
		if a.Agent != nil {
			what += f.Tf("; agent %s, %s %s", a.Agent.Name, f.T(a.Agent.IDType.Label()), a.Agent.IDNumber)
		}
		checked := false
		if err := f.runForm(ctx, huh.NewGroup(
			withConfirm(f.yesNo("Have you checked the original identity documents in person?", &checked), func(c *huh.Confirm) {
				c.Description(what).Affirmative(f.T("Checked")).Negative(f.T("Not checked"))
			}),
		)); err != nil {
			return err
		}
		if !checked {
			return errorf("a counter application needs the identity documents checked in person; nothing was submitted: %w", ra.ErrPolicy)
		}
	}
	a.DocumentsChecked = true
	return nil
}

// counterResult is the JSON of a counter application.
type counterResult struct {
	service.ApplyResult
	AcceptancePoint    string      `json:"acceptance_point"`
	Operator           string      `json:"operator"`
	DocumentsCheckedBy string      `json:"documents_checked_by"`
	Certificate        *issuedJSON `json:"certificate,omitempty"`
}

type issuedJSON struct {
	*service.Issued
	Location string `json:"location"`
}

// finish prints the submitted application, or with --issue carries it
// through approve, issue and download; the applicant types their own PIN or
// password at the prompt, and the passcode never leaves the process.
func (c *counterOptions) finish(ctx context.Context, f *Factory, api API, res service.ApplyResult) error {
	op := f.Operator()
	out := counterResult{ApplyResult: res, AcceptancePoint: c.point, Operator: op, DocumentsCheckedBy: op}
	if !c.Issue {
		switch {
		case f.JSON():
			return f.PrintJSON(out)
		case f.Quiet():
			f.Printf("%s\n", res.Ref)
		default:
			f.Printf("Counter application submitted at %s by %s (documents checked in person).\nReference number (业务受理号): %s\nState: %s — it waits for review (`cmca review %s`).\n",
				c.point, op, res.Ref, res.State, res.Ref)
		}
		return nil
	}
	issued, where, err := c.carry(ctx, f, api, res.Ref)
	if err != nil {
		return err
	}
	out.State = ra.StateCompleted
	out.Certificate = &issuedJSON{Issued: issued, Location: where}
	switch {
	case f.JSON():
		return f.PrintJSON(out)
	case f.Quiet():
		f.Printf("%s %s\n", res.Ref, issued.Serial)
	default:
		f.Printf("Counter application %s at %s by %s: approved, issued and collected.\n  serial:    %s\n  subject:   %s\n  stored in: %s\n",
			res.Ref, c.point, op, issued.Serial, issued.Subject, where)
	}
	return nil
}

func (c *counterOptions) carry(ctx context.Context, f *Factory, api API, ref string) (*service.Issued, string, error) {
	if _, err := api.Approve(ctx, ref); err != nil {
		return nil, "", errorf("request %s was submitted but not approved (%w); it waits in `cmca review`", ref, err)
	}
	auth, err := api.Issue(ctx, ref, false)
	if err != nil {
		return nil, "", errorf("request %s was approved but not issued (%w); run `cmca issue %s`", ref, err, ref)
	}
	st, err := api.Status(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	algo, err := token.ParseKeyAlgo(c.KeyAlgo)
	if err != nil {
		return nil, "", err
	}
	d := newDownloadOptions(f)
	d.Ref, d.Passcode, d.Out, d.PasswordFile, d.KeyAlgo, d.Token, d.WithCA = ref, auth.Passcode, c.Out, c.PasswordFile, c.KeyAlgo, c.Token, true
	in := service.DownloadInput{Ref: ref, Passcode: auth.Passcode, Storage: st.Request.Storage}
	if !f.JSON() && f.IO.CanPrompt() {
		what := f.T("choose the password of their certificate file, twice")
		if st.Request.Storage == ra.StorageUSBKey {
			what = f.T("insert their USB key and type its PIN")
		}
		f.Warnf("Request %s approved and issued. Hand the keyboard to the applicant to %s.\n", ref, what)
	}
	var issued *service.Issued
	var where string
	if st.Request.Storage == ra.StorageSoft {
		issued, where, err = downloadSoft(ctx, api, d, in, algo)
	} else {
		issued, where, err = downloadToken(ctx, api, d, in, algo, st.Request)
	}
	if err != nil {
		return nil, "", errorf("request %s is issued but the certificate was not collected (%w); to collect it later, run `cmca issue --resend %s` and give the applicant the new passcode",
			ref, err, ref)
	}
	return issued, where, nil
}
