package cli

import (
	"context"
	"slices"
	"strings"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
)

// completionTexts are the descriptions shell completion shows beside fixed
// values (catalogue texts).
var completionTexts = []string{
	"USB key token (PKCS#11)",
	"PKCS#12 file",
	"the old key may be in other hands (keyCompromise)",
	"the old key is unusable (superseded)",
}

// completeFunc offers values for a flag or an argument.
type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// addCompletions registers value completions on every command of the tree:
// fixed sets (reasons, ID types, storage, key algorithms), the configured
// usage types and acceptance points, token labels from the module, and
// request references and serials from the store. A completion that cannot
// get its values (no home, no module) offers nothing rather than failing.
func addCompletions(root *cobra.Command, f *Factory) {
	// The descriptions after a tab are catalogue texts, translated when
	// completing (the language is known only once flags are parsed).
	fixed := func(vals ...string) completeFunc {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			out := make([]string, len(vals))
			for i, v := range vals {
				if name, desc, ok := strings.Cut(v, "\t"); ok {
					v = name + "\t" + f.T(desc)
				}
				out[i] = v
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	var reasons, idTypes, algos []string
	for _, r := range ra.RevocationReasons {
		reasons = append(reasons, string(r))
	}
	for _, t := range ra.IDTypes {
		idTypes = append(idTypes, string(t)+"\t"+t.Label())
	}
	for _, a := range token.KeyAlgos {
		algos = append(algos, string(a))
	}
	byFlag := map[string]completeFunc{
		"id-type":          fixed(idTypes...),
		"agent-id-type":    fixed(idTypes...),
		"storage":          fixed("usbkey\t"+completionTexts[0], "soft\t"+completionTexts[1]),
		"key-algo":         fixed(algos...),
		"usage":            f.completeConfig(func(c *Config) []string { return profileNames(c) }),
		"acceptance-point": f.completeConfig(func(c *Config) []string { return pointNames(c) }),
		"token-label":      f.completeTokenLabels,
		"output":           fixed("text", "json"),
		"kind":             fixed("new", "renew", "revoke", "reissue"),
		"state":            fixed("submitted", "approved", "rejected", "issued", "completed", "all"),
	}
	byCommand := map[string]map[string]completeFunc{
		"cmca revoke":  {"reason": fixed(reasons...)},
		"cmca reissue": {"reason": fixed("lost\t"+completionTexts[2], "damaged\t"+completionTexts[3])},
	}
	args := map[string]completeFunc{
		"cmca approve":   f.completeRefs(ra.StateSubmitted),
		"cmca issue":     f.completeRefs(ra.StateApproved),
		"cmca status":    f.completeRefs(),
		"cmca review":    f.completeRefs(),
		"cmca cert show": f.completeSerials,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := c.CommandPath()
		for name, fn := range byFlag {
			if c.Flags().Lookup(name) != nil || (c == root && c.PersistentFlags().Lookup(name) != nil) {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for name, fn := range byCommand[path] {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		if fn, ok := args[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = fn
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func profileNames(c *Config) []string {
	var out []string
	for _, p := range c.Service.Profiles {
		out = append(out, p.Name+"\t"+p.Label)
	}
	return out
}

func pointNames(c *Config) []string {
	var out []string
	for _, p := range c.Service.AcceptancePoints {
		out = append(out, p.Name+"\t"+p.Label)
	}
	return out
}

func (f *Factory) completeConfig(vals func(*Config) []string) completeFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		c, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out := vals(c)
		for i, v := range out {
			if name, desc, ok := strings.Cut(v, "\t"); ok {
				out[i] = name + "\t" + f.T(desc) // the default labels are catalogue texts
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeRefs offers the references of requests in the given states (all
// when none), newest last, at most 200.
func (f *Factory) completeRefs(states ...ra.State) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		api, err := f.API(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		rs, err := api.Requests(ctx, store.RequestFilter{States: states, Limit: 200})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, r := range rs {
			if strings.HasPrefix(r.Ref, strings.ToUpper(toComplete)) && !slices.Contains(args, r.Ref) {
				out = append(out, r.Ref+"\t"+string(r.Kind)+", "+string(r.State)+", "+r.Applicant.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func (f *Factory) completeSerials(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	api, err := f.API(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cs, err := api.Certificates(ctx, "", 200)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, c := range cs {
		if strings.HasPrefix(c.Serial, strings.ToLower(toComplete)) {
			out = append(out, c.Serial+"\t"+string(c.Status))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTokenLabels lists the labels of initialised tokens in the module
// named by --module or the configuration.
func (f *Factory) completeTokenLabels(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var tf tokenFlags
	if fl := cmd.Flags().Lookup("module"); fl != nil {
		tf.Module = fl.Value.String()
	}
	m, err := f.openModule(&tf, nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ts, err := m.Tokens(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, t := range ts {
		if t.Initialized && t.Label != "" {
			out = append(out, t.Label+"\t"+t.Model+" "+t.Serial)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
