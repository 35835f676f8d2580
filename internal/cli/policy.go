package cli

import (
	"context"

	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
)

// PolicyOptions are the inputs of `cmca policy set`.
type PolicyOptions struct {
	F     *Factory
	Key   string
	Value string
}

// NewCmdPolicy is `cmca policy show|set`: the home's security policy.
func NewCmdPolicy(f *Factory, runF func(*PolicyOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show or change the home's security policy",
		Long: `The home's security policy lives in its store: passcode lifetime and attempts,
the renewal window, the proof-of-possession age, the four-eyes rule, counter
issuers and the usage types on offer. ` + "`cmca init`" + ` seeds it from the
configuration; afterwards only ` + "`cmca policy set`" + ` (admin role, audited) changes it.
An environment variable or config file key that tries to set a policy key to
another value than the stored one is refused (exit 6).`,
		Args: cobra.NoArgs,
	}
	show := &cobra.Command{
		Use:     "show",
		Short:   "Show every policy key, its value and who set it",
		Example: "  cmca policy show\n  cmca policy show -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return policyShowRun(cmd.Context(), f)
		},
	}
	o := &PolicyOptions{F: f}
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change one policy key (admin role; audited)",
		Long: `Change one policy key. The value is checked against the key's range (see
` + "`cmca policy show`" + `); the change is recorded in the audit log with the old and new
value. Durations take Go syntax (36h, 10m) or whole days (14d).`,
		Example: "  cmca policy set passcode.max_attempts 3\n  cmca policy set policy.four_eyes true\n  cmca policy set counter.issuers alice,bob",
		Args:    needArgs(2, "a KEY and a VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Key, o.Value = args[0], args[1]
			if runF != nil {
				return runF(o)
			}
			return policySetRun(cmd.Context(), o)
		},
	}
	cmd.AddCommand(show, set)
	return cmd
}

func policyShowRun(ctx context.Context, f *Factory) error {
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	rows, err := api.PolicySettings(ctx)
	if err != nil {
		return err
	}
	if f.JSON() {
		if rows == nil {
			rows = []service.PolicySetting{}
		}
		return f.PrintJSON(rows)
	}
	t := newTable(f, "KEY", "VALUE", "RANGE", "SET BY", "SET AT")
	for _, r := range rows {
		at := ""
		if !r.UpdatedAt.IsZero() {
			at = r.UpdatedAt.Local().Format("2006-01-02 15:04:05")
		}
		t.row(r.Key, orDash(r.Value), r.Range, orDash(r.UpdatedBy), orDash(at))
	}
	return t.flush()
}

func policySetRun(ctx context.Context, o *PolicyOptions) error {
	f := o.F
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	ch, err := api.PolicySet(ctx, o.Key, o.Value)
	if err != nil {
		return err
	}
	switch {
	case f.JSON():
		return f.PrintJSON(ch)
	case f.Quiet():
		f.Printf("%s\n", ch.To)
	default:
		f.Printf("Policy %s: %s -> %s (recorded in the audit log).\n", ch.Key, orDash(ch.From), orDash(ch.To))
	}
	return nil
}
