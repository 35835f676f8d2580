package cli_test

// Tests of the terminal experience in a real terminal: cmca runs inside a
// detached tmux session, keys go in with send-keys and the screen comes back
// with capture-pane. They need tmux; with CI set, a missing tmux fails.

import (
	"encoding/json"
	"github.com/cmca/cmca/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/token"
)

// cmcaEnv is a built cmca with a throwaway home and config.
type cmcaEnv struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	sock string
}

func newCmcaEnv(t *testing.T, bin string, config string) *cmcaEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &cmcaEnv{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "tmux.sock")}
	e.env = []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg"), "CMCA_HOME=" + filepath.Join(dir, "home"),
		"CMCA_CONFIG=" + cfg, "CMCA_OPERATOR=alice", "CMCA_CA_ORGANIZATION=Terminal Test Org", "CMCA_CA_COUNTRY=CN", "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TERM=xterm-256color"}
	pg := storeEnv(t)
	e.env = append(e.env, pg...)
	e.run("init", "--ca-name", "Terminal Test CA")
	if _, err := os.Stat(filepath.Join(dir, "home", "ra.db")); pg != nil && err == nil {
		t.Fatal("CMCA_TEST_STORE=postgres, and init made home/ra.db")
	}
	return e
}

// run runs cmca without a terminal and returns stdout.
func (e *cmcaEnv) run(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	cmd.Dir = e.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("cmca %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (e *cmcaEnv) runJSON(v any, args ...string) {
	e.t.Helper()
	out := e.run(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("cmca %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// apply submits a valid application with flags and returns its reference.
func (e *cmcaEnv) apply(name, id, storage string) string {
	e.t.Helper()
	var r struct{ Ref string }
	e.runJSON(&r, "apply", "--name", name, "--id-type", "passport", "--id-number", id, "--mobile", "13812345678", "--email", "a@example.com",
		"--usage", "auth", "--acceptance-point", "online", "--storage", storage, "--agree", "--no-lookup")
	return r.Ref
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// tmux starts cmca with args in a 120x40 terminal. The shell prints EXIT=n
// when cmca ends and keeps the pane open.
func (e *cmcaEnv) tmux(args ...string) *pane {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("env -i")
	for _, kv := range e.env {
		b.WriteString(" " + shellQuote(kv))
	}
	b.WriteString(" " + shellQuote(e.bin))
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("; echo EXIT=$?; sleep 600")
	cmd := exec.Command("tmux", "-S", e.sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-c", e.dir, b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	// The server exits by itself when its last pane closes; kill-server
	// then fails, which is fine: the cleanup only makes sure it is gone.
	e.t.Cleanup(func() { _ = exec.Command("tmux", "-S", e.sock, "kill-server").Run() })
	return &pane{t: e.t, sock: e.sock}
}

type pane struct {
	t    *testing.T
	sock string
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the terminal shows now.
func (p *pane) screen() string { return p.tmux("capture-pane", "-p", "-J", "-S", "-200") }

// waitFor returns the screen once it contains want, or fails the test
// showing the screen.
func (p *pane) waitFor(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.screen()
		if strings.Contains(s, want) {
			return s
		}
		if m := regexp.MustCompile(`EXIT=(\d+)`).FindStringSubmatch(s); m != nil && !strings.Contains(want, "EXIT=") {
			p.t.Fatalf("cmca ended (%s) before the screen showed %q:\n%s", m[0], want, s)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the screen never showed %q:\n%s", want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// focus waits until the form's focused field (huh marks it with ┃) is
// title, so keys never land in the previous field.
func (p *pane) focus(title string) {
	p.t.Helper()
	p.waitFor("┃ " + title)
}

// fill waits for the field to have focus, types the text and presses Enter.
func (p *pane) fill(title, text string) {
	p.t.Helper()
	p.focus(title)
	if text != "" {
		p.text(text)
	}
	p.keys("Enter")
}

// keys sends named keys (Enter, Down, ...); text sends literal text.
func (p *pane) keys(k ...string) { p.tmux(append([]string{"send-keys", "-t", "0"}, k...)...) }
func (p *pane) text(s string)    { p.tmux("send-keys", "-t", "0", "-l", s) }

// answer waits for a prompt, types the text and presses Enter.
func (p *pane) answer(prompt, text string) {
	p.t.Helper()
	p.waitFor(prompt)
	if text != "" {
		p.text(text)
	}
	p.keys("Enter")
}

func needTmux(t *testing.T) {
	t.Helper()
	testtool.Need(t, "tmux")
}

func buildCmca(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cmca")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cmca/cmca/cmd/cmca").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type listed struct {
	Ref       string `json:"ref"`
	State     string `json:"state"`
	Storage   string `json:"storage"`
	UsageType string `json:"usage_type"`
	Point     string `json:"acceptance_point"`
	Decision  string `json:"decision_reason"`
	Applicant struct {
		Name      string `json:"name"`
		Surname   string `json:"surname"`
		GivenName string `json:"given_name"`
		Email     string `json:"email"`
	} `json:"applicant"`
}

func TestTerminal(t *testing.T) {
	needTmux(t)
	if testing.Short() {
		t.Skip("builds cmca and drives it in tmux")
	}
	bin := buildCmca(t)

	t.Run("apply form", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "crl:\n  distribution_points: [http://crl.example.com/ca.crl]\n") // S/MIME (email) needs one
		p := e.tmux("apply")
		p.focus("ID document type")
		p.keys("Enter") // resident identity card
		p.fill("ID number", "11010519491231002X")
		p.fill("Full name", "张三")
		p.fill("Surname (姓), optional", "张")
		// Checked as it is typed: the parts must spell the full name.
		p.fill("Given name (名), optional", "四")
		s := p.waitFor(`do not make the name "张三"`)
		if !strings.Contains(s, "┃ Given name") {
			t.Errorf("a given name that does not fit the name left the field:\n%s", s)
		}
		p.keys("BSpace")
		p.text("三")
		p.keys("Enter")
		p.fill("Mobile", "13812345678")
		// A bad email is refused inline with the validator the flags use.
		p.fill("Email", "not-an-email")
		p.waitFor("@") // the validator's message names the missing @
		for range len("not-an-email") {
			p.keys("BSpace")
		}
		p.text("zhang@example.com")
		p.keys("Enter")
		p.fill("Address", "") // optional, empty
		p.focus("Certificate usage type")
		p.keys("Down", "Enter") // email
		p.focus("Acceptance point")
		p.keys("Down", "Enter") // head-office
		p.focus("Key storage")
		p.keys("Down", "Enter") // soft
		p.focus("Is an agent")
		p.keys("Enter") // no agent
		p.waitFor("Do you accept the subscriber agreement?")
		s = p.screen()
		if !strings.Contains(s, "keep your private key") {
			t.Errorf("the agreement text is not shown:\n%s", s)
		}
		// y chooses, it does not submit: the page stays until Enter.
		p.keys("y")
		time.Sleep(300 * time.Millisecond)
		if s := p.screen(); strings.Contains(s, "Submit the application?") {
			t.Fatalf("a bare y submitted the agreement page:\n%s", s)
		}
		p.keys("Enter")
		s = p.waitFor("Submit the application?")
		for _, want := range []string{"Name: 张三", "Surname (姓): 张; given name (名): 三", "Usage: email", "Acceptance point: head-office", "Storage: soft"} {
			if !strings.Contains(s, want) {
				t.Errorf("confirmation page lacks %q:\n%s", want, s)
			}
		}
		p.keys("Enter")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "Reference number") {
			t.Fatalf("apply did not succeed:\n%s", s)
		}
		var rs []listed
		e.runJSON(&rs, "review")
		if len(rs) != 1 || rs[0].Applicant.Name != "张三" || rs[0].Applicant.Surname != "张" || rs[0].Applicant.GivenName != "三" ||
			rs[0].UsageType != "email" || rs[0].Point != "head-office" || rs[0].Storage != "soft" {
			t.Fatalf("stored requests = %+v; want one from 张三 (张 + 三), email, head-office, soft", rs)
		}

		// A returning applicant (once approved): the lookup reuses name,
		// mobile and email, shown masked and not asked for.
		e.run("approve", rs[0].Ref)
		p = e.tmux("apply")
		p.focus("ID document type")
		p.keys("Enter")
		p.fill("ID number", "11010519491231002X")
		s = p.waitFor("reusing your stored data")
		for _, want := range []string{"name: 张*", "mobile: 138****5678", "email: z***@example.com"} {
			if !strings.Contains(s, want) {
				t.Errorf("the form lacks the masked %q:\n%s", want, s)
			}
		}
		if strings.Contains(s, "zhang@example.com") || strings.Contains(s, "13812345678") || strings.Contains(s, "┃ Full name") || strings.Contains(s, "┃ Surname") {
			t.Errorf("the form shows stored data in full, or asks for it again:\n%s", s)
		}
		p.keys("C-c")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=130") {
			t.Errorf("Ctrl-C at the form: want exit 130:\n%s", s)
		}
		e.runJSON(&rs, "review", "--state", "all")
		if len(rs) != 1 {
			t.Errorf("a cancelled form stored a request: %+v", rs)
		}
	})

	t.Run("apply accessible", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		p := e.tmux("apply", "--accessible")
		p.answer("Enter a number between 1 and 5", "2") // passport
		p.answer("ID number", "E12345678")
		p.answer("Full name", "John Smith")
		p.answer("Surname (姓), optional", "")
		p.answer("Given name (名), optional", "")
		p.answer("Mobile", "13812345678")
		p.answer("Email", "john@example.com")
		p.answer("Address", "")
		p.answer("Enter a number between 1 and 3", "1") // auth
		p.answer("Enter a number between 1 and 2", "1") // online
		p.waitFor("Key storage")
		p.answer("Enter a number between 1 and 2", "2") // soft
		p.answer("applying on the applicant's behalf", "n")
		p.answer("Do you accept the subscriber agreement?", "y")
		s := p.waitFor("Submit the application?")
		if !strings.Contains(s, "Name: John Smith") || !strings.Contains(s, "ID: passport E12345678") {
			t.Errorf("accessible confirmation page:\n%s", s)
		}
		p.keys("Enter")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") {
			t.Fatalf("accessible apply failed:\n%s", s)
		}
		if strings.Contains(s, "\x1b[") {
			t.Errorf("accessible mode drew with escape codes")
		}
		var rs []listed
		e.runJSON(&rs, "review")
		if len(rs) != 1 || rs[0].Applicant.Name != "John Smith" || rs[0].Storage != "soft" {
			t.Fatalf("stored = %+v; want John Smith, soft", rs)
		}

		// Refusing the agreement stores nothing and says why.
		p = e.tmux("apply", "--accessible", "--name", "Li Si", "--id-type", "passport", "--id-number", "E87654321",
			"--mobile", "13812345678", "--email", "li@example.com", "--usage", "auth", "--acceptance-point", "online", "--storage", "soft")
		p.answer("Enter a number between 1 and 5", "")
		for range 6 { // ID number, name, surname, given name, mobile, email: keep the flags' values
			p.keys("Enter")
		}
		p.answer("Address", "")
		// Usage, acceptance point and storage came as flags: not asked.
		p.answer("applying on the applicant's behalf", "n")
		p.answer("Do you accept the subscriber agreement?", "n")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=2") || !strings.Contains(s, "agreement must be accepted") {
			t.Errorf("refused agreement: want exit 2 and the reason:\n%s", s)
		}
		if strings.Contains(s, "Key storage") || strings.Contains(s, "Acceptance point (") {
			t.Errorf("the form asked again for what flags gave:\n%s", s)
		}
		e.runJSON(&rs, "review")
		if len(rs) != 1 {
			t.Errorf("refusing the agreement stored a request: %+v", rs)
		}
	})

	t.Run("apply form checks each field", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "") // no crl.distribution_points: the email (S/MIME) usage cannot be issued
		p := e.tmux("apply", "--usage", "email", "--acceptance-point", "online", "--storage", "soft")
		// The flag's usage is refused before the form, which then asks it.
		p.waitFor("--usage email: usage type email issues S/MIME certificates")
		p.focus("ID document type")
		p.keys("Enter")
		p.fill("ID number", "11010519491231002X")
		p.fill("Full name", "张三")
		p.fill("Surname (姓), optional", "")
		p.fill("Given name (名), optional", "")
		p.fill("Mobile", "13812345678")
		p.fill("Email", "zhang@example.com")
		p.fill("Address", "")
		p.focus("Certificate usage type")
		p.keys("Enter") // email, the flag's value: refused at this field, naming the config key
		s := p.waitFor("* usage type email issues S/MIME certificates, which need a CRL distribution point: set crl.distribution_points")
		if !strings.Contains(s, "┃ Certificate usage type") {
			t.Errorf("the refused usage left the field:\n%s", s)
		}
		p.keys("Up", "Enter") // auth
		p.focus("Is an agent")
		p.keys("Enter")
		p.waitFor("Do you accept the subscriber agreement?")
		p.keys("y", "Enter")
		s = p.waitFor("Submit the application?")
		if !strings.Contains(s, "Name: 张三") || !strings.Contains(s, "Usage: auth") {
			t.Errorf("the answers were not kept:\n%s", s)
		}
		p.keys("Enter")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") {
			t.Fatalf("apply after fixing the usage:\n%s", s)
		}
		var rs []listed
		e.runJSON(&rs, "review")
		if len(rs) != 1 || rs[0].UsageType != "auth" || rs[0].Applicant.Name != "张三" {
			t.Errorf("stored = %+v; want one auth request from 张三", rs)
		}
	})

	t.Run("apply form offers to fix", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		// An unknown acceptance point from a flag shows only when the whole
		// application is checked: the answers are kept and the form asks it.
		p := e.tmux("apply", "--usage", "auth", "--acceptance-point", "mars", "--storage", "soft")
		p.focus("ID document type")
		p.keys("Enter")
		p.fill("ID number", "11010519491231002X")
		p.fill("Full name", "张三")
		p.fill("Surname (姓), optional", "")
		p.fill("Given name (名), optional", "")
		p.fill("Mobile", "13812345678")
		p.fill("Email", "zhang@example.com")
		p.fill("Address", "")
		p.focus("Is an agent")
		p.keys("Enter")
		// Checked whole before the agreement and confirmation pages.
		p.waitFor("The form opens again with your answers: fix acceptance point (--acceptance-point)")
		p.focus("ID document type")
		p.keys("Enter")
		for _, field := range []string{"ID number", "Full name", "Surname (姓), optional", "Given name (名), optional", "Mobile", "Email", "Address"} {
			p.fill(field, "") // kept
		}
		p.focus("Acceptance point")
		p.keys("Enter") // online
		p.focus("Is an agent")
		p.keys("Enter")
		p.waitFor("Do you accept the subscriber agreement?")
		p.keys("y", "Enter")
		s := p.waitFor("Submit the application?")
		if !strings.Contains(s, "Name: 张三") || !strings.Contains(s, "Acceptance point: online") {
			t.Errorf("the answers were not kept, or the point not fixed:\n%s", s)
		}
		p.keys("Enter")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") {
			t.Fatalf("apply after fixing the acceptance point:\n%s", s)
		}
	})

	t.Run("fast input keeps every Enter", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		p := e.tmux("apply", "--id-type", "passport", "--usage", "auth", "--acceptance-point", "online", "--storage", "soft")
		p.focus("ID document type")
		p.keys("Enter")
		p.fill("ID number", "E55667788")
		p.focus("Full name")
		// One burst, as an ID-card reader or a paste types it.
		p.keys("Fast Typist", "Enter", "Enter", "Enter", "13812345678", "Enter", "fast@example.com", "Enter", "Enter")
		p.focus("Is an agent")
		p.keys("Enter")
		p.waitFor("Do you accept the subscriber agreement?")
		p.keys("y", "Enter")
		s := p.waitFor("Submit the application?")
		for _, want := range []string{"Name: Fast Typist\n", "Mobile: 13812345678\n", "Email: fast@example.com\n"} {
			if !strings.Contains(s, strings.TrimSuffix(want, "\n")) {
				t.Errorf("fast input: the confirmation page lacks %q:\n%s", want, s)
			}
		}
		if strings.Contains(s, "Fast Typist1381") {
			t.Errorf("fast input ran two fields together:\n%s", s)
		}
		p.keys("Enter")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") {
			t.Fatalf("apply after fast input:\n%s", s)
		}
	})

	t.Run("counter form honours flags", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "counter:\n  issuers: [alice]\n")
		p := e.tmux("apply", "--counter", "--acceptance-point", "head-office", "--issue", "--out", "walk-in.p12")
		p.focus("ID document type")
		p.keys("Enter")
		p.fill("ID number", "11010519491231002X")
		p.fill("Full name", "赵六")
		p.fill("Surname (姓), optional", "赵")
		p.fill("Given name (名), optional", "六")
		p.fill("Mobile", "13812345678")
		p.fill("Email", "zhao@example.com")
		p.fill("Address", "")
		p.focus("Certificate usage type")
		s := p.screen()
		if strings.Contains(s, "Acceptance point (") || strings.Contains(s, "Key storage") {
			t.Errorf("the counter form asks for the acceptance point or storage that flags gave:\n%s", s)
		}
		p.keys("Enter") // auth
		p.focus("Is an agent")
		p.keys("Enter")
		p.waitFor("Do you accept the subscriber agreement?")
		p.keys("y", "Enter")
		s = p.waitFor("Submit the application?")
		if !strings.Contains(s, "Acceptance point: head-office") || !strings.Contains(s, "Storage: soft") {
			t.Errorf("--out walk-in.p12 must mean soft storage at head-office:\n%s", s)
		}
		p.keys("Enter")
		p.waitFor("checked the original identity documents in person")
		p.keys("y", "Enter")
		p.answer("New PKCS#12 password (at least 8 characters):", "walk-in secret 42")
		p.answer("Repeat new PKCS#12 password:", "walk-in secret 42")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") {
			t.Fatalf("counter walk-in from the form:\n%s", s)
		}
		if _, err := token.ReadPKCS12(filepath.Join(e.dir, "walk-in.p12"), []byte("walk-in secret 42")); err != nil {
			t.Errorf("walk-in.p12: %v", err)
		}
	})

	t.Run("init form", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		// A second home, and no organisation or country in the environment:
		// bare init asks for them.
		var env []string
		for _, kv := range e.env {
			if !strings.HasPrefix(kv, "CMCA_CA_") && !strings.HasPrefix(kv, "CMCA_HOME=") && !strings.HasPrefix(kv, "CMCA_STORE_URL=") {
				env = append(env, kv)
			}
		}
		e.env = append(append(env, "CMCA_HOME="+filepath.Join(e.dir, "home2")), storeEnv(t)...)
		p := e.tmux("init")
		p.fill("Organisation (O)", "Example CA Ltd")
		p.fill("Country (C)", "China")
		p.waitFor("not a two-letter country code")
		for range len("China") {
			p.keys("BSpace")
		}
		p.text("cn")
		p.keys("Enter")
		s := p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "O=Example CA Ltd,C=CN") {
			t.Fatalf("bare init on a terminal:\n%s", s)
		}
	})

	t.Run("accessible interrupts", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		// Ctrl-C at a line prompt ends cmca with 130 (docs/cli.md).
		p := e.tmux("apply", "--accessible")
		p.waitFor("Enter a number between 1 and 5")
		p.keys("C-c")
		s := p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=130") {
			t.Errorf("Ctrl-C in accessible mode: want exit 130:\n%s", s)
		}
		// The end of input after an out-of-range number: a clear message, no panic.
		p = e.tmux("apply", "--accessible")
		p.answer("Enter a number between 1 and 5", "9")
		p.waitFor("must be a number between 1 and 5")
		p.keys("C-d")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=130") || !strings.Contains(s, "input ended before the form was complete") || strings.Contains(s, "panic") {
			t.Errorf("end of input after an out-of-range answer:\n%s", s)
		}
		var rs []listed
		e.runJSON(&rs, "review")
		if len(rs) != 0 {
			t.Errorf("an interrupted form stored a request: %+v", rs)
		}
	})

	t.Run("review interactive", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		refs := []string{e.apply("One Applicant", "E10000001", "soft"), e.apply("Two Applicant", "E10000002", "soft"), e.apply("Three Applicant", "E10000003", "soft")}
		p := e.tmux("review", "--interactive")
		p.waitFor("Decision for " + refs[0])
		p.keys("Enter") // approve
		p.waitFor("Decision for " + refs[1])
		p.keys("Down", "Enter") // reject
		p.waitFor("Reason")
		p.text("ID copy unreadable")
		p.keys("Enter")
		p.waitFor("Decision for " + refs[2])
		p.keys("Down", "Down", "Enter") // skip
		s := p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "Reviewed 2 of 3") || !strings.Contains(s, refs[1]+": rejected") {
			t.Fatalf("review --interactive:\n%s", s)
		}
		var rs []listed
		e.runJSON(&rs, "review", "--state", "all")
		got := map[string]listed{}
		for _, r := range rs {
			got[r.Ref] = r
		}
		if got[refs[0]].State != "approved" || got[refs[1]].State != "rejected" || got[refs[2]].State != "submitted" {
			t.Errorf("states after review = %s %s %s; want approved rejected submitted", got[refs[0]].State, got[refs[1]].State, got[refs[2]].State)
		}
		if got[refs[1]].Decision != "ID copy unreadable" {
			t.Errorf("rejection reason = %q", got[refs[1]].Decision)
		}
	})

	t.Run("download secrets", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "")
		ref := e.apply("Soft Holder", "E20000001", "soft")
		e.run("approve", ref)
		var auth struct{ Passcode string }
		e.runJSON(&auth, "issue", ref)
		p := e.tmux("download", "--ref", ref, "--out", "me.p12")
		p.answer("Download passcode:", auth.Passcode)
		// A short password is refused at once and asked again, not after
		// the repeat and not by ending the command.
		p.answer("New PKCS#12 password (at least 8 characters):", "short")
		p.waitFor("The PKCS#12 password needs at least 8 characters; try again.")
		p.answer("New PKCS#12 password (at least 8 characters):", "first try 123")
		p.answer("Repeat new PKCS#12 password:", "something else")
		p.waitFor("differ")
		p.answer("New PKCS#12 password (at least 8 characters):", "correct horse battery")
		p.answer("Repeat new PKCS#12 password:", "correct horse battery")
		s := p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "Certificate issued") {
			t.Fatalf("download failed:\n%s", s)
		}
		for _, secret := range []string{auth.Passcode, "first try", "something else", "correct horse"} {
			if strings.Contains(s, secret) {
				t.Errorf("the screen echoed a secret %q:\n%s", secret, s)
			}
		}
		if _, err := token.ReadPKCS12(filepath.Join(e.dir, "me.p12"), []byte("correct horse battery")); err != nil {
			t.Errorf("me.p12 does not open with the password typed twice: %v", err)
		}
	})

	t.Run("counter walk-in", func(t *testing.T) {
		e := newCmcaEnv(t, bin, "counter:\n  acceptance_point: head-office\n  issuers: [alice]\n")
		p := e.tmux("apply", "--issue", "--name", "王五", "--id-number", "11010519491231002X", "--mobile", "13812345678",
			"--email", "wang@example.com", "--usage", "auth", "--storage", "soft", "--agree", "--out", "wang.p12")
		s := p.waitFor("checked the original identity documents in person")
		if !strings.Contains(s, "11010519491231002X") {
			t.Errorf("the documents question does not show the ID to check:\n%s", s)
		}
		// y then Enter, as the hint suggests: the Enter must not leak into
		// the password prompt as an empty first password.
		p.keys("y")
		time.Sleep(200 * time.Millisecond) // a person's pace
		p.keys("Enter")
		p.waitFor("Hand the keyboard to the applicant")
		p.waitFor("New PKCS#12 password (at least 8 characters):")
		time.Sleep(300 * time.Millisecond)
		if s := p.screen(); strings.Contains(s, "Repeat new PKCS#12 password") || strings.Contains(s, "try again") {
			t.Fatalf("the Enter after y reached the password prompt:\n%s", s)
		}
		p.text("walk-in secret 42")
		p.keys("Enter")
		p.answer("Repeat new PKCS#12 password:", "walk-in secret 42")
		s = p.waitFor("EXIT=")
		if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "approved, issued and collected") {
			t.Fatalf("counter walk-in failed:\n%s", s)
		}
		if strings.Contains(s, "walk-in secret") {
			t.Errorf("the password was echoed:\n%s", s)
		}
		if _, err := token.ReadPKCS12(filepath.Join(e.dir, "wang.p12"), []byte("walk-in secret 42")); err != nil {
			t.Errorf("wang.p12: %v", err)
		}
		audit := e.run("audit", "list", "-o", "json")
		if !strings.Contains(audit, "documents checked by alice") || !strings.Contains(audit, "counter=head-office") {
			t.Errorf("audit lacks the counter check:\n%s", audit)
		}
	})
}
