package cli

import (
	"regexp"

	"context"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
)

// validator adapts a field validator to huh's func(string) error, so the
// form checks exactly what the flags and files are checked with.
func (f *Factory) validator(fn func(string) (string, error)) func(string) error {
	return func(s string) error {
		_, err := fn(s)
		var fe *ra.FieldError
		if errors.As(err, &fe) {
			return errors.New(f.fieldMsg(fe))
		}
		return err
	}
}

func (f *Factory) accessible() bool {
	c, err := f.Config()
	return err == nil && c.Accessible
}

func (f *Factory) runForm(ctx context.Context, groups ...*huh.Group) error {
	form := huh.NewForm(groups...).WithInput(f.IO.In).WithOutput(f.IO.ErrOut).WithKeyMap(f.keyMap())
	var lines *lineReader
	if f.accessible() {
		// Accessible mode reads each answer with a fresh bufio.Scanner; a
		// reader that stops at each newline keeps later answers for later
		// questions, and shows where the input ended (Ctrl-D), which huh
		// would otherwise take as "use the default".
		lines = &lineReader{r: f.IO.In}
		form = form.WithAccessible(true).WithInput(lines).WithOutput(&accessibleText{w: f.IO.ErrOut, p: f.P()})
	}
	var err error
	if lines != nil {
		err = runAccessible(ctx, form.RunWithContext, lines)
	} else {
		err = runKeepingKeys(ctx, form, f.IO.In, f.IO.ErrOut)
	}
	if err != nil {
		if errors.Is(err, huh.ErrUserAborted) {
			return errCancelled
		}
		return err
	}
	if lines != nil && lines.ended() {
		return errInputEnded
	}
	return nil
}

// runKeepingKeys runs a form as huh's RunWithContext does, but through
// keepKeys, so fast input (a paste, an ID-card reader that types) lands in
// the fields it was typed for.
func runKeepingKeys(ctx context.Context, form *huh.Form, in io.Reader, out io.Writer) error {
	form.SubmitCmd = tea.Quit
	form.CancelCmd = tea.Interrupt
	_, err := tea.NewProgram(&keepKeys{form: form}, tea.WithInput(in), tea.WithOutput(out), tea.WithReportFocus(), tea.WithContext(ctx)).Run()
	if form.State == huh.StateAborted || errors.Is(err, tea.ErrInterrupted) {
		return huh.ErrUserAborted
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return errorf("%w: %w", errCancelled, ctx.Err())
	}
	if err != nil {
		return errorf("form: %w", err)
	}
	return nil
}

// keepKeys wraps a huh form so that keys typed right after Enter (or Tab)
// go to the next field. huh moves the focus with a command that runs after
// the keys already read, so "Fast Typist⏎13812345678⏎" typed in one burst
// put the mobile number into the name field. Keys after Enter are held
// until the focus has moved (or, when it does not, for a validation error,
// briefly), then replayed in order.
type keepKeys struct {
	form    *huh.Form
	holding bool
	hold    int // counts holds, so a late timer ends only its own
	held    []tea.KeyMsg
	from    huh.Field // the focused field when Enter was pressed
}

// releaseKeys ends hold number n if no focus change ended it.
type releaseKeys struct{ n int }

const holdKeysFor = 100 * time.Millisecond

func (k *keepKeys) Init() tea.Cmd { return k.form.Init() }
func (k *keepKeys) View() string  { return k.form.View() }

func (k *keepKeys) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	km, isKey := msg.(tea.KeyMsg)
	if isKey && k.holding {
		k.held = append(k.held, km)
		return k, nil
	}
	if r, ok := msg.(releaseKeys); ok {
		if k.holding && r.n == k.hold {
			return k, k.release()
		}
		return k, nil
	}
	before := k.form.GetFocusedField()
	m, cmd := k.form.Update(msg)
	k.form = m.(*huh.Form)
	if isKey && (km.Type == tea.KeyEnter || km.Type == tea.KeyTab) && k.form.State == huh.StateNormal {
		k.holding, k.from = true, before
		k.hold++
		n := k.hold
		return k, tea.Batch(cmd, tea.Tick(holdKeysFor, func(time.Time) tea.Msg { return releaseKeys{n} }))
	}
	if k.holding && k.form.GetFocusedField() != k.from {
		return k, tea.Batch(cmd, k.release())
	}
	return k, cmd
}

