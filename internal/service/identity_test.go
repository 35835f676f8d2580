package service

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

func initTestHome(t *testing.T, name string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := Init(context.Background(), home, InitOptions{CAName: name, KeyAlgo: token.ECDSAP256, Validity: 365 * 24 * time.Hour}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return home
}

// storeIdentity reads the identity of the store of home.
func storeIdentity(t *testing.T, home string) *store.Identity {
	t.Helper()
	st, err := store.OpenReadOnly(context.Background(), filepath.Join(home, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var id *store.Identity
	err = st.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = tx.Identity()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestInitRecordsIdentity: the store of a new home names its CA
// certificate by fingerprint and has a random store ID.
func TestInitRecordsIdentity(t *testing.T) {
	sqliteOnly(t) // the ra.db file itself
	home := initTestHome(t, "Identity CA")
	cert, fp, err := homeCACert(home)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	id := storeIdentity(t, home)
	if id == nil || id.CACertSHA256 != hex.EncodeToString(sum[:]) || id.CACertSHA256 != fp || len(id.StoreID) != 32 {
		t.Fatalf("identity = %+v; want CA fingerprint %s and a 32-digit store ID", id, fp)
	}
	if other := storeIdentity(t, initTestHome(t, "Identity CA")); other.StoreID == id.StoreID {
		t.Errorf("two homes have the same store ID %s", id.StoreID)
	}
}

// makeOlderStore replaces the store of home by one made the way cmca did
// before schema version 4: no identity, no header marks; its init record
// names serial.
func makeOlderStore(t *testing.T, home, serial string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(home, DBFile)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`PRAGMA journal_mode = WAL`, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	for _, name := range []string{"0001_init.sql", "0002_perf_indexes.sql", "0003_crl_files.sql"} {
		body, err := os.ReadFile(filepath.Join("..", "store", "migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body))
	}
	stmts = append(stmts, `INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0), (2, 0), (3, 0)`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()
	// The init record, written through the store (the audit chain).
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.SetMeta("pseudonym_key", strings.Repeat("ab", 32)); err != nil {
			return err
		}
		if err := tx.SetMeta("ca_key", "file:"+CAKeyFile); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "system", Action: "init", Serial: serial, Detail: "CA (older cmca)"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOlderStoreGetsIdentity: a home made before schema version 4 still
// opens. A read-only open checks its init record against ca/ca.crt and
// writes nothing; the first read-write open records the identity, with an
// audit record. Another CA's certificate in the home is refused either way.
func TestOlderStoreGetsIdentity(t *testing.T) {
	sqliteOnly(t) // the ra.db file itself
	ctx := context.Background()
	home := initTestHome(t, "Older CA")
	cert, fp, err := homeCACert(home)
	if err != nil {
		t.Fatal(err)
	}
	makeOlderStore(t, home, ra.SerialString(cert.SerialNumber))

	ro, err := OpenReadOnly(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("OpenReadOnly of an older store: %v", err)
	}
	ro.Close()
	if id := storeIdentity(t, home); id != nil {
		t.Fatalf("a read-only open recorded %+v", id)
	}

	s, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatalf("Open of an older store: %v", err)
	}
	evs, err := s.Audit(as(ctx, "auditor"), store.AuditFilter{})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := storeIdentity(t, home)
	if id == nil || id.CACertSHA256 != fp {
		t.Fatalf("identity after the first open = %+v; want CA fingerprint %s", id, fp)
	}
	identified := 0
	for _, e := range evs {
		if e.Action == "identify" && strings.Contains(e.Detail, id.StoreID) {
			identified++
		}
	}
	if identified != 1 {
		t.Errorf("audit records %+v; want one identify naming store %s", evs, id.StoreID)
	}
	// Opening again changes nothing.
	s, err = Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if again := storeIdentity(t, home); *again != *id {
		t.Errorf("identity changed to %+v", again)
	}
}

// TestOpenRefusesAnotherCAsStore: a store recorded for another CA, an
// older store whose init record names another CA, and a home without its
// CA certificate are refused; nothing is written.
func TestOpenRefusesAnotherCAsStore(t *testing.T) {
	sqliteOnly(t) // the ra.db file itself
	ctx := context.Background()
	home := initTestHome(t, "Home CA")
	other := initTestHome(t, "Other CA")
	otherCert, err := os.ReadFile(filepath.Join(other, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	homeCert, err := os.ReadFile(filepath.Join(home, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) {
		if err := os.WriteFile(filepath.Join(home, CACertFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		prepare func()
		want    error
		msg     string
	}{
		{"recorded identity of another CA", func() { put(otherCert) }, ErrOtherCA, "belongs to another CA (certificate SHA-256"},
		{"older store of another CA", func() {
			put(homeCert)
			oc, err := ca.ParseCertificatesPEM(otherCert)
			if err != nil {
				t.Fatal(err)
			}
			makeOlderStore(t, home, ra.SerialString(oc[0].SerialNumber))
		}, ErrOtherCA, "belongs to another CA (certificate serial"},
		{"no CA certificate", func() { os.Remove(filepath.Join(home, CACertFile)) }, ra.ErrNotFound, "ca.crt is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.prepare()
			before, _ := os.ReadFile(filepath.Join(home, DBFile))
			for _, o := range []func(context.Context, string, Config, CALoader) (*Service, error){Open, OpenReadOnly} {
				s, err := o(ctx, home, DefaultConfig(), nil)
				if err == nil {
					s.Close()
					t.Fatalf("open = nil error; want %v", tt.want)
				}
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("open = %v; want %v saying %q", err, tt.want, tt.msg)
				}
			}
			if after, _ := os.ReadFile(filepath.Join(home, DBFile)); string(after) != string(before) {
				t.Error("the refused store was changed")
			}
			if id := storeIdentity(t, home); tt.name != "recorded identity of another CA" && id != nil {
				t.Errorf("an identity was recorded: %+v", id)
			}
		})
	}
}

// TestOpenNoHome: a home that does not exist is ErrNoHome (exit 3, "run
// cmca init"), on either engine: with PostgreSQL (CMCA_TEST_STORE=postgres)
// the database of such a home is empty, and used to be reported as a
// database without a cmca schema (exit 4) instead.
func TestOpenNoHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "nohome")
	for name, open := range map[string]func(context.Context, string, Config, CALoader) (*Service, error){
		"Open": Open, "OpenReadOnly": OpenReadOnly, "OpenToDiagnose": OpenToDiagnose,
	} {
		s, err := open(context.Background(), home, DefaultConfig(), nil)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrNoHome) || !strings.Contains(err.Error(), "has no cmca store; run `cmca init --home") {
			t.Errorf("%s(%s) = %v; want ErrNoHome, saying to run cmca init", name, home, err)
		}
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v; want it not created", home, err)
	}
}
