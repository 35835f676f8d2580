package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestOperationsDocListsEveryConfigKey keeps docs/operations.md's
// configuration reference in step with configDefaults.
func TestOperationsDocListsEveryConfigKey(t *testing.T) {
	checkConfigKeyRows(t, readDoc(t, "operations.md"), "docs/operations.md")
}

// readDoc reads a file of docs/.
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkConfigKeyRows reports every configuration key that has no table row
// ("| `key` |") in doc.
func checkConfigKeyRows(t *testing.T, doc, name string) {
	t.Helper()
	var keys []string
	for k := range configDefaults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("%s has no row for config key %q", name, k)
		}
	}
}

// run executes the command tree with args on buffers.
func runRoot(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	f, out, errOut := testFactory(t, false, nil)
	root := NewCmdRoot(f)
	root.SetArgs(args)
	_, err := root.ExecuteC()
	return out.String(), errOut.String(), err
}

func TestCompletion(t *testing.T) {
	for _, tt := range []struct{ shell, want string }{
		{"bash", "complete -o default -F __start_cmca cmca"},
		{"zsh", "#compdef cmca"},
		{"fish", "complete -c cmca"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			out, _, err := runRoot(t, "completion", tt.shell)
			if err != nil {
				t.Fatalf("cmca completion %s: %v", tt.shell, err)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("cmca completion %s does not contain %q; got %d bytes starting %q", tt.shell, tt.want, len(out), out[:min(len(out), 80)])
			}
		})
	}
}

// documentedPages lists the page names a documentation generator must
// write for the real command tree, found independently of docCommands: every
// command not hidden or deprecated, except cobra's help command, plus the
// completion commands cobra adds when the tree runs.
func documentedPages(t *testing.T, name func(path string) string) []string {
	t.Helper()
	f, _, _ := testFactory(t, false, nil)
	var pages []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Deprecated != "" || c.Name() == "help" {
			return
		}
		pages = append(pages, name(c.CommandPath()))
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(f))
	for _, shell := range []string{"", " bash", " fish", " powershell", " zsh"} {
		pages = append(pages, name("cmca completion"+shell))
	}
	sort.Strings(pages)
	return pages
}

// dirFiles lists the names of the files in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestDocsMan(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	dir := filepath.Join(t.TempDir(), "man")
	out, _, err := runRoot(t, "docs", "man", dir)
	if err != nil {
		t.Fatalf("cmca docs man: %v", err)
	}
	want := documentedPages(t, func(p string) string { return strings.ReplaceAll(p, " ", "-") + ".1" })
	if got := dirFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("cmca docs man wrote\n%q\nwant one page per visible command:\n%q", got, want)
	}
	if wantOut := fmt.Sprintf("Wrote %d man pages into %s\n", len(want), dir); out != wantOut {
		t.Errorf("cmca docs man printed %q; want %q", out, wantOut)
	}
	for _, page := range []string{"cmca.1", "cmca-apply.1", "cmca-download.1", "cmca-review.1", "cmca-docs-man.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("no man page %s: %v", page, err)
			continue
		}
		// The title is the page's own name (CMCA-APPLY), as man(1) shows it.
		title := strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(page, ".1"), "-", "\\-"))
		if want := ".nh\n.TH \"" + title + "\" \"1\" \"2026\\-01\\-01\" \"cmca test\" \"cmca manual\"\n"; !bytes.HasPrefix(b, []byte(want)) {
			t.Errorf("%s: %q; want a section 1 page titled %s: %q", page, b[:min(len(b), 80)], title, want)
		}
		for _, sec := range []string{".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH OPTIONS\n", ".SH SEE ALSO\n"} {
			if !bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s has no %q", page, sec)
			}
		}
	}
	b := readTestFile(t, filepath.Join(dir, "cmca-apply.1"))
	for _, s := range []string{
		"cmca\\-apply \\- Apply for a personal certificate (个人证书申请)\n",
		"\\fB\\-\\-counter\\fR\n",
		"\\fB\\-\\-from\\-file\\fR \\fIstring\\fR\n",
		".SH OPTIONS INHERITED FROM PARENT COMMANDS\n",
		"\\fB\\-o\\fR, \\fB\\-\\-output\\fR \\fIstring\\fR\noutput format: text or json (default \"text\")\n",
		".SH EXAMPLE\n.EX\ncmca apply \\-\\-name 张三",
		".SH SEE ALSO\n.BR cmca (1)\n",
	} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("cmca-apply.1 does not contain %q", s)
		}
	}
	b = readTestFile(t, filepath.Join(dir, "cmca-docs.1"))
	if s := ".SH SEE ALSO\n.BR cmca (1),\n.BR cmca\\-docs\\-man (1),\n.BR cmca\\-docs\\-markdown (1)\n"; !bytes.HasSuffix(b, []byte(s)) {
		t.Errorf("cmca-docs.1 does not end with %q", s)
	}

	// Every page renders without a warning.
	for _, page := range want {
		if _, warnings := groff(t, filepath.Join(dir, page), "-ww", "-z"); warnings != "" {
			t.Errorf("groff warns about %s:\n%s", page, warnings)
		}
	}

	// Generating twice gives the same pages: no date from the clock.
	again := filepath.Join(t.TempDir(), "man")
	if _, _, err := runRoot(t, "docs", "man", again); err != nil {
		t.Fatal(err)
	}
	for _, page := range want {
		b1 := readTestFile(t, filepath.Join(dir, page))
		b2 := readTestFile(t, filepath.Join(again, page))
		if !bytes.Equal(b1, b2) {
			t.Errorf("cmca docs man is not reproducible: %s differs:\n%s\n---\n%s", page, b1, b2)
		}
	}
}

