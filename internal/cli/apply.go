package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// ApplyOptions are the inputs of `cmca apply`.
type ApplyOptions struct {
	F        *Factory
	Record   applicationRecord
	Set      map[string]bool // flags given on the command line, by field
	FromFile string
	Partial  bool
	NoLookup bool
	Counter  counterOptions // counter.go
}

// applicationRecord is one application as flags and files spell it: flat,
// with the field names documented in docs/cli.md.
type applicationRecord struct {
	Name              string `json:"name" yaml:"name"`
	Surname           string `json:"surname,omitempty" yaml:"surname,omitempty"`
	GivenName         string `json:"given_name,omitempty" yaml:"given_name,omitempty"`
	IDType            string `json:"id_type" yaml:"id_type"`
	IDNumber          string `json:"id_number" yaml:"id_number"`
	Mobile            string `json:"mobile" yaml:"mobile"`
	Email             string `json:"email" yaml:"email"`
	Address           string `json:"address,omitempty" yaml:"address,omitempty"`
	UsageType         string `json:"usage_type" yaml:"usage_type"`
	AcceptancePoint   string `json:"acceptance_point" yaml:"acceptance_point"`
	Storage           string `json:"storage" yaml:"storage"`
	AgentName         string `json:"agent_name,omitempty" yaml:"agent_name,omitempty"`
	AgentIDType       string `json:"agent_id_type,omitempty" yaml:"agent_id_type,omitempty"`
	AgentIDNumber     string `json:"agent_id_number,omitempty" yaml:"agent_id_number,omitempty"`
	AgreementAccepted bool   `json:"agreement_accepted" yaml:"agreement_accepted"`
	Comment           string `json:"comment,omitempty" yaml:"comment,omitempty"`
	Line              int    `json:"-" yaml:"-"` // CSV: the line the record starts on (csv.go)
	// reused maps the fields taken from a returning applicant's stored
	// profile to the masked value shown (prefill); the service fills them.
	reused map[string]string
}

