package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Create(context.Background(), filepath.Join(t.TempDir(), "ra.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func insertTestRequest(t *testing.T, s *Store, edit ...func(*ra.Request)) *ra.Request {
	t.Helper()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	r := &ra.Request{Ref: "20261125-TEST0001", Kind: ra.KindNew, State: ra.StateSubmitted,
		Applicant: ra.Applicant{Name: "A", IDType: ra.IDPassport, IDNumber: "E1234567", Mobile: "13812345678", Email: "a@example.com"},
		UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, SubmittedBy: "clerk", CreatedAt: now, UpdatedAt: now}
	for _, e := range edit {
		e(r)
	}
	err := s.Tx(context.Background(), func(tx *Tx) error {
		id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
		if err != nil {
			return err
		}
		if err := tx.InsertRequest(r, id); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "clerk", Action: "apply", Ref: r.Ref, To: r.State})
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenIsIdempotentAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ra.db")
	for i := range 2 {
		open := Open
		if i == 0 {
			open = Create
		}
		s, err := open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.SchemaVersion(context.Background())
		if err != nil || v < 1 {
			t.Fatalf("SchemaVersion = %d, %v", v, err)
		}
		s.Close()
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ra.db mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestUpdateRequestGuardedByState(t *testing.T) {
	s := openTest(t)
	r := insertTestRequest(t, s)
	ctx := context.Background()
	// First writer moves it on.
	err := s.Tx(ctx, func(tx *Tx) error {
		r.State = ra.StateApproved
		if err := tx.UpdateRequest(r, ra.StateSubmitted); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "bob", Action: "approve", Ref: r.Ref, From: ra.StateSubmitted, To: r.State})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second writer that read "submitted" earlier must lose.
	stale := *r
	stale.State = ra.StateRejected
	err = s.Tx(ctx, func(tx *Tx) error { return tx.UpdateRequest(&stale, ra.StateSubmitted) })
	if !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("stale update = %v; want ErrConflict", err)
	}
	var got *ra.Request
	if err := s.Read(ctx, func(tx *Tx) error { got, err = tx.Request(r.Ref); return err }); err != nil {
		t.Fatal(err)
	}
	if got.State != ra.StateApproved {
		t.Fatalf("state = %s; want approved (the stale write changed it)", got.State)
	}
}

func TestTxRollsBackOnError(t *testing.T) {
	s := openTest(t)
	boom := errors.New("boom")
	err := s.Tx(context.Background(), func(tx *Tx) error {
		if err := tx.Audit(ra.Event{Operator: "x", Action: "y"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var evs []ra.Event
	if err := s.Read(context.Background(), func(tx *Tx) error { evs, err = tx.AuditRecords(AuditFilter{}); return err }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("%d audit records after rollback; want 0", len(evs))
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name  string
		sql   string
		seq   int64
		wants string
	}{
		{"modified", `UPDATE audit SET detail = 'forged' WHERE seq = 2`, 2, "modified"},
		{"deleted", `DELETE FROM audit WHERE seq = 2`, 3, "missing"},
		{"reordered", `UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -2`, 2, ""},
		{"operator changed", `UPDATE audit SET operator = 'mallory' WHERE seq = 3`, 3, "modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			for i := range 4 {
				err := s.Tx(ctx, func(tx *Tx) error {
					return tx.Audit(ra.Event{Operator: "alice", Action: "approve", Ref: "R", Detail: string(rune('a' + i))})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.DB().ExecContext(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			var problems []AuditProblem
			err := s.Read(ctx, func(tx *Tx) error {
				var err error
				_, problems, err = tx.VerifyAudit()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 {
				t.Fatal("VerifyAudit found nothing")
			}
			if problems[0].Seq != tt.seq {
				t.Errorf("first problem at record %d; want %d (%v)", problems[0].Seq, tt.seq, problems)
			}
			if tt.wants != "" {
				found := false
				for _, p := range problems {
					found = found || contains(p.Problem, tt.wants)
				}
				if !found {
					t.Errorf("problems %v do not mention %q", problems, tt.wants)
				}
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestCRLNumberNeverReused(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Now()
	for want := int64(1); want <= 3; want++ {
		err := s.Tx(ctx, func(tx *Tx) error {
			n, err := tx.NextCRLNumber()
			if err != nil {
				return err
			}
			if n != want {
				t.Errorf("NextCRLNumber = %d; want %d", n, want)
			}
			return tx.InsertCRL(CRL{Number: n, ThisUpdate: now, NextUpdate: now.Add(time.Hour), Operator: "x", SHA256: strings.Repeat("ab", 32), Size: 1})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Tx(ctx, func(tx *Tx) error {
		return tx.InsertCRL(CRL{Number: 2, ThisUpdate: now, NextUpdate: now.Add(time.Hour), Operator: "x", SHA256: strings.Repeat("ab", 32), Size: 1})
	})
	if err == nil {
		t.Fatal("a CRL number was accepted twice")
	}
}

// TestOpenCurrentStoreTakesNoWriteLock: opening a store whose schema is
// current only reads, so it goes through while another process holds the
// write lock (a long bulk command, a CRL being signed).
func TestOpenCurrentStoreTakesNoWriteLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	first, err := Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	locked, release := make(chan struct{}), make(chan struct{})
	var released atomic.Bool
	done := make(chan error)
	go func() {
		done <- first.Tx(ctx, func(tx *Tx) error {
			close(locked)
			<-release
			released.Store(true)
			return nil
		})
	}()
	<-locked
	// If Open needed the write lock it would wait for the holder; the
	// holder lets go after a while so that a wrong Open fails, not hangs.
	timer := time.AfterFunc(5*time.Second, func() { close(release) })
	second, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if released.Load() {
		t.Error("Open waited for another connection's write transaction")
	}
	if v, err := second.SchemaVersion(ctx); err != nil || v == 0 {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
	if timer.Stop() {
		close(release)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTxUsesOneConnection: statements are prepared on the transaction's own
// connection. Preparing through the pool while a transaction holds the only
// connection opened a second one (a second set-up and schema parse in
// every cmca process).
func TestTxUsesOneConnection(t *testing.T) {
	s := openTest(t)
	insertTestRequest(t, s)
	err := s.Tx(context.Background(), func(tx *Tx) error {
		if _, err := tx.Request("20261125-TEST0001"); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "t", Action: "test", Ref: "20261125-TEST0001"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.db.Stats().OpenConnections; n != 1 {
		t.Errorf("%d connections open after one transaction; want 1", n)
	}
}
