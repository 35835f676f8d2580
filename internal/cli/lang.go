package cli

import (
	"errors"
	"maps"
	"os"
	"regexp"
	"strings"

	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/enroll"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/text/language"
)

// P is the printer of the user's language: --lang > CMCA_UI_LANG > config
// key ui.lang > LC_ALL > LC_MESSAGES > LANG. Only called once flags are
// parsed (help, run, error); a broken config leaves the flag and locale.
func (f *Factory) P() msg.Printer {
	if f.printer != nil {
		return *f.printer
	}
	tag := msg.FromEnv(os.Getenv)
	if f.v == nil { // a bare Factory of a unit test
		return msg.For(tag)
	}
	name := f.v.GetString("ui.lang")
	if c, err := f.Config(); err == nil {
		name = c.Lang
	}
	if name != "" {
		if t, err := msg.Parse(name); err == nil {
			tag = t
		}
	}
	p := msg.For(tag)
	f.printer = &p
	return p
}

// T translates a text of the catalogue into the user's language.
func (f *Factory) T(s string) string { return f.P().T(s) }

// Tf translates a format of the catalogue and formats it.
func (f *Factory) Tf(format string, a ...any) string { return f.P().Sprintf(format, a...) }

// The error codes only the command line has; the others are the serve
// API's catalogue (internal/api), the same locally and against a server.
const (
	codeUsage  = "cli.usage"      // a command-line mistake: flag, argument, config value
	codeFailed = "cli.failed"     // an unexpected local failure (I/O, database); exit 1
	codeNoHome = "home.not_found" // the home has no store
)

// cliCodes lists the command line's own codes.
var cliCodes = []string{codeUsage, codeFailed, codeNoHome}

// errorCode is the stable code of a failure (the JSON envelope's `code`,
// the key of its translated message) and its parameters: the code a
// server sent, the code an error of the service carries (ra.WithCode,
// principal.AuthError), the command line's own, else its class's.
func errorCode(err error) (string, map[string]string) {
	var ue *usageError
	var amb *token.AmbiguousTokenError
	var remote *api.Error
	switch {
	case errors.As(err, &remote):
		return remote.Code, remote.Params
	case errors.Is(err, errCancelled), errors.Is(err, huh.ErrUserAborted):
		return api.CodeCancelled, nil
	case errors.As(err, &ue):
		return codeUsage, nil
	case errors.As(err, &amb):
		return api.CodeInvalid, nil
	case errors.Is(err, service.ErrNoHome):
		return codeNoHome, nil
	}
	e := api.FromError(err)
	if e.Code == api.CodeInternal {
		return codeFailed, nil // local: the detail is the user's to see
	}
	return e.Code, e.Params
}

var unfilled = regexp.MustCompile(`\{[a-z_]+\}`)

// errorText is the message of a failure in the user's language. A code
// whose catalogue text names the command line's remedy (`cmca issue
// --resend {ref}`, which the service's message leaves out), all its
// parameters given, is rendered from that text in either language.
// Otherwise English keeps the error's own text (it carries the detail), and
// Chinese renders the code's text, translates the message or puts the
// class's text around the English detail.
func (f *Factory) errorText(err error, code string, params map[string]string) string {
	p := f.P()
	if errors.Is(err, errInputEnded) {
		return p.T(err.Error())
	}
	var fe *ra.FieldError
	isField := errors.As(err, &fe)
	if p.Tag() == msg.English {
		if code == api.CodeCancelled {
			return "cancelled"
		}
		// A code whose text holds the command line's remedy, every
		// parameter it names given: that text (the service's message
		// names no cmca command or flag). Otherwise the message, which
		// carries the detail.
		if s, ok := p.Error(code, params); ok && holdsRemedy(code) && !unfilled.MatchString(s) && !isClassCode(code) && !isField {
			return s
		}
		return err.Error()
	}
	detail := err.Error()
	var ue *usageError
	if errors.As(err, &ue) && ue.format != "" && ue.Error() == detail {
		detail = p.Sprintf(ue.format, translateArgs(p, ue.args)...)
	} else if code != api.CodeCancelled {
		if s, ok := p.Error(code, params); ok && !unfilled.MatchString(s) && !isClassCode(code) && !isField {
			return s // a code with its own text, all its parameters given
		}
		if s, ok := translateError(p, err); ok {
			// The whole message is translated, ending in its class
			// (the wrapped sentinel): no class prefix needed, but for a
			// failure of no class (I/O), which says so first.
			if t, ok := p.Error(codeFailed, map[string]string{"detail": s}); ok && code == codeFailed {
				return t
			}
			return s
		}
	}
	all := map[string]string{"detail": detail}
	maps.Copy(all, params)
	if isField {
		all["msg"] = f.fieldMsg(fe)
	}
	if s, ok := p.Error(code, all); ok && !unfilled.MatchString(s) {
		return s
	}
	for _, generic := range []string{genericOf(err), codeFailed} {
		if s, ok := p.Error(generic, all); ok && !unfilled.MatchString(s) {
			return s
		}
	}
	return detail
}

// translateArgs translates the text arguments of a message: strings
// ("a reference number" of needArgs), the messages of wrapped errors
// (the sentinels' "not allowed by policy") when the catalogue has them,
// and translatable errors (msg.Errorf, cliError, enroll.Error).
func translateArgs(p msg.Printer, args []any) []any {
	out := p.Args(args)
	for i, a := range args {
		if err, ok := a.(error); ok {
			if s, ok := translateError(p, err); ok {
				out[i] = errors.New(s)
			}
		}
	}
	return out
}

