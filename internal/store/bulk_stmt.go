package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the store's statements prepared. Parsing SQL
// (sqlite3_prepare) cost about a quarter of the CPU of a bulk download
// before it; with the cache, a statement is parsed once per connection and
// each use only binds and steps it.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: queries built from filters (review,
// audit listings) have a few shapes each; anything beyond runs unprepared.
const maxCachedStmts = 256

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	s, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil // the caller runs q directly and reports the error
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = s
	return s
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

// stmt returns q prepared for this transaction, or nil to run it directly.
func (t *Tx) stmt(q string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	if s, ok := t.stmts[q]; ok {
		return s
	}
	ps := t.cache.get(t.ctx, t.db, q)
	if ps == nil {
		return nil
	}
	s := t.tx.StmtContext(t.ctx, ps)
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = s
	return s
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(q); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}
