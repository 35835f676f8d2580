package store

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// Identity says which CA a store belongs to (migration 0004): the SHA-256
// of the CA certificate's DER, a random store ID and when it was recorded.
type Identity struct {
	StoreID      string    `json:"store_id"`
	CACertSHA256 string    `json:"ca_cert_sha256"`
	CreatedAt    time.Time `json:"created_at"`
}

// NewStoreID is a random 128-bit store ID (32 lower-case hex digits).
func NewStoreID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Identity reads the store's identity; nil if none was recorded (a store
// made before version 4 that no cmca has identified yet).
func (t *Tx) Identity() (*Identity, error) {
	var id Identity
	var at int64
	err := t.queryRow(`SELECT store_id, ca_cert_sha256, created_at FROM store_identity WHERE id = 1`).Scan(&id.StoreID, &id.CACertSHA256, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read store identity: %w", err)
	}
	id.CreatedAt = time.Unix(at, 0).UTC()
	return &id, nil
}

// SetIdentity records the store's identity. It is written once: a store
// that already has one gets ra.ErrConflict.
func (t *Tx) SetIdentity(id Identity) error {
	if len(id.StoreID) != 32 || len(id.CACertSHA256) != 64 {
		return fmt.Errorf("store identity: want a 32-digit store ID and a 64-digit SHA-256, got %q and %q", id.StoreID, id.CACertSHA256)
	}
	err := t.savepoint(func() error {
		_, err := t.exec(`INSERT INTO store_identity (id, store_id, ca_cert_sha256, created_at) VALUES (1, ?, ?, ?)`, id.StoreID, id.CACertSHA256, id.CreatedAt.Unix())
		return err
	})
	if isUnique(err) {
		return msg.Errorf("the store already has an identity: %w", ra.ErrConflict)
	}
	return err
}
