package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file is the engine seam: every difference between SQLite and
// PostgreSQL that is not a migration lives here (docs/architecture.md,
// "Store engines"). The SQL elsewhere in the package is written once, with
// ? placeholders, in the subset both engines share; a Tx rewrites it for
// PostgreSQL (placeholders, SQLite-only planner hints) and takes the locks
// that SQLite's single writer made unnecessary.

// Engine names a database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// IsURL reports whether a store location is a PostgreSQL URL
// (postgres://... or postgresql://...) rather than a SQLite file.
func IsURL(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// Errors of opening a PostgreSQL store, for the CLI's exit codes.
var (
	// ErrUnavailable: the database server cannot be reached or is
	// restarting; the same command may succeed later.
	ErrUnavailable = errors.New("database unavailable")
)

// CreateURL makes a new store in the PostgreSQL database at u: the
// database must exist (createdb) and be empty; it gets the current schema.
// Only `cmca init` (and tests) create stores.
func CreateURL(ctx context.Context, u string) (*Store, error) {
	s, err := connect(ctx, u, false)
	if err != nil {
		return nil, err
	}
	if err := s.checkEmpty(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.migrate(ctx, 0); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// CheckEmptyURL checks, writing nothing, that the PostgreSQL database at u
// can take a new store (CreateURL): it answers and holds no table.
func CheckEmptyURL(ctx context.Context, u string) error {
	s, err := connect(ctx, u, true)
	if err != nil {
		return err
	}
	defer s.db.Close()
	return s.checkEmpty(ctx)
}

// checkEmptyTx is checkEmpty inside a transaction (after the migration
// lock, so that two copies into one database cannot both find it empty).
func (s *Store) checkEmptyTx(tx *Tx) error {
	if err := tx.lock(lockMigrate); err != nil {
		return err
	}
	var tables int
	if err := tx.queryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil {
		return err
	}
	if tables > 0 {
		return msg.Errorf("%s is not empty (%d tables): %w", s.path, tables, ErrNotStore)
	}
	return nil
}

func (s *Store) checkEmpty(ctx context.Context) error {
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil {
		return fmt.Errorf("%s: %w", s.path, unavailable(err))
	}
	if tables > 0 {
		return msg.Errorf("%s is not empty (%d tables); `cmca init` makes a store in an empty database only (drop and create it, or use another): %w", s.path, tables, ErrNotStore)
	}
	return nil
}

// OpenURL opens the store in the PostgreSQL database at u for reading and
// writing and applies pending migrations, with the rules of Open: an empty
// database, a database that is not a cmca store, and a store of a newer
// schema are refused, and nothing is written to them. Nothing is written
// either when the URL is malformed, the server unreachable or the password
// wrong.
func OpenURL(ctx context.Context, u string) (*Store, error) {
	return openURL(ctx, u, false)
}

// OpenURLReadOnly opens the store at u in read-only transactions
// (default_transaction_read_only): commands that only read cannot write by
// mistake. A store of an older schema is first migrated by a read-write
// open.
func OpenURLReadOnly(ctx context.Context, u string) (*Store, error) {
	return openURL(ctx, u, true)
}

func openURL(ctx context.Context, u string, readOnly bool) (*Store, error) {
	s, err := connect(ctx, u, readOnly)
	if err != nil {
		return nil, err
	}
	cur, err := s.checkPostgres(ctx)
	if err == nil && cur < LatestVersion() {
		if readOnly {
			s.db.Close()
			rw, err := openURL(ctx, u, false)
			if err != nil {
				return nil, msg.Errorf("%s must be migrated to schema version %d before it can be read: %v: %w", s.path, LatestVersion(), err, ErrReadOnly)
			}
			rw.Close()
			return openURL(ctx, u, true)
		}
		err = s.migrate(ctx, cur)
	}
	if err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// connect opens a pool on u and checks that the server answers.
func connect(ctx context.Context, u string, readOnly bool) (*Store, error) {
	if !IsURL(u) {
		return nil, msg.Errorf("store URL %q: want postgres://USER:PASSWORD@HOST:PORT/DATABASE: %w", Redact(u), ra.ErrInvalid)
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, msg.Errorf("store URL %s: %v: %w", Redact(u), redactErr(err, u), ra.ErrInvalid)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	// Several cmca serve instances share the server's connections.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, msg.Errorf("open store %s: %w", Redact(u), classify(err))
	}
	return &Store{db: db, path: Redact(u), engine: Postgres, readOnly: readOnly, Now: time.Now}, nil
}

// checkPostgres is check for PostgreSQL: the database must hold a cmca
// schema, not a newer one than this binary's. It returns the version.
func (s *Store) checkPostgres(ctx context.Context) (int, error) {
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name IN ('schema_migrations', 'meta')`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("%s: %w", s.path, unavailable(err))
	}
	if tables < 2 {
		return 0, msg.Errorf("%s has no cmca schema; only `cmca init` makes a new store (in an empty database), or `cmca restore` puts one back: %w", s.path, ErrNotStore)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %w", s.path, err, ErrNotStore)
	}
	if cur == 0 {
		return 0, msg.Errorf("%s has no cmca schema (no migration recorded): %w", s.path, ErrNotStore)
	}
	if cur > LatestVersion() {
		return 0, msg.Errorf("%s: store schema version %d is newer than this cmca's (version %d); use the cmca release that migrated it, or a newer one: %w", s.path, cur, LatestVersion(), ErrNewerSchema)
	}
	return cur, nil
}

// Redact is a store location fit for messages and logs: a URL without its
// password.
func Redact(loc string) string {
	if !IsURL(loc) {
		return loc
	}
	pu, err := url.Parse(loc)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := pu.User.Password(); ok {
		pu.User = url.UserPassword(pu.User.Username(), "xxxxx")
	}
	q := pu.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		pu.RawQuery = q.Encode()
	}
	return pu.String()
}

// redactErr is err's text without the password of u (a parse error may
// quote the URL).
func redactErr(err error, u string) string {
	msg := err.Error()
	if pu, perr := url.Parse(u); perr == nil {
		if pw, ok := pu.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// classify maps a connection error to the sentinel the CLI turns into an
// exit code: a refused password is ra.ErrAuth, a server that cannot be
// reached (or is shutting down or starting) ErrUnavailable.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000": // invalid_password, invalid_authorization_specification
			return fmt.Errorf("%s: %w", pe.Message, ra.ErrAuth)
		case pe.Code == "3D000": // invalid_catalog_name
			return msg.Errorf("%s; create it first (createdb): %w", pe.Message, ra.ErrNotFound)
		case strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03": // connection exceptions, admin/crash shutdown, cannot connect now
			return fmt.Errorf("%s: %w", pe.Message, ErrUnavailable)
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		// pgconn reports a refused password inside a ConnectError too
		if strings.Contains(err.Error(), "password authentication failed") {
			return fmt.Errorf("%v: %w", err, ra.ErrAuth)
		}
		return fmt.Errorf("%v: %w", err, ErrUnavailable)
	}
	return err
}

// Engine is the store's database engine.
func (s *Store) Engine() Engine { return s.engine }

// rebound caches rebind's results: the package's queries are a few
// hundred constant strings (and a few shapes built from filters).
var rebound sync.Map

// rebind rewrites a query of this package for the engine: PostgreSQL
// numbers its placeholders ($1, $2...) and has no INDEXED BY.
func (e Engine) rebind(q string) string {
	if e != Postgres {
		return q
	}
	if r, ok := rebound.Load(q); ok {
		return r.(string)
	}
	r := rebindPostgres(q)
	rebound.Store(q, r)
	return r
}

func rebindPostgres(q string) string {
	if i := strings.Index(q, " INDEXED BY "); i >= 0 {
		j := i + len(" INDEXED BY ")
		for j < len(q) && q[j] != ' ' && q[j] != '\n' {
			j++
		}
		q = q[:i] + q[j:]
	}
	var b strings.Builder
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
		case c == '?' && !inQuote:
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// migrationGlob is where the migrations of the engine are.
func (e Engine) migrationGlob() string {
	if e == Postgres {
		return "migrations/postgres/*.sql"
	}
	return "migrations/*.sql"
}

// schemaMigrationsDDL creates the table of applied migrations.
func (e Engine) schemaMigrationsDDL() string {
	if e == Postgres {
		return `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`
}

// emptyBlob is the literal of a zero-length BLOB/BYTEA.
func (e Engine) emptyBlob() string {
	if e == Postgres {
		return `'\x'::bytea`
	}
	return `x''`
}

// isUnique reports a unique or primary key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// retryable reports a PostgreSQL error after which the whole transaction
// may simply be run again: a serialization failure or a deadlock (one of
// the transactions in the cycle is aborted), or errStaleClock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errStaleClock) || errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errStaleClock: the transaction's clock, fixed when it began, is older
// than a record another transaction committed since (lockForRevocation).
// Store.Tx runs it again, with a fresh clock.
var errStaleClock = errors.New("transaction clock older than a record committed since it began")

// maxTxAttempts bounds how often Store.Tx runs a transaction that keeps
// failing with a retryable error.
const maxTxAttempts = 8

// backoff waits before attempt n (1, 2, ...) of a transaction: jittered,
// doubling from 5 ms, at most 200 ms.
func backoff(ctx context.Context, n int) error {
	d := min(5*time.Millisecond<<n, 200*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Advisory lock keys (PostgreSQL, transaction scope). The first number is
// cmca's namespace, the second the resource.
const (
	lockSpace   = 0x636d6361 // "cmca"
	lockMigrate = 1
	lockAudit   = 2 // the audit chain's tail
	lockCRL     = 3 // CRL numbering
	lockPolicy  = 4 // the policy rows, read and rewritten as a whole
	// lockCertSpace namespaces per-certificate locks: (lockCertSpace,
	// hashtext(serial)) serialises the open-request check of renew, revoke
	// and reissue on one certificate.
	lockCertSpace = 0x636d6332 // "cmc2"
)

// lock takes a PostgreSQL advisory lock held until the transaction ends.
// SQLite needs none: a write transaction holds the database's one write
// lock (BEGIN IMMEDIATE) from its start.
func (t *Tx) lock(key int) error {
	if t.engine != Postgres || !t.write {
		return nil
	}
	if _, err := t.tx.ExecContext(t.ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockSpace, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// lockCert takes the advisory lock of one certificate serial.
func (t *Tx) lockCert(serial string) error {
	if t.engine != Postgres || !t.write {
		return nil
	}
	if _, err := t.tx.ExecContext(t.ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockCertSpace, serial); err != nil {
		return fmt.Errorf("lock certificate %s: %w", serial, err)
	}
	return nil
}

// forUpdate is the row-lock clause a write transaction adds to a read of
// a row it may change: PostgreSQL then returns the newest committed version
// and holds it until commit, so two transactions on one request run one
// after the other. SQLite's writer lock does the same for the whole file.
func (t *Tx) forUpdate() string {
	if t.engine == Postgres && t.write {
		return " FOR UPDATE"
	}
	return ""
}

// forUpdateOf is forUpdate for a query that joins: only the rows of table
// alias are locked.
func (t *Tx) forUpdateOf(alias string) string {
	if t.engine == Postgres && t.write {
		return " FOR UPDATE OF " + alias
	}
	return ""
}

// savepoint runs fn under a savepoint on PostgreSQL, where a failed
// statement (a unique violation the caller handles, say) otherwise aborts
// the whole transaction. SQLite keeps the transaction usable after a failed
// statement and needs none.
func (t *Tx) savepoint(fn func() error) error {
	if t.engine != Postgres {
		return fn()
	}
	return t.pgSubtransaction(fn)
}

// pgSubtransaction runs fn under a savepoint of its own (PostgreSQL: Item
// and savepoint); if fn fails, what it did is rolled back, its audit
// records included, and the transaction goes on.
//
// Each savepoint has its own name, and one that is done is not released
// by a round trip of its own: the release goes with the next savepoint's
// statement ("RELEASE SAVEPOINT sp1; SAVEPOINT sp2", one round trip), or
// never, when the transaction ends first. Releasing a savepoint releases
// those set after it, and rolling back to one destroys them, so only the
// newest finished savepoint is ever waiting: a group of downloads saves two
// round trips per download.
func (t *Tx) pgSubtransaction(fn func() error) error {
	t.spCount++
	name := "sp" + strconv.Itoa(t.spCount)
	q := "SAVEPOINT " + name
	if t.spDone != "" {
		q = "RELEASE SAVEPOINT " + t.spDone + "; " + q
	}
	if _, err := t.tx.ExecContext(t.ctx, q); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	t.spDone = ""
	m := t.markAudit()
	ferr := fn()
	if ferr != nil {
		t.forget()
		if _, err := t.tx.ExecContext(t.ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return errors.Join(ferr, fmt.Errorf("roll back to savepoint: %w", err))
		}
		t.rollbackAudit(m)
	}
	t.spDone = name
	return ferr
}

// readOptions are the options of a read transaction: a snapshot of the
// whole database. SQLite's read transactions are snapshots already;
// PostgreSQL's default (read committed) takes one per statement.
func (e Engine) readOptions() *sql.TxOptions {
	if e == Postgres {
		return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	return &sql.TxOptions{ReadOnly: true}
}

// unavailable marks an error of a lost or refused connection (a database
// restarting, a network gone) with ErrUnavailable, keeping its chain: the
// transaction left nothing behind and the same operation may be retried.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" {
			return fmt.Errorf("%w (%w)", err, ErrUnavailable)
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		strings.Contains(err.Error(), "conn closed") {
		return fmt.Errorf("%w (%w)", err, ErrUnavailable)
	}
	return err
}

// sqliteOnly refuses, on PostgreSQL, an operation made of SQLite's own
// features (VACUUM INTO, recursive fill), naming what to use instead.
func (e Engine) sqliteOnly(what, instead string) error {
	if e == Postgres {
		return msg.Errorf("%s works on a SQLite store only; on PostgreSQL use %s: %w", what, instead, ra.ErrInvalid)
	}
	return nil
}

// pgIntegrityCheck is IntegrityCheck on PostgreSQL. The server enforces
// foreign keys, but its superuser can turn them off (session_replication_role
// = replica, ALTER TABLE ... DISABLE TRIGGER, a data-only pg_restore
// --disable-triggers): so, like SQLite's foreign_key_check, every foreign
// key is checked row by row; and no constraint may be left unvalidated
// (NOT VALID), which would let rows break it.
func (t *Tx) pgIntegrityCheck() ([]string, error) {
	rows, err := t.query(`SELECT conrelid::regclass::text, conname FROM pg_constraint
WHERE NOT convalidated AND connamespace = current_schema()::regnamespace ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	var out []string
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, fmt.Sprintf("constraint %s on %s is not validated", name, table))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fks, err := t.pgForeignKeys()
	if err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	for _, fk := range fks {
		var match, notNull, key []string
		for i := range fk.cols {
			match = append(match, "p."+fk.parentCols[i]+" = c."+fk.cols[i])
			notNull = append(notNull, "c."+fk.cols[i]+" IS NOT NULL")
			key = append(key, "c."+fk.cols[i]+"::text")
		}
		rows, err := t.query(`SELECT ` + strings.Join(key, ` || ',' || `) + ` FROM ` + fk.table + ` c WHERE ` +
			strings.Join(notNull, " AND ") + ` AND NOT EXISTS (SELECT 1 FROM ` + fk.parent + ` p WHERE ` +
			strings.Join(match, " AND ") + `) ORDER BY 1 LIMIT 100`)
		if err != nil {
			return nil, fmt.Errorf("foreign key check of %s: %w", fk.table, err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, fmt.Sprintf("%s row with %s %s refers to a missing %s row", fk.table, strings.Join(fk.cols, ","), v, fk.parent))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pgForeignKey is one foreign key of the schema: table(cols) references
// parent(parentCols), every name quoted for SQL.
type pgForeignKey struct {
	table, parent    string
	cols, parentCols []string
}

func (t *Tx) pgForeignKeys() ([]pgForeignKey, error) {
	rows, err := t.query(`SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,
  array_to_string(ARRAY(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), ','),
  array_to_string(ARRAY(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i), ',')
FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace ORDER BY 1, c.conname`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fks []pgForeignKey
	for rows.Next() {
		var fk pgForeignKey
		var cols, parentCols string
		if err := rows.Scan(&fk.table, &fk.parent, &cols, &parentCols); err != nil {
			return nil, err
		}
		fk.cols, fk.parentCols = strings.Split(cols, ","), strings.Split(parentCols, ",")
		if len(fk.cols) != len(fk.parentCols) || cols == "" {
			return nil, fmt.Errorf("foreign key of %s: columns %q and %q do not pair", fk.table, cols, parentCols)
		}
		fks = append(fks, fk)
	}
	return fks, rows.Err()
}

// Raw is the database for tests and one-off maintenance, with queries
// written as everywhere in this package (? placeholders) and rebound for
// the engine. It bypasses every check of Tx: no audit record, no binding.
func (s *Store) Raw() RawDB { return RawDB{s.db, s.engine} }

// RawDB is Store.Raw.
type RawDB struct {
	db     *sql.DB
	engine Engine
}

// Exec runs a statement.
func (r RawDB) Exec(q string, args ...any) (sql.Result, error) {
	return r.db.Exec(r.engine.rebind(q), args...)
}

// ExecContext runs a statement.
func (r RawDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.db.ExecContext(ctx, r.engine.rebind(q), args...)
}

// Query runs a query.
func (r RawDB) Query(q string, args ...any) (*sql.Rows, error) {
	return r.db.Query(r.engine.rebind(q), args...)
}

// QueryRow runs a query of one row.
func (r RawDB) QueryRow(q string, args ...any) *sql.Row {
	return r.db.QueryRow(r.engine.rebind(q), args...)
}

// QueryRowContext runs a query of one row.
func (r RawDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.db.QueryRowContext(ctx, r.engine.rebind(q), args...)
}
