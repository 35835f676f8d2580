package cli

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestCLIDocIsComplete keeps docs/cli.md in step with the code: every
// configuration key has a row, every exit code a row, and every command and
// flag is mentioned.
func TestCLIDocIsComplete(t *testing.T) {
	doc := readDoc(t, "cli.md")
	checkConfigKeyRows(t, doc, "docs/cli.md")
	for _, code := range []int{ExitOK, ExitError, ExitUsage, ExitNotFound, ExitConflict, ExitAuth, ExitPolicy, ExitUnavailable, ExitCancelled} {
		if !strings.Contains(doc, fmt.Sprintf("\n| %d |", code)) {
			t.Errorf("docs/cli.md has no row for exit code %d", code)
		}
	}
	f, _, _ := testFactory(t, false, nil)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || (c.HasParent() && c.Parent().Name() == "completion") {
			return
		}
		mentioned := func(s string) bool {
			return regexp.MustCompile(regexp.QuoteMeta(s) + `([^a-z0-9-]|$)`).MatchString(doc)
		}
		if !mentioned(c.CommandPath()) {
			t.Errorf("docs/cli.md does not mention `%s`", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if fl.Hidden || fl.Name == "help" {
				return
			}
			if !mentioned("--" + fl.Name) {
				t.Errorf("docs/cli.md does not mention flag --%s of `%s`", fl.Name, c.CommandPath())
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(f))
}
