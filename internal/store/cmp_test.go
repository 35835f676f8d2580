package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// A senderNonce and a transactionID are accepted once; the sweep forgets
// old nonces, closes transactions that waited too long for a certConf (and
// drops the encrypted passcode they held), and deletes passcode boxes that
// can no longer be used.
func TestCMPReplayRecordsAndSweep(t *testing.T) {
	s := openTest(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	r := insertTestRequest(t, s)
	ctx := context.Background()
	tx := func(fn func(*Tx) error) error { return s.Tx(ctx, fn) }

	nonce, id := []byte("nonce-0123456789"), []byte("transaction-0001")
	if err := tx(func(t *Tx) error { return t.SeeNonce(nonce) }); err != nil {
		t.Fatal(err)
	}
	if err := tx(func(t *Tx) error { return t.SeeNonce(nonce) }); !errors.Is(err, ErrReplay) {
		t.Fatalf("second SeeNonce = %v; want ErrReplay", err)
	}
	c := &CMPTransaction{ID: id, Kind: "ir", Ref: r.Ref, State: "waiting", PasscodeBox: []byte("box")}
	if err := tx(func(t *Tx) error { return t.BeginCMPTransaction(c) }); err != nil {
		t.Fatal(err)
	}
	if err := tx(func(t *Tx) error { return t.BeginCMPTransaction(c) }); !errors.Is(err, ErrReplay) {
		t.Fatalf("second BeginCMPTransaction = %v; want ErrReplay", err)
	}
	if err := tx(func(t *Tx) error { return t.SetPasscodeBox(r.Ref, []byte("box")) }); err != nil {
		t.Fatal(err)
	}

	now = now.Add(2 * time.Hour)
	if err := tx(func(t *Tx) error { return t.SweepCMP(now.Add(-time.Hour), now.Add(-time.Hour), 5) }); err != nil {
		t.Fatal(err)
	}
	if err := tx(func(t *Tx) error { return t.SeeNonce(nonce) }); err != nil {
		t.Errorf("a nonce older than the cutoff is still remembered: %v", err)
	}
	if err := tx(func(t *Tx) error { return t.BeginCMPTransaction(c) }); !errors.Is(err, ErrReplay) {
		t.Errorf("a swept transactionID may be reused: %v", err)
	}
	var got *CMPTransaction
	var box []byte
	s.Read(ctx, func(t *Tx) error {
		got, _ = t.CMPTransaction(id)
		box, _ = t.PasscodeBox(r.Ref)
		return nil
	})
	if got.State != "unconfirmed" || got.PasscodeBox != nil {
		t.Errorf("waiting transaction after the sweep: %s, box %v; want unconfirmed, no box", got.State, got.PasscodeBox)
	}
	if box != nil {
		t.Errorf("the box of a submitted (not issued) request survived the sweep")
	}
	if _, err := (func() (*CMPTransaction, error) {
		var c *CMPTransaction
		err := s.Read(ctx, func(t *Tx) error { var err error; c, err = t.CMPTransaction([]byte("unknown")); return err })
		return c, err
	})(); !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("unknown transaction: %v; want ErrNotFound", err)
	}
}
