package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// NewCmdDocs generates reference documentation from the command tree, so
// man pages and markdown never drift from the flags.
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
					return &usageError{msg: fmt.Sprintf("cannot create %s: %v", dir, err)}
				}
				root := cmd.Root()
				root.DisableAutoGenTag = true // reproducible output
				if err := write(root, dir); err != nil {
					return fmt.Errorf("write %s pages into %s: %w", kind, dir, err)
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
		date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if t, err := time.Parse(time.RFC3339, buildDate); err == nil {
			date = t
		}
		return doc.GenManTree(root, &doc.GenManHeader{Title: "CMCA", Section: "1", Source: "cmca " + f.Version, Manual: "cmca manual", Date: &date}, dir)
	})
	markdown := gen("markdown", doc.GenMarkdownTree)
	cmd.AddCommand(man, markdown)
	return cmd
}

// buildDate is set at build time with -ldflags "-X ...cli.buildDate=...".
var buildDate = ""
