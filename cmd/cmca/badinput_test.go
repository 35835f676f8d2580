package main

import (
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// TestBadInputChangesNothing: each kind of bad input is refused with a
// specific message on stderr and its documented exit code (docs/cli.md:
// 2 invalid input, 3 not found, 4 wrong state, 5 authentication), and the
// store is exactly as before: same audit log, same requests, same
// certificates. The one deliberate exception is a wrong passcode, whose
// attempt is counted and logged (that is what locks a guessed passcode).
func TestBadInputChangesNothing(t *testing.T) {
	h := newHome(t, hookedCmca(t))
	_, revokedSerial := h.enroll()
	h.mustRun(nil, "revoke", "--serial", revokedSerial, "--reason", "superseded", "--direct", "--comment", "setup")
	doneRef, validSerial := h.enroll()
	issuedRef, code := h.applyApproveIssue("soft")
	lockedRef, lockedCode := h.applyApproveIssue("soft")
	wrong := "AAAA-BBBB-CCCC-DDDD-EEEE"
	for range 5 {
		h.run(nil, "download", "--ref", lockedRef, "--passcode", wrong, "--out", "l.p12", "--password-file", "pw.txt")
	}
	var sub struct{ Ref string }
	h.runJSON(&sub, "apply", "--name", "李四", "--id-number", "11010519491231002X", "--mobile", "13812345678",
		"--email", "li@example.com", "--usage", "auth", "--acceptance-point", "online", "--storage", "soft", "--agree")

	h.write("unknown.json", `{"name": "张三", "nickname": "x"}`)
	h.write("wrongtype.json", `{"name": 42}`)
	h.write("unknown.yaml", "name: 张三\nnickname: x\n")
	h.write("wrongtype.yaml", "name: [1, 2]\n")
	const header = "name,id_type,id_number,mobile,email,usage_type,acceptance_point,storage,agreement_accepted\n"
	const good = "张三,resident,11010519491231002X,13812345678,z@example.com,auth,online,soft,true\n"
	h.write("broken.csv", header+good+"李四,resident,11010519491231002X\n")
	h.write("invalid.csv", header+good+"李四,resident,110105194912310021,13812345678,l@example.com,auth,online,soft,true\n")
	h.write("badutf8.csv", header+"\xff\xfe,resident,11010519491231002X,13812345678,z@example.com,auth,online,soft,true\n"+good)
	h.write("unknowncol.csv", "name,nickname\nx,y\n")

	form := func(name, id, mobile, email string, extra ...string) []string {
		return append([]string{"apply", "--name", name, "--id-type", "resident", "--id-number", id, "--mobile", mobile,
			"--email", email, "--usage", "auth", "--acceptance-point", "online", "--storage", "soft", "--agree"}, extra...)
	}
	const id, mob, mail = "11010519491231002X", "13812345678", "z@example.com"
	dl := func(ref, pc string) []string {
		return []string{"download", "--ref", ref, "--passcode", pc, "--out", "x.p12", "--password-file", "pw.txt"}
	}
	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		stderr  string
		changes bool // the refusal is itself recorded
	}{
		{"ID wrong check digit", nil, form("张三", "110105194912310021", mob, mail), 2, "id_number: check digit is 1, expected X", false},
		{"ID impossible birth date", nil, form("张三", "11010519491332002X", mob, mail), 2, "birth date 19491332 does not exist", false},
		{"ID wrong length", nil, form("张三", "1101051949123100", mob, mail), 2, "must be 18 characters", false},
		{"bad mobile", nil, form("张三", id, "12345", mail), 2, "mobile: expected a mainland mobile number", false},
		{"bad email", nil, form("张三", id, mob, "not-an-email"), 2, "email: \"not-an-email\" is not a valid e-mail address", false},
		{"control character", nil, form("张\x01三", id, mob, mail), 2, "name: contains the control or format character U+0001", false},
		{"bidi override", nil, form("张\u202e三", id, mob, mail), 2, "U+202E", false},
		{"over-long name", nil, form(strings.Repeat("张", 65), id, mob, mail), 2, "name: is 65 characters long; at most 64", false},
		{"over-long comment", nil, form("张三", id, mob, mail, "--comment", strings.Repeat("x", 501)), 2, "comment: is 501 characters long; at most 500", false},
		{"invalid UTF-8 name", nil, form("\xff\xfe", id, mob, mail), 2, "name: not valid UTF-8", false},
		{"JSON unknown field", nil, []string{"apply", "--from-file", "unknown.json"}, 2, `unknown field "nickname"`, false},
		{"JSON wrong type", nil, []string{"apply", "--from-file", "wrongtype.json"}, 2, "cannot unmarshal number", false},
		{"YAML unknown field", nil, []string{"apply", "--from-file", "unknown.yaml"}, 2, `line 2: unknown field "nickname"`, false},
		{"YAML wrong type", nil, []string{"apply", "--from-file", "wrongtype.yaml"}, 2, "line 1: cannot unmarshal !!seq into string", false},
		{"CSV broken row", nil, []string{"apply", "--from-file", "broken.csv"}, 2, "line 3: wrong number of cells", false},
		{"CSV invalid row", nil, []string{"apply", "--from-file", "invalid.csv"}, 2, "line 3: id_number: check digit", false},
		{"CSV invalid UTF-8", nil, []string{"apply", "--from-file", "badutf8.csv"}, 2, "line 2: name: not valid UTF-8", false},
		{"CSV unknown column", nil, []string{"apply", "--from-file", "unknowncol.csv"}, 2, `line 1: column 2: unknown field "nickname"`, false},
		{"unknown reference", nil, dl("20260101-ZZZZZZZZ", code), 3, "no request 20260101-ZZZZZZZZ", false},
		{"malformed passcode", nil, dl(issuedRef, "123"), 2, "passcode", false},
		{"expired passcode", []string{"CMCA_TEST_NOW=+30d"}, dl(issuedRef, code), 5, "expired", false},
		{"locked passcode", nil, dl(lockedRef, lockedCode), 5, "locked after 5 wrong attempts", false},
		{"used passcode", nil, dl(doneRef, code), 5, "already used and this one does not match", false},
		{"wrong passcode", nil, dl(issuedRef, wrong), 5, "wrong passcode for " + issuedRef + " (4 attempts left)", true},
		{"revocation reason unknown", nil, []string{"revoke", "--serial", validSerial, "--reason", "stolen"}, 2, `unknown reason "stolen"`, false},
		{"revocation reason not allowed", nil, []string{"revoke", "--serial", validSerial, "--reason", "removeFromCRL"}, 2, "revocation is permanent", false},
		{"reissue reason not allowed", nil, []string{"reissue", "--serial", validSerial, "--reason", "stolen"}, 2, `unknown reissue reason "stolen"`, false},
		{"unknown serial", nil, []string{"revoke", "--serial", "abcdef", "--reason", "keyCompromise"}, 3, "no certificate with serial abcdef", false},
		{"bad serial", nil, []string{"revoke", "--serial", "xyz", "--reason", "keyCompromise"}, 2, "is not a certificate serial number", false},
		{"already revoked", nil, []string{"revoke", "--serial", revokedSerial, "--reason", "keyCompromise"}, 4, "revoked", false},
		{"approve twice", nil, []string{"approve", issuedRef}, 4, "cannot become approved", false},
		{"reject completed", nil, []string{"approve", "--reject", doneRef, "--reason", "late"}, 4, "cannot become rejected", false},
		{"reject without reason", nil, []string{"approve", "--reject", sub.Ref}, 2, "--reject needs --reason", false},
		{"issue before approval", nil, []string{"issue", sub.Ref}, 4, "not approved yet", false},
		{"issue twice", nil, []string{"issue", issuedRef}, 4, "already has a passcode", false},
		{"download before issue", nil, dl(sub.Ref, code), 4, "no download passcode has been issued", false},
		{"unknown approve", nil, []string{"approve", "20260101-ZZZZZZZZ"}, 3, "no request 20260101-ZZZZZZZZ", false},
		{"delta before full CRL", nil, []string{"crl", "--delta"}, 4, "needs a full CRL first", false},
	}
	state := func() string {
		var b strings.Builder
		for _, args := range [][]string{{"audit", "list"}, {"review", "--state", "all"}, {"certs"}} {
			b.WriteString(h.mustRun(nil, append(args, "-o", "json")...).stdout)
		}
		return b.String()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := state()
			r := h.run(tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("%s\nexit %d; want %d with %q on stderr", r, r.code, tc.code, tc.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("%s\ncrashed", r)
			}
			if after := state(); (after != before) != tc.changes {
				t.Errorf("%s\nstore changed = %v; want %v", r, after != before, tc.changes)
			}
		})
	}
	h.doctorOK()
}

// TestNFCStored: a name typed in decomposed form (NFD, as macOS input
// methods produce) is stored, shown and certified in NFC, so one person
// never gets two spellings.
func TestNFCStored(t *testing.T) {
	h := newHome(t, hookedCmca(t))
	nfd := norm.NFD.String("Zoë Ångström")
	if nfd == norm.NFC.String(nfd) {
		t.Fatal("test name is not decomposed")
	}
	var app struct{ Ref string }
	h.runJSON(&app, "apply", "--name", nfd, "--id-type", "passport", "--id-number", "E12345678", "--mobile", "13812345678",
		"--email", "zoe@example.com", "--usage", "auth", "--acceptance-point", "online", "--storage", "soft", "--agree")
	var st struct {
		Request struct {
			Applicant struct{ Name string } `json:"applicant"`
		} `json:"request"`
	}
	h.runJSON(&st, "status", app.Ref)
	if got := st.Request.Applicant.Name; got != norm.NFC.String(nfd) {
		t.Errorf("stored name %+q; want NFC %+q", got, norm.NFC.String(nfd))
	}
	out := h.mustRun(nil, "audit", "list", "-o", "json").stdout
	if strings.Contains(out, nfd) {
		t.Errorf("the NFD spelling reached the store")
	}
}
