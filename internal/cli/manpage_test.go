package cli

import (
	"bytes"
	"github.com/cmca/cmca/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// groff renders a man page to UTF-8 text as man(1) would, with a line long
// enough that nothing wraps and no hyphenation, and returns the text and
// groff's warnings. Without groff the test is skipped, except in CI, where
// .ci/run installs it.
func groff(t *testing.T, page string, args ...string) (text, warnings string) {
	t.Helper()
	testtool.Need(t, "groff")
	const bin = "groff"
	// -K utf8: the pages are UTF-8, as man-db reads them; -P-cbou: plain
	// text, no overstriking or colour.
	args = append([]string{"-K", "utf8", "-man", "-T", "utf8", "-P-cbou", "-rLL=400n", "-rHY=0"}, args...)
	cmd := exec.Command(bin, append(args, page)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("groff %s: %v\n%s", page, err, errOut.Bytes())
	}
	return out.String(), errOut.String()
}

// trickyTree is a command tree whose help texts hold everything roff would
// misread if it were not escaped.
func trickyTree(t testing.TB) *cobra.Command {
	t.Helper()
	run := func(*cobra.Command, []string) error { return nil }
	root := &cobra.Command{Use: "cmca", Short: "The root"}
	tricky := &cobra.Command{
		Use:   "tricky REF...",
		Short: `Tricky: a \ backslash, "quotes" and 中文`,
		Long: `.TH a line that starts with a dot
'a line that starts with an apostrophe
A path C:\new\table, \fBnot bold\fR and \\ two backslashes.
中文说明：个人证书申请 (经办人).
Use --from-file, or "-" for stdin; end-to-end.

  .indented line with a dot
  \\server\share ~/x ^y ` + "`z`" + `
Back to prose.`,
		Example: `  cmca tricky --from-file x \
    -o json
  .cmca`,
		RunE: run,
	}
	tricky.Flags().String("from-file", "", "read `FILE`; a backslash \\ and 中文")
	tricky.Flags().BoolP("yes", "y", false, ".starts with a dot")
	tricky.Flags().String("hidden-flag", "", "not documented")
	if err := tricky.Flags().MarkHidden("hidden-flag"); err != nil {
		t.Fatal(err)
	}
	root.PersistentFlags().StringP("output", "o", "text", "output format")
	hidden := &cobra.Command{Use: "secret", Short: "Not documented", Hidden: true, RunE: run}
	old := &cobra.Command{Use: "old", Short: "Not documented", Deprecated: "use tricky", RunE: run}
	group := &cobra.Command{Use: "group", Short: "Only groups commands"}
	group.AddCommand(&cobra.Command{Use: "leaf", Short: "A leaf", RunE: run})
	root.AddCommand(tricky, hidden, old, group)
	root.InitDefaultHelpCmd()
	return root
}

// TestManPageRoundTrip: text from the commands reads the same after roff
// renders the page.
func TestManPageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := manHeader{Section: "1", Date: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC), Source: "cmca v1.0.0", Manual: "cmca manual"}
	if err := writeManPages(trickyTree(t), h, dir); err != nil {
		t.Fatal(err)
	}
	if got, want := dirFiles(t, dir), []string{"cmca-group-leaf.1", "cmca-group.1", "cmca-tricky.1", "cmca.1"}; !slices.Equal(got, want) {
		t.Fatalf("writeManPages wrote %q; want %q (no hidden, deprecated or help pages)", got, want)
	}
	text, warnings := groff(t, filepath.Join(dir, "cmca-tricky.1"), "-ww")
	if warnings != "" {
		t.Errorf("groff warns:\n%s", warnings)
	}
	// Filling joins and pads lines: compare with runs of spaces as one.
	space := regexp.MustCompile(`[ \t]+`)
	norm := func(s string) string { return space.ReplaceAllString(strings.TrimSpace(s), " ") }
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[norm(l)] = true
	}
	flat := norm(strings.ReplaceAll(text, "\n", " "))
	for _, tt := range []struct {
		what, want string
		line       bool // the text is a whole output line
	}{
		{"header", "CMCA-TRICKY(1) cmca manual CMCA-TRICKY(1)", true},
		{"footer", "cmca v1.0.0 2026-02-03 CMCA-TRICKY(1)", true},
		{"name", `cmca-tricky - Tricky: a \ backslash, "quotes" and 中文`, true},
		{"synopsis", "cmca tricky REF... [flags]", true},
		{"leading dot", ".TH a line that starts with a dot", false},
		{"leading apostrophe", "'a line that starts with an apostrophe", false},
		{"backslashes", `A path C:\new\table, \fBnot bold\fR and \\ two backslashes.`, false},
		{"Chinese", "中文说明：个人证书申请 (经办人).", false},
		{"options in prose", `Use --from-file, or "-" for stdin; end`, false},
		{"indented dot line", ".indented line with a dot", true},
		{"indented ASCII", `\\server\share ~/x ^y ` + "`z`", true},
		{"prose after", "Back to prose.", true},
		{"flag with value", "--from-file FILE", true},
		{"flag usage", `read FILE; a backslash \ and 中文`, true},
		{"switch", "-y, --yes", true},
		{"switch usage", ".starts with a dot", true},
		{"inherited flag", "-o, --output string", true},
		{"inherited usage", `output format (default "text")`, true},
		{"example", `cmca tricky --from-file x \`, true},
		{"example continued", "-o json", true},
		{"example dot", ".cmca", true},
		{"see also", "cmca(1)", true},
	} {
		if tt.line && !lines[tt.want] || !tt.line && !strings.Contains(flat, tt.want) {
			t.Errorf("%s: rendered page has no %q:\n%s", tt.what, tt.want, text)
		}
	}
	for _, absent := range []string{"hidden-flag", "not documented", "secret"} {
		if strings.Contains(strings.ToLower(text), absent) {
			t.Errorf("rendered page mentions %q:\n%s", absent, text)
		}
	}
	// The indented lines stay lines of their own, after the prose.
	if i, j := strings.Index(text, "end-to-end."), strings.Index(text, ".indented line"); i < 0 || j < i {
		t.Errorf("indented block misplaced:\n%s", text)
	}

	group := readTestFile(t, filepath.Join(dir, "cmca-group.1"))
	for _, s := range []string{".SH SYNOPSIS\n\\fBcmca group\\fR [command]\n", ".SH SEE ALSO\n.BR cmca (1),\n.BR cmca\\-group\\-leaf (1)\n"} {
		if !bytes.Contains(group, []byte(s)) {
			t.Errorf("cmca-group.1 has no %q:\n%s", s, group)
		}
	}
}

func TestRoffEscape(t *testing.T) {
	for _, tt := range []struct {
		in, prose, code string
	}{
		{"plain text", "plain text", "plain text"},
		{"--from-file", `\-\-from\-file`, `\-\-from\-file`},
		{"end-to-end", "end-to-end", `end\-to\-end`},
		{`"-" for stdin`, `"\-" for stdin`, `"\-" for stdin`},
		{"(-o json)", `(\-o json)`, `(\-o json)`},
		{"--key-algo=ecdsa-p256 x-y", `\-\-key\-algo=ecdsa-p256 x-y`, `\-\-key\-algo=ecdsa\-p256 x\-y`},
		{`C:\new`, `C:\enew`, `C:\enew`},
		{`\fB`, `\efB`, `\efB`},
		{"it's `x` ^ ~/y", `it\(aqs \(gax\(ga \(ha \(ti/y`, `it\(aqs \(gax\(ga \(ha \(ti/y`},
		{"中文-说明", "中文-说明", `中文\-说明`},
		{"a\tb\x01c", "a bc", "a bc"},
	} {
		if got := roffProse(tt.in); got != tt.prose {
			t.Errorf("roffProse(%q) = %q; want %q", tt.in, got, tt.prose)
		}
		if got := roffCode(tt.in); got != tt.code {
			t.Errorf("roffCode(%q) = %q; want %q", tt.in, got, tt.code)
		}
	}
	for in, want := range map[string]string{".x": `\&.x`, "'x": `\&'x`, "x.": "x.", " .x": " .x"} {
		if got := roffLine(in); got != want {
			t.Errorf("roffLine(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestDocBlocks(t *testing.T) {
	got := docBlocks("First line\nsecond line:\n  indented\n  \tmore\n\nNew    aligned: x\nNext:   y.  z\n\n\n    only\n")
	want := []docBlock{
		{para: true, lines: []string{"First line", "second line:"}},
		{verbatim: true, lines: []string{"indented", "    more"}},
		{para: true, lines: []string{"New    aligned: x", "Next:   y.  z"}},
		{verbatim: true, para: true, lines: []string{"only"}},
	}
	if len(got) != len(want) {
		t.Fatalf("docBlocks = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i].verbatim != want[i].verbatim || got[i].para != want[i].para || !slices.Equal(got[i].lines, want[i].lines) {
			t.Errorf("docBlocks block %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	for line, want := range map[string]bool{
		"Operator commands:   init": true,
		"End.  Next sentence":       false,
		"no alignment":              false,
		"x  y":                      true,
	} {
		if got := alignedLine(line); got != want {
			t.Errorf("alignedLine(%q) = %v; want %v", line, got, want)
		}
	}
}

func TestDocDate(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got, want := docDate(env(map[string]string{"SOURCE_DATE_EPOCH": "1767312000"})), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("docDate(SOURCE_DATE_EPOCH=1767312000) = %v; want %v", got, want)
	}
	// Without it: the build date, never the old fixed 2026-01-01 placeholder
	// when the binary has a modification time.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				t.Skip("the test binary carries a commit time")
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	st, err := os.Stat(exe)
	if err != nil {
		t.Skip(err)
	}
	if got := docDate(env(nil)); !got.Equal(st.ModTime().UTC()) {
		t.Errorf("docDate() = %v; want the build (binary) time %v", got, st.ModTime().UTC())
	}
}
