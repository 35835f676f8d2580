package cli

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/cmca/cmca/internal/msg"
	"github.com/spf13/pflag"
)

// cobra and pflag write their errors and the "(default …)" of the flag
// list in English, with no hook to translate them. The errors are typed
// (pflag) or fixed formats (cobra's args.go); flagUsageError turns them
// into usage errors whose format is a catalogue ID, so the user reads
// them in their language. The English text stays exactly cobra's.

// cobraArgFormats are cobra's argument errors (cobra/args.go,
// command.go), each as a pattern and the catalogue format built from its
// submatches.
var cobraArgFormats = []struct {
	re     *regexp.Regexp
	format string
	ints   []bool // which submatches are numbers (printed with %d)
}{
	{regexp.MustCompile(`^unknown command "(.*)" for "(.*)"$`), "unknown command %q for %q", []bool{false, false}},
	{regexp.MustCompile(`^invalid argument "(.*)" for "(.*)"$`), "invalid argument %q for %q", []bool{false, false}},
	{regexp.MustCompile(`^requires at least (\d+) arg\(s\), only received (\d+)$`), "requires at least %d arg(s), only received %d", []bool{true, true}},
	{regexp.MustCompile(`^accepts at most (\d+) arg\(s\), received (\d+)$`), "accepts at most %d arg(s), received %d", []bool{true, true}},
	{regexp.MustCompile(`^accepts (\d+) arg\(s\), received (\d+)$`), "accepts %d arg(s), received %d", []bool{true, true}},
	{regexp.MustCompile(`^accepts between (\d+) and (\d+) arg\(s\), received (\d+)$`), "accepts between %d and %d arg(s), received %d", []bool{true, true, true}},
	{regexp.MustCompile(`^required flag\(s\) (.*) not set$`), "required flag(s) %s not set", []bool{false}},
}

// flagUsageError is err (a flag or argument error of pflag or cobra) as a
// usage error with a catalogue format where the error is one cobra or
// pflag is known to make; any other error keeps its text.
func flagUsageError(err error) *usageError {
	var ue *usageError
	if errors.As(err, &ue) {
		return ue
	}
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	text := err.Error()
	with := func(u *usageError) *usageError {
		u.msg = text // English is cobra's own text, unchanged
		return u
	}
	switch {
	case errors.As(err, &notExist) && notExist.GetSpecifiedShortnames() != "":
		return with(usagef("unknown shorthand flag: %q in -%s", rune(notExist.GetSpecifiedName()[0]), notExist.GetSpecifiedShortnames()))
	case errors.As(err, &notExist) && strings.HasPrefix(text, "unknown flag: "):
		return with(usagef("unknown flag: --%s", notExist.GetSpecifiedName()))
	case errors.As(err, &required) && required.GetSpecifiedShortnames() != "":
		return with(usagef("flag needs an argument: %q in -%s", rune(required.GetSpecifiedName()[0]), required.GetSpecifiedShortnames()))
	case errors.As(err, &required):
		return with(usagef("flag needs an argument: --%s", required.GetSpecifiedName()))
	case errors.As(err, &invalid):
		name := "--" + invalid.GetFlag().Name
		if sh := invalid.GetFlag().Shorthand; sh != "" && invalid.GetFlag().ShorthandDeprecated == "" {
			name = "-" + sh + ", " + name
		}
		return with(usagef("invalid argument %q for %q flag: %v", invalid.GetValue(), name, flagValueCause(errors.Unwrap(invalid))))
	case errors.As(err, &syntax):
		return with(usagef("bad flag syntax: %s", syntax.GetSpecifiedFlag()))
	}
	first, suggestions, _ := strings.Cut(text, "\n\nDid you mean this?\n")
	for _, f := range cobraArgFormats {
		m := f.re.FindStringSubmatch(first)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		for i, s := range m[1:] {
			if f.ints[i] {
				n, _ := strconv.Atoi(s)
				args[i] = n
			} else if f.format != "required flag(s) %s not set" {
				args[i], _ = strconv.Unquote(`"` + s + `"`)
			} else {
				args[i] = s
			}
		}
		u := usagef(f.format, args...)
		u.msg = text
		if suggestions != "" {
			u.format += "\n\nDid you mean this?\n%s"
			u.args = append(u.args, strings.TrimRight(suggestions, "\n"))
		}
		return u
	}
	return &usageError{msg: text}
}

// flagValueCause is the reason pflag gives for a value it cannot parse:
// strconv's "parsing "x": invalid syntax" becomes a sentence of the
// catalogue; any other reason (a flag's own Set) stays as it is.
func flagValueCause(cause error) error {
	var ne *strconv.NumError
	if errors.As(cause, &ne) {
		switch {
		case ne.Func == "ParseBool":
			return errorf("not true or false")
		case errors.Is(ne.Err, strconv.ErrRange):
			return errorf("out of range")
		default:
			return errorf("not a number")
		}
	}
	if cause != nil && strings.HasPrefix(cause.Error(), "time: invalid duration") {
		return errorf("not a duration (e.g. 90s, 15m, 2h)")
	}
	return cause
}

// defaultSuffix matches pflag's "(default …)" at the end of a flag's line
// of FlagUsages.
var defaultSuffix = regexp.MustCompile(`(?m) \(default (.*)\)$`)

// translateDefaults rewrites pflag's " (default X)" suffixes of a flag
// list in the printer's language.
func translateDefaults(p msg.Printer, usages string) string {
	return defaultSuffix.ReplaceAllStringFunc(usages, func(m string) string {
		v := defaultSuffix.FindStringSubmatch(m)[1]
		if p.Tag() == msg.English {
			return " " + p.Sprintf("(default %s)", v)
		}
		return p.Sprintf("(default %s)", v) // full-width parentheses need no space
	})
}
