package msg

import (
	"errors"
	"fmt"
)

// Error is an error whose message is a catalogue format and its
// arguments, so a command line can show it in the user's language: the
// errors of the packages under the command line (service, store, token)
// that carry no error code of their own. Its English text is exactly
// fmt.Errorf's, and the errors its format wraps with %w stay reachable by
// errors.Is and errors.As.
type Error struct {
	Format string
	Args   []any
	err    error
}

// Errorf is fmt.Errorf with a translatable message: format is a message
// ID of the catalogue (zh-Hans.txt).
func Errorf(format string, a ...any) error {
	return &Error{Format: format, Args: a, err: fmt.Errorf(format, a...)}
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Translate is the message in p's language: the format's text there,
// its arguments translated where they are catalogue texts or translatable
// errors themselves. Without a text for the format it is the English
// message.
func (e *Error) Translate(p Printer) string {
	if !Has(e.Format) {
		return e.Error()
	}
	return p.Sprintf(e.Format, p.Args(e.Args)...)
}

// Translatable is an error that can give its message in another language.
type Translatable interface {
	error
	Translate(p Printer) string
}

// Args translates the arguments of a message: strings that are catalogue
// IDs ("a reference number"), errors that are Translatable, and errors
// whose text is a catalogue ID (the sentinels' "wrong state"). Other
// arguments (paths, references, numbers) are data and stay as they are.
func (p Printer) Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			a = p.T(v)
		case error:
			var t Translatable
			if errors.As(v, &t) && t.Error() == v.Error() {
				a = errors.New(t.Translate(p))
			} else if Has(v.Error()) {
				a = errors.New(p.T(v.Error()))
			}
		}
		out[i] = a
	}
	return out
}
