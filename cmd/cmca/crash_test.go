package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestCrashConsistency kills cmca with SIGKILL (CMCA_TEST_FAULT) at risky
// points of download, renew, approve, revoke and crl, then checks that:
//   - the process really died at that point (the point exists and is reached);
//   - `cmca doctor` finds the home consistent, or finds exactly the
//     inconsistency a crash there may leave, and a plain rerun repairs it;
//   - rerunning the interrupted command finishes the job, with no second
//     certificate, no lost passcode and no reused CRL number.
func TestCrashConsistency(t *testing.T) {
	type crashCase struct {
		point string
		// setup prepares the home and returns the command to interrupt
		setup func(h *home) []string
		// doctorAfterCrash is a substring of the expected doctor report, or
		// "" if the home must be consistent right after the crash
		doctorAfterCrash string
		// repair, if set, is run (and must succeed) before the rerun
		repair []string
		// check runs after the rerun of the interrupted command
		check func(t *testing.T, h *home, rerun result)
	}
	download := func(h *home) []string {
		ref, code := h.applyApproveIssue("soft")
		h.write("ref", ref)
		return []string{"download", "--ref", ref, "--passcode", code, "--out", "me.p12", "--password-file", "pw.txt", "-o", "json"}
	}
	oneCertFor := func(t *testing.T, h *home, rerun result) {
		ref := readFile(t, h, "ref")
		n := 0
		for _, c := range h.certs() {
			if c.RequestRef == ref {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d certificates for %s after the rerun; want exactly 1", n, ref)
		}
	}
	revokeSetup := func(h *home) []string {
		_, serial := h.enroll()
		h.write("serial", serial)
		var rv struct{ Ref string }
		h.runJSON(&rv, "revoke", "--serial", serial, "--reason", "keyCompromise")
		return []string{"approve", rv.Ref, "--operator", "bob"}
	}
	revoked := func(t *testing.T, h *home, rerun result) {
		serial := readFile(t, h, "serial")
		for _, c := range h.certs() {
			if c.Serial == serial && c.Status != "revoked" {
				t.Errorf("certificate %s is %s after the rerun; want revoked", serial, c.Status)
			}
		}
	}
	crlSetup := func(h *home) []string {
		_, serial := h.enroll()
		h.mustRun(nil, "crl")
		h.mustRun(nil, "revoke", "--serial", serial, "--reason", "superseded", "--direct", "--comment", "crash test")
		return []string{"crl", "-o", "json"}
	}
	crlContinues := func(t *testing.T, h *home, rerun result) {
		// After the crash and the rerun, a forced CRL takes the next
		// number: none was used twice.
		var a, b struct{ Number int }
		h.runJSON(&a, "crl")
		h.runJSON(&b, "crl", "--force")
		if b.Number != a.Number+1 {
			t.Errorf("forced CRL after the current %d got number %d; want %d", a.Number, b.Number, a.Number+1)
		}
	}
	renewSetup := func(h *home) []string {
		ref, _ := h.enroll()
		h.env = append(h.env, "CMCA_TEST_NOW=+340d") // inside the renewal window
		return []string{"renew", "--p12", ref + ".p12", "--password-file", "pw.txt", "--out", "new.p12", "-o", "json"}
	}
	// renewedOnce: the rerun wrote new.p12 and removed new.p12.pending; the
	// CA issued exactly two certificates (the old one and its renewal).
	renewedOnce := func(t *testing.T, h *home, rerun result, retrieved bool) {
		if n := len(h.certs()); n != 2 {
			t.Errorf("%d certificates after the rerun; want 2 (the old one and one renewal)", n)
		}
		if got := strings.Contains(rerun.stdout, `"retrieved": true`); got != retrieved {
			t.Errorf("rerun retrieved=%v, want %v:\n%s", got, retrieved, rerun)
		}
		if _, err := os.Stat(h.path("new.p12")); err != nil {
			t.Errorf("the rerun wrote no new.p12: %v", err)
		}
		if _, err := os.Stat(h.path("new.p12.pending")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("new.p12.pending is still there after the rerun (%v)", err)
		}
	}
	cases := []crashCase{
		{point: "download:keygen", setup: download, check: func(t *testing.T, h *home, r result) {
			oneCertFor(t, h, r)
		}},
		{point: "download:signed", setup: download, check: func(t *testing.T, h *home, r result) {
			oneCertFor(t, h, r)
			if strings.Contains(r.stdout, `"retrieved": true`) {
				t.Errorf("the crash before commit left a certificate to retrieve:\n%s", r)
			}
		}},
		{point: "download:issued", setup: download, check: func(t *testing.T, h *home, r result) {
			oneCertFor(t, h, r)
			if !strings.Contains(r.stdout, `"retrieved": true`) {
				t.Errorf("the rerun after a crash past commit did not retrieve the recorded certificate:\n%s", r)
			}
		}},
		{point: "renew:keygen", setup: renewSetup, check: func(t *testing.T, h *home, r result) {
			renewedOnce(t, h, r, false)
		}},
		{point: "renew:issued", setup: renewSetup, check: func(t *testing.T, h *home, r result) {
			renewedOnce(t, h, r, true)
		}},
		{point: "approve:revoked", setup: revokeSetup, check: revoked},
		{point: "revoke:recorded", setup: func(h *home) []string {
			_, serial := h.enroll()
			h.write("serial", serial)
			return []string{"revoke", "--serial", serial, "--reason", "keyCompromise", "--direct", "--comment", "crash test"}
		}, check: revoked},
		{point: "crl:signed", setup: crlSetup, check: crlContinues},
		{point: "crl:committed", setup: crlSetup, doctorAfterCrash: committedCRLNotPublished(), check: crlContinues},
		{point: "crl:published", setup: crlSetup, doctorAfterCrash: "ca.crl.pem: does not hold the same CRL", check: crlContinues},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.point, ":", "_"), func(t *testing.T) {
			t.Parallel()
			h := newHome(t, hookedCmca(t))
			args := tc.setup(h)
			before := h.auditEvents()
			r := h.run([]string{"CMCA_TEST_FAULT=" + tc.point}, args...)
			if !r.signaled {
				t.Fatalf("%s\nexit %d; want the process killed at %s", r, r.code, tc.point)
			}
			doc := h.run(nil, "doctor")
			switch {
			case tc.doctorAfterCrash == "" && doc.code != 0:
				t.Fatalf("after a crash at %s:\n%s\ndoctor exit %d; want a consistent home", tc.point, doc, doc.code)
			case tc.doctorAfterCrash != "":
				if doc.code != 4 || !strings.Contains(doc.stdout, tc.doctorAfterCrash) {
					t.Fatalf("after a crash at %s:\n%s\ndoctor exit %d; want exit 4 reporting %q", tc.point, doc, doc.code, tc.doctorAfterCrash)
				}
			}
			if strings.HasSuffix(tc.point, ":signed") || tc.point == "approve:revoked" || tc.point == "revoke:recorded" || tc.point == "download:keygen" || tc.point == "renew:keygen" {
				// killed inside (or before) the transaction: nothing was written
				if after := h.auditEvents(); len(after) != len(before) {
					t.Errorf("a crash at %s left %d new audit records; want none (the transaction rolls back)", tc.point, len(after)-len(before))
				}
			}
			rerun := h.mustRun(nil, args...)
			h.doctorOK()
			tc.check(t, h, rerun)
			h.doctorOK()
			if v := h.run(nil, "audit", "verify"); v.code != 0 {
				t.Errorf("%s\naudit verify exit %d", v, v.code)
			}
		})
	}
}

func readFile(t *testing.T, h *home, rel string) string {
	t.Helper()
	b, err := os.ReadFile(h.path(rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// committedCRLNotPublished is what doctor reports after a crash between
// committing a CRL and publishing it in the home: on SQLite the home's
// ca.crl is not the newest stored CRL; on PostgreSQL nothing, since the
// body is in the store, which every instance serves, and a home's ca.crl
// may be older (docs/operations.md, "PostgreSQL store").
func committedCRLNotPublished() string {
	if storeEngine() == "postgres" {
		return ""
	}
	return "not the newest stored CRL"
}
