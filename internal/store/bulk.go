package store

import (
	"errors"
	"fmt"
)

// Item runs one item of a batch inside the caller's transaction, under a
// savepoint: if fn fails, everything fn wrote is undone and the rest of the
// batch carries on; if it succeeds, its writes commit with the batch. One
// transaction for the whole batch pays for one WAL sync instead of one per
// item, which is what makes bulk approve, issue and sign fast. (On
// PostgreSQL: pgSubtransaction, which also drops the item's kept audit
// records when it fails.)
func (t *Tx) Item(fn func() error) error {
	if t.engine == Postgres {
		return t.pgSubtransaction(fn)
	}
	if _, err := t.exec(`SAVEPOINT item`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	ferr := fn()
	if ferr != nil {
		t.forget()
		if _, err := t.exec(`ROLLBACK TO item`); err != nil {
			return errors.Join(ferr, fmt.Errorf("roll back item: %w", err))
		}
	}
	if _, err := t.exec(`RELEASE item`); err != nil {
		return errors.Join(ferr, fmt.Errorf("release savepoint: %w", err))
	}
	return ferr
}

// RequestRefs lists the references of requests in a state, oldest first
// (at most limit if limit > 0), through the state index.
func (t *Tx) RequestRefs(state string, limit int) ([]string, error) {
	q := `SELECT ref FROM requests WHERE state = ? ORDER BY id`
	args := []any{state}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s requests: %w", state, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, rows.Err()
}
