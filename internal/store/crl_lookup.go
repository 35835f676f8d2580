package store

import (
	"database/sql"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"

	"github.com/cmca/cmca/internal/ra"
)

// CRLByNumber returns the record of the CRL signed with that number, or
// ra.ErrNotFound. Its DER is set only for a legacy row (signed before
// migration 0003); otherwise the body is in a file, described by SHA256
// and Size.
func (t *Tx) CRLByNumber(n int64) (*CRL, error) {
	var der []byte
	c, err := scanCRL(t.queryRow(`SELECT `+crlColumns+`, der FROM crls WHERE number = ?`, n), &der)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, msg.Errorf("no CRL number %d in the store: %w", n, ra.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read CRL %d: %w", n, err)
	}
	if len(der) > 0 {
		c.DER = der
	}
	return c, nil
}
