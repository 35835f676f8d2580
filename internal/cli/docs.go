package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewCmdDocs generates reference documentation from the command tree, so
// man pages and markdown never drift from the flags. The generators are
// cmca's own (manpage.go, mdpage.go): cobra's doc package would link a
// markdown engine whose package initialisation every cmca process paid.
func NewCmdDocs(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Generate man pages or markdown reference from the commands",
		Long: `Write one page per command into DIR (created if missing): man pages in
section 1 (cmca.1, cmca-apply.1, ...) or markdown (cmca.md, cmca_apply.md, ...).
Packagers run it at build time; install the man pages with
  sudo cp DIR/*.1 /usr/local/share/man/man1/`,
	}
	gen := func(kind string, write func(root *cobra.Command, dir string) error) *cobra.Command {
		return &cobra.Command{
			Use:     kind + " DIR",
			Short:   "Write the " + kind + " pages into DIR",
			Example: "  cmca docs " + kind + " ./" + kind,
			Args:    needArgs(1, "the directory to write into"),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir := args[0]
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return usagef("cannot create %s: %v", dir, err)
				}
				if err := write(cmd.Root(), dir); err != nil {
					return errorf("write %s pages into %s: %w", kind, dir, err)
				}
				files, _ := filepath.Glob(filepath.Join(dir, "cmca*"))
				switch {
				case f.JSON():
					if files == nil {
						files = []string{}
					}
					return f.PrintJSON(map[string]any{"dir": dir, "files": files})
				case f.Quiet():
				default:
					f.Printf("Wrote %d %s pages into %s\n", len(files), kind, dir)
				}
				return nil
			},
		}
	}
	man := gen("man", func(root *cobra.Command, dir string) error {
		return writeManPages(root, manHeader{Section: "1", Date: docDate(os.Getenv), Source: "cmca " + f.Version, Manual: "cmca manual"}, dir)
	})
	markdown := gen("markdown", writeMarkdownPages)
	cmd.AddCommand(man, markdown)
	return cmd
}

// buildDate is set at build time with -ldflags "-X ...cli.buildDate=...".
var buildDate = ""

// docDate is the date the pages carry, so that generating twice gives the
// same bytes: SOURCE_DATE_EPOCH (reproducible builds,
// https://reproducible-builds.org/specs/source-date-epoch/), else the build
// date (-ldflags, else the commit time Go recorded, else the binary's
// modification time).
func docDate(getenv func(string) string) time.Time {
	if e := getenv("SOURCE_DATE_EPOCH"); e != "" {
		if n, err := strconv.ParseInt(e, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	if t, err := time.Parse(time.RFC3339, buildDate); err == nil {
		return t.UTC()
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t.UTC()
				}
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			return st.ModTime().UTC()
		}
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
}

// docCommands lists cmd and every command below it that gets a page, parents
// before children, siblings by name: what `cmca help` would list, so not
// hidden or deprecated commands, the help command or bare help topics.
func docCommands(cmd *cobra.Command) []*cobra.Command {
	if !cmd.IsAvailableCommand() || cmd.IsAdditionalHelpTopicCommand() {
		return nil
	}
	// The help and version flags exist only on commands cobra has run;
	// give every page the flags its command accepts.
	cmd.InitDefaultHelpFlag()
	if !cmd.HasParent() {
		cmd.InitDefaultVersionFlag()
	}
	cmds := []*cobra.Command{cmd}
	for _, sub := range cmd.Commands() {
		cmds = append(cmds, docCommands(sub)...)
	}
	return cmds
}

// writeDocPages writes page(c) to dir/name(c) for every documented command
// below root.
func writeDocPages(root *cobra.Command, dir string, name func(*cobra.Command) string, page func(*cobra.Command) []byte) error {
	for _, c := range docCommands(root) {
		path := filepath.Join(dir, name(c))
		if err := os.WriteFile(path, page(c), 0o644); err != nil {
			return errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// docSynopsis is the usage line `cmca X --help` prints: "cmca apply
// [flags]", or "cmca token [command]" for a command that only groups others.
func docSynopsis(c *cobra.Command) string {
	if c.Runnable() {
		return c.UseLine()
	}
	return c.CommandPath() + " [command]"
}

// docSeeAlso is the parent and the documented children of c.
func docSeeAlso(c *cobra.Command) []*cobra.Command {
	var also []*cobra.Command
	if c.HasParent() {
		also = append(also, c.Parent())
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
			also = append(also, sub)
		}
	}
	return also
}

// docBlock is one piece of a help text: prose, which a reader may reflow,
// or lines indented in the help text (commands to type, aligned lists),
// shown as they are with the common indentation removed.
type docBlock struct {
	verbatim bool // indented lines, shown as they are
	para     bool // starts a paragraph: the first block, or after a blank line
	lines    []string
}

// docBlocks splits a help text into blocks: paragraphs at blank lines, and
// within a paragraph, runs of indented lines apart from the prose.
func docBlocks(text string) []docBlock {
	var blocks []docBlock
	var cur *docBlock
	for _, line := range strings.Split(strings.Trim(text, "\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			cur = nil
			continue
		}
		verbatim := line[0] == ' ' || line[0] == '\t'
		if cur == nil || cur.verbatim != verbatim {
			blocks = append(blocks, docBlock{verbatim: verbatim, para: cur == nil})
			cur = &blocks[len(blocks)-1]
		}
		cur.lines = append(cur.lines, line)
	}
	for i := range blocks {
		if blocks[i].verbatim {
			blocks[i].lines = dedent(blocks[i].lines)
		}
	}
	return blocks
}

// dedent removes the indentation all lines share and expands the tabs left
// to four spaces.
func dedent(lines []string) []string {
	common := ""
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if i == 0 {
			common = indent
			continue
		}
		n := 0
		for n < len(common) && n < len(indent) && common[n] == indent[n] {
			n++
		}
		common = common[:n]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.ReplaceAll(l[len(common):], "\t", "    ")
	}
	return out
}

// alignedLine reports whether a prose line lines text up in columns (a run
// of two or more spaces not after a full stop, as in "Operator commands:
// init"): such a line starts on a new output line when the prose is
// reflowed.
func alignedLine(line string) bool {
	for i := 1; i+1 < len(line); i++ {
		if line[i] == ' ' && line[i+1] == ' ' && line[i-1] != ' ' && !strings.ContainsRune(".?!", rune(line[i-1])) {
			return true
		}
	}
	return false
}

// docFlags lists the flags of fs a page documents, by name.
func docFlags(fs *pflag.FlagSet) []*pflag.Flag {
	var flags []*pflag.Flag
	fs.VisitAll(func(fl *pflag.Flag) {
		if !fl.Hidden && fl.Deprecated == "" {
			flags = append(flags, fl)
		}
	})
	return flags
}

// flagArg is the name of a flag's value ("" for a switch) and its usage
// text with the default appended, as --help shows them.
func flagArg(fl *pflag.Flag) (arg, usage string) {
	arg, usage = pflag.UnquoteUsage(fl)
	switch fl.DefValue {
	case "", "false", "0", "0s", "[]", "map[]", "<nil>":
	default:
		if fl.Value.Type() == "string" {
			usage += fmt.Sprintf(" (default %q)", fl.DefValue)
		} else {
			usage += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
	}
	return arg, usage
}
