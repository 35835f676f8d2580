package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/testtool"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverLeak runs a full flow (soft and token enrollment, wrong
// passcode, wrong password and PIN, renewal, revocation with proof of
// possession, CRL, queries, doctor, backup) and then looks for the
// passcodes, the PKCS#12 password and the token PIN everywhere they must
// not be: every stdout and stderr (except the one `issue` output that hands
// the passcode to the operator), the audit log as JSON, a full `sqlite3
// .dump` of the store (pg_dump's under CMCA_TEST_STORE=postgres), the raw
// bytes of the database, its WAL and the backup file.
func TestSecretsNeverLeak(t *testing.T) {
	testtool.Need(t, append(softhsmTools, storeCLI()...)...)
	const password = "Tr0ub4dor-and-3-horses"
	const pin = "pin93817462"
	h := newHome(t, hookedCmca(t))
	h.write("pw.txt", password)
	h.write("pin.txt", pin)
	h.write("wrongpw.txt", "not-the-password-123")
	h.write("wrongpin.txt", "pin00000000")

	tokdir := h.path("tokens")
	if err := os.MkdirAll(tokdir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.write("softhsm2.conf", fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokdir))
	h.env = append(h.env, "SOFTHSM2_CONF="+h.path("softhsm2.conf"), "CMCA_TOKEN_MODULE="+softhsmModule)
	init := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "UserKey", "--so-pin", "so-pin-77123", "--pin", pin)
	init.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.path("softhsm2.conf"))
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}

	var outputs []result
	run := func(want int, args ...string) result {
		t.Helper()
		r := h.run(nil, args...)
		if r.code != want {
			t.Fatalf("%s\nexit %d; want %d", r, r.code, want)
		}
		outputs = append(outputs, r)
		return r
	}
	var passcodes []string
	issue := func(ref string) string {
		r := h.mustRun(nil, "issue", ref, "-o", "json") // the one place a passcode may appear
		var a struct{ Passcode string }
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a.Passcode == "" {
			t.Fatalf("%s\nno passcode", r)
		}
		passcodes = append(passcodes, a.Passcode)
		return a.Passcode
	}
	apply := func(storage string) string {
		r := run(0, "apply", "--name", "张三", "--id-type", "resident", "--id-number", "11010519491231002X", "--mobile", "13812345678",
			"--email", "zhang@example.com", "--usage", "auth", "--acceptance-point", "online", "--storage", storage, "--agree", "-q")
		ref := strings.TrimSpace(r.stdout)
		run(0, "approve", ref)
		return ref
	}

	soft := apply("soft")
	code := issue(soft)
	run(5, "download", "--ref", soft, "--passcode", "AAAA-BBBB-CCCC-DDDD-EEEE", "--out", "me.p12", "--password-file", "pw.txt")
	run(0, "download", "--ref", soft, "--passcode", code, "--out", "me.p12", "--password-file", "pw.txt", "-o", "json")
	run(4, "download", "--ref", soft, "--passcode", code, "--out", "again.p12", "--password-file", "pw.txt", "-o", "json")

	tok := apply("usbkey")
	tcode := issue(tok)
	run(5, "download", "--ref", tok, "--passcode", tcode, "--storage", "usbkey", "--token-label", "UserKey", "--pin-file", "wrongpin.txt")
	run(0, "download", "--ref", tok, "--passcode", tcode, "--storage", "usbkey", "--token-label", "UserKey", "--pin-file", "pin.txt", "-o", "json")

	run(5, "revoke", "--p12", "me.p12", "--password-file", "wrongpw.txt", "--reason", "keyCompromise")
	r := run(0, "revoke", "--p12", "me.p12", "--password-file", "pw.txt", "--reason", "keyCompromise", "-o", "json")
	var rv struct{ Ref string }
	if err := json.Unmarshal([]byte(r.stdout), &rv); err != nil || rv.Ref == "" {
		t.Fatalf("revoke -o json: %v\n%s", err, r.stdout)
	}
	run(0, "approve", rv.Ref, "--operator", "bob")
	run(0, "crl", "-o", "json")
	run(0, "status", soft, "-o", "json")
	run(0, "review", "--state", "all", "-o", "json")
	run(0, "certs", "-o", "json")
	run(0, "doctor", "-o", "json")
	dumpCmd := exec.Command("sqlite3", h.path("cmca/ra.db"), ".dump")
	if u := h.storeURL(); u != "" {
		// PostgreSQL: the whole database as pg_dump writes it (cmca
		// backup is SQLite's).
		dumpCmd = exec.Command("pg_dump", "-d", u)
	} else {
		run(0, "backup", "--out", "backup.db", "-o", "json")
	}
	audit := run(0, "audit", "list", "-o", "json")

	dump, err := dumpCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", dumpCmd, err, dump)
	}
	haystacks := map[string][]byte{"the store's dump": dump, "audit list": []byte(audit.stdout)}
	for _, f := range []string{"cmca/ra.db", "cmca/ra.db-wal", "backup.db"} {
		b, err := os.ReadFile(h.path(f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no WAL left after a checkpoint
		}
		if err != nil {
			t.Fatal(err)
		}
		haystacks[f] = b
	}
	for i, o := range outputs {
		haystacks[fmt.Sprintf("output %d (%s)", i, strings.Join(o.args, " "))] = []byte(o.stdout + o.stderr)
	}
	// Every log file under the user's home, at any depth.
	err = filepath.WalkDir(h.path("userhome"), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == h.path("userhome") {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		b, err := os.ReadFile(path)
		haystacks[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string]string{"PKCS#12 password": password, "token PIN": pin}
	for i, c := range passcodes {
		needles[fmt.Sprintf("passcode %d", i)] = c
		needles[fmt.Sprintf("passcode %d without dashes", i)] = strings.ReplaceAll(c, "-", "")
	}
	for where, hay := range haystacks {
		for what, secret := range needles {
			if bytes.Contains(bytes.ToUpper(hay), bytes.ToUpper([]byte(secret))) {
				t.Errorf("the %s appears in %s", what, where)
			}
		}
	}
	if len(haystacks) < 20 {
		t.Errorf("only %d places searched; the flow did not run", len(haystacks))
	}
}
