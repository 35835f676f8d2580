package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Races: many cmca processes at once on one home, each its own process with
// its own connection to the store, as when several operators and
// subscribers act at the same moment. The store's BEGIN IMMEDIATE
// transactions with state-guarded updates must let exactly one win.

const racers = 20

// TestRaceDownloadSamePasscode: 20 processes download with the same
// passcode at once (each with its own new key and --out file). Exactly one
// certificate is issued; every other process exits 4 (state conflict) with
// "already used". Exit 4 rather than 5 (auth): the passcode was right, but
// it has been consumed, which is a state of the request, like "already
// approved"; 5 is kept for a wrong, expired or locked passcode.
func TestRaceDownloadSamePasscode(t *testing.T) {
	h := newHome(t, buildCmca(t))
	ref, code := h.applyApproveIssue("soft")
	res := h.parallel(racers, func(i int) []string {
		return []string{"download", "--ref", ref, "--passcode", code, "--out", fmt.Sprintf("racer%02d.p12", i), "--password-file", "pw.txt"}
	})
	var winners []int
	for i, r := range res {
		switch r.code {
		case 0:
			winners = append(winners, i)
		case 4:
			if !strings.Contains(r.stderr, "already used") {
				t.Errorf("%s\nloser's message does not say the passcode was already used", r)
			}
			if _, err := os.Stat(h.path(fmt.Sprintf("racer%02d.p12", i))); err == nil {
				t.Errorf("loser %d left a PKCS#12 file", i)
			}
			if _, err := os.Stat(h.path(fmt.Sprintf("racer%02d.p12.pending", i))); err == nil {
				t.Errorf("loser %d left its pending key", i)
			}
		default:
			t.Errorf("%s\nexit %d; want 0 for one winner and 4 for the rest", r, r.code)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d downloads succeeded (%v); want exactly 1", len(winners), winners)
	}
	certs := h.certs()
	if len(certs) != 1 || certs[0].RequestRef != ref {
		t.Fatalf("certs = %+v; want exactly one certificate, for %s", certs, ref)
	}
	downloads := 0
	for _, e := range h.auditEvents("--ref", ref) {
		if e.Action == "download" {
			downloads++
		}
	}
	if downloads != 1 {
		t.Errorf("%d download audit records; want 1", downloads)
	}
	h.doctorOK()
}

// TestRaceApproveReject: 20 operators at once, half approving and half
// rejecting one request. Exactly one decision is taken; every other process
// exits 4, and the request's state is the winner's.
func TestRaceApproveReject(t *testing.T) {
	h := newHome(t, buildCmca(t))
	var app struct{ Ref string }
	h.runJSON(&app, "apply", "--name", "李四", "--id-type", "resident", "--id-number", "11010519491231002X",
		"--mobile", "13812345678", "--email", "li@example.com", "--usage", "auth", "--acceptance-point", "online",
		"--storage", "soft", "--agree")
	res := h.parallel(racers, func(i int) []string {
		if i%2 == 0 {
			return []string{"approve", app.Ref, "--operator", fmt.Sprintf("op%02d", i)}
		}
		return []string{"approve", "--reject", app.Ref, "--reason", "documents unreadable", "--operator", fmt.Sprintf("op%02d", i)}
	})
	winner := -1
	for i, r := range res {
		switch r.code {
		case 0:
			if winner >= 0 {
				t.Fatalf("both %d and %d won:\n%s\n%s", winner, i, res[winner], r)
			}
			winner = i
		case 4:
		default:
			t.Errorf("%s\nexit %d; want 0 for one winner and 4 for the rest", r, r.code)
		}
	}
	if winner < 0 {
		t.Fatal("no decision was taken")
	}
	want := "approved"
	if winner%2 == 1 {
		want = "rejected"
	}
	var st struct {
		Request struct {
			State     string `json:"state"`
			DecidedBy string `json:"decided_by"`
		} `json:"request"`
	}
	h.runJSON(&st, "status", app.Ref)
	if st.Request.State != want || st.Request.DecidedBy != fmt.Sprintf("op%02d", winner) {
		t.Errorf("request is %s by %s; want %s by op%02d", st.Request.State, st.Request.DecidedBy, want, winner)
	}
	decisions := 0
	for _, e := range h.auditEvents("--ref", app.Ref) {
		if e.Action == "approve" || e.Action == "reject" {
			decisions++
		}
	}
	if decisions != 1 {
		t.Errorf("%d decisions in the audit log; want 1", decisions)
	}
	h.doctorOK()
}

var crlNumber = regexp.MustCompile(`number=(\d+)`)

// TestRaceCRLDuringIssuance: CRLs are signed (--force) while certificates
// are downloaded and revoked. Every CRL gets its own number, the numbers
// are contiguous, the published CRL is the newest, and a final CRL lists
// every revocation.
func TestRaceCRLDuringIssuance(t *testing.T) {
	h := newHome(t, buildCmca(t))
	var toRevoke []string
	for range 3 {
		_, serial := h.enroll()
		toRevoke = append(toRevoke, serial)
	}
	const downloads, crls = 8, 6
	type pending struct{ ref, code string }
	var pend []pending
	for range downloads {
		ref, code := h.applyApproveIssue("soft")
		pend = append(pend, pending{ref, code})
	}
	n := downloads + crls + len(toRevoke)
	res := h.parallel(n, func(i int) []string {
		switch {
		case i < downloads:
			p := pend[i]
			return []string{"download", "--ref", p.ref, "--passcode", p.code, "--out", p.ref + ".p12", "--password-file", "pw.txt"}
		case i < downloads+crls:
			return []string{"crl", "--force", "-o", "json"}
		default:
			return []string{"revoke", "--serial", toRevoke[i-downloads-crls], "--reason", "keyCompromise", "--direct", "--comment", "race test"}
		}
	})
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("%s\nexit %d; want 0", r, r.code)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	h.mustRun(nil, "crl", "-o", "json")
	var numbers []int
	for _, e := range h.auditEvents() {
		if e.Action == "crl" {
			m := crlNumber.FindStringSubmatch(e.Detail)
			if m == nil {
				t.Fatalf("crl audit record without a number: %+v", e)
			}
			v, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatalf("crl audit record %+v: %v", e, err)
			}
			numbers = append(numbers, v)
		}
	}
	if len(numbers) < crls {
		t.Fatalf("%d CRLs signed; want at least %d", len(numbers), crls)
	}
	for i, v := range numbers {
		if v != i+1 {
			t.Fatalf("CRL numbers in signing order = %v; want 1..%d, each once", numbers, len(numbers))
		}
	}
	der, err := os.ReadFile(h.path("cmca/crl/ca.crl"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(rl.Number.Int64()); got != numbers[len(numbers)-1] {
		t.Errorf("published CRL number %d; want the newest, %d", got, numbers[len(numbers)-1])
	}
	var listed []string
	for _, e := range rl.RevokedCertificateEntries {
		listed = append(listed, e.SerialNumber.Text(16))
	}
	for _, s := range toRevoke {
		if !slices.Contains(listed, s) {
			t.Errorf("the newest CRL does not list revoked certificate %s (lists %v)", s, listed)
		}
	}
	if got := len(h.certs()); got != 3+downloads {
		t.Errorf("%d certificates; want %d", got, 3+downloads)
	}
	h.doctorOK()
}
