// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb into
// a temporary directory, the server on a random 127.0.0.1 port with its unix
// socket in the same directory, and a fresh database per test.
//
// Tests run as root here (CI): the server cannot, so initdb and postgres
// run as the postgres OS user (Debian's package creates it) through
// SysProcAttr.Credential, the same switch runuser makes. As any other user
// they run as that user.
//
// A cluster is stopped when its test ends (t.Cleanup), or, for the shared
// cluster of a package whose TestMain calls Main, when the test binary
// ends; and the server is started with a parent-death signal, so even a
// test binary killed by a timeout leaves no server running.
//
// On a machine without PostgreSQL the tests that need it are skipped; under
// CI they fail (testtool.Need).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/testtool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Password is the password of the superuser "postgres" in every cluster;
// host (TCP) connections need it (scram-sha-256), socket connections do not.
const Password = "pgtest-secret"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	Dir  string // owned by the server's user; data in Dir/data, socket in Dir
	Port int
	bin  string
	cred *syscall.Credential
	srv  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	n    int // databases created
}

// BinDir finds the PostgreSQL server programs: the newest
// /usr/lib/postgresql/N/bin (Debian), else the directory of initdb on PATH.
// It returns "" when there is none.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Need skips (or under CI fails) a test when PostgreSQL is not installed,
// and returns the directory of its programs.
func Need(t testtool.T) string {
	t.Helper()
	d := BinDir()
	if d == "" {
		testtool.Need(t, "initdb", "postgres")
		return ""
	}
	testtool.Need(t, filepath.Join(d, "initdb"), filepath.Join(d, "postgres"), filepath.Join(d, "pg_ctl"))
	return d
}

// Start starts a cluster for one test and stops it when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := Need(t)
	c, err := start(bin)
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

var shared struct {
	sync.Mutex
	main bool // Main is running the tests
	c    *Cluster
	err  error
}

// Main runs a package's tests (call it from TestMain: os.Exit(pgtest.Main(m)))
// and stops the package's shared cluster, if a test started one, at the end.
// m is a *testing.M, or what testscript.Main hands on.
func Main(m interface{ Run() int }) int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.c != nil {
		shared.c.Stop()
	}
	return code
}

// Shared returns the package's shared cluster, starting it on first use.
// Only under Main (which stops it); elsewhere use Start or NewDatabase.
func Shared() (*Cluster, error) {
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		return nil, fmt.Errorf("pgtest.Shared needs TestMain to run the tests through pgtest.Main")
	}
	if shared.c == nil && shared.err == nil {
		bin := BinDir()
		if bin == "" {
			return nil, fmt.Errorf("no PostgreSQL server programs (initdb) found")
		}
		shared.c, shared.err = start(bin)
	}
	return shared.c, shared.err
}

// NewDatabase creates an empty database and returns its URL (TCP, password
// authentication). It uses the shared cluster of the package when its
// TestMain calls Main (started on first use), else a cluster of its own for
// this test.
func NewDatabase(t testing.TB) string {
	t.Helper()
	shared.Lock()
	useShared := shared.main
	shared.Unlock()
	var c *Cluster
	if useShared {
		bin := Need(t)
		shared.Lock()
		if shared.c == nil && shared.err == nil {
			shared.c, shared.err = start(bin)
		}
		c, err := shared.c, shared.err
		shared.Unlock()
		if err != nil {
			t.Fatalf("start PostgreSQL: %v", err)
		}
		return c.mustCreate(t)
	}
	c = Start(t)
	return c.mustCreate(t)
}

// SharedDatabase creates an empty database in the package's shared cluster
// (started on first use, stopped by Main) and drops it when the test ends.
// Under CI a machine without PostgreSQL fails the test (Need).
func SharedDatabase(t testing.TB) string {
	t.Helper()
	Need(t)
	c, err := Shared()
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
	return u
}

func (c *Cluster) mustCreate(t testing.TB) string {
	t.Helper()
	u, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	return u
}

// URL is the address of database db as the superuser, over TCP.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", Password, c.Port, db)
}

// CreateDatabase creates a new empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	c.mu.Lock()
	c.n++
	name := fmt.Sprintf("cmca_test_%d_%s", c.n, randHex(4))
	c.mu.Unlock()
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// DropDatabase drops the database of a URL CreateDatabase returned, ending
// any sessions still connected to it (a server a test left running).
func (c *Cluster) DropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(name, "cmca_test_") {
		return fmt.Errorf("pgtest: %q is not a test database", name)
	}
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	return err
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// serverCredential is the user the server runs as: postgres when we are
// root (the server refuses to run as root), else nobody else (nil).
func serverCredential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and the server needs a non-root user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("user postgres: bad uid/gid %s/%s", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func start(bin string) (*Cluster, error) {
	cred, uid, gid, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c := &Cluster{Dir: dir, bin: bin, cred: cred}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pw, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	out, err := c.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--pwfile", pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A port can be taken between choosing it and the server binding it:
	// try a few.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.Port = port
		if lastErr = c.serve(); lastErr == nil {
			return c, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	return c.command(name, args...).CombinedOutput()
}

// serve starts the server in the foreground of a child process (not
// pg_ctl start, which detaches it), so that it gets SIGQUIT (immediate
// shutdown) if the test binary dies without stopping it.
func (c *Cluster) serve() error {
	logf, err := os.Create(filepath.Join(c.Dir, "server.log"))
	if err != nil {
		return err
	}
	cmd := c.command("postgres", "-D", filepath.Join(c.Dir, "data"), "-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+c.Dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "deadlock_timeout=100ms")
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	c.srv, c.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := c.run("pg_isready", "-q", "-h", c.Dir, "-p", strconv.Itoa(c.Port)); err == nil {
			return nil
		}
	}
	c.kill()
	return fmt.Errorf("postgres did not accept connections within 30s")
}

// Stop stops the server (pg_ctl stop -m fast) and removes the cluster.
func (c *Cluster) Stop() {
	if c.srv == nil {
		return
	}
	out, err := c.run("pg_ctl", "stop", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "-t", "30")
	if err != nil && !strings.Contains(string(out), "not running") {
		c.kill()
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.kill()
	}
	c.srv = nil
	os.RemoveAll(c.Dir)
}

func (c *Cluster) kill() {
	if c.srv != nil && c.srv.Process != nil {
		_ = c.srv.Process.Signal(syscall.SIGQUIT)
		<-c.done
	}
}

// Restart stops the server and starts it again on the same port and data
// (a test of reconnecting after a database restart).
func (c *Cluster) Restart() error {
	out, err := c.run("pg_ctl", "stop", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "-t", "30")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	<-c.done
	return c.serve()
}
