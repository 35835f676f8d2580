package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// kekState is what a refused passcode operation must leave alone.
type kekState struct {
	state            ra.State
	attempts         int
	boxes, audit, tx int
}

func readKEKState(t *testing.T, s *Service, ref string) kekState {
	t.Helper()
	var out kekState
	err := s.store.Read(context.Background(), func(tx *store.Tx) error {
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		out.state, out.attempts = r.State, r.PasscodeAttempts
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := s.store.Raw()
	for q, n := range map[string]*int{`SELECT COUNT(*) FROM passcode_boxes`: &out.boxes, `SELECT COUNT(*) FROM audit`: &out.audit, `SELECT COUNT(*) FROM cmp_transactions`: &out.tx} {
		if err := db.QueryRow(q).Scan(n); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func wantKEKRefused(t *testing.T, what string, err error) {
	t.Helper()
	var coded *ra.CodedError
	if !errors.As(err, &coded) || coded.Code != CodePasscodeKeyMismatch || !errors.Is(err, ra.ErrConflict) || !strings.Contains(err.Error(), "copy ca/passcode.kek from an instance that has it (mode 0600)") {
		t.Fatalf("%s: %v; want %s (conflict) naming the fix", what, err, CodePasscodeKeyMismatch)
	}
}

// TestPasscodeKEKAcrossHomes: two homes of one CA on one PostgreSQL
// database. The first issue through A makes A's KEK and records its check
// value. B, without the key and then with another one, is refused for issue
// and for CMP, writing nothing (no key file made, no box, no attempt, no
// transaction, no audit record); with A's key copied, a passcode issued
// through A is collected over CMP through B.
func TestPasscodeKEKAcrossHomes(t *testing.T) {
	ctx := context.Background()
	_, inst := instanceHomes(t, 2)
	a, b := inst[0], inst[1]
	bKEK := filepath.Join(b.Home(), PasscodeKEKFile)
	if err := os.Remove(bKEK); err != nil { // B set up without the key
		t.Fatal(err)
	}
	ref, passcode := issued(t, a) // records A's KEK
	res, err := a.Apply(as(ctx, "clerk"), []Application{testApplication()}, false)
	if err != nil {
		t.Fatal(err)
	}
	approved := res[0].Ref
	if _, err := a.Approve(as(ctx, "alice"), approved); err != nil {
		t.Fatal(err)
	}

	c := newCMPClient(t, b)
	secret := strings.ReplaceAll(passcode, "-", "")
	refused := func(how string) {
		t.Helper()
		before, beforeApproved := readKEKState(t, a, ref), readKEKState(t, a, approved)
		_, err := b.Issue(as(ctx, "bob"), approved, false)
		wantKEKRefused(t, how+": issue through B", err)
		_, resp := c.ir(ref, secret, newKey(t), true)
		if _, text := errorOf(t, resp); !strings.Contains(text, "passcode.kek") {
			t.Errorf("%s: CMP through B says %q; want the passcode key named", how, text)
		}
		if after := readKEKState(t, a, ref); after != before {
			t.Errorf("%s: CMP through B changed %+v to %+v", how, before, after)
		}
		if after := readKEKState(t, a, approved); after != beforeApproved {
			t.Errorf("%s: issue through B changed %+v to %+v", how, beforeApproved, after)
		}
	}

	refused("B without a key")
	if _, err := os.Stat(bKEK); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("B made a key of its own: %v", err)
	}
	other := make([]byte, 32)
	rand.Read(other)
	if err := os.WriteFile(bKEK, other, 0o600); err != nil {
		t.Fatal(err)
	}
	refused("B with another key")
	if got, _ := os.ReadFile(bKEK); !bytes.Equal(got, other) {
		t.Error("B's key file was changed")
	}

	kek, err := os.ReadFile(filepath.Join(a.Home(), PasscodeKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bKEK, kek, 0o600); err != nil {
		t.Fatal(err)
	}
	_, resp := c.ir(ref, secret, newKey(t), true)
	certOf(t, resp)
	if _, err := b.Issue(as(ctx, "bob"), approved, false); err != nil {
		t.Fatalf("issue through B with A's key: %v", err)
	}
	for _, s := range inst {
		r, err := s.Doctor(as(ctx, "auditor"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Problems {
			if strings.Contains(p.Subject, "passcode.kek") {
				t.Errorf("doctor of %s: %+v; want the key accepted", s.Home(), p)
			}
		}
	}
}

// TestPasscodeKEKCreationRace: two homes with no key issue at once on one
// PostgreSQL database; exactly one key is recorded, the loser's file is
// removed and its issue refused, nothing of it stored.
func TestPasscodeKEKCreationRace(t *testing.T) {
	ctx := context.Background()
	_, inst := instanceHomes(t, 2)
	for _, s := range inst { // no home has a key yet
		if err := os.Remove(filepath.Join(s.Home(), PasscodeKEKFile)); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, 2)
	done := make(chan int)
	for i, s := range inst {
		go func() {
			_, errs[i] = s.LoadPasscodeKEK(ctx, true)
			done <- i
		}()
	}
	<-done
	<-done
	var won []int
	for i, err := range errs {
		if err == nil {
			won = append(won, i)
		} else {
			wantKEKRefused(t, "the loser", err)
			if _, err := os.Stat(filepath.Join(inst[i].Home(), PasscodeKEKFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the loser kept its key: %v", err)
			}
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d winners (%v); want 1", len(won), errs)
	}
	var events int
	inst[0].store.Raw().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'passcode-key-record'`).Scan(&events)
	if events != 1 {
		t.Errorf("%d passcode-key-record events; want 1", events)
	}
}

// TestPasscodeKEKRecordedForOlderHome: a key made before check values were
// recorded (an older home) gets its value recorded on first use, audited.
// A replaced or removed key file is reported by doctor; then on PostgreSQL
// it is refused, nothing made, while on SQLite (the store is the home's own:
// no other instance) the home's key is used as before the record (a new
// one when missing) and the record follows it, audited.
func TestPasscodeKEKRecordedForOlderHome(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	path := filepath.Join(s.Home(), PasscodeKEKFile)
	if err := os.WriteFile(path, kek, 0o600); err != nil {
		t.Fatal(err)
	}
	if aead, err := s.LoadPasscodeKEK(ctx, false); err != nil || aead == nil {
		t.Fatalf("LoadPasscodeKEK: %v, %v", aead, err)
	}
	recorded := func() (sum string, records, replaces int) {
		s.store.Read(ctx, func(tx *store.Tx) (err error) { sum, err = tx.Meta(PasscodeKEKCheck); return err })
		s.store.Raw().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'passcode-key-record'`).Scan(&records)
		s.store.Raw().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'passcode-key-replace'`).Scan(&replaces)
		return
	}
	if sum, n, _ := recorded(); sum != kekCheck(kek) || n != 1 {
		t.Fatalf("recorded %q (%d events); want %q, 1 event", sum, n, kekCheck(kek))
	}

	sqlite := s.store.Engine() == store.SQLite
	rand.Read(kek)
	if err := os.WriteFile(path, kek, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := s.Doctor(as(ctx, "auditor"))
	if err != nil || r.OK || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Problem, "not the passcode key the store recorded") {
		t.Errorf("doctor: %+v, %v; want the replaced key reported", r, err)
	}
	s2 := openTestService(t, s.Home(), clk)
	_, err = s2.LoadPasscodeKEK(ctx, true)
	if sqlite {
		if sum, _, n := recorded(); err != nil || sum != kekCheck(kek) || n != 1 {
			t.Fatalf("SQLite, replaced key: %v; recorded %q (%d replace events); want the new key recorded, 1 event", err, sum, n)
		}
	} else {
		wantKEKRefused(t, "a replaced key", err)
	}

	os.Remove(path)
	if r, err := s.Doctor(as(ctx, "auditor")); err != nil || r.OK || !strings.Contains(r.Problems[0].Problem, "missing, but the store records a passcode key") {
		t.Errorf("doctor: %+v, %v; want the missing key reported", r, err)
	}
	s3 := openTestService(t, s.Home(), clk)
	_, err = s3.LoadPasscodeKEK(ctx, true)
	if sqlite {
		made, rerr := os.ReadFile(path)
		if sum, _, n := recorded(); err != nil || rerr != nil || sum != kekCheck(made) || n != 2 {
			t.Fatalf("SQLite, missing key: %v, %v; recorded %q (%d replace events); want a new key recorded, 2 events", err, rerr, sum, n)
		}
		return
	}
	wantKEKRefused(t, "a removed key", err)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a new key was made although the store records one")
	}
}
