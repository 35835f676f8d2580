package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	sqlite "modernc.org/sqlite"
)

// TestExplainSQLiteErrors: the SQLite failures a user can meet (another
// process holding the lock, a full disk, a read-only file) are explained
// in a catalogue message, so in Chinese too, keeping the driver's error in
// the chain; an internal one (a constraint) is left as it is.
func TestExplainSQLiteErrors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	raw := func(query string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&"+query)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	w := raw("_txlock=immediate")
	if _, err := w.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	errOf := map[string]error{}
	// Busy: a second writer while the first holds the lock.
	hold, err := w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, errOf["busy"] = raw("_txlock=immediate").BeginTx(ctx, nil)
	hold.Rollback()
	// Read-only: a write through a read-only handle.
	_, errOf["readonly"] = raw("mode=ro").Exec(`INSERT INTO t (v) VALUES (1)`)
	// Full: the database may not grow.
	full := raw("")
	if _, err := full.Exec(`PRAGMA max_page_count = 3`); err != nil {
		t.Fatal(err)
	}
	_, errOf["full"] = full.Exec(`INSERT INTO t (v) VALUES (zeroblob(100000))`)
	_, errOf["constraint"] = w.Exec(`INSERT INTO t (k) VALUES (1), (1)`)

	zh := msg.For(msg.Chinese)
	for _, tt := range []struct{ name, en, zh string }{
		{"busy", "the store is locked by another cmca process", "存储被另一个 cmca 进程"},
		{"readonly", "the store cannot be written", "无法写入存储"},
		{"full", "the disk holding the store is full", "存储所在的磁盘已满"},
		{"constraint", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := errOf[tt.name]
			var se *sqlite.Error
			if !errors.As(raw, &se) {
				t.Fatalf("driver error %v; want an *sqlite.Error", raw)
			}
			err := explain(msg.Errorf("begin transaction: %w", raw))
			if !errors.As(err, &se) {
				t.Errorf("explained %v lost the driver's error", err)
			}
			if tt.en == "" {
				if err.Error() != "begin transaction: "+raw.Error() {
					t.Errorf("explain(%v) = %v; want it unchanged", raw, err)
				}
				return
			}
			if !strings.HasPrefix(err.Error(), tt.en) || !strings.HasSuffix(err.Error(), "(begin transaction: "+raw.Error()+")") {
				t.Errorf("explain = %q; want %q… (begin transaction: %s)", err, tt.en, raw)
			}
			var tr msg.Translatable
			if !errors.As(err, &tr) || !strings.HasPrefix(tr.Translate(zh), tt.zh) || !strings.Contains(tr.Translate(zh), "（开始事务：") {
				t.Errorf("in Chinese: %v", err)
			} else {
				t.Log(tr.Translate(zh))
			}
			if again := explain(err); again.Error() != err.Error() {
				t.Errorf("explained twice: %q", again)
			}
		})
	}
}
