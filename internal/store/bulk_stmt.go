package store

import (
	"database/sql"
	"sync"
)

// Statements are prepared on the transaction's own connection and kept for
// the transaction: parsing SQL (sqlite3_prepare) cost about a quarter of the
// CPU of a bulk download before, and a batch runs each statement thousands
// of times in one transaction. Preparing through the *sql.DB instead would
// take a second connection while the transaction holds the first (another
// connection set-up and schema parse, and every statement parsed twice),
// which a one-command process pays for nothing.

// maxTxStmts bounds the statements kept by one transaction: queries built
// from filters (review, audit listings) have a few shapes each; anything
// beyond runs unprepared.
const maxTxStmts = 256

// stmtCache holds statements prepared through the *sql.DB, which
// database/sql keeps prepared on each connection that has run them
// (KeepStatements).
type stmtCache struct {
	mu sync.Mutex
	db *sql.DB
	m  map[string]*sql.Stmt
}

// KeepStatements makes every transaction reuse the statements earlier
// transactions prepared on the same connection, instead of parsing each
// statement again per transaction. It is for a long-running process with
// many small transactions (cmca serve: a read and a share of a group
// commit per download); a one-command process would pay a second
// connection for nothing. Call it before the store is shared.
func (s *Store) KeepStatements() {
	s.shared = &stmtCache{db: s.db, m: map[string]*sql.Stmt{}}
}

// get returns q prepared through the DB, or nil.
func (c *stmtCache) get(t *Tx, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s
	}
	if len(c.m) >= maxTxStmts {
		return nil
	}
	s, err := c.db.PrepareContext(t.ctx, q)
	if err != nil {
		return nil
	}
	c.m[q] = s
	return s
}

// stmt returns q prepared for this transaction, or nil to run it directly.
//
// On PostgreSQL the driver (pgx) caches prepared statements per connection
// by itself, and a failed prepare would abort the transaction: nil.
func (t *Tx) stmt(q string) *sql.Stmt {
	if t.engine == Postgres {
		return nil
	}
	if s, ok := t.stmts[q]; ok {
		return s
	}
	if len(t.stmts) >= maxTxStmts {
		return nil
	}
	if t.shared != nil {
		if ds := t.shared.get(t, q); ds != nil {
			s := t.tx.StmtContext(t.ctx, ds) // reuses ds's statement on this connection if it has one
			if t.stmts == nil {
				t.stmts = map[string]*sql.Stmt{}
			}
			t.stmts[q] = s
			return s
		}
	}
	s, err := t.tx.PrepareContext(t.ctx, q)
	if err != nil {
		return nil // the caller runs q directly and reports the error
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = s
	return s
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	t.touch(q)
	q = t.engine.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	t.touch(q)
	q = t.engine.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	t.touch(q)
	q = t.engine.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}