// TestDocsManDate: the pages carry the build date, not the clock's.
func TestDocsManDate(t *testing.T) {
	saved := buildDate
	t.Cleanup(func() { buildDate = saved })
	buildDate = "2027-03-04T05:06:07Z"
	for _, tt := range []struct{ epoch, want string }{
		{"", `.TH "CMCA\-APPLY" "1" "2027\-03\-04" `},           // the build date
		{"1798761600", `.TH "CMCA\-APPLY" "1" "2027\-01\-01" `}, // SOURCE_DATE_EPOCH wins
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tt.epoch)
		dir := t.TempDir()
		if _, _, err := runRoot(t, "docs", "man", dir); err != nil {
			t.Fatal(err)
		}
		b := readTestFile(t, filepath.Join(dir, "cmca-apply.1"))
		if !bytes.Contains(b, []byte(tt.want)) {
			t.Errorf("cmca-apply.1 with build date %s, SOURCE_DATE_EPOCH=%q: %q; want %q", buildDate, tt.epoch, b[:min(len(b), 80)], tt.want)
		}
	}
}

func TestDocsMarkdown(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runRoot(t, "docs", "markdown", dir, "-o", "json")
	if err != nil {
		t.Fatalf("cmca docs markdown: %v", err)
	}
	want := documentedPages(t, func(p string) string { return strings.ReplaceAll(p, " ", "_") + ".md" })
	if got := dirFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("cmca docs markdown wrote\n%q\nwant one page per visible command:\n%q", got, want)
	}
	var res struct {
		Dir   string   `json:"dir"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Dir != dir || len(res.Files) != len(want) {
		t.Errorf("cmca docs markdown -o json printed %q (%v); want dir %s and %d files", out, err, dir, len(want))
	}

	b, err := os.ReadFile(filepath.Join(dir, "cmca_apply.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"## cmca apply\n\nApply for a personal certificate (个人证书申请)\n\n### Synopsis\n\nSubmit an application",
		"```\ncmca apply [flags]\n```\n",
		"### Examples\n\n```\ncmca apply --name 张三",
		"### Options\n\n```\n      --acceptance-point string",
		"      --from-file string ",
		"### Options inherited from parent commands\n\n```\n",
		"### SEE ALSO\n\n* [cmca](cmca.md) - Run a certificate authority's personal-certificate service\n",
	} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("cmca_apply.md does not contain %q:\n%s", s, b)
		}
	}
	if bytes.Contains(b, []byte("Auto generated by spf13/cobra")) {
		t.Errorf("cmca_apply.md has a generator stamp, so it is not reproducible")
	}

	// Every link resolves to a page, and every page but the root's is
	// linked from its parent's.
	link := regexp.MustCompile(`\]\(([^)]*)\)`)
	linked := map[string]bool{}
	for _, page := range want {
		b := readTestFile(t, filepath.Join(dir, page))
		for _, m := range link.FindAllSubmatch(b, -1) {
			target := string(m[1])
			linked[target] = true
			if _, err := os.Stat(filepath.Join(dir, target)); err != nil {
				t.Errorf("%s links to %s: %v", page, target, err)
			}
		}
	}
	for _, page := range want {
		if page != "cmca.md" && !linked[page] {
			t.Errorf("no page links to %s", page)
		}
	}
}

func TestDocsNeedsDir(t *testing.T) {
	_, _, err := runRoot(t, "docs", "man")
	if ExitCode(err) != ExitUsage {
		t.Errorf("cmca docs man without DIR: exit %d (%v); want %d", ExitCode(err), err, ExitUsage)
	}
}

// readTestFile reads a file the test wrote (or had written), failing the
// test if it cannot.
func readTestFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
