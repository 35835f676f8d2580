package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// instances opens n Services on one home and one store: with
// CMCA_TEST_STORE=postgres, n cmca serve instances on one database; else n
// cmca processes on one ra.db.
func instances(t *testing.T, n int) []*Service {
	t.Helper()
	home := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if _, err := Init(context.Background(), home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now()}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	out := make([]*Service, n)
	for i := range out {
		out[i] = openTestService(t, home, clk)
	}
	return out
}

// fanOut runs fn(i) for i in [0, n) at once and returns the errors.
func fanOut(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWins checks that exactly one of errs is nil and the others are of
// the allowed classes.
func oneWins(t *testing.T, what string, errs []error, allowed ...error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || errors.Is(err, a)
		}
		if !ok {
			t.Errorf("%s: %v; want success or one of %v", what, err, allowed)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d racing calls won; want exactly 1", what, wins, len(errs))
	}
}

// TestInstancesRace: three instances on one store race on the same
// requests: approvals, downloads on one passcode (and wrong passcodes),
// revocations, CRL signing from every instance. Afterwards every request
// has exactly one certificate, no revocation is lost, CRL numbers are
// contiguous and unique, and the audit chain and doctor are clean.
func TestInstancesRace(t *testing.T) {
	ctx := context.Background()
	inst := instances(t, 3)
	const n = 9
	refs := make([]string, n)
	errs := fanOut(n, func(i int) error {
		app := testApplication()
		app.Applicant.IDType, app.Applicant.IDNumber = ra.IDPassport, fmt.Sprintf("E%07d", 1000+i)
		res, err := inst[i%3].Apply(as(ctx, "clerk"), []Application{app}, false)
		if err == nil {
			refs[i] = res[0].Ref
		}
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	codes := make([]string, n)
	for i, ref := range refs {
		oneWins(t, "approve "+ref, fanOut(3, func(j int) error { _, err := inst[j].Approve(as(ctx, "alice"), ref); return err }), ra.ErrConflict)
		a, err := inst[i%3].Issue(as(ctx, "bob"), ref, false)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		codes[i] = a.Passcode
	}
	// Each passcode: three right ones with different keys, one per
	// instance, and a wrong one, all at once, for every request together.
	serials := make([]string, n)
	var mu sync.Mutex
	outcomes := make([][]error, n)
	fanOut(n*4, func(k int) error {
		i, j := k/4, k%4
		code := codes[i]
		if j == 3 {
			code = "AAAA-AAAA-AAAA-AAAA-AAAA"
		}
		got, err := inst[j%3].Download(ctx, DownloadInput{Ref: refs[i], Passcode: code, CSR: csrFor(t, newKey(t))})
		mu.Lock()
		defer mu.Unlock()
		if j < 3 {
			outcomes[i] = append(outcomes[i], err)
			if err == nil {
				serials[i] = got.Serial
			}
		} else if err == nil || !(errors.Is(err, ra.ErrAuth) || errors.Is(err, ra.ErrConflict)) {
			t.Errorf("wrong passcode for %s: %v; want refused", refs[i], err)
		}
		return nil
	})
	for i := range refs {
		oneWins(t, "download "+refs[i], outcomes[i], ra.ErrConflict)
	}
	// Revoke the first five certificates from every instance at once.
	for _, serial := range serials[:5] {
		oneWins(t, "revoke "+serial, fanOut(3, func(j int) error {
			_, err := inst[j].Revoke(as(ctx, "carol"), RevokeInput{Serial: serial, Reason: "keyCompromise", Comment: "lost", Direct: true})
			return err
		}), ra.ErrConflict)
	}
	// Two rounds of CRL signing on every instance at once.
	for range 2 {
		for _, err := range fanOut(3, func(j int) error { _, err := inst[j].CRL(as(ctx, "bob"), CRLOptions{Force: true}); return err }) {
			if err != nil {
				t.Fatalf("CRL: %v", err)
			}
		}
	}
	err := inst[0].Store().Read(ctx, func(tx *store.Tx) error {
		for i, ref := range refs {
			certs, err := tx.Certificates(store.CertFilter{Ref: ref})
			if err != nil {
				return err
			}
			if len(certs) != 1 || certs[0].Serial != serials[i] {
				t.Errorf("request %s has %d certificates; want exactly the one downloaded (%s)", ref, len(certs), serials[i])
			}
		}
		if n, err := tx.RevokedCount(); err != nil || n != 5 {
			t.Errorf("RevokedCount = %d, %v; want 5", n, err)
		}
		var nums []int64
		if err := tx.EachCRL(func(c store.CRL) error { nums = append(nums, c.Number); return nil }); err != nil {
			return err
		}
		for i, num := range nums {
			if num != int64(i+1) {
				t.Errorf("CRL numbers %v; want 1..6 contiguous and unique", nums)
				break
			}
		}
		if len(nums) != 6 {
			t.Errorf("%d CRLs; want 6", len(nums))
		}
		latest, err := tx.LatestCRL(false)
		if err != nil || latest == nil || latest.Entries != 5 {
			t.Errorf("latest CRL = %+v, %v; want 5 entries", latest, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inst[1].VerifyAudit(as(ctx, "dave"))
	if err != nil || !rep.OK {
		t.Errorf("VerifyAudit = %+v, %v; want OK", rep, err)
	}
	doc, err := inst[2].Doctor(as(ctx, "dave"))
	if err != nil || !doc.OK {
		t.Errorf("Doctor = %+v, %v; want OK", doc, err)
	}
}
