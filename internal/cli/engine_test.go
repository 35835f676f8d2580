package cli_test

import (
	"context"
	"os"
	"testing"

	"github.com/cmca/cmca/internal/pgtest"
)

// CMCA_TEST_STORE=postgres runs the terminal tests (tmux) with each home's
// store in a fresh PostgreSQL database (CMCA_STORE_URL), in a throwaway
// cluster started on first use and stopped at the end; unset or sqlite, the
// store is HOME/ra.db. The other tests of this package do not open a store
// of a home of their own.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// storeEnv is the environment entry naming a new home's store: under
// CMCA_TEST_STORE=postgres CMCA_STORE_URL of a fresh database (dropped when
// the test ends), else nothing (SQLite in the home).
func storeEnv(t *testing.T) []string {
	t.Helper()
	if os.Getenv("CMCA_TEST_STORE") != "postgres" {
		return nil
	}
	pgtest.Need(t)
	c, err := pgtest.Shared()
	if err != nil {
		t.Fatalf("CMCA_TEST_STORE=postgres: start PostgreSQL: %v", err)
	}
	u, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("CMCA_TEST_STORE=postgres: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := c.DropDatabase(context.Background(), u); err != nil {
			t.Logf("drop database: %v", err)
		}
	})
	return []string{"CMCA_STORE_URL=" + u}
}
