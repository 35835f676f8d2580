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
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cmca/cmca/internal/ra"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Store is an open RA database: a SQLite file (Create, Open) or a
// PostgreSQL database (CreateURL, OpenURL; engine.go).
type Store struct {
	db       *sql.DB
	path     string // the file, or the URL without its password
	engine   Engine
	readOnly bool
	shared   *stmtCache // KeepStatements
	// Now is the clock; tests replace it instead of sleeping.
	Now func() time.Time
	// OCSP's hot reads, prepared once (ocsp.go)
	ocspOnce  sync.Once
	ocspStmts ocspStmts
	// revocations committed through this Store (ocsp.go)
	revocations atomic.Int64
}

// ApplicationID marks a SQLite file as a cmca store (PRAGMA
// application_id): "CMCA" in ASCII. A file carrying another non-zero
// application_id is refused; 0 is a store made before version 4.
const ApplicationID = 0x434D4341

// Errors opening a store. The first wraps ra.ErrNotFound (exit 3), the
// others ra.ErrConflict (exit 4): the file is there but cannot be trusted
// as this home's store, and nothing was written to it.
var (
	// ErrNoStore: there is no store file.
	ErrNoStore = msg.Errorf("no cmca store: %w", ra.ErrNotFound)
	// ErrNotStore: the file is empty, not SQLite, another application's,
	// or has no cmca schema.
	ErrNotStore = msg.Errorf("not a cmca store: %w", ra.ErrConflict)
	// ErrNewerSchema: the store was migrated by a newer cmca.
	ErrNewerSchema = msg.Errorf("store schema newer than this cmca: %w", ra.ErrConflict)
	// ErrReadOnly: a read-only open found a store that needs migrating and
	// could not migrate it.
	ErrReadOnly = msg.Errorf("store needs migrating: %w", ra.ErrConflict)
)

// errNeedsMigration: a read-only open found an older schema.
var errNeedsMigration = errors.New("store schema is older than this cmca's")

// Create makes a new store at path (which must not exist), mode 0600, with
// the current schema. Only `cmca init` (and tests) create stores; every
// other open goes through Open or OpenReadOnly and refuses a missing one.
func Create(ctx context.Context, path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, msg.Errorf("create store: %w", err)
	}
	f.Close()
	s, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	if err := s.useWAL(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.migrate(ctx, 0); err != nil {
		s.db.Close()
		return nil, err
	}
	s.chmodSidecars()
	return s, nil
}

// Open opens the existing store at path for reading and writing and applies
// pending migrations. It refuses (see the Err variables) a missing or empty
// file, a file that is not a cmca store, and a store of a newer schema.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	s, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	cur, err := s.check(ctx)
	if err == nil {
		err = s.useWAL(ctx)
	}
	if err == nil && cur < LatestVersion() {
		err = s.migrate(ctx, cur)
	}
	if err != nil {
		s.db.Close()
		return nil, explain(err)
	}
	s.chmodSidecars()
	return s, nil
}

// OpenReadOnly opens the existing store at path read-only (SQLite
// mode=ro): commands that only read work on a read-only
// home and cannot write by mistake. A store of an older schema is first
// migrated by a read-write open; if that fails (a read-only home), the
// error says so.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	s, err := openReadOnly(ctx, path)
	if !errors.Is(err, errNeedsMigration) {
		return s, err
	}
	rw, err := Open(ctx, path)
	if err != nil {
		return nil, msg.Errorf("%s must be migrated to schema version %d before it can be read, and that needs write access: %v: %w", path, LatestVersion(), err, ErrReadOnly)
	}
	rw.Close()
	return openReadOnly(ctx, path)
}

