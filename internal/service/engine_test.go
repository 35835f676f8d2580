package service

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/testhook"
)

// CMCA_TEST_STORE=postgres runs the service tests against PostgreSQL: every
// home a test makes gets a fresh database in a throwaway cluster (through
// testhook.StoreURL), started once for the package and stopped at its end.
// Unset or sqlite: the store is HOME/ra.db, as in production by default.
// .ci/run runs this package both ways.
func TestMain(m *testing.M) {
	if os.Getenv("CMCA_TEST_STORE") == "postgres" {
		var mu sync.Mutex
		urls := map[string]string{}
		testhook.StoreURL = func(home string) string {
			home, _ = filepath.Abs(home)
			mu.Lock()
			defer mu.Unlock()
			if u, ok := urls[home]; ok {
				return u
			}
			c, err := pgtest.Shared()
			if err != nil {
				panic("CMCA_TEST_STORE=postgres: " + err.Error())
			}
			u, err := c.CreateDatabase(context.Background())
			if err != nil {
				panic("CMCA_TEST_STORE=postgres: " + err.Error())
			}
			urls[home] = u
			return u
		}
	}
	os.Exit(pgtest.Main(m))
}

// onPostgres reports whether the tests run against PostgreSQL.
func onPostgres() bool { return testhook.StoreURL != nil }

// sqliteOnly skips a test of what only a SQLite home has (the ra.db file,
// cmca backup and restore) when the tests run against PostgreSQL.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if onPostgres() {
		t.Skip("tests the SQLite store file (CMCA_TEST_STORE=postgres)")
	}
}
