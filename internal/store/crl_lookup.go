package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// CRLByNumber returns the CRL signed with that number, or ra.ErrNotFound.
func (t *Tx) CRLByNumber(n int64) (*CRL, error) {
	var c CRL
	var tu, nu int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT number, COALESCE(base_number, 0), this_update, next_update, entries, revoked_total, operator, der FROM crls WHERE number = ?`, n).
		Scan(&c.Number, &c.BaseNumber, &tu, &nu, &c.Entries, &c.RevokedTotal, &c.Operator, &c.DER)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no CRL number %d in the store: %w", n, ra.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read CRL %d: %w", n, err)
	}
	c.ThisUpdate, c.NextUpdate = time.Unix(tu, 0).UTC(), time.Unix(nu, 0).UTC()
	return &c, nil
}