// release replays the held keys; an Enter among them starts a new hold for
// the keys after it.
func (k *keepKeys) release() tea.Cmd {
	held := k.held
	k.holding, k.held = false, nil
	var cmds []tea.Cmd
	for i, km := range held {
		_, cmd := k.Update(km)
		cmds = append(cmds, cmd)
		if k.holding {
			k.held = append(k.held, held[i+1:]...)
			break
		}
	}
	return tea.Batch(cmds...)
}

var errInputEnded = errorf("input ended before the form was complete: %w", errCancelled)

// runAccessible runs an accessible form so that neither of huh's two gaps
// reaches the user: its line prompts do not watch the context, so Ctrl-C
// (SIGINT, caught by Main) would be ignored while a prompt waits; and the
// end of input after an out-of-range number makes its Select index the
// options with 0 and panic. The form runs in a goroutine; a cancelled
// context ends the wait (the goroutine blocked on the terminal dies with the
// process), and a panic becomes an error.
func runAccessible(ctx context.Context, run func(context.Context) error, lines *lineReader) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- &formPanic{value: r}
			}
		}()
		done <- run(ctx)
	}()
	select {
	case <-ctx.Done():
		return errorf("%w: %w", errCancelled, ctx.Err())
	case err := <-done:
		var fp *formPanic
		if errors.As(err, &fp) {
			if lines.ended() {
				return errInputEnded
			}
			return errorf("the accessible form failed on an answer it could not use (%v); run again without --accessible or answer with flags", fp.value)
		}
		return err
	}
}

// formPanic is a panic inside huh, caught.
type formPanic struct{ value any }

func (p *formPanic) Error() string { return fmt.Sprint("form panic: ", p.value) }

// lineReader hands out input one byte at a time, so a scanner never reads
// past the end of the current line, and records the end of input.
type lineReader struct {
	r   io.Reader
	mu  sync.Mutex
	eof bool
}

func (l *lineReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := l.r.Read(p[:1])
	if err == io.EOF {
		l.mu.Lock()
		l.eof = true
		l.mu.Unlock()
	}
	return n, err
}

func (l *lineReader) ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eof
}

// input is a text field. In accessible mode huh validates the raw answer
// before falling back to the current value, so Enter on a pre-filled field
// would fail "is required": there an empty answer keeps the value, and the
// title says what it is.
func (f *Factory) input(title string, dst *string, check func(string) error) *huh.Input {
	accessible := f.accessible()
	if accessible && *dst != "" {
		title = f.Tf("%s [%s; Enter keeps it]", title, *dst)
	}
	return huh.NewInput().Title(title).Value(dst).Validate(func(s string) error {
		if accessible && strings.TrimSpace(s) == "" && *dst != "" {
			s = *dst
		}
		return check(s)
	})
}

// yesNo is a yes/no question that never submits on a bare y or n: the key
// chooses, Enter submits. huh's Confirm submits on y, so the Enter its hint
// suggests went on to the next prompt (an empty first password, or the next
// field skipped). ←/→ still toggle.
type yesNo struct {
	*huh.Confirm
	dst *bool
	tr  func(string) string // translates the key help; nil keeps English
}

func newYesNo(title string, dst *bool) *yesNo {
	return &yesNo{Confirm: huh.NewConfirm().Title(title).Value(dst), dst: dst}
}

// yesNo is newYesNo in the user's language: title, Yes/No and key help.
func (f *Factory) yesNo(title string, dst *bool) *yesNo {
	c := newYesNo(f.T(title), dst)
	c.Affirmative(f.T("Yes")).Negative(f.T("No"))
	c.tr = f.T
	return c
}

func (c *yesNo) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.String() {
		case "y", "Y":
			*c.dst = true
			return c, nil
		case "n", "N":
			*c.dst = false
			return c, nil
		}
	}
	_, cmd := c.Confirm.Update(msg)
	return c, cmd
}

// withConfirm sets more of the underlying Confirm.
func withConfirm(c *yesNo, set func(*huh.Confirm)) *yesNo {
	set(c.Confirm)
	return c
}

func (c *yesNo) KeyBinds() []key.Binding {
	tr := c.tr
	if tr == nil {
		tr = func(s string) string { return s }
	}
	return []key.Binding{
		key.NewBinding(key.WithKeys("y", "n"), key.WithHelp("y/n", tr("choose"))),
		key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", tr("toggle"))),
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", tr("submit"))),
	}
}

