package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestKeepStatements: with statements kept across transactions, concurrent
// writes and snapshot reads on several connections see what they should,
// and a rolled-back write is not seen.
func TestKeepStatements(t *testing.T) {
	s := openTest(t)
	s.KeepStatements()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 8 {
				key := fmt.Sprintf("k%d.%d", g, i)
				if err := s.Tx(ctx, func(tx *Tx) error { return tx.SetPolicy(key, "v", "test") }); err != nil {
					errs <- err
					return
				}
				_ = s.Tx(ctx, func(tx *Tx) error {
					if err := tx.SetPolicy(key+".gone", "v", "test"); err != nil {
						return err
					}
					return fmt.Errorf("roll back")
				})
				err := s.Read(ctx, func(tx *Tx) error {
					rows, err := tx.Policy()
					if err != nil {
						return err
					}
					seen := map[string]bool{}
					for _, r := range rows {
						seen[r.Key] = true
					}
					if !seen[key] || seen[key+".gone"] {
						return fmt.Errorf("after writing %s: saw it %v, saw the rolled-back one %v", key, seen[key], seen[key+".gone"])
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.shared.m); n != 2 {
		t.Errorf("%d statements kept; want 2 (the policy write and read)", n)
	}
}
