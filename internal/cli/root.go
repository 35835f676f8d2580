// Package cli is cmca's command line: one cobra command per verb, wired to
// the RA/CA API through a Factory.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/cmca/cmca/internal/ra"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X ...cli.version=v1.2.3".
var version = "dev"

// Main runs cmca with the process's arguments and returns the exit code.
// The end-to-end tests run this same function.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &Factory{IO: SystemIO(), Version: buildVersion(), v: newViper()}
	defer f.Close()
	root := NewCmdRoot(f)
	root.SetArgs(os.Args[1:])
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	ecode, params := errorCode(err)
	msg := f.errorText(err, ecode, params)
	if _, cerr := f.Caller(); cerr != nil && errors.Is(err, ra.ErrAuth) {
		msg += " (" + cerr.Error() + ")"
	}
	if f.JSON() {
		_ = f.PrintJSONErr(errors.New(msg), ecode, params, code)
	}
	fmt.Fprintf(f.IO.ErrOut, "cmca: %s\n", sanitizeLines(msg))
	var ue *usageError
	if errors.As(err, &ue) && cmd != nil {
		fmt.Fprint(f.IO.ErrOut, f.Tf("Run '%s --help' for usage.\n", cmd.CommandPath()))
	}
	return code
}

// PrintJSONErr writes {"error":...,"code":...,"exit_code":...} on one line
// to stderr, so scripts using -o json can parse failures too: error is the
// message in the user's language; code (errcode, docs/cli.md), params and
// exit_code are the same in every language. It is built by encoding/json:
// any byte in a message (a control character in a path) still gives valid
// JSON.
func (f *Factory) PrintJSONErr(err error, code string, params map[string]string, exit int) error {
	enc := json.NewEncoder(f.IO.ErrOut)
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Error    string            `json:"error"`
		Code     string            `json:"code"`
		Params   map[string]string `json:"params,omitempty"`
		ExitCode int               `json:"exit_code"`
	}{err.Error(), code, params, exit})
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "cmca",
		Short: "Run a certificate authority's personal-certificate service",
		Long: `cmca runs a CA's personal-certificate service end to end: applications,
review, issuance with one-time download passcodes, keys on USB key tokens
(PKCS#11) or in PKCS#12 files, renewal, revocation, reissue and CRLs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       f.Version,
		// Every command runs as the caller: a Local principal in the
		// context (Factory.Caller), read by the service.
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			cmd.SetContext(f.withCaller(cmd.Context()))
		},
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetIn(f.IO.In)
	pf := root.PersistentFlags()
	pf.String("home", "", "data directory: store, CA, CRLs (env CMCA_HOME; default $XDG_DATA_HOME/cmca or ~/.local/share/cmca)")
	pf.String("store-url", "", "PostgreSQL store, postgres://USER:PASSWORD@HOST:PORT/DB (env CMCA_STORE_URL; default: SQLite in the home)")
	pf.StringVar(&f.configFile, "config", "", "config file (env CMCA_CONFIG; default cmca/config.yaml in the user config directory, e.g. ~/.config, if present)")
	pf.StringP("output", "o", "text", "output format: text or json")
	pf.String("lang", "", "language of messages and help: en or zh-Hans (env CMCA_UI_LANG, config ui.lang; default from LC_ALL, LC_MESSAGES or LANG)")
	pf.String("operator", "", "operator name recorded on admin actions (env CMCA_OPERATOR; default the OS user)")
	pf.BoolP("quiet", "q", false, "print only the values a script uses next, one line per result (e.g. REF, or REF PASSCODE for issue)")
	pf.Bool("accessible", false, "accessible forms for screen readers (env CMCA_ACCESSIBLE)")
	pf.Bool("insecure", false, "allow a CA key file readable by others")
	pf.StringVar(&f.caPINFile, "ca-pin-file", "", "read the PIN of a CA key on a PKCS#11 token from FILE (env CMCA_CA_PIN)")
	pf.String("server", "", "talk to the cmca server at URL (https://HOST:PORT) instead of the home (env CMCA_SERVER; config server.url)")
	pf.String("server-ca", "", "CA certificate FILE that authenticates the server (env CMCA_SERVER_CA; config server.ca)")
	f.addLoginFlags(pf)
	for _, name := range []string{"home", "output", "operator", "quiet", "accessible", "insecure"} {
		_ = f.v.BindPFlag(name, pf.Lookup(name))
	}
	_ = f.v.BindPFlag("store.url", pf.Lookup("store-url"))
	_ = f.v.BindPFlag("ui.lang", pf.Lookup("lang"))
	_ = f.v.BindPFlag("server_flag", pf.Lookup("server"))
	_ = f.v.BindPFlag("server.ca", pf.Lookup("server-ca"))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return flagUsageError(err) })
	root.AddGroup(&cobra.Group{ID: "user", Title: "Subscriber commands:"}, &cobra.Group{ID: "admin", Title: "Operator commands:"})

	for _, c := range []*cobra.Command{
		NewCmdApply(f, nil), NewCmdStatus(f, nil), NewCmdDownload(f, nil), NewCmdRenew(f, nil),
		NewCmdRevoke(f, nil), NewCmdReissue(f, nil), NewCmdAgreement(f), NewCmdToken(f),
	} {
		c.GroupID = "user"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		NewCmdInit(f, nil), NewCmdReview(f, nil), NewCmdApprove(f, nil), NewCmdIssue(f, nil), NewCmdCRL(f, nil),
		NewCmdCerts(f), NewCmdCert(f), NewCmdAudit(f), NewCmdPolicy(f, nil), NewCmdDownloadBatch(f, nil), NewCmdDoctor(f), NewCmdBackup(f), NewCmdRestore(f), NewCmdStore(f), NewCmdServe(f, nil),
		NewCmdOperator(f), NewCmdCA(f),
	} {
		c.GroupID = "admin"
		root.AddCommand(c)
	}
	root.AddCommand(NewCmdVersion(f), NewCmdDocs(f))
	root.Long += "\n\n" + groupSummary(root)
	addCompletions(root, f)
	usageArgs(root)
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		f.localizeHelp(root)
		help(c, args)
	})
	return root
}

// groupSummary is the root help's summary: every command of each group, in
// the order added, so a new command cannot be left out.
func groupSummary(root *cobra.Command) string {
	var b strings.Builder
	for i, g := range root.Groups() {
		var names []string
		for _, c := range root.Commands() {
			if c.GroupID == g.ID && c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		if i > 0 {
			b.WriteString("\n")
		}
		// Wrapped at 80 columns, continuation lines under the first name.
		line := fmt.Sprintf("%-21s", g.Title)
		for j, n := range names {
			word := n + ","
			if j == len(names)-1 {
				word = n + "."
			}
			if len(line)+1+len(word) > 80 && strings.TrimSpace(line) != strings.TrimSpace(g.Title) {
				b.WriteString(strings.TrimRight(line, " ") + "\n")
				line = strings.Repeat(" ", 21)
			} else if !strings.HasSuffix(line, " ") {
				line += " "
			}
			line += word
		}
		b.WriteString(line)
	}
	return b.String()
}

// usageArgs makes cobra's argument errors (unknown command, too many
// arguments) usage errors, exit code 2, like flag errors.
func usageArgs(c *cobra.Command) {
	check := c.Args
	if c.HasSubCommands() && !c.Runnable() {
		// A command group (the root, cert, token, …) runs only to show
		// help; an argument is an unknown command, with cobra's
		// suggestions ("Did you mean this?").
		check = unknownCommand
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	}
	if check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			if err != nil {
				return flagUsageError(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// unknownCommand refuses any argument of a command group, as cobra
// refuses an unknown command of the root: "unknown command X for Y" and
// the subcommands whose names are close.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	text := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 && !cmd.DisableSuggestions {
		text += "\n\nDid you mean this?\n"
		for _, name := range s {
			text += "\t" + name + "\n"
		}
	}
	return errors.New(strings.TrimRight(text, "\n"))
}

// needArgs is cobra.ExactArgs with a usage error.
func needArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
