package store

import (
	"fmt"
	"time"
)

// RecordUnproven notes that request ref, acting on certificate serial, was
// filed at the transaction's time without proof of possession: it counts
// towards the certificate's limit (UnprovenSince).
func (t *Tx) RecordUnproven(serial, ref string) error {
	if _, err := t.exec(`INSERT INTO unproven_requests (ref, serial, filed_at) VALUES (?, ?, ?)`, ref, serial, t.now().Unix()); err != nil {
		return fmt.Errorf("record unproven request %s: %w", ref, err)
	}
	return nil
}

// UnprovenSince returns the times, oldest first, at which the requests
// without proof of possession on certificate serial were filed after
// since (a request filed exactly a window ago has left it).
//
// In a write transaction on PostgreSQL it first takes the certificate's
// lock, held until commit: of two transactions counting and then filing on
// one certificate, the second counts the first's request. SQLite's write
// transaction holds the database's one write lock from its start.
func (t *Tx) UnprovenSince(serial string, since time.Time) ([]time.Time, error) {
	if err := t.lockCert(serial); err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT filed_at FROM unproven_requests WHERE serial = ? AND filed_at > ? ORDER BY filed_at, ref`, serial, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("count unproven requests of %s: %w", serial, err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, err
		}
		out = append(out, time.Unix(at, 0).UTC())
	}
	return out, rows.Err()
}