// translateError is err's message in p's language when the error that
// makes its whole text carries a catalogue format: a cliError (errorf), an
// enroll.Error or a msg.Error (msg.Errorf, the packages below the command
// line) or another msg.Translatable (a token's error). ok is false
// otherwise.
func translateError(p msg.Printer, err error) (string, bool) {
	detail := err.Error()
	var ce *cliError
	var ee *enroll.Error
	var tr msg.Translatable
	var remote *api.Error
	switch {
	case errors.As(err, &remote) && remote.Error() == detail && remote.Format != "" && remote.Code != api.CodeInvalidField:
		// A server's error: its catalogue format and arguments, checked
		// against its English message; an unknown format, or arguments
		// that do not give the message, leave the English.
		return p.Render(remote.Format, remote.Args, remote.Message, sanitize)
	case errors.As(err, &ce) && ce.Error() == detail && msg.Has(ce.format):
		return p.Sprintf(ce.format, translateArgs(p, ce.args)...), true
	case errors.As(err, &ee) && ee.Error() == detail && msg.Has(ee.Format):
		return p.Sprintf(ee.Format, translateArgs(p, ee.Args)...), true
	case errors.As(err, &tr) && tr.Error() == detail:
		s := tr.Translate(p)
		return s, s != detail || p.Tag() == msg.English
	}
	return "", false
}

// remedy matches a cmca command or a command-line flag.
var remedy = regexp.MustCompile("`cmca |(^|[\\s(])--[a-z]")

// holdsRemedy: the code's English text names a cmca command or flag.
func holdsRemedy(code string) bool {
	en, _, ok := msg.CodeTexts(code)
	return ok && remedy.MatchString(en)
}

// isClassCode: the code's text is its class's, around the detail
// ("状态不允许此操作：{detail}").
func isClassCode(code string) bool {
	en, _, ok := msg.CodeTexts(code)
	return ok && strings.Contains(en, "{detail}")
}

// fieldMsg is a field error's message in the user's language: its format
// from the catalogue when it has one, else its English text.
func (f *Factory) fieldMsg(fe *ra.FieldError) string {
	if fe.Format != "" && msg.Has(fe.Format) {
		return f.Tf(fe.Format, fe.Args...)
	}
	return f.T(fe.Msg)
}

// genericOf is the class code of err, ignoring any specific code.
func genericOf(err error) string {
	switch ExitCode(err) {
	case ExitUsage:
		var ue *usageError
		if errors.As(err, &ue) {
			return codeUsage
		}
		return api.CodeInvalid
	case ExitNotFound:
		return api.CodeNotFound
	case ExitConflict:
		return api.CodeConflict
	case ExitAuth:
		return api.CodeAuthFailed
	case ExitPolicy:
		return api.CodePolicy
	case ExitCancelled:
		return api.CodeCancelled
	}
	return codeFailed
}

// localizeHelp translates the command tree's help (Short, Long, Example
// stays as it is, flag usage, group titles, cobra's templates) into the
// user's language, once, just before help is shown.
func (f *Factory) localizeHelp(root *cobra.Command) {
	p := f.P()
	if p.Tag() == msg.English || f.helpLocalized {
		return
	}
	f.helpLocalized = true
	// cobra's own commands, made here so their texts are translated too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cobra.AddTemplateFunc("cmcaDefaults", func(usages string) string { return translateDefaults(p, usages) })
	root.SetUsageTemplate(translateTemplate(p, root.UsageTemplate()))
	for _, g := range root.Groups() {
		g.Title = p.T(g.Title)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.InitDefaultHelpFlag()
		c.InitDefaultVersionFlag()
		c.Short = p.T(c.Short)
		c.Long = p.T(c.Long)
		tr := func(fl *pflag.Flag) { fl.Usage = translateFlagUsage(p, fl.Usage) }
		c.LocalFlags().VisitAll(tr)
		c.PersistentFlags().VisitAll(tr)
		c.Flags().VisitAll(tr)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// translateFlagUsage translates a flag's usage, including cobra's own
// "help for X" and "version for X".
func translateFlagUsage(p msg.Printer, usage string) string {
	for _, prefix := range []string{"help for ", "version for "} {
		if rest, ok := strings.CutPrefix(usage, prefix); ok && !msg.Has(usage) {
			return p.Sprintf(prefix+"%s", rest)
		}
	}
	return p.T(usage)
}

// templateWords are the headings of cobra's usage template.
var templateWords = []string{"Usage:", "Aliases:", "Examples:", "Available Commands:", "Additional Commands:",
	"Global Flags:", "Flags:", "Additional help topics:"}

func translateTemplate(p msg.Printer, tmpl string) string {
	// pflag's " (default X)" suffix of each flag's line.
	tmpl = strings.ReplaceAll(tmpl, ".FlagUsages | trimTrailingWhitespaces", ".FlagUsages | cmcaDefaults | trimTrailingWhitespaces")
	tmpl = strings.Replace(tmpl, `Use "{{.CommandPath}} [command] --help" for more information about a command.`,
		p.T(`Use "{{.CommandPath}} [command] --help" for more information about a command.`), 1)
	for _, w := range templateWords {
		tmpl = strings.ReplaceAll(tmpl, "\n"+w, "\n"+p.T(w))
		if strings.HasPrefix(tmpl, w) {
			tmpl = p.T(w) + tmpl[len(w):]
		}
	}
	return tmpl
}

// verbPattern matches a fmt verb.
var verbPattern = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*(\*|\d+)?(\.(\*|\d+)?)?[a-zA-Z%]`)

// ErrorText is the message cmca prints for err in the language of tag
// (after "cmca: "): the same rendering for an error of the home and for
// one a server sent (the API conformance test compares the two).
func ErrorText(err error, tag language.Tag) string {
	p := msg.For(tag)
	f := &Factory{IO: &IOStreams{}, printer: &p}
	code, params := errorCode(err)
	return f.errorText(err, code, params)
}
