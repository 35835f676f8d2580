package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestChineseGuidesMatchCommands: every command line the Chinese guides
// quote (`$ cmca ...` lines and `cmca ...` code spans) names a command
// that exists, with flags it has.
func TestChineseGuidesMatchCommands(t *testing.T) {
	files, err := filepath.Glob("../../docs/zh/*.md")
	if err != nil || len(files) < 2 {
		t.Fatalf("docs/zh has %d guides (%v); want the user guide and the counter guide", len(files), err)
	}
	root := NewCmdRoot(&Factory{IO: &IOStreams{}, v: newViper()})
	quoted := regexp.MustCompile("(?m)^\\$ (cmca [^\n]*)|`(cmca [^`]*)`")
	flag := regexp.MustCompile(`(?:^|\s)(--[a-z][a-z0-9-]*)`)
	n := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			line := m[1] + m[2]
			words := strings.Fields(line)[1:]
			var path []string
			for _, w := range words {
				if strings.HasPrefix(w, "-") || !regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(w) {
					break
				}
				path = append(path, w)
			}
			cmd, rest, err := root.Find(path)
			if err != nil || cmd == root || (len(rest) > 0 && cmd.Args == nil) {
				t.Errorf("%s: %q: no such command (%v)", filepath.Base(name), line, err)
				continue
			}
			for _, f := range flag.FindAllStringSubmatch(line, -1) {
				fl := strings.TrimPrefix(f[1], "--")
				if cmd.Flags().Lookup(fl) == nil && cmd.InheritedFlags().Lookup(fl) == nil && root.PersistentFlags().Lookup(fl) == nil {
					t.Errorf("%s: %q: cmca %s has no flag --%s", filepath.Base(name), line, cmd.Name(), fl)
				}
			}
			n++
		}
	}
	if n < 20 {
		t.Errorf("checked only %d command lines; the scan is broken", n)
	}
}
