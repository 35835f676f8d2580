// Package msg is cmca's message catalogue: every user-facing text is looked
// up here by its message ID and printed in the user's language, English or
// Simplified Chinese (zh-Hans).
//
// A message ID is the English text itself (a fmt format, as gettext and
// golang.org/x/text/message key their catalogues), so English needs no
// table and the call sites stay readable. Errors are the exception: they
// are keyed on their stable code (internal/errcode), the same code the JSON
// error envelope and the serve API carry, and their texts use {name}
// placeholders filled from the error's parameters.
//
// The language comes from golang.org/x/text/language (locale names are
// parsed and their script inferred there: zh_CN, zh_SG and zh are zh-Hans,
// zh_TW is not). Formatting is fmt's, not x/text/message's printer: that
// printer groups digits by locale (2026 would print as "2,026"), which
// would change numbers scripts read, and its catalogue cannot be listed,
// which the completeness test needs.
package msg

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// The languages cmca speaks. Anything else falls back to English.
var (
	English = language.English
	Chinese = language.MustParse("zh-Hans")
)

// Printer renders messages in one language. The zero Printer is English.
type Printer struct{ zh bool }

// For returns the Printer of a language (one of English or Chinese; any
// other tag gets English).
func For(tag language.Tag) Printer { return Printer{zh: tag == Chinese} }

// Tag is the printer's language.
func (p Printer) Tag() language.Tag {
	if p.zh {
		return Chinese
	}
	return English
}

// T translates a text that is not a format (command help, a title).
// Leading and trailing newlines and spaces are kept around the looked-up
// text, so "\nDone.\n" and "Done." are one message.
func (p Printer) T(s string) string {
	if !p.zh {
		return s
	}
	core := strings.TrimSpace(s)
	t, ok := zhHans[core]
	if !ok || core == "" {
		return s
	}
	i := strings.Index(s, core)
	return s[:i] + t + s[i+len(core):]
}

// Sprintf translates format, then formats it with fmt. The %w of an
// fmt.Errorf format prints as %v.
func (p Printer) Sprintf(format string, a ...any) string {
	return fmt.Sprintf(strings.ReplaceAll(p.T(format), "%w", "%v"), a...)
}

// Has reports whether the catalogue has a zh-Hans text for the ID.
func Has(id string) bool {
	_, ok := zhHans[strings.TrimSpace(id)]
	return ok
}

// Chinese text of an ID, for tests.
func ChineseText(id string) (string, bool) {
	t, ok := zhHans[strings.TrimSpace(id)]
	return t, ok
}

// IDs lists every message ID of the catalogue (not the error codes).
func IDs() []string {
	out := make([]string, 0, len(zhHans))
	for k := range zhHans {
		out = append(out, k)
	}
	return out
}