// noteText makes text safe in a form note, whose description is rendered
// as Markdown: control characters escaped, Markdown emphasis characters
// (the * of a masked value) shown as they are.
func noteText(s string) string {
	return strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`").Replace(sanitize(s))
}

// runApplyForm asks for the missing fields: identity first, then the
// lookup (a returning applicant's data pre-fills the rest), then contact,
// usage, storage, agent, the agreement, and a confirmation page.
func runApplyForm(ctx context.Context, f *Factory, api API, rec *applicationRecord, o *ApplyOptions, offerFix bool) error {
	cfg := api.Config()
	idTypes := make([]huh.Option[string], 0, len(ra.IDTypes))
	for _, t := range ra.IDTypes {
		idTypes = append(idTypes, huh.NewOption(f.T(t.Label()), string(t)))
	}
	if rec.IDType == "" {
		rec.IDType = string(ra.IDResident)
	}
	if err := f.runForm(ctx, huh.NewGroup(
		huh.NewNote().Title(f.T("Personal certificate application (个人证书申请)")).Description(f.T("Look-up first: a returning applicant's stored data is filled in for you.")),
		huh.NewSelect[string]().Title(f.T("ID document type")).Options(idTypes...).Value(&rec.IDType),
		f.input(f.T("ID number"), &rec.IDNumber, func(s string) error {
			return f.validator(func(s string) (string, error) { return ra.ValidateID(ra.IDType(rec.IDType), s) })(s)
		}),
	)); err != nil {
		return err
	}
	if !o.NoLookup && !o.Counter.active {
		prefill(ctx, f, api, rec, o.Set)
	}
	usages := make([]huh.Option[string], 0, len(cfg.Profiles))
	for _, p := range cfg.Profiles {
		usages = append(usages, huh.NewOption(fmt.Sprintf("%s (%s)", f.T(p.Label), p.Name), p.Name))
	}
	points := make([]huh.Option[string], 0, len(cfg.AcceptancePoints))
	for _, p := range cfg.AcceptancePoints {
		points = append(points, huh.NewOption(fmt.Sprintf("%s (%s)", f.T(p.Label), p.Name), p.Name))
	}
	storages := []huh.Option[string]{huh.NewOption(f.T("USB key token (PKCS#11)"), string(ra.StorageUSBKey)), huh.NewOption(f.T("Software certificate (PKCS#12 file)"), string(ra.StorageSoft))}
	if rec.Storage == "" {
		rec.Storage = string(ra.StorageUSBKey)
	}
	withAgent := rec.AgentName != ""
	// What a flag already said is not asked again (counter mode sets the
	// acceptance point, and the storage from --out or token flags).
	var certFields []huh.Field
	if !o.Set["usage_type"] {
		// Checked as it is chosen: an S/MIME usage without a CRL
		// distribution point is refused here, naming the config key.
		certFields = append(certFields, huh.NewSelect[string]().Title(f.T("Certificate usage type (证书使用类型)")).Options(usages...).Value(&rec.UsageType).
			Validate(func(name string) error {
				_, err := cfg.Profile(name)
				return err
			}))
	}
	if !o.Set["acceptance_point"] {
		certFields = append(certFields, huh.NewSelect[string]().Title(f.T("Acceptance point (申请受理点)")).Options(points...).Value(&rec.AcceptancePoint))
	}
	if !o.Set["storage"] {
		certFields = append(certFields, huh.NewSelect[string]().Title(f.T("Key storage (证书存储方式)")).Options(storages...).Value(&rec.Storage))
	}
	certFields = append(certFields, f.yesNo("Is an agent (经办人) applying on the applicant's behalf?", &withAgent))
	// Fields reused from a stored profile are not asked for: the form shows
	// them masked and the service fills them in.
	var contact []huh.Field
	if len(rec.reused) > 0 {
		var lines []string
		for _, field := range rec.reuse() {
			lines = append(lines, f.T(field)+": "+noteText(rec.reused[field]))
		}
		contact = append(contact, huh.NewNote().Title(f.T("Returning applicant: reusing your stored data")).Description(strings.Join(lines, "\n")))
	}
	for _, in := range []struct {
		field, title string
		dst          *string
		check        func(string) error
	}{
		{"name", f.T("Full name"), &rec.Name, f.validator(func(s string) (string, error) { return ra.ValidateName("name", s) })},
		// The name's parts, optional: both or neither, and together they
		// spell the full name. Checked against the name typed above; a
		// reused (stored) name is checked by the service.
		{"surname", f.T("Surname (姓), optional"), &rec.Surname, f.validator(func(s string) (string, error) { return ra.ValidateNamePart("surname", s) })},
		{"given_name", f.T("Given name (名), optional"), &rec.GivenName, f.validator(func(s string) (string, error) {
			if _, reused := rec.reused["name"]; reused {
				return ra.ValidateNamePart("given_name", s)
			}
			_, g, err := ra.NameParts(rec.Name, rec.Surname, s)
			return g, err
		})},
		{"mobile", f.T("Mobile"), &rec.Mobile, f.validator(ra.ValidateMobile)},
		{"email", f.T("Email (goes into the certificate)"), &rec.Email, f.validator(ra.ValidateEmail)},
		{"address", f.T("Address (optional)"), &rec.Address, f.validator(func(s string) (string, error) { return ra.ValidateText("address", s, 200, false) })},
	} {
		_, ok := rec.reused[in.field]
		if _, name := rec.reused["name"]; name && (in.field == "surname" || in.field == "given_name") && rec.Surname == "" && rec.GivenName == "" {
			ok = true // the stored name brings its stored parts, if any
		}
		if !ok {
			contact = append(contact, f.input(in.title, in.dst, in.check))
		}
	}
	if err := f.runForm(ctx,
		huh.NewGroup(contact...).Title(f.T("Contact")),
		huh.NewGroup(certFields...).Title(f.T("Certificate")),
	); err != nil {
		return err
	}
	if withAgent {
		if rec.AgentIDType == "" {
			rec.AgentIDType = string(ra.IDResident)
		}
		if err := f.runForm(ctx, huh.NewGroup(
			f.input(f.T("Agent's name"), &rec.AgentName, f.validator(func(s string) (string, error) { return ra.ValidateName("agent_name", s) })),
			huh.NewSelect[string]().Title(f.T("Agent's ID document type")).Options(idTypes...).Value(&rec.AgentIDType),
			f.input(f.T("Agent's ID number"), &rec.AgentIDNumber, func(s string) error {
				return f.validator(func(s string) (string, error) { return ra.ValidateID(ra.IDType(rec.AgentIDType), s) })(s)
			}),
		).Title(f.T("Agent"))); err != nil {
			return err
		}
	} else {
		rec.AgentName, rec.AgentIDNumber = "", ""
	}
	if offerFix { // checked whole before the confirmation page
		if field, err := checkApplication(api, rec); field != "" && field != "agreement_accepted" {
			return &fixField{field: field, err: err}
		}
	}
	summary := f.Tf("Name: %s\nID: %s %s\nMobile: %s\nEmail: %s\nUsage: %s\nAcceptance point: %s\nStorage: %s",
		noteText(rec.shown("name", rec.Name)), rec.IDType, rec.IDNumber, noteText(rec.shown("mobile", rec.Mobile)), noteText(rec.shown("email", rec.Email)), rec.UsageType, rec.AcceptancePoint, rec.Storage)
	if rec.Surname != "" || rec.GivenName != "" {
		summary += "\n" + f.Tf("Surname (姓): %s; given name (名): %s", noteText(rec.Surname), noteText(rec.GivenName))
	}
	if rec.AgentName != "" {
		summary += "\n" + f.Tf("Agent: %s (%s)", rec.AgentName, rec.AgentIDNumber)
	}
	submit := true // the page is shown in full; Enter submits, n or Cancel stops
	if err := f.runForm(ctx,
		huh.NewGroup(
			huh.NewNote().Title(f.Tf("Subscriber agreement (数字证书订户协议), version %s", cfg.Agreement.Version)).Description(f.agreementText(cfg.Agreement)),
			withConfirm(f.yesNo("Do you accept the subscriber agreement?", &rec.AgreementAccepted), func(c *huh.Confirm) {
				c.Affirmative(f.T("I accept")).Negative(f.T("I do not")).Validate(func(b bool) error {
					if !b {
						return errors.New(f.T("the agreement must be accepted to apply"))
					}
					return nil
				})
			}),
		).Title(f.T("Agreement")),
	); err != nil {
		return err
	}
	if !rec.AgreementAccepted { // accessible mode does not run confirm validators
		return &ra.FieldError{Field: "agreement_accepted", Msg: f.T("the subscriber agreement must be accepted to apply; read it with `cmca agreement`")}
	}
	if err := f.runForm(ctx,
		huh.NewGroup(
			huh.NewNote().Title(f.T("Check your application")).Description(summary),
			withConfirm(f.yesNo("Submit the application?", &submit), func(c *huh.Confirm) { c.Affirmative(f.T("Submit")).Negative(f.T("Cancel")) }),
		).Title(f.T("Confirm")),
	); err != nil {
		return err
	}
	if !submit {
		return errCancelled
	}
	return nil
}

// reviewInteractive steps through requests: approve, reject (with a
// reason) or skip.
func reviewInteractive(ctx context.Context, f *Factory, api API, rs []*ra.Request) error {
	if len(rs) == 0 {
		f.Printf("Nothing to review.\n")
		return nil
	}
	done := 0
	for i, r := range rs {
		d, err := api.Status(ctx, r.Ref)
		if err != nil {
			return err
		}
		f.Printf("\n(%d/%d) ", i+1, len(rs))
		printRequestDetail(f, d, true)
		var dec *service.Decision
		var action, reason string
		if err := f.runForm(ctx, huh.NewGroup(
			huh.NewSelect[string]().Title(f.Tf("Decision for %s", r.Ref)).Options(
				huh.NewOption(f.T("Approve"), "approve"), huh.NewOption(f.T("Reject"), "reject"),
				huh.NewOption(f.T("Skip"), "skip"), huh.NewOption(f.T("Stop reviewing"), "stop")).Value(&action),
		)); err != nil {
			return err
		}
		switch action {
		case "stop":
			f.Printf("Stopped; %d decided.\n", done)
			return nil
		case "skip":
			continue
		case "reject":
			reason = ""
			if err := f.runForm(ctx, huh.NewGroup(huh.NewText().Title(f.T("Reason (the applicant sees it)")).Value(&reason).
				Validate(func(s string) error {
					if strings.TrimSpace(s) == "" {
						return errors.New(f.T("a rejection needs a reason"))
					}
					return nil
				}))); err != nil {
				return err
			}
			dec, err = api.Reject(ctx, r.Ref, reason)
		default:
			dec, err = api.Approve(ctx, r.Ref)
		}
		if err != nil {
			f.Warnf("%s: %v\n", r.Ref, err)
			continue
		}
		done++
		f.Printf("%s: %s\n", r.Ref, dec.State)
	}
	f.Printf("Reviewed %d of %d.\n", done, len(rs))
	return nil
}

var _ = cobra.NoArgs

// huhAccessibleTexts are the texts huh's accessible mode prints itself
// (huh v1.0.0: field_select.go, field_confirm.go, field_input.go,
// field_multiselect.go and internal/accessibility), with no option to set
// them. Each is written in one Write, so accessibleText can translate
// them on their way to the terminal.
var huhAccessibleTexts = []struct {
	re     *regexp.Regexp
	format string
}{
	{regexp.MustCompile(`Enter a number between (\d+) and (\d+): `), "Enter a number between %s and %s: "},
	{regexp.MustCompile(`There is only one option available; enter the number 1:`), "There is only one option available; enter the number 1:"},
	{regexp.MustCompile(`Invalid: must be a number between (\d+) and (\d+)`), "Invalid: must be a number between %s and %s"},
	{regexp.MustCompile(`Invalid: must be (\d+)`), "Invalid: must be %s"},
	{regexp.MustCompile(`invalid input\. please try again`), "invalid input. please try again"},
	{regexp.MustCompile(`Input cannot exceed (\d+) characters`), "Input cannot exceed %s characters"},
	{regexp.MustCompile(`Select up to (\d+) options\.`), "Select up to %s options."},
	{regexp.MustCompile(`You can't select more than (\d+) options\.`), "You can't select more than %s options."},
}

// accessibleText is the output of an accessible form: huh's own texts
// (huhAccessibleTexts) in the user's language.
type accessibleText struct {
	w io.Writer
	p msg.Printer
}

func (a *accessibleText) Write(b []byte) (int, error) {
	s := string(b)
	for _, t := range huhAccessibleTexts {
		s = t.re.ReplaceAllStringFunc(s, func(m string) string {
			var args []any
			for _, g := range t.re.FindStringSubmatch(m)[1:] {
				args = append(args, g)
			}
			return a.p.Sprintf(t.format, args...)
		})
	}
	if _, err := io.WriteString(a.w, s); err != nil {
		return 0, err
	}
	return len(b), nil
}