func openReadOnly(ctx context.Context, path string) (*Store, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	s, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	cur, err := s.check(ctx)
	if err != nil && isCantOpen(err) {
		// A WAL store's reader needs its -wal and -shm files; in a home
		// this user cannot write they cannot be created. With no -wal
		// file there is nothing but the store file to read: open it
		// immutable (no locks, no -shm). This assumes no one writes the
		// store meanwhile (docs/security.md).
		if _, werr := os.Stat(path + "-wal"); errors.Is(werr, fs.ErrNotExist) {
			s.db.Close()
			if s, err = openDB(path, true, "immutable"); err != nil {
				return nil, err
			}
			cur, err = s.check(ctx)
		}
	}
	if err == nil && cur < LatestVersion() {
		err = errNeedsMigration
	}
	if err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// checkFile refuses a missing, empty or non-regular store file before
// SQLite sees it (SQLite would take an empty file for a new database).
func checkFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return msg.Errorf("%s does not exist: %w", path, ErrNoStore)
	}
	if err != nil {
		return msg.Errorf("open store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return msg.Errorf("%s is not a regular file: %w", path, ErrNotStore)
	}
	if fi.Size() == 0 {
		return msg.Errorf("%s is empty (0 bytes); only `cmca init` makes a new store: put the store back from a backup (`cmca restore`): %w", path, ErrNotStore)
	}
	return nil
}

// openDB opens the SQLite handle. SQLite never creates the file here
// (mode=rw or mode=ro): Create makes it first.
func openDB(path string, readOnly bool, flags ...string) (*Store, error) {
	q := url.Values{}
	for _, f := range flags {
		q.Set(f, "1")
	}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Savepoint sub-journals (one per item of a bulk command) in memory,
	// not in temporary files: they only serve a rollback inside the open
	// transaction, never recovery after a crash (the WAL does that).
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		// SQLite opens the file O_RDONLY and refuses every write. (Not
		// also query_only: it refuses VACUUM INTO, which backup needs.)
		q.Set("mode", "ro")
	} else {
		q.Set("mode", "rw")
		// No journal_mode here: it would write to a file not yet known to
		// be a cmca store. Create and Open switch a checked store to WAL
		// (useWAL); the mode is kept in the file.
		// FULL: a transaction reported committed survives power loss. A
		// CA must not forget a serial it handed out or a passcode it
		// consumed.
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?"+q.Encode())
	if err != nil {
		return nil, msg.Errorf("open store %s: %w", path, err)
	}
	// Keep connections for concurrent readers (cmca serve): database/sql
	// keeps 2 by default and would open and close one per request beyond.
	db.SetMaxIdleConns(16)
	return &Store{db: db, path: path, engine: SQLite, readOnly: readOnly, Now: time.Now}, nil
}

// uriPath escapes the characters that end or escape a path in an SQLite URI.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// useWAL puts the store in WAL mode unless it is already (a store copied
// from a backup may not be): readers never wait for the writer.
func (s *Store) useWAL(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return msg.Errorf("open store %s: %w", s.path, err)
	}
	if strings.EqualFold(mode, "wal") {
		return nil
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return msg.Errorf("open store %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) chmodSidecars() {
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Chmod(s.path+suffix, 0o600)
	}
}

