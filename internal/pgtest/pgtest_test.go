package pgtest

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCluster: a cluster starts, takes TCP connections with the password
// (and refuses a wrong one), gives each test its own database, and is gone
// (no server, no directory) after Stop.
func TestCluster(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	u1, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u1 == u2 {
		t.Fatalf("two databases share the URL %s", u1)
	}
	db, err := sql.Open("pgx", u1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT 1 + 1`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("SELECT 1 + 1 = %d, %v; want 2", n, err)
	}
	bad, err := sql.Open("pgx", strings.Replace(u1, Password, "wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("wrong password: ping = %v; want password authentication failed", err)
	}
	// DropDatabase drops a test database, even with a session still on
	// it, and refuses a name CreateDatabase did not make.
	held, err := sql.Open("pgx", u2)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := held.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.DropDatabase(ctx, u2); err != nil {
		t.Fatalf("DropDatabase(%s) = %v; want nil", u2, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, strings.TrimPrefix(u2[strings.LastIndex(u2, "/"):strings.Index(u2, "?")], "/")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after DropDatabase: %d databases of that name, %v; want 0", n, err)
	}
	if err := c.DropDatabase(ctx, c.URL("postgres")); err == nil {
		t.Fatal("DropDatabase(postgres) = nil; want a refusal")
	}
	db.Close()
	c.Stop()
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Fatalf("after Stop, %s: %v; want it removed", c.Dir, err)
	}
	gone, err := sql.Open("pgx", u1+"&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := gone.PingContext(cctx); err == nil {
		t.Fatal("after Stop the server still answers")
	}
}

// TestNewDatabaseShared: under Main, databases come from one shared cluster.
func TestNewDatabaseShared(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if hostPort(a) != hostPort(b) {
		t.Fatalf("NewDatabase under Main: %s and %s are on different servers; want one shared cluster", a, b)
	}
}

func hostPort(u string) string {
	s := u[strings.Index(u, "@")+1:]
	return s[:strings.Index(s, "/")]
}

func TestMain(m *testing.M) { os.Exit(Main(m)) }
