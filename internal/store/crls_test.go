package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// openVersion2 makes a store as cmca left it before migration 0003 (CRL
// bodies in the der column), holding one full CRL signed then.
func openVersion2(t *testing.T, path string, der []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_perf_indexes.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body))
	}
	stmts = append(stmts, `INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0), (2, 0)`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO crls (number, base_number, this_update, next_update, entries, revoked_total, operator, der) VALUES (4, NULL, 1000, 2000, 0, 0, 'op', ?)`, der); err != nil {
		t.Fatal(err)
	}
}

// TestCRLMigrationKeepsLegacyBodies: a version 2 store migrates to 3; its
// CRL keeps its body in the store (no digest) and reads back whole, and
// numbering goes on above it with a row that holds a digest, not a body.
func TestCRLMigrationKeepsLegacyBodies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	legacyDER := []byte{0x30, 0x03, 0x02, 0x01, 0x04}
	openVersion2(t, path, legacyDER)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 2 store: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 3 {
		t.Fatalf("SchemaVersion = %d, %v; want 3 or more", v, err)
	}
	digest := strings.Repeat("0f", 32)
	err = s.Tx(ctx, func(tx *Tx) error {
		old, err := tx.CRLByNumber(4)
		if err != nil {
			return err
		}
		if !old.Legacy() || string(old.DER) != string(legacyDER) || old.Size != 0 {
			t.Errorf("legacy CRL 4 = %+v; want its body from the store and no digest", old)
		}
		latest, err := tx.LatestCRL(false)
		if err != nil || latest == nil || latest.Number != 4 || latest.DER != nil || !latest.ThisUpdate.Equal(time.Unix(1000, 0)) {
			t.Errorf("LatestCRL = %+v, %v; want CRL 4 without its body", latest, err)
		}
		n, err := tx.NextCRLNumber()
		if err != nil || n != 5 {
			t.Fatalf("NextCRLNumber = %d, %v; want 5", n, err)
		}
		return tx.InsertCRL(CRL{Number: n, ThisUpdate: time.Unix(3000, 0), NextUpdate: time.Unix(4000, 0), Operator: "op",
			SHA256: digest, Size: 48_000_000})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		c, err := tx.CRLByNumber(5)
		if err != nil {
			return err
		}
		if c.Legacy() || c.SHA256 != digest || c.Size != 48_000_000 || c.DER != nil {
			t.Errorf("CRL 5 = %+v; want its digest and size, no body", c)
		}
		var seen []int64
		err = tx.EachCRL(func(c CRL) error {
			seen = append(seen, c.Number)
			if (c.Number == 4) != c.Legacy() {
				t.Errorf("EachCRL: CRL %d Legacy() = %v", c.Number, c.Legacy())
			}
			return nil
		})
		if len(seen) != 2 || seen[0] != 4 || seen[1] != 5 {
			t.Errorf("EachCRL saw %v; want [4 5]", seen)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := s.DB().QueryRowContext(ctx, `SELECT length(der) FROM crls WHERE number = 5`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("der of CRL 5 holds %d bytes (%v); want none", stored, err)
	}
}

// TestInsertCRLNeedsDigest: a row without the digest and size of its body
// could never be checked; it is refused.
func TestInsertCRLNeedsDigest(t *testing.T) {
	s := openTest(t)
	now := time.Now()
	for _, c := range []CRL{
		{Number: 1, ThisUpdate: now, NextUpdate: now, Operator: "x", DER: []byte{1}},
		{Number: 1, ThisUpdate: now, NextUpdate: now, Operator: "x", SHA256: "abc", Size: 1},
		{Number: 1, ThisUpdate: now, NextUpdate: now, Operator: "x", SHA256: strings.Repeat("ab", 32)},
	} {
		err := s.Tx(context.Background(), func(tx *Tx) error { return tx.InsertCRL(c) })
		if err == nil || !strings.Contains(err.Error(), "SHA-256 and size") {
			t.Errorf("InsertCRL(%+v) = %v; want refused", c, err)
		}
	}
	err := s.Read(context.Background(), func(tx *Tx) error {
		_, err := tx.CRLByNumber(1)
		return err
	})
	if !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("CRLByNumber(1) after refused inserts = %v; want not found", err)
	}
}
