package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMarkdownPage(t *testing.T) {
	dir := t.TempDir()
	if err := writeMarkdownPages(trickyTree(t), dir); err != nil {
		t.Fatal(err)
	}
	if got, want := dirFiles(t, dir), []string{"cmca.md", "cmca_group.md", "cmca_group_leaf.md", "cmca_tricky.md"}; !slices.Equal(got, want) {
		t.Fatalf("writeMarkdownPages wrote %q; want %q (no hidden, deprecated or help pages)", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cmca_tricky.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"## cmca tricky\n\nTricky: a \\\\ backslash, \"quotes\" and 中文\n\n### Synopsis\n\n",
		// Prose is escaped; lines keep their breaks.
		".TH a line that starts with a dot\n'a line that starts with an apostrophe\nA path C:\\\\new\\\\table, \\\\fBnot bold\\\\fR and \\\\\\\\ two backslashes.\n中文说明：个人证书申请 (经办人).\n",
		// Indented lines are a code block, as written.
		"```\n.indented line with a dot\n\\\\server\\share ~/x ^y `z`\n```\n\nBack to prose.\n\n",
		"```\ncmca tricky REF... [flags]\n```\n",
		"### Examples\n\n```\ncmca tricky --from-file x \\\n  -o json\n.cmca\n```\n",
		"### Options\n\n```\n      --from-file FILE   read FILE; a backslash \\ and 中文\n",
		"  -y, --yes              .starts with a dot\n",
		"### Options inherited from parent commands\n\n```\n  -o, --output string   output format (default \"text\")\n```\n",
		"### SEE ALSO\n\n* [cmca](cmca.md) - The root\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("cmca_tricky.md has no %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "hidden-flag") {
		t.Errorf("cmca_tricky.md documents a hidden flag:\n%s", page)
	}
	root := readTestFile(t, filepath.Join(dir, "cmca.md"))
	if want := "### SEE ALSO\n\n* [cmca group](cmca_group.md) - Only groups commands\n* [cmca tricky](cmca_tricky.md) - Tricky: a \\\\ backslash, \"quotes\" and 中文\n"; !strings.HasSuffix(string(root), want) {
		t.Errorf("cmca.md does not end with %q:\n%s", want, root)
	}
}

func TestMdEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text, 中文", "plain text, 中文"},
		{`a\b`, `a\\b`},
		{"*not* _emphasis_ `code` [link](x) <tag>", "\\*not\\* \\_emphasis\\_ \\`code\\` \\[link\\](x) \\<tag\\>"},
		{"# not a heading", `\# not a heading`},
		{"- not a list", `\- not a list`},
		{"  + not a list", `  \+ not a list`},
		{"> not a quote", `\> not a quote`},
		{"1. not a list", `1\. not a list`},
		{"12) not a list", `12\) not a list`},
		{"2026 is a year", "2026 is a year"},
		{"a - b # c", "a - b # c"},
	} {
		if got := mdEscape(tt.in); got != tt.want {
			t.Errorf("mdEscape(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
