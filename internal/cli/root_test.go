package cli

import (
	"regexp"
	"strings"
	"testing"
)

// TestRootHelpListsEveryCommand: the root help's summary names every
// subscriber and operator command, and only the tooling commands (help,
// completion, docs, version) stay under "Additional Commands".
func TestRootHelpListsEveryCommand(t *testing.T) {
	out, _, err := runRoot(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	summary, _, _ := strings.Cut(out, "Usage:")
	summary = strings.Join(strings.Fields(summary), " ")
	root := NewCmdRoot(&Factory{IO: &IOStreams{}, v: newViper()})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	tooling := map[string]bool{"help": true, "completion": true, "docs": true, "version": true}
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() && c.Name() != "help" {
			continue
		}
		if tooling[c.Name()] {
			if c.GroupID != "" {
				t.Errorf("%s is in group %q; want it under Additional Commands", c.Name(), c.GroupID)
			}
			continue
		}
		if c.GroupID == "" {
			t.Errorf("%s is under Additional Commands; want it in the subscriber or operator group", c.Name())
		}
		if !regexp.MustCompile(`[:,] ` + regexp.QuoteMeta(c.Name()) + `[,.]`).MatchString(summary) {
			t.Errorf("the root help's summary does not name %s:\n%s", c.Name(), summary)
		}
	}
	for _, want := range []string{"backup", "doctor", "download-batch", "restore", "token"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %s", want)
		}
	}
}
