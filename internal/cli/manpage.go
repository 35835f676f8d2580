package cli

import (
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// manHeader is what the .TH line of every page says (man-pages(7), "Title
// line"), besides the title: each page's own name in capitals (CMCA-APPLY).
type manHeader struct {
	Section string // "1"
	Date    time.Time
	Source  string // "cmca v1.2.3"
	Manual  string // "cmca manual"
}

// writeManPages writes one man page per documented command into dir:
// cmca.1, cmca-apply.1, cmca-docs-man.1, ...
func writeManPages(root *cobra.Command, h manHeader, dir string) error {
	return writeDocPages(root, dir,
		func(c *cobra.Command) string { return manName(c) + "." + h.Section },
		func(c *cobra.Command) []byte { return manPage(c, h) })
}

// manName is the page's name: the command path joined by hyphens.
func manName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-")
}

// manPage renders the page of c in the man macros (groff_man(7)): NAME,
// SYNOPSIS, DESCRIPTION, OPTIONS, OPTIONS INHERITED FROM PARENT COMMANDS,
// EXAMPLE and SEE ALSO. Text from the commands is escaped so that roff
// prints it as written; non-ASCII text is left as UTF-8 (man-db converts
// it for the terminal; plain groff needs -K utf8).
func manPage(c *cobra.Command, h manHeader) []byte {
	var b strings.Builder
	line := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteByte('\n')
	}
	line(".nh")
	line(".TH ", roffArg(strings.ToUpper(manName(c))), " ", roffArg(h.Section), " ", roffArg(h.Date.Format("2006-01-02")), " ", roffArg(h.Source), " ", roffArg(h.Manual))

	line(".SH NAME")
	line(roffCode(manName(c)), ` \- `, roffProse(c.Short))

	line(".SH SYNOPSIS")
	line(manSynopsis(c))

	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	if desc != "" {
		line(".SH DESCRIPTION")
		manBlocks(&b, desc)
	}

	for _, sec := range []struct {
		title string
		flags *pflag.FlagSet
	}{
		{"OPTIONS", c.NonInheritedFlags()},
		{"OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags()},
	} {
		flags := docFlags(sec.flags)
		if len(flags) == 0 {
			continue
		}
		line(".SH ", sec.title)
		for _, fl := range flags {
			arg, usage := flagArg(fl)
			tag := `\fB\-\-` + roffCode(fl.Name) + `\fR`
			if fl.Shorthand != "" {
				tag = `\fB\-` + roffCode(fl.Shorthand) + `\fR, ` + tag
			}
			switch {
			case arg == "":
			case fl.NoOptDefVal != "":
				tag += `[=\fI` + roffCode(arg) + `\fR]`
			default:
				tag += ` \fI` + roffCode(arg) + `\fR`
			}
			line(".TP")
			line(tag)
			line(roffLine(roffProse(usage)))
		}
	}

	if c.HasExample() {
		line(".SH EXAMPLE")
		line(".EX")
		for _, l := range dedent(strings.Split(strings.Trim(c.Example, "\n"), "\n")) {
			line(roffLine(roffCode(l)))
		}
		line(".EE")
	}

	if also := docSeeAlso(c); len(also) > 0 {
		line(".SH SEE ALSO")
		for i, a := range also {
			sep := ","
			if i == len(also)-1 {
				sep = ""
			}
			line(".BR ", roffCode(manName(a)), " (", h.Section, ")", sep)
		}
	}
	return []byte(b.String())
}

// manSynopsis is the usage line: the command in bold, the words to replace
// (DIR, REF, ...) in italics, the rest in roman.
func manSynopsis(c *cobra.Command) string {
	path := c.CommandPath()
	rest := strings.TrimPrefix(docSynopsis(c), path)
	var b strings.Builder
	b.WriteString(`\fB` + roffCode(path) + `\fR`)
	// Runs of capitals (two or more, digits and _ allowed after the first)
	// are placeholders.
	for i := 0; i < len(rest); {
		j := i
		for j < len(rest) && (rest[j] >= 'A' && rest[j] <= 'Z' || j > i && (rest[j] >= '0' && rest[j] <= '9' || rest[j] == '_')) {
			j++
		}
		if j-i >= 2 {
			b.WriteString(`\fI` + rest[i:j] + `\fR`)
			i = j
			continue
		}
		if j == i {
			j = i + 1
		}
		b.WriteString(roffCode(rest[i:j]))
		i = j
	}
	return b.String()
}

// manBlocks writes a help text: prose as filled paragraphs, lines the text
// indents as an indented example block.
func manBlocks(b *strings.Builder, text string) {
	for i, blk := range docBlocks(text) {
		if i > 0 && blk.para {
			b.WriteString(".PP\n")
		}
		if blk.verbatim {
			b.WriteString(".RS 4\n.EX\n")
			for _, l := range blk.lines {
				b.WriteString(roffLine(roffCode(l)) + "\n")
			}
			b.WriteString(".EE\n.RE\n")
			continue
		}
		for j, l := range blk.lines {
			if j > 0 && alignedLine(l) {
				b.WriteString(".br\n")
			}
			b.WriteString(roffLine(roffProse(l)) + "\n")
		}
	}
}

// roffLine makes an escaped text line safe to start a line: one starting
// with a dot or an apostrophe would be read as a request (groff(7), "Control
// characters"), so the zero-width \& goes in front.
func roffLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// roffArg quotes a macro argument.
func roffArg(s string) string {
	return `"` + strings.ReplaceAll(roffCode(s), `"`, `\(dq`) + `"`
}

// roffCode escapes text to show literally, as typed: every hyphen is a
// hyphen-minus (\-), and the backslash, apostrophe, grave accent, caret and
// tilde are the ASCII characters, not typographic ones (groff_char(7)).
func roffCode(s string) string { return roffEscape(s, true) }

// roffProse escapes running text: as roffCode, but a hyphen is a minus only
// in a word that starts with one (--from-file, -o, "-" for stdin), so
// compound words (end-to-end) keep typographic hyphens.
func roffProse(s string) string { return roffEscape(s, false) }

func roffEscape(s string, code bool) string {
	var b strings.Builder
	option := false // inside a word that started with a hyphen
	prev := ' '
	for _, r := range s {
		switch {
		case r == '-':
			if code || option || !isWordRune(prev) {
				option = true
				b.WriteString(`\-`)
			} else {
				b.WriteByte('-')
			}
		case r == '\\':
			b.WriteString(`\e`)
		case r == '\'':
			b.WriteString(`\(aq`)
		case r == '`':
			b.WriteString(`\(ga`)
		case r == '^':
			b.WriteString(`\(ha`)
		case r == '~':
			b.WriteString(`\(ti`)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			// Nothing roff could print.
		default:
			b.WriteRune(r)
		}
		if r != '-' && !isWordRune(r) {
			option = false
		}
		prev = r
	}
	return b.String()
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
