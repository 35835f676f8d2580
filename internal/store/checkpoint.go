package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is a signed audit checkpoint as the store keeps it (migration
// 0010): the newest one signed by any instance sharing the store. The
// service signs and verifies it; the store only keeps the newest.
type Checkpoint struct {
	Version   int
	Seq       int64
	Hash      string
	Time      time.Time
	CASHA256  string
	Signature []byte
}

// AuditCheckpoint returns the checkpoint the store holds, or nil.
func (t *Tx) AuditCheckpoint() (*Checkpoint, error) {
	var c Checkpoint
	var at int64
	err := t.queryRow(`SELECT version, seq, hash, signed_at, ca_sha256, signature FROM audit_checkpoint WHERE id = 1`).
		Scan(&c.Version, &c.Seq, &c.Hash, &at, &c.CASHA256, &c.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoint: %w", err)
	}
	c.Time = time.Unix(at, 0).UTC()
	return &c, nil
}

// PutAuditCheckpoint keeps c unless the store holds a checkpoint of the
// same or a later record already: the row never moves back, whichever of
// several instances commits last. It reports whether c was kept.
func (t *Tx) PutAuditCheckpoint(c Checkpoint) (bool, error) {
	if c.Seq <= 0 || c.Hash == "" || len(c.CASHA256) != 64 || len(c.Signature) == 0 {
		return false, fmt.Errorf("audit checkpoint: want a record number, a hash, a CA SHA-256 and a signature")
	}
	res, err := t.exec(`INSERT INTO audit_checkpoint (id, version, seq, hash, signed_at, ca_sha256, signature) VALUES (1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, seq = excluded.seq, hash = excluded.hash,
  signed_at = excluded.signed_at, ca_sha256 = excluded.ca_sha256, signature = excluded.signature
WHERE audit_checkpoint.seq < excluded.seq`,
		c.Version, c.Seq, c.Hash, c.Time.Unix(), c.CASHA256, c.Signature)
	if err != nil {
		return false, fmt.Errorf("store audit checkpoint: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
