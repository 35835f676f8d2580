package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/testtool"
)

// createStore makes a store at a fresh path, closes it and returns the path.
func createStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ra.db")
	s, err := Create(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawExec runs statements on a store file with plain SQLite, behind cmca.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestOpenRefusesWhatIsNotThisStore: only Create makes a store. Open and
// OpenReadOnly refuse a missing, empty, foreign or newer store with the
// documented error (exit 3 for a missing one, 4 for the rest) and leave
// the file as it was.
func TestOpenRefusesWhatIsNotThisStore(t *testing.T) {
	newer := LatestVersion() + 1
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string) // makes the file at path
		want    error
		exit    error
		msg     string
	}{
		{"missing", func(t *testing.T, path string) {}, ErrNoStore, ra.ErrNotFound, "does not exist"},
		{"empty", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }, ErrNotStore, ra.ErrConflict, "is empty (0 bytes)"},
		{"not SQLite", func(t *testing.T, path string) { os.WriteFile(path, []byte("correct horse battery\n"), 0o600) }, ErrNotStore, ra.ErrConflict, "not a cmca store"},
		{"no schema", func(t *testing.T, path string) { rawExec(t, path, `CREATE TABLE t (x)`) }, ErrNotStore, ra.ErrConflict, "has no cmca schema"},
		{"empty schema table", func(t *testing.T, path string) {
			rawExec(t, path, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`, `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)
		}, ErrNotStore, ra.ErrConflict, "no migration recorded"},
		{"another application", func(t *testing.T, path string) {
			rawExec(t, path, `PRAGMA application_id = 1`, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`)
		}, ErrNotStore, ra.ErrConflict, "application_id 0x00000001 is not cmca's (0x434d4341)"},
		{"newer user_version", func(t *testing.T, path string) {
			copyStore(t, path)
			rawExec(t, path, fmt.Sprintf(`PRAGMA user_version = %d`, newer))
		}, ErrNewerSchema, ra.ErrConflict, fmt.Sprintf("store schema version %d is newer than this cmca's (version %d)", newer, LatestVersion())},
		{"newer migration row", func(t *testing.T, path string) {
			copyStore(t, path)
			rawExec(t, path, fmt.Sprintf(`INSERT INTO schema_migrations (version, applied_at) VALUES (%d, 0)`, newer))
		}, ErrNewerSchema, ra.ErrConflict, fmt.Sprintf("store schema version %d is newer", newer)},
	}
	for _, tt := range tests {
		for _, mode := range []string{"rw", "ro"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "ra.db")
				tt.prepare(t, path)
				before, _ := os.ReadFile(path)
				open := Open
				if mode == "ro" {
					open = OpenReadOnly
				}
				s, err := open(context.Background(), path)
				if err == nil {
					s.Close()
					t.Fatalf("Open = nil error; want %v", tt.want)
				}
				if !errors.Is(err, tt.want) || !errors.Is(err, tt.exit) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("Open = %v; want %v (%v) saying %q", err, tt.want, tt.exit, tt.msg)
				}
				after, statErr := os.ReadFile(path)
				if tt.name == "missing" {
					if statErr == nil {
						t.Errorf("Open created %s", path)
					}
					return
				}
				if !bytes.Equal(before, after) {
					t.Errorf("Open changed %s (%d bytes, was %d)", path, len(after), len(before))
				}
				for _, side := range []string{"-wal", "-shm"} {
					if fi, err := os.Stat(path + side); err == nil && fi.Size() > 0 && tt.name != "newer migration row" && tt.name != "newer user_version" {
						t.Errorf("Open left %s%s", path, side)
					}
				}
			})
		}
	}
}

// copyStore puts a current, closed store at path.
func copyStore(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(createStore(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCreateMarksTheStore: a new store carries cmca's application_id and
// its schema version in user_version; Create refuses an existing file.
func TestCreateMarksTheStore(t *testing.T) {
	ctx := context.Background()
	path := createStore(t)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var appID, userVersion int
	if err := s.DB().QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil || appID != ApplicationID {
		t.Errorf("application_id = %#x, %v; want %#x", appID, err, ApplicationID)
	}
	if err := s.DB().QueryRowContext(ctx, `PRAGMA user_version`).Scan(&userVersion); err != nil || userVersion != LatestVersion() {
		t.Errorf("user_version = %d, %v; want %d", userVersion, err, LatestVersion())
	}
	if _, err := Create(ctx, path); err == nil || !errors.Is(err, os.ErrExist) {
		t.Errorf("Create over an existing store = %v; want %v", err, os.ErrExist)
	}
}

// TestOldStoreMigratesAndIsMarked: a version 3 store (before identities and
// header marks) still opens; it is migrated to the current version and
// marked, and has no identity until the service records one.
func TestOldStoreMigratesAndIsMarked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_perf_indexes.sql", "migrations/0003_crl_files.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body))
	}
	stmts = append(stmts, `INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0), (2, 0), (3, 0)`, `PRAGMA journal_mode = WAL`)
	rawExec(t, path, stmts...)

	// A read-only open of an old store migrates it first (the home is
	// writable here), then reads.
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a version 3 store: %v", err)
	}
	if v, err := ro.SchemaVersion(ctx); err != nil || v != LatestVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	ro.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var appID, userVersion int
	s.DB().QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID)
	s.DB().QueryRowContext(ctx, `PRAGMA user_version`).Scan(&userVersion)
	if appID != ApplicationID || userVersion != LatestVersion() {
		t.Errorf("after migration application_id = %#x, user_version = %d; want %#x, %d", appID, userVersion, ApplicationID, LatestVersion())
	}
	err = s.Tx(ctx, func(tx *Tx) error {
		id, err := tx.Identity()
		if err != nil || id != nil {
			t.Errorf("Identity of a migrated store = %+v, %v; want none yet", id, err)
		}
		want := Identity{StoreID: NewStoreID(), CACertSHA256: strings.Repeat("ab", 32), CreatedAt: time.Unix(1000, 0).UTC()}
		if err := tx.SetIdentity(want); err != nil {
			return err
		}
		if got, err := tx.Identity(); err != nil || *got != want {
			t.Errorf("Identity = %+v, %v; want %+v", got, err, want)
		}
		if err := tx.SetIdentity(want); !errors.Is(err, ra.ErrConflict) {
			t.Errorf("second SetIdentity = %v; want ra.ErrConflict", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The row is fixed: SQL behind cmca cannot change or drop it quietly.
	for _, q := range []string{`UPDATE store_identity SET ca_cert_sha256 = 'x'`, `DELETE FROM store_identity`} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "never changes") {
			t.Errorf("%s = %v; want refused", q, err)
		}
	}
}

// TestOpenReadOnlyWritesNothing: a read-only open reads a store whose file
// is 0444 without changing it and refuses writes. Tests run as root here,
// which ignores file modes, so the proof is that the store file is
// byte-for-byte and mtime unchanged and that SQLite itself refuses a write;
// TestOpenReadOnlyOnReadOnlyHome runs the same open as another user.
func TestOpenReadOnlyWritesNothing(t *testing.T) {
	ctx := context.Background()
	path := createStore(t)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	s, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	err = s.Read(ctx, func(tx *Tx) error {
		_, err := tx.Summary()
		return err
	})
	if err != nil {
		t.Errorf("read on a read-only store: %v", err)
	}
	err = s.Tx(ctx, func(tx *Tx) error { return tx.SetMeta("x", "y") })
	if err == nil {
		t.Error("a write through a read-only store succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || !fi.ModTime().Equal(old) {
		t.Errorf("the store changed: %d bytes (was %d), mtime %v (was %v)", len(after), len(before), fi.ModTime(), old)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("a read-only open wrote %d bytes to the -wal file", fi.Size())
	}
}

// TestOpenReadOnlyOnReadOnlyHome: a user who cannot write the home (the
// directory 0555, the store 0444, no -wal or -shm) can still read the
// store. Run as root, the test runs itself again as nobody with setpriv.
func TestOpenReadOnlyOnReadOnlyHome(t *testing.T) {
	if path := os.Getenv("CMCA_TEST_READONLY_STORE"); path != "" {
		s, err := OpenReadOnly(context.Background(), path)
		if err != nil {
			t.Fatalf("OpenReadOnly as uid %d: %v", os.Getuid(), err)
		}
		defer s.Close()
		err = s.Read(context.Background(), func(tx *Tx) error {
			_, err := tx.Summary()
			return err
		})
		if err != nil {
			t.Fatalf("read as uid %d: %v", os.Getuid(), err)
		}
		if _, err := Open(context.Background(), path); err == nil {
			t.Fatalf("a read-write Open as uid %d succeeded on a read-only home", os.Getuid())
		}
		// An older store needs a migration, which needs a write: a clear
		// error, not a half-read store.
		old := os.Getenv("CMCA_TEST_READONLY_OLD_STORE")
		if _, err := OpenReadOnly(context.Background(), old); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "must be migrated to schema version") {
			t.Fatalf("OpenReadOnly of an older store on a read-only home = %v; want ErrReadOnly", err)
		}
		return
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "ra.db")
	s, err := Create(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err == nil {
			t.Fatalf("%s%s left after Close", path, side)
		}
	}
	oldPath := filepath.Join(home, "old.db")
	rawExec(t, oldPath, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`, `INSERT INTO schema_migrations VALUES (1, 0)`)
	before, _ := os.ReadFile(path)
	for _, p := range []string{path, oldPath} {
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(home, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(home, 0o700) })
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		testtool.Need(t, "setpriv")
		// nobody must reach the test binary and the home.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		exe := filepath.Join(dir, "store.test")
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, "-test.run=^TestOpenReadOnlyOnReadOnlyHome$", "-test.count=1")
	} else {
		cmd = exec.Command(bin, "-test.run=^TestOpenReadOnlyOnReadOnlyHome$", "-test.count=1")
	}
	cmd.Env = append(os.Environ(), "CMCA_TEST_READONLY_STORE="+path, "CMCA_TEST_READONLY_OLD_STORE="+oldPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("read-only open as another user: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the store changed")
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err == nil {
			t.Errorf("a read-only open made %s%s", path, side)
		}
	}
}
