package store

import (
	"context"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
)

// TestPostgresAuditLockAtCommit: on PostgreSQL a transaction that has
// appended an audit record does not hold the audit chain until it ends; it
// takes the chain's lock only to commit (audit_defer.go). Another instance
// appends and commits meanwhile, and the open one's record follows it.
func TestPostgresAuditLockAtCommit(t *testing.T) {
	loc := createAt(t, pgtest.NewDatabase(t))
	a, b := openAt(t, loc), openAt(t, loc)
	ctx := context.Background()
	appended, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Tx(ctx, func(tx *Tx) error {
			if err := tx.Audit(ra.Event{Operator: "slow", Action: "test"}); err != nil {
				return err
			}
			close(appended)
			<-release // still open, its record appended
			return nil
		})
	}()
	<-appended
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := b.Tx(bctx, func(tx *Tx) error { return tx.Audit(ra.Event{Operator: "fast", Action: "test"}) })
	cancel()
	close(release)
	if err != nil {
		t.Fatalf("append while another transaction holds an appended record: %v; want it to commit at once", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkAudit(t, a, 2)
	err = a.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{})
		if err != nil || len(evs) != 2 || evs[0].Operator != "fast" || evs[1].Operator != "slow" {
			t.Errorf("audit records = %+v, %v; want fast's, then slow's (commit order)", evs, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
