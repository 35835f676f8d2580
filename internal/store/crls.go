package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CRL is a stored CRL.
type CRL struct {
	Number     int64
	BaseNumber int64 // 0 for a full CRL
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	// RevokedTotal is the number of revoked certificates at signing time.
	RevokedTotal int64
	Operator     string
	DER          []byte
}

// NextCRLNumber is one more than the highest number ever used, in this
// store or (after a restore) published before it (see CRLNumberFloor).
func (t *Tx) NextCRLNumber() (int64, error) {
	var n int64
	if err := t.tx.QueryRowContext(t.ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM crls`).Scan(&n); err != nil {
		return 0, err
	}
	floor, err := t.CRLFloor()
	return max(n, floor+1), err
}

// InsertCRL records a signed CRL; a reused number is a conflict.
func (t *Tx) InsertCRL(c CRL) error {
	var base any
	if c.BaseNumber > 0 {
		base = c.BaseNumber
	}
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO crls (number, base_number, this_update, next_update, entries, revoked_total, operator, der) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Number, base, c.ThisUpdate.Unix(), c.NextUpdate.Unix(), c.Entries, c.RevokedTotal, c.Operator, c.DER)
	if isUnique(err) {
		return fmt.Errorf("CRL number %d already used", c.Number)
	}
	return err
}

// LatestCRL returns the newest full (delta=false) or delta CRL without its
// bytes (DER is nil: a CRL of a million entries is 50 MB; CRLByNumber reads
// them), or nil if none was signed.
func (t *Tx) LatestCRL(delta bool) (*CRL, error) {
	q := `SELECT number, COALESCE(base_number, 0), this_update, next_update, entries, revoked_total, operator FROM crls WHERE base_number IS NULL ORDER BY number DESC LIMIT 1`
	if delta {
		q = `SELECT number, COALESCE(base_number, 0), this_update, next_update, entries, revoked_total, operator FROM crls WHERE base_number IS NOT NULL ORDER BY number DESC LIMIT 1`
	}
	var c CRL
	var tu, nu int64
	err := t.tx.QueryRowContext(t.ctx, q).Scan(&c.Number, &c.BaseNumber, &tu, &nu, &c.Entries, &c.RevokedTotal, &c.Operator)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.ThisUpdate, c.NextUpdate = time.Unix(tu, 0).UTC(), time.Unix(nu, 0).UTC()
	return &c, nil
}

// RevokedCount is how many certificates were ever revoked. Revocation never
// reverses, so the count only grows: a CRL signed at a lower count is out of
// date, whatever the clock says.
func (t *Tx) RevokedCount() (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM certificates WHERE status = 'revoked'`).Scan(&n)
	return n, err
}
