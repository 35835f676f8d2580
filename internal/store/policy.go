package store

import (
	"fmt"
	"time"
)

// PolicyRow is one stored policy setting.
type PolicyRow struct {
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Policy reads every stored policy setting, by key order. An empty result
// means the home's policy was never seeded.
func (t *Tx) Policy() ([]PolicyRow, error) {
	rows, err := t.query(`SELECT key, value, updated_at, updated_by FROM policy ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	defer rows.Close()
	var out []PolicyRow
	for rows.Next() {
		var r PolicyRow
		var at int64
		if err := rows.Scan(&r.Key, &r.Value, &at, &r.UpdatedBy); err != nil {
			return nil, fmt.Errorf("read policy: %w", err)
		}
		r.UpdatedAt = time.Unix(at, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetPolicy stores one policy setting.
func (t *Tx) SetPolicy(key, value, by string) error {
	_, err := t.exec(`INSERT INTO policy (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		key, value, t.now().UTC().Unix(), by)
	if err != nil {
		return fmt.Errorf("store policy %s: %w", key, err)
	}
	return nil
}

// LockPasscode marks a request's passcode locked (too many wrong attempts).
// It stays locked until a new passcode is set (SetPasscodeHash).
func (t *Tx) LockPasscode(ref string) error {
	_, err := t.exec(`UPDATE requests SET passcode_locked = 1 WHERE ref = ?`, ref)
	if err != nil {
		return fmt.Errorf("lock passcode of %s: %w", ref, err)
	}
	return nil
}

// PasscodeLocked reports whether a request's passcode is locked.
func (t *Tx) PasscodeLocked(ref string) (bool, error) {
	var n int
	if err := t.queryRow(`SELECT passcode_locked FROM requests WHERE ref = ?`, ref).Scan(&n); err != nil {
		return false, fmt.Errorf("read passcode state of %s: %w", ref, err)
	}
	return n != 0, nil
}
