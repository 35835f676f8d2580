package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// engineCase is one store engine the conformance tests run against.
type engineCase struct {
	name string
	// location makes a new location with no store: a file path that does
	// not exist, or the URL of an empty database.
	location func(t *testing.T) string
}

// engines are SQLite (a file in a temporary directory) and PostgreSQL (a
// fresh database in the package's throwaway cluster; skipped without
// PostgreSQL, failed under CI). CMCA_TEST_STORE=sqlite or postgres runs
// one only.
func engines() []engineCase {
	all := []engineCase{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "ra.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
	}
	if only := os.Getenv("CMCA_TEST_STORE"); only != "" {
		for _, e := range all {
			if e.name == only {
				return []engineCase{e}
			}
		}
	}
	return all
}

// openAt opens a store at a location (file or URL), closed at cleanup.
func openAt(t *testing.T, loc string) *Store {
	t.Helper()
	var s *Store
	var err error
	if IsURL(loc) {
		s, err = OpenURL(context.Background(), loc)
	} else {
		s, err = Open(context.Background(), loc)
	}
	if err != nil {
		t.Fatalf("open %s: %v", Redact(loc), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// createAt makes a new store at a location (Create, CreateURL) and
// closes it.
func createAt(t *testing.T, loc string) string {
	t.Helper()
	var s *Store
	var err error
	if IsURL(loc) {
		s, err = CreateURL(context.Background(), loc)
	} else {
		s, err = Create(context.Background(), loc)
	}
	if err != nil {
		t.Fatalf("create %s: %v", Redact(loc), err)
	}
	s.Close()
	return loc
}

// newStore is a new store location of engine e: created, empty.
func (e engineCase) newStore(t *testing.T) string { return createAt(t, e.location(t)) }

// forEachEngine runs test once per engine, as a subtest named after it,
// with a new store.
func forEachEngine(t *testing.T, test func(t *testing.T, loc string)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { test(t, e.newStore(t)) })
	}
}

func TestEngineOpenMigrates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, loc string) {
		s := openAt(t, loc)
		v, err := s.SchemaVersion(context.Background())
		if err != nil || v < 6 {
			t.Fatalf("SchemaVersion = %d, %v; want >= 6", v, err)
		}
	})
}

// tableCount is the number of tables in a PostgreSQL database.
func tableCount(t *testing.T, u string) int {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOpenURLRefuses: each way a PostgreSQL store cannot be opened gets its
// own error class (the CLI's exit code), and nothing is written.
func TestOpenURLRefuses(t *testing.T) {
	ctx := context.Background()
	current := createAt(t, pgtest.NewDatabase(t))
	newer := createAt(t, pgtest.NewDatabase(t))
	db, err := sql.Open("pgx", newer)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	foreign := pgtest.NewDatabase(t)
	fdb, err := sql.Open("pgx", foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	if _, err := fdb.Exec(`CREATE TABLE invoices (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	empty := pgtest.NewDatabase(t)
	pu, err := url.Parse(current)
	if err != nil {
		t.Fatal(err)
	}
	wrongPassword := strings.Replace(current, pgtest.Password, "wrong-password", 1)
	missingDB := strings.Replace(current, pu.Path, "/no_such_database", 1)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	unreachable := strings.Replace(current, pu.Host, fmt.Sprintf("127.0.0.1:%d", port), 1)
	tests := []struct {
		name, url string
		want      error
		tables    int // tables in the database afterwards (-1: do not count)
	}{
		{"malformed", "postgres://u:p@host:notaport/db", ra.ErrInvalid, -1},
		{"not a URL", "mysql://u@h/db", ra.ErrInvalid, -1},
		{"wrong password", wrongPassword, ra.ErrAuth, -1},
		{"unreachable", unreachable, ErrUnavailable, -1},
		{"missing database", missingDB, ra.ErrNotFound, -1},
		{"empty database", empty, ErrNotStore, 0},
		{"another application's database", foreign, ErrNotStore, 1},
		{"newer schema", newer, ErrNewerSchema, tableCount(t, newer)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, open := range []func(context.Context, string) (*Store, error){OpenURL, OpenURLReadOnly} {
				s, err := open(ctx, tt.url)
				if err == nil {
					s.Close()
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("open %s = %v; want %v", tt.name, err, tt.want)
				}
				if strings.Contains(err.Error(), pgtest.Password) || strings.Contains(err.Error(), "wrong-password") {
					t.Errorf("error shows the password: %v", err)
				}
			}
			if tt.tables >= 0 {
				if n := tableCount(t, tt.url); n != tt.tables {
					t.Errorf("%d tables after the refused open; want %d (nothing written)", n, tt.tables)
				}
			}
		})
	}
	// init's CreateURL refuses a database that holds anything.
	for _, u := range []string{current, foreign} {
		if s, err := CreateURL(ctx, u); !errors.Is(err, ErrNotStore) {
			if err == nil {
				s.Close()
			}
			t.Errorf("CreateURL(non-empty) = %v; want ErrNotStore", err)
		}
	}
	// A read-only open cannot write.
	ro, err := OpenURLReadOnly(ctx, current)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Tx(ctx, func(tx *Tx) error { return tx.SetMeta("k", "v") }); err == nil {
		t.Error("a write through a read-only open succeeded")
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TestRedact: a URL's password never reaches a message.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://cmca:s3cret@db:5432/ca", "postgres://cmca:xxxxx@db:5432/ca"},
		{"postgres://db/ca?password=s3cret&sslmode=require", "postgres://db/ca?password=xxxxx&sslmode=require"},
		{"postgres://cmca@db/ca", "postgres://cmca@db/ca"},
		{"/home/ca/ra.db", "/home/ca/ra.db"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestRebind: placeholders become $n outside string literals, and the
// SQLite-only INDEXED BY goes.
func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?`, `SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2`},
		{"SELECT serial FROM certificates INDEXED BY certificates_crl\nWHERE x = ?", "SELECT serial FROM certificates\nWHERE x = $1"},
	}
	for _, tt := range tests {
		if got := Postgres.rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := SQLite.rebind(tt.in); got != tt.in {
			t.Errorf("SQLite rebind(%q) = %q; want it unchanged", tt.in, got)
		}
	}
}
