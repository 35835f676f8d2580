package msg

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The wire form of a translatable message: its format (a catalogue ID)
// and its arguments as strings, so a server's error can be shown in its
// client's language (the serve API's `format` and `args`). Only formats
// whose every argument survives the trip are sent: %s, %v, %q and %w take
// the argument's text, %d an integer, %t a boolean; anything else (a
// width taken from an argument, %x, %f) keeps the message English.

// verbRE matches one fmt directive: an optional argument index, flags,
// width, precision and the verb.
var verbRE = regexp.MustCompile(`%(\[(\d+)\])?[-+# 0]*(\[\d+\])?(\*|\d+)?(\.(\*|\d*))?(\[(\d+)\])?([a-zA-Z%])`)

// verbs is the verb of each argument a format consumes, in order; ok is
// false for a format whose arguments cannot all be sent as strings.
func verbs(format string) ([]byte, bool) {
	var out []byte
	next := 0
	for _, m := range verbRE.FindAllStringSubmatch(format, -1) {
		verb := m[9][0]
		if verb == '%' {
			continue
		}
		if strings.Contains(m[0], "*") || m[3] != "" {
			return nil, false
		}
		idx := m[2]
		if idx == "" {
			idx = m[8]
		}
		if idx != "" {
			n, err := strconv.Atoi(idx)
			if err != nil || n < 1 || n > 64 {
				return nil, false
			}
			next = n - 1
		}
		for len(out) <= next {
			out = append(out, 0)
		}
		if out[next] != 0 && out[next] != verb {
			return nil, false
		}
		out[next] = verb
		next++
	}
	for _, v := range out {
		if v == 0 { // an argument no directive uses
			return nil, false
		}
	}
	return out, true
}

// EncodeArgs is the wire form of a message's arguments: one string each.
// ok is false when the format is not in the catalogue, or when an argument
// would not print the same from its string (the message then travels in
// English only).
func EncodeArgs(format string, args []any) ([]string, bool) {
	if !Has(format) {
		return nil, false
	}
	vs, ok := verbs(format)
	if !ok || len(vs) != len(args) {
		return nil, false
	}
	out := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = v
		case error:
			out[i] = v.Error()
		default:
			out[i] = fmt.Sprint(a)
		}
	}
	dec, ok := DecodeArgs(format, out)
	if !ok || fmt.Sprintf(strings.ReplaceAll(format, "%w", "%v"), dec...) != fmt.Errorf(format, args...).Error() {
		return nil, false
	}
	return out, true
}

// DecodeArgs turns the wire form of a message's arguments back into the
// values its format prints: a string, an int64 for %d, a bool for %t. A
// string that is a catalogue text (an error sentinel's "wrong state")
// comes back as an error, so Printer.Args translates it as it does the
// original. ok is false for a format not in the catalogue, a format that
// could not have been sent, or arguments that do not fit it.
func DecodeArgs(format string, args []string) ([]any, bool) {
	if !Has(format) {
		return nil, false
	}
	vs, ok := verbs(format)
	if !ok || len(vs) != len(args) {
		return nil, false
	}
	out := make([]any, len(args))
	for i, s := range args {
		switch vs[i] {
		case 's', 'v', 'q', 'w':
			if vs[i] == 'w' && Has(s) {
				out[i] = errors.New(s)
			} else {
				out[i] = s
			}
		case 'd':
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, false
			}
			out[i] = n
		case 't':
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, false
			}
			out[i] = b
		default:
			return nil, false
		}
	}
	return out, true
}

// Render is the message of a wire-form format and arguments in p's
// language, when the format is in the catalogue, the arguments fit it and
// they give back english, the message's English text; ok is false
// otherwise, and the caller shows english. safe escapes each text
// argument for the terminal, as stored text is.
func (p Printer) Render(format string, args []string, english string, safe func(string) string) (string, bool) {
	dec, ok := DecodeArgs(format, args)
	if !ok || fmt.Sprintf(strings.ReplaceAll(format, "%w", "%v"), dec...) != english {
		return "", false
	}
	tr := p.Args(dec)
	if safe != nil {
		for i, a := range tr {
			switch v := a.(type) {
			case string:
				tr[i] = safe(v)
			case error:
				tr[i] = errors.New(safe(v.Error()))
			}
		}
	}
	return p.Sprintf(format, tr...), true
}