// check reads the SQLite header and the schema version without writing:
// the file must be SQLite, not another application's, hold a cmca schema,
// and not a newer one than this binary's. It returns the version applied.
func (s *Store) check(ctx context.Context) (int, error) {
	var appID int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		if isCantOpen(err) {
			return 0, msg.Errorf("open store %s: %w", s.path, err)
		}
		return 0, fmt.Errorf("%s: %v: %w", s.path, err, ErrNotStore)
	}
	if appID != 0 && appID != ApplicationID {
		return 0, msg.Errorf("%s: its SQLite application_id 0x%08x is not cmca's (0x%08x): %w", s.path, uint32(appID), ApplicationID, ErrNotStore)
	}
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'meta')`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("%s: %v: %w", s.path, err, ErrNotStore)
	}
	if tables < 2 {
		return 0, msg.Errorf("%s has no cmca schema; only `cmca init` makes a new store: put the store back from a backup (`cmca restore`): %w", s.path, ErrNotStore)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %w", s.path, err, ErrNotStore)
	}
	var marked int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&marked); err != nil {
		return 0, err
	}
	if cur == 0 {
		return 0, msg.Errorf("%s has no cmca schema (no migration recorded): %w", s.path, ErrNotStore)
	}
	if v := max(cur, marked); v > LatestVersion() {
		return 0, msg.Errorf("%s: store schema version %d is newer than this cmca's (version %d); use the cmca release that migrated it, or a newer one: %w", s.path, v, LatestVersion(), ErrNewerSchema)
	}
	return cur, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// Path is the database file, or for PostgreSQL its URL without the
// password.
func (s *Store) Path() string { return s.path }

// DB exposes the handle for benchmarks and the backup command.
func (s *Store) DB() *sql.DB { return s.db }

// migrate applies the migrations above version cur in one transaction and
// marks the file (application_id, user_version). Version cur was read
// before the write lock: inside it, a version another process migrated to
// meanwhile is skipped, and a newer one than this binary's is refused.
//
// On PostgreSQL the migrations are those of migrations/postgres (the same
// versions) and instances starting together migrate one after the other
// (an advisory lock; SQLite: the write lock). There is no header to mark.
func (s *Store) migrate(ctx context.Context, cur int) error {
	names, err := migrationNames(s.engine)
	if err != nil {
		return err
	}
	return s.Tx(ctx, func(tx *Tx) error { return s.applyMigrations(ctx, tx, names, cur) })
}

// applyMigrations is migrate's transaction (store migrate runs it in its
// own, with the copy).
func (s *Store) applyMigrations(ctx context.Context, tx *Tx, names []string, cur int) error {
	latest := LatestVersion()
	if err := tx.lock(lockMigrate); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(ctx, s.engine.schemaMigrationsDDL()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if cur > latest {
		return msg.Errorf("%s: store schema version %d is newer than this cmca's (version %d): %w", s.path, cur, latest, ErrNewerSchema)
	}
	var hooks []func() error
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
		tx.forget() // raw SQL may change any row
		if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if after := afterMigration[v]; after != nil {
			hooks = append(hooks, func() error {
				if err := after(tx); err != nil {
					return fmt.Errorf("migration %s: %w", name, err)
				}
				return nil
			})
		}
		if _, err := tx.exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, s.Now().Unix()); err != nil {
			return err
		}
	}
	// The Go work of a migration runs once every pending migration's SQL
	// has: Go code reads and writes the newest schema only (the baseline of
	// version 5 digests columns that version 11 added).
	for _, h := range hooks {
		if err := h(); err != nil {
			return err
		}
	}
	if s.engine == Postgres {
		return nil
	}
	// Header marks, in the same transaction: a future cmca compares
	// user_version with its own version before reading any table.
	if _, err := tx.tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d`, ApplicationID)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, latest)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrationNames lists the migrations of an engine in order.
func migrationNames(e Engine) ([]string, error) {
	names, err := fs.Glob(migrations, e.migrationGlob())
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// LatestVersion is the schema version this binary migrates stores to: the
// number of its newest migration (the same for both engines,
// TestMigrationsSameVersions).
func LatestVersion() int {
	names, err := migrationNames(SQLite)
	if err != nil || len(names) == 0 {
		panic("store: no embedded migrations")
	}
	v, err := migrationVersion(names[len(names)-1])
	if err != nil {
		panic(err)
	}
	return v
}

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.readOnly }

