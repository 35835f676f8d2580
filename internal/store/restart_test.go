package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
)

// TestPostgresRestartUnderLoad: PostgreSQL restarts while writers append
// to the audit chain. Every transaction either commits whole or fails with
// ErrUnavailable (the CLI's exit 7, the API's 503) leaving nothing; the
// store reconnects by itself, and the chain holds exactly the committed
// records, linear and valid.
func TestPostgresRestartUnderLoad(t *testing.T) {
	c := pgtest.Start(t) // a cluster of its own: it is restarted
	ctx := context.Background()
	u, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := openAt(t, createAt(t, u))
	var committed, unavailable atomic.Int64
	var other sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Tx(ctx, func(tx *Tx) error {
					if err := tx.SetMeta(fmt.Sprint("w", w), fmt.Sprint(i)); err != nil {
						return err
					}
					return tx.Audit(ra.Event{Operator: fmt.Sprint("w", w), Action: "test", Detail: fmt.Sprint(i)})
				})
				switch {
				case err == nil:
					committed.Add(1)
				case errors.Is(err, ErrUnavailable):
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond)
				default:
					other.Store(err.Error(), true)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Restart(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	// Writers go on after the restart: the pool reconnects.
	before := committed.Load()
	deadline := time.Now().Add(20 * time.Second)
	for committed.Load() < before+20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	other.Range(func(k, _ any) bool {
		t.Errorf("a transaction failed with neither success nor ErrUnavailable: %v", k)
		return true
	})
	if committed.Load() < before+20 {
		t.Fatalf("%d commits after the restart; want the store to reconnect and go on", committed.Load()-before)
	}
	t.Logf("%d committed, %d unavailable during the restart", committed.Load(), unavailable.Load())
	// Every commit is in the chain. (A commit whose acknowledgement the
	// restart cut off is reported unavailable though it happened: the
	// chain may hold such a record too, never a partial one.)
	err = s.Read(ctx, func(tx *Tx) error {
		checked, problems, err := tx.VerifyAudit()
		if err != nil {
			return err
		}
		if len(problems) != 0 || int64(checked) < committed.Load() || int64(checked) > committed.Load()+unavailable.Load() {
			t.Errorf("audit chain: %d records, problems %v; want %d committed, none broken", checked, problems, committed.Load())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
