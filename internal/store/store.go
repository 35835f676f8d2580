// Package store keeps the RA's records in SQLite (modernc.org/sqlite, pure
// Go). All SQL of cmca lives in this package.
//
// Every state change runs in one transaction begun with BEGIN IMMEDIATE, so
// concurrent cmca processes on one home queue on the write lock (busy
// timeout) instead of failing, and the state each change expects is checked
// inside that transaction: of two processes racing on one request, exactly
// one wins and the other gets ra.ErrConflict.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an open RA database.
type Store struct {
	db   *sql.DB
	path string
	// Now is the clock; tests replace it instead of sleeping.
	Now func() time.Time
	// OCSP's hot reads, prepared once (ocsp.go)
	ocspOnce  sync.Once
	ocspStmts ocspStmts
	// revocations committed through this Store (ocsp.go)
	revocations atomic.Int64
}

// Open opens (creating if needed) the store at path and applies pending
// migrations. The file is created 0600.
func Open(ctx context.Context, path string) (*Store, error) {
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	} else {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: a transaction reported committed survives power loss. A CA must
	// not forget a serial it handed out or a passcode it consumed.
	q.Add("_pragma", "synchronous(FULL)")
	// Savepoint sub-journals (one per item of a bulk command) in memory,
	// not in temporary files: they only serve a rollback inside the open
	// transaction, never recovery after a crash (the WAL does that).
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Chmod(path+suffix, 0o600)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB exposes the handle for benchmarks and the backup command.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	// Most opens find the schema current: check that with a read, so that
	// opening a store takes no write lock and writes nothing.
	if len(names) > 0 {
		latest, err := migrationVersion(names[len(names)-1])
		if err != nil {
			return err
		}
		if cur, err := s.SchemaVersion(ctx); err == nil && cur >= latest {
			return nil
		}
	}
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var cur int
		if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, name := range names {
			v, err := migrationVersion(name)
			if err != nil {
				return err
			}
			if v <= cur {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, s.Now().Unix()); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrationVersion is the number a migration file's name starts with.
func migrationVersion(name string) (int, error) {
	v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
	if err != nil {
		return 0, fmt.Errorf("migration %s: bad name", name)
	}
	return v, nil
}

// SchemaVersion is the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Tx runs fn in one write transaction; fn's error rolls everything back.
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{tx: sqlTx, ctx: ctx, now: s.Now}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tx.revoked > 0 {
		s.revocations.Add(int64(tx.revoked))
	}
	return nil
}

// Read runs fn in a transaction that is always rolled back: a consistent
// snapshot for queries.
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&Tx{tx: sqlTx, ctx: ctx, now: s.Now})
}

// Tx is a transaction in progress. Its methods are the only SQL in cmca.
type Tx struct {
	tx  *sql.Tx
	ctx context.Context
	now func() time.Time
	// statements prepared on this transaction's connection (bulk_stmt.go)
	stmts map[string]*sql.Stmt
	// certificates revoked in this transaction (ocsp.go)
	revoked int
}

// Now is the transaction's clock.
func (t *Tx) Now() time.Time { return t.now() }

// Meta reads a key of the meta table ("" if absent).
func (t *Tx) Meta(key string) (string, error) {
	var v string
	err := t.tx.QueryRowContext(t.ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a key of the meta table.
func (t *Tx) SetMeta(key, value string) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