// migrationVersion is the number a migration file's name starts with.
func migrationVersion(name string) (int, error) {
	v, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
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
//
// On PostgreSQL a transaction that fails with a serialization failure or a
// deadlock (SQLSTATE 40001, 40P01) is rolled back and run again, at most
// maxTxAttempts times: fn must not keep state across runs except by
// overwriting it, and what it does outside the database must be safe to do
// again. A lost connection is marked ErrUnavailable.
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, fn)
		if err == nil || s.engine != Postgres {
			return explain(err)
		}
		if !retryable(err) {
			return unavailable(err)
		}
		if attempt == maxTxAttempts {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func (s *Store) tx1(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return msg.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{tx: sqlTx, ctx: ctx, now: fixedAt(s.Now()), clock: s.Now, shared: s.shared, engine: s.engine, write: true}
	defer func() {
		if r := recover(); r != nil {
			// A panic (a bug) must not keep the write lock and the
			// connection: roll back, then let it go on.
			_ = sqlTx.Rollback()
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := tx.flushAudit(); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return msg.Errorf("commit: %w", err)
	}
	if tx.revoked > 0 {
		s.revocations.Add(int64(tx.revoked))
	}
	return nil
}

// Read runs fn in a transaction that is always rolled back: a consistent
// snapshot for queries.
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, s.engine.readOptions())
	if err != nil {
		return explain(unavailable(msg.Errorf("begin read: %w", err)))
	}
	defer sqlTx.Rollback()
	return fn(&Tx{tx: sqlTx, ctx: ctx, now: fixedAt(s.Now()), shared: s.shared, engine: s.engine})
}

// fixedAt is a transaction's clock: read once when the transaction begins,
// so every record one transaction writes (state change, audit record,
// certificate dates, passcode expiry) carries the same instant, and no
// check inside it sees the time move.
func fixedAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// Tx is a transaction in progress. Its methods are the only SQL in cmca.
type Tx struct {
	tx     *sql.Tx
	ctx    context.Context
	now    func() time.Time
	clock  func() time.Time // the store's clock, read afresh (lockForRevocation); nil in a snapshot
	engine Engine
	write  bool // a write transaction (Store.Tx), not a snapshot (Store.Read)
	// statements prepared on this transaction's connection (bulk_stmt.go)
	stmts  map[string]*sql.Stmt
	shared *stmtCache
	// certificates revoked in this transaction (ocsp.go)
	revoked int
	// the audit record this transaction appended last (audit.go)
	tail *tail
	// the binding digests of the request and the certificate this
	// transaction wrote last, from the write itself (binding.go)
	freshReq, freshCert fresh
	// audit records kept until commit, and how many of them are in the
	// table (PostgreSQL, audit_defer.go)
	auditLog  []auditEntry
	auditDone int
	// PostgreSQL savepoints set, and the newest finished one, not yet
	// released (engine.go, pgSubtransaction)
	spCount int
	spDone  string
}

// forget drops what the transaction remembers of its own writes, after a
// rollback to a savepoint undid some of them.
func (t *Tx) forget() { t.tail, t.freshReq, t.freshCert = nil, fresh{}, fresh{} }

// Now is the transaction's clock, fixed when it began.
func (t *Tx) Now() time.Time { return t.now() }

// Meta reads a key of the meta table ("" if absent).
func (t *Tx) Meta(key string) (string, error) {
	var v string
	err := t.queryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a key of the meta table.
func (t *Tx) SetMeta(key, value string) error {
	_, err := t.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// SetMetaOnce writes a key of the meta table unless it has a value
// already, and returns the value stored: value if this transaction won, the
// first writer's otherwise. Two transactions racing on one key (two
// processes, or two `cmca serve` instances on one PostgreSQL database)
// cannot both win: PostgreSQL makes the second INSERT wait for the first
// to commit and then do nothing; SQLite has one writer.
func (t *Tx) SetMetaOnce(key, value string) (string, error) {
	if _, err := t.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", fmt.Errorf("store meta %s: %w", key, err)
	}
	v, err := t.Meta(key)
	if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

// isCantOpen: SQLite could not open or create a file it needs beside the
// store (SQLITE_CANTOPEN, or SQLITE_READONLY_DIRECTORY and the like for a
// WAL reader in a directory it cannot write).
func isCantOpen(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_CANTOPEN || se.Code()&0xff == sqlite3.SQLITE_READONLY)
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
