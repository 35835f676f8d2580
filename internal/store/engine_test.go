package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cmca/cmca/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// engineCase is one store engine the conformance tests run against.
type engineCase struct {
	name string
	// location makes a new empty store location: a file path or a URL.
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

// forEachEngine runs test once per engine, as a subtest named after it,
// with a new empty store location.
func forEachEngine(t *testing.T, test func(t *testing.T, loc string)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { test(t, e.location(t)) })
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
