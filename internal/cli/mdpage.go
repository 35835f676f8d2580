package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeMarkdownPages writes one markdown page per documented command into
// dir: cmca.md, cmca_apply.md, cmca_docs_man.md, ...
func writeMarkdownPages(root *cobra.Command, dir string) error {
	return writeDocPages(root, dir, mdName, mdPage)
}

// mdName is the page's file name: the command path joined by underscores.
func mdName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

// mdPage renders the page of c in CommonMark: the command path as heading,
// the short help, the long help under Synopsis with the usage line, then
// Examples, Options and SEE ALSO with relative links to the pages beside it.
// Help text is plain text: characters markdown would read as markup are
// escaped; indented lines become code blocks.
func mdPage(c *cobra.Command) []byte {
	var b strings.Builder
	b.WriteString("## " + mdEscape(c.CommandPath()) + "\n\n")
	if c.Short != "" {
		b.WriteString(mdEscape(c.Short) + "\n\n")
	}
	b.WriteString("### Synopsis\n\n")
	if c.Long != "" {
		for _, blk := range docBlocks(c.Long) {
			if blk.verbatim {
				mdCode(&b, strings.Join(blk.lines, "\n"))
				continue
			}
			for j, l := range blk.lines {
				if j > 0 && alignedLine(l) {
					// A hard line break keeps the columns' line.
					b.WriteString("\\\n")
				} else if j > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(mdEscape(l))
			}
			b.WriteString("\n\n")
		}
	}
	mdCode(&b, docSynopsis(c))
	if c.HasExample() {
		b.WriteString("### Examples\n\n")
		mdCode(&b, strings.Join(dedent(strings.Split(strings.Trim(c.Example, "\n"), "\n")), "\n"))
	}
	for _, sec := range []struct {
		title string
		flags *pflag.FlagSet
	}{
		{"Options", c.NonInheritedFlags()},
		{"Options inherited from parent commands", c.InheritedFlags()},
	} {
		if len(docFlags(sec.flags)) == 0 {
			continue
		}
		b.WriteString("### " + sec.title + "\n\n")
		mdCode(&b, strings.TrimRight(sec.flags.FlagUsages(), "\n"))
	}
	if also := docSeeAlso(c); len(also) > 0 {
		b.WriteString("### SEE ALSO\n\n")
		for _, a := range also {
			b.WriteString("* [" + mdEscape(a.CommandPath()) + "](" + mdName(a) + ") - " + mdEscape(a.Short) + "\n")
		}
	}
	return []byte(b.String())
}

// mdCode writes a fenced code block, its fence longer than any run of
// backticks in s.
func mdCode(b *strings.Builder, s string) {
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	b.WriteString(fence + "\n" + s + "\n" + fence + "\n\n")
}

// mdEscape backslash-escapes the characters CommonMark reads as inline
// markup, and a line start that would open a heading, quote or list.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	out := b.String()
	t := strings.TrimLeft(out, " ")
	at := len(out) - len(t) // where the line's text starts
	switch {
	case t == "":
	case strings.ContainsRune("#>+-=|", rune(t[0])):
		return out[:at] + `\` + t
	default:
		// An ordered list item: digits, then "." or ")".
		i := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i > 0 && i < len(t) && (t[i] == '.' || t[i] == ')') {
			return out[:at+i] + `\` + out[at+i:]
		}
	}
	return out
}
