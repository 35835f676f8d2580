package cli_test

import (
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
	return []string{"CMCA_STORE_URL=" + pgtest.SharedDatabase(t)}
}
