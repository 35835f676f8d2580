package store

import (
	"database/sql"
	"errors"
	"github.com/cmca/cmca/internal/msg"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// ErrReplay is wrapped when a CMP transactionID or senderNonce was seen
// before.
var ErrReplay = errors.New("replayed message")

// CMPTransaction is one CMP exchange.
type CMPTransaction struct {
	ID           []byte
	Kind         string
	Ref          string
	Serial       string
	SignerSerial string
	State        string
	PasscodeBox  []byte
	CreatedAt    time.Time
}

// SeeNonce records a CMP senderNonce; one seen before is ErrReplay.
func (t *Tx) SeeNonce(nonce []byte) error {
	res, err := t.exec(`INSERT INTO cmp_nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING`, nonce, t.now().Unix())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return msg.Errorf("senderNonce was used before: %w", ErrReplay)
	}
	return nil
}

// BeginCMPTransaction records a new transaction; a transactionID seen
// before is ErrReplay.
func (t *Tx) BeginCMPTransaction(c *CMPTransaction) error {
	now := t.now().Unix()
	res, err := t.exec(`INSERT INTO cmp_transactions (transaction_id, kind, ref, serial, signer_serial, state, passcode_box, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transaction_id) DO NOTHING`, c.ID, c.Kind, c.Ref, c.Serial, c.SignerSerial, c.State, c.PasscodeBox, now, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return msg.Errorf("transactionID was used before: %w", ErrReplay)
	}
	return nil
}

// UpdateCMPTransaction saves a transaction's state, serial and box.
func (t *Tx) UpdateCMPTransaction(c *CMPTransaction) error {
	_, err := t.exec(`UPDATE cmp_transactions SET ref = ?, serial = ?, signer_serial = ?, state = ?, passcode_box = ?, updated_at = ? WHERE transaction_id = ?`,
		c.Ref, c.Serial, c.SignerSerial, c.State, c.PasscodeBox, t.now().Unix(), c.ID)
	return err
}

// CMPTransaction reads a transaction. In a write transaction on
// PostgreSQL the row stays locked until commit (forUpdate): two certConf
// messages of one transaction on two instances update it one after the
// other.
func (t *Tx) CMPTransaction(id []byte) (*CMPTransaction, error) {
	c := &CMPTransaction{}
	var created int64
	err := t.queryRow(`SELECT transaction_id, kind, ref, serial, signer_serial, state, passcode_box, created_at FROM cmp_transactions WHERE transaction_id = ?`+t.forUpdate(), id).
		Scan(&c.ID, &c.Kind, &c.Ref, &c.Serial, &c.SignerSerial, &c.State, &c.PasscodeBox, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, msg.Errorf("no CMP transaction with this transactionID: %w", ra.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt = time.Unix(created, 0).UTC()
	return c, nil
}

// SweepCMP forgets nonces seen before nonceCutoff and closes transactions
// that waited for a certConf since before waitCutoff (their certificate is
// kept; the encrypted passcode they held is dropped). It also deletes
// passcode boxes whose passcode can no longer be used: consumed, expired,
// locked after maxAttempts, or of a request no longer issued.
func (t *Tx) SweepCMP(nonceCutoff, waitCutoff time.Time, maxAttempts int) error {
	if _, err := t.exec(`DELETE FROM cmp_nonces WHERE seen_at < ?`, nonceCutoff.Unix()); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE cmp_transactions SET state = 'unconfirmed', passcode_box = NULL, updated_at = ? WHERE state = 'waiting' AND created_at < ?`,
		t.now().Unix(), waitCutoff.Unix()); err != nil {
		return err
	}
	return t.SweepPasscodeBoxes(maxAttempts)
}

// SweepPasscodeBoxes deletes the encrypted passcodes that can no longer be
// used.
func (t *Tx) SweepPasscodeBoxes(maxAttempts int) error {
	_, err := t.exec(`DELETE FROM passcode_boxes WHERE ref IN (SELECT b.ref FROM passcode_boxes b JOIN requests r ON r.ref = b.ref
WHERE r.state != ? OR r.passcode_used != 0 OR r.passcode_expires IS NULL OR r.passcode_expires < ? OR r.passcode_attempts >= ?)`,
		string(ra.StateIssued), t.now().Unix(), maxAttempts)
	return err
}

// SetPasscodeBox stores (replaces) the encrypted passcode of a request.
func (t *Tx) SetPasscodeBox(ref string, box []byte) error {
	_, err := t.exec(`INSERT INTO passcode_boxes (ref, box) VALUES (?, ?) ON CONFLICT (ref) DO UPDATE SET box = excluded.box`, ref, box)
	return err
}

// PasscodeBox reads the encrypted passcode of a request (nil if none).
func (t *Tx) PasscodeBox(ref string) ([]byte, error) {
	var box []byte
	err := t.queryRow(`SELECT box FROM passcode_boxes WHERE ref = ?`, ref).Scan(&box)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return box, err
}

// DeletePasscodeBox deletes the encrypted passcode of a request.
func (t *Tx) DeletePasscodeBox(ref string) error {
	_, err := t.exec(`DELETE FROM passcode_boxes WHERE ref = ?`, ref)
	return err
}