// reuse lists the reused fields in form order.
func (r applicationRecord) reuse() []string {
	var out []string
	for _, f := range service.ReusableFields {
		if _, ok := r.reused[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// shown is a field's value for a summary: the masked stored value when it
// is reused.
func (r applicationRecord) shown(field, v string) string {
	if m, ok := r.reused[field]; ok {
		return m + " (stored)"
	}
	return v
}

// fieldFlags maps form fields to the flags that set them, so errors name
// the flag a script should pass.
var fieldFlags = map[string]string{
	"name": "--name", "surname": "--surname", "given_name": "--given-name", "id_type": "--id-type", "id_number": "--id-number", "mobile": "--mobile", "email": "--email",
	"address": "--address", "usage_type": "--usage", "acceptance_point": "--acceptance-point", "storage": "--storage",
	"agent_name": "--agent-name", "agent_id_type": "--agent-id-type", "agent_id_number": "--agent-id-number",
	"agreement_accepted": "--agree", "comment": "--comment",
}

func (r applicationRecord) application() (service.Application, error) {
	a := service.Application{
		Applicant: ra.Applicant{Name: r.Name, Surname: r.Surname, GivenName: r.GivenName, IDNumber: r.IDNumber,
			Mobile: r.Mobile, Email: r.Email, Address: r.Address},
		UsageType:         r.UsageType,
		AcceptancePoint:   r.AcceptancePoint,
		Storage:           ra.Storage(r.Storage),
		AgreementAccepted: r.AgreementAccepted,
		Comment:           r.Comment,
		Reuse:             r.reuse(),
	}
	// A file may leave the ID types out, as the flags may: resident ID card.
	if r.IDType == "" {
		r.IDType = string(ra.IDResident)
	}
	if r.AgentIDType == "" {
		r.AgentIDType = string(ra.IDResident)
	}
	if r.IDType != "" {
		t, err := ra.ParseIDType(r.IDType)
		if err != nil {
			return a, err
		}
		a.Applicant.IDType = t
	}
	if r.AgentName != "" || r.AgentIDNumber != "" {
		ag := &ra.Agent{Name: r.AgentName, IDNumber: r.AgentIDNumber}
		if r.AgentIDType != "" {
			t, err := ra.ParseIDType(r.AgentIDType)
			if err != nil {
				return a, &ra.FieldError{Field: "agent_id_type", Msg: err.Error()}
			}
			ag.IDType = t
		}
		a.Agent = ag
	}
	return a, nil
}

// missing lists required fields that are empty.
func (r applicationRecord) missing() []string {
	var m []string
	for _, f := range []struct{ name, v string }{{"name", r.Name}, {"id_number", r.IDNumber}, {"mobile", r.Mobile},
		{"email", r.Email}, {"usage_type", r.UsageType}, {"acceptance_point", r.AcceptancePoint}, {"storage", r.Storage}} {
		if _, ok := r.reused[f.name]; strings.TrimSpace(f.v) == "" && !ok {
			m = append(m, f.name)
		}
	}
	if !r.AgreementAccepted {
		m = append(m, "agreement_accepted")
	}
	return m
}

func NewCmdApply(f *Factory, runF func(*ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{F: f}
	rec := &opts.Record
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply for a personal certificate (个人证书申请)",
		Long: `Submit an application for a personal certificate.

Give the fields as flags, as a JSON or YAML file of one or many applications
(--from-file, "-" for stdin), or, on a terminal, fill in the form. A returning
applicant is looked up by ID type and number first, and their stored data
fills the fields not given. Prints the reference number (业务受理号) to quote
in later steps.`,
		Example: `  cmca apply --name 张三 --surname 张 --given-name 三 --id-type resident --id-number 11010519491231002X \
    --mobile 13812345678 --email zhang@example.com --usage auth \
    --acceptance-point online --storage soft --agree
  cmca apply --from-file applications.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Set = map[string]bool{}
			for field, flag := range fieldFlags {
				if cmd.Flags().Changed(strings.TrimPrefix(flag, "--")) {
					opts.Set[field] = true
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return applyRun(cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rec.Name, "name", "", "applicant's full name as on the ID document")
	fl.StringVar(&rec.Surname, "surname", "", "surname (姓), with --given-name; together they spell --name (optional)")
	fl.StringVar(&rec.GivenName, "given-name", "", "given name (名), with --surname (optional)")
	fl.StringVar(&rec.IDType, "id-type", "resident", "ID document: resident, passport, hk-macau, taiwan, hmt-residence")
	fl.StringVar(&rec.IDNumber, "id-number", "", "ID document number")
	fl.StringVar(&rec.Mobile, "mobile", "", "mobile number")
	fl.StringVar(&rec.Email, "email", "", "email address (goes into the certificate)")
	fl.StringVar(&rec.Address, "address", "", "postal address (optional)")
	fl.StringVar(&rec.UsageType, "usage", "", "certificate usage type (证书使用类型), e.g. auth, email, sign")
	fl.StringVar(&rec.AcceptancePoint, "acceptance-point", "", "acceptance point (申请受理点) handling the application")
	fl.StringVar(&rec.Storage, "storage", "", "key storage: usbkey (PKCS#11 token) or soft (PKCS#12 file)")
	fl.StringVar(&rec.AgentName, "agent-name", "", "agent's name, when an agent (经办人) applies for the applicant")
	fl.StringVar(&rec.AgentIDType, "agent-id-type", "resident", "agent's ID document type")
	fl.StringVar(&rec.AgentIDNumber, "agent-id-number", "", "agent's ID number")
	fl.BoolVar(&rec.AgreementAccepted, "agree", false, "accept the subscriber agreement (read it with: cmca agreement)")
	fl.StringVar(&rec.Comment, "comment", "", "note for the reviewer")
	fl.StringVar(&opts.FromFile, "from-file", "", "read applications from a JSON, YAML or CSV file (- for stdin: JSON or YAML)")
	fl.BoolVar(&opts.Partial, "partial", false, "with --from-file: submit the valid applications even if some are invalid")
	fl.BoolVar(&opts.NoLookup, "no-lookup", false, "do not pre-fill from a returning applicant's stored data")
	opts.Counter.addFlags(fl)
	return cmd
}

func applyRun(cmd *cobra.Command, o *ApplyOptions) error {
	ctx := cmd.Context()
	f := o.F
	api, err := f.API(ctx)
	if err != nil {
		return err
	}
	if err := o.Counter.begin(cmd, f, api, o); err != nil {
		return err
	}
	var apps []service.Application
	var fileRecs []applicationRecord // to name CSV lines in errors
	if o.FromFile != "" {
		if len(o.Set) > 0 {
			return usagef("--from-file cannot be combined with field flags; put every field in the file")
		}
		recs, err := readApplications(f, o.FromFile)
		if err != nil {
			return err
		}
		fileRecs = recs
		for i, r := range recs {
			a, err := r.application()
			if err != nil {
				if len(recs) == 1 {
					return err
				}
				return errorf("application #%d%s: %w", i+1, r.where(), err)
			}
			apps = append(apps, a)
		}
	} else {
		rec := o.Record
		// Counter mode takes the data from the applicant and the documents
		// the operator checks: nothing is reused from a stored profile.
		if !o.NoLookup && !o.Counter.active && rec.IDNumber != "" {
			prefill(ctx, f, api, &rec, o.Set)
		}
		if miss := rec.missing(); len(miss) > 0 {
			if !f.IO.CanPrompt() {
				var flags []string
				for _, m := range miss {
					flags = append(flags, fieldFlags[m])
				}
				return usagef("missing %s (no terminal to prompt on: pass them as flags, or use --from-file)", strings.Join(flags, ", "))
			}
			if err := runApplyFormUntilValid(ctx, f, api, &rec, o); err != nil {
				return err
			}
		}
		a, err := rec.application()
		if err != nil {
			return err
		}
		if err := o.Counter.confirmDocuments(ctx, f, api, &a); err != nil {
			return err
		}
		apps = []service.Application{a}
	}
	bar := f.newProgress("submitting applications", len(apps)) // output.go: terminal only
	results, err := api.Apply(service.WithProgress(ctx, func(done, _ int) { bar.set(done) }), apps, o.Partial)
	bar.done()
	annotateLines(fileRecs, results, err) // csv.go
	var be *service.BatchError
	if errors.As(err, &be) && f.JSON() {
		_ = f.PrintJSON(map[string]any{"submitted": 0, "results": results})
	}
	if err != nil {
		if be != nil && !o.Partial {
			// The service names no flag; the remedy is the command line's.
			return errorf("%w\n(pass --partial to submit the valid ones)", err)
		}
		return err
	}
	if o.Counter.active {
		return o.Counter.finish(ctx, f, api, results[0])
	}
	return printApplyResults(f, results)
}

// runApplyFormUntilValid runs the form and checks the whole application
// before anything is stored. A field that is still wrong (a flag's value the
// form did not ask, or a rule only the whole application shows) does not
// throw the typed answers away: the form opens again, filled in, and asks
// that field too. A refused agreement ends it.
func runApplyFormUntilValid(ctx context.Context, f *Factory, api API, rec *applicationRecord, o *ApplyOptions) error {
	const attempts = 5
	if o.Set["usage_type"] { // a flag's usage the form would not ask: check it first
		if _, err := api.Config().Profile(rec.UsageType); err != nil {
			f.Warnf("--usage %s: %v\nThe form asks for the usage type.\n", rec.UsageType, err)
			delete(o.Set, "usage_type")
		}
	}
	for i := 1; ; i++ {
		err := runApplyForm(ctx, f, api, rec, o, i < attempts)
		var fix *fixField
		if !errors.As(err, &fix) {
			return err
		}
		f.Warnf("%v\nThe form opens again with your answers: fix %s (%s).\n", fix.err, strings.ReplaceAll(fix.field, "_", " "), fieldFlags[fix.field])
		delete(o.Set, fix.field) // ask it even if a flag gave it
	}
}

// fixField is a form's answers that fail on one field once the whole
// application is checked, before the confirmation page.
type fixField struct {
	field string
	err   error
}

func (e *fixField) Error() string { return e.field + ": " + e.err.Error() }

// checkApplication validates rec as Apply will, and names the form field
// at fault ("" when the error is not one field's).
func checkApplication(api API, rec *applicationRecord) (string, error) {
	if rec.UsageType != "" {
		if _, err := api.Config().Profile(rec.UsageType); err != nil {
			return "usage_type", err
		}
	}
	a, err := rec.application()
	if err == nil {
		_, err = api.Validate(a)
	}
	var fe *ra.FieldError
	if errors.As(err, &fe) {
		if _, ok := fieldFlags[fe.Field]; ok {
			return fe.Field, err
		}
	}
	return "", err
}

func printApplyResults(f *Factory, results []service.ApplyResult) error {
	n := 0
	for _, r := range results {
		if r.Error == nil {
			n++
		}
	}
	if f.JSON() {
		if len(results) == 1 {
			return f.PrintJSON(results[0])
		}
		return f.PrintJSON(map[string]any{"submitted": n, "failed": len(results) - n, "results": results})
	}
	for _, r := range results {
		switch {
		case r.Error != nil:
			f.Warnf("application #%d not submitted: %s\n", r.Index, r.Error.Error)
		case f.Quiet():
			f.Printf("%s\n", r.Ref)
		case len(results) == 1:
			f.Printf("Application submitted.\nReference number (业务受理号): %s\nState: %s — an operator will review it; check with `cmca status %s`.\n", r.Ref, r.State, r.Ref)
		default:
			f.Printf("%s\t%s\n", r.Ref, r.State)
		}
	}
	if len(results) > 1 && !f.Quiet() {
		f.Warnf("%d of %d applications submitted\n", n, len(results))
	}
	return nil
}

// prefill marks the empty identity fields a returning applicant's stored
// profile (the data of their last approved application) will fill, and
// shows them masked: the values themselves are filled in by the service
// and never shown.
func prefill(ctx context.Context, f *Factory, api API, rec *applicationRecord, set map[string]bool) {
	t, err := ra.ParseIDType(rec.IDType)
	if err != nil {
		return
	}
	a, err := api.Lookup(ctx, t, rec.IDNumber)
	if err != nil {
		return
	}
	var used []string
	fill := func(field string, cur, masked string) {
		if !set[field] && cur == "" && masked != "" {
			if rec.reused == nil {
				rec.reused = map[string]string{}
			}
			rec.reused[field] = masked
			used = append(used, f.T(field)+" "+masked)
		}
	}
	fill("name", rec.Name, a.Name)
	if _, ok := rec.reused["name"]; ok && rec.Surname == "" && rec.GivenName == "" {
		// The stored parts come with the stored name (service.reuseStored).
		fill("surname", "", a.Surname)
		fill("given_name", "", a.GivenName)
	}
	fill("mobile", rec.Mobile, a.Mobile)
	fill("email", rec.Email, a.Email)
	fill("address", rec.Address, a.Address)
	if len(used) > 0 && !f.JSON() {
		f.Warnf("Returning applicant: using stored %s.\n", sanitize(strings.Join(used, ", ")))
	}
}

// readApplications parses a JSON or YAML file: one application, a list, or
// {"applications": [...]}. Unknown fields and wrong types are errors with
// their position.
func readApplications(f *Factory, path string) ([]applicationRecord, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = f.IO.ReadStdin()
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usagef("read %s: %v", path, err)
	}
	recs, err := parseApplications(data, strings.ToLower(filepath.Ext(path)))
	if err != nil {
		return nil, errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, &ra.FieldError{Field: "from-file", Msg: path + " holds no application"}
	}
	return recs, nil
}

func parseApplications(data []byte, ext string) ([]applicationRecord, error) {
	recs, err := parseApplicationsAs(data, ext)
	if err != nil {
		return nil, err
	}
	// Invalid UTF-8 is refused here, naming the record and field, rather
	// than being silently replaced by U+FFFD on its way to the validators.
	for i, r := range recs {
		for _, f := range r.textFields() {
			if !utf8.ValidString(f.value) {
				where := fmt.Sprintf("application #%d", i+1)
				if r.Line > 0 {
					where = fmt.Sprintf("line %d", r.Line)
				}
				return nil, ra.Fieldf("from-file", "%s: %s: not valid UTF-8", where, f.name)
			}
		}
	}
	return recs, nil
}

// textFields lists the record's string fields by their file names.
func (r applicationRecord) textFields() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"name", r.Name}, {"surname", r.Surname}, {"given_name", r.GivenName}, {"id_type", r.IDType}, {"id_number", r.IDNumber}, {"mobile", r.Mobile}, {"email", r.Email},
		{"address", r.Address}, {"usage_type", r.UsageType}, {"acceptance_point", r.AcceptancePoint}, {"storage", r.Storage},
		{"agent_name", r.AgentName}, {"agent_id_type", r.AgentIDType}, {"agent_id_number", r.AgentIDNumber}, {"comment", r.Comment},
	}
}

func parseApplicationsAs(data []byte, ext string) ([]applicationRecord, error) {
	if ext == ".csv" {
		return parseCSVApplications(data) // csv.go
	}
	trimmed := bytes.TrimSpace(data)
	if ext == ".json" || (ext != ".yaml" && ext != ".yml" && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')) {
		return parseJSONApplications(trimmed)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, &ra.FieldError{Field: "from-file", Msg: err.Error()}
	}
	if len(node.Content) == 0 {
		return nil, nil
	}
	doc := node.Content[0]
	if doc.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == "applications" {
				doc = doc.Content[i+1]
				break
			}
		}
	}
	// Decode from the node itself, so errors carry the file's line numbers.
	strict := func(n *yaml.Node, dst any) error {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; fieldFlags[k.Value] == "" {
					return errorf("line %d: unknown field %q", k.Line, k.Value)
				}
			}
		}
		return n.Decode(dst)
	}
	var out []applicationRecord
	if doc.Kind == yaml.SequenceNode {
		for i, item := range doc.Content {
			var r applicationRecord
			if err := strict(item, &r); err != nil {
				return nil, ra.Fieldf("from-file", "application #%d: %s", i+1, yamlMsg(err))
			}
			out = append(out, r)
		}
		return out, nil
	}
	var r applicationRecord
	if err := strict(doc, &r); err != nil {
		return nil, &ra.FieldError{Field: "from-file", Msg: yamlMsg(err)}
	}
	return []applicationRecord{r}, nil
}

func yamlMsg(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

func parseJSONApplications(data []byte) ([]applicationRecord, error) {
	if len(data) == 0 {
		return nil, nil // an empty .json file holds no application
	}
	strict := func(b []byte, dst any) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return err
		}
		if dec.More() {
			return errors.New("unexpected data after the JSON value")
		}
		return nil
	}
	var wrapper struct {
		Applications []json.RawMessage `json:"applications"`
	}
	var items []json.RawMessage
	switch {
	case data[0] == '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, &ra.FieldError{Field: "from-file", Msg: jsonMsg(data, err)}
		}
	case json.Unmarshal(data, &wrapper) == nil && wrapper.Applications != nil:
		items = wrapper.Applications
	default:
		items = []json.RawMessage{data}
	}
	out := make([]applicationRecord, 0, len(items))
	for i, it := range items {
		var r applicationRecord
		if err := strict(it, &r); err != nil {
			return nil, ra.Fieldf("from-file", "application #%d: %s", i+1, jsonMsg(it, err))
		}
		out = append(out, r)
	}
	return out, nil
}

func jsonMsg(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n")) + 1
		return fmt.Sprintf("line %d: %v", line, err)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
