package cli

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// sanitize makes stored or user-supplied text safe to print on a terminal:
// C0 and C1 control characters, DEL, and Unicode format characters (bidi
// overrides and isolates, zero-width characters, line and paragraph
// separators) are replaced by visible escapes (\x1b, \u202e), and so is
// invalid UTF-8. Input validation refuses these characters already; this
// is the second line of defence for what reached the store another way
// (an older version, sqlite3, a restored backup). JSON output needs no
// such step: encoding/json escapes control characters itself.
func sanitize(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// sanitizeLines is sanitize for text of several lines: newlines and tabs
// stay.
func sanitizeLines(s string) string {
	if !needsEscape(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = sanitize(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}

// safeArgs sanitizes the text arguments of a Printf: strings (and types
// whose kind is string, such as ra.State) and errors.
func safeArgs(a []any) []any {
	out := a
	for i, v := range a {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case error:
			s = v.Error()
		case fmt.Stringer:
			continue
		default:
			rv := reflect.ValueOf(v)
			if !rv.IsValid() || rv.Kind() != reflect.String {
				continue
			}
			s = rv.String()
		}
		if !needsEscape(s) {
			continue
		}
		if &out[0] == &a[0] {
			out = slices.Clone(a)
		}
		out[i] = sanitizeLines(s)
	}
	return out
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return !plainUTF8(s[i:])
		}
	}
	return false
}

// plainUTF8 reports whether s is valid UTF-8 free of characters to escape.
func plainUTF8(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}
