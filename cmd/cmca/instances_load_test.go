package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/testtool"
)

// TestInstancesLoad (issue 14): three `cmca serve` processes, each with a
// home of its own (the CA certificate, key and passcode key copied from
// the first, as docs/operations.md says), on one PostgreSQL database, and
// over a thousand operations from concurrent clients spread over all
// three: applications; approvals, some raced on two instances; passcodes
// issued; downloads racing on each passcode (three clients with three keys,
// one per instance, and a wrong passcode); revocation requests (raced on
// two instances) and their approvals; CRLs signed through every instance
// while the rest goes on.
//
// Afterwards: exactly one certificate per request, every approved
// revocation on the newest CRL as each instance serves it over HTTP (the
// same bytes from all three, fetched with curl and read with openssl), CRL
// numbers contiguous and unique, `cmca crl --check`, `cmca audit verify`
// and `cmca doctor` clean on every home. A home of another CA is refused
// by `cmca serve` on that database.
//
// The clients are internal/client, the Go API client every remote cmca
// command uses, in this process; the servers and every check are the real
// binary (the test binary run as cmca, see TestMain).
func TestInstancesLoad(t *testing.T) {
	pgtest.Need(t)
	testtool.Need(t, "openssl", "curl")
	bin, err := exec.LookPath("cmca")
	if err != nil {
		t.Fatalf("the cmca command testscript.Main puts on PATH: %v", err)
	}
	start := time.Now()
	work := t.TempDir()
	db := pgtest.NewDatabase(t)
	env := append(os.Environ(),
		"HOME="+filepath.Join(work, "userhome"), "XDG_CONFIG_HOME="+filepath.Join(work, "userhome", ".config"),
		"CMCA_STORE_URL="+db, "CMCA_OPERATOR=admin", "CMCA_CA_ORGANIZATION=Load Org", "CMCA_CA_COUNTRY=CN", "NO_COLOR=1")
	run := func(home string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Env, cmd.Dir = env, work
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cmca %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}
	homes := []string{filepath.Join(work, "a"), filepath.Join(work, "b"), filepath.Join(work, "c")}
	run(homes[0], "init", "--ca-name", "Load CA")
	// The passcode key is made before it is copied, so that every
	// instance seals and opens passcodes with the same one.
	kek := make([]byte, 32)
	rand.Read(kek)
	if err := os.WriteFile(filepath.Join(homes[0], service.PasscodeKEKFile), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	// Loopback clients share one address: the per-address limits would
	// count all of them as one client.
	run(homes[0], "policy", "set", "ratelimit.apply", "off")
	run(homes[0], "policy", "set", "ratelimit.passcode", "off")
	pw := filepath.Join(work, "pw.txt")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(homes[0], "operator", "add", "Alice", "--role", "reviewer,revoker,auditor", "--out", filepath.Join(work, "alice.p12"), "--password-file", pw)
	run(homes[0], "operator", "add", "Bob", "--role", "issuer", "--out", filepath.Join(work, "bob.p12"), "--password-file", pw)
	for _, h := range homes[1:] {
		copyCADir(t, homes[0], h)
	}

	// A home of another CA is refused on this database (exit 4).
	other := filepath.Join(work, "other")
	cmd := exec.Command(bin, "--home", other, "init", "--ca-name", "Other CA")
	cmd.Env = append(env, "CMCA_STORE_URL=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init other: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "--home", other, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); exitCode(err) != 4 || !strings.Contains(string(out), "belongs to another CA") {
		t.Fatalf("serve of another CA's home on the database: %v\n%s; want exit 4, belongs to another CA", err, out)
	}

	type instance struct{ https, http string }
	inst := make([]instance, len(homes))
	for i, h := range homes {
		addrFile := filepath.Join(work, fmt.Sprintf("addr%d.json", i))
		srv := exec.Command(bin, "--home", h, "serve", "--listen", "127.0.0.1:0", "--listen-http", "127.0.0.1:0", "--addr-file", addrFile)
		srv.Env = env
		logf, err := os.Create(filepath.Join(work, fmt.Sprintf("serve%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		srv.Stderr = logf
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			srv.Process.Signal(syscall.SIGINT)
			done := make(chan error, 1)
			go func() { done <- srv.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve %d: %v (log: %s)", i, err, logf.Name())
				}
			case <-time.After(30 * time.Second):
				srv.Process.Kill()
				t.Errorf("serve %d did not stop on SIGINT", i)
			}
			logf.Close()
		})
		var addrs struct{ HTTPS, HTTP string }
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if data, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(data, &addrs) == nil && addrs.HTTPS != "" {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logf.Name())
				t.Fatalf("serve %d did not start:\n%s", i, log)
			}
		}
		inst[i] = instance{https: "https://" + addrs.HTTPS, http: "http://" + addrs.HTTP}
	}
	caPEM, err := os.ReadFile(filepath.Join(homes[0], service.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	clients := func(p12 string) []*client.Client {
		t.Helper()
		var cfg *tls.Config
		cfg, err := client.TLSConfig(caPEM)
		if err != nil {
			t.Fatal(err)
		}
		if p12 != "" {
			l, err := client.LoadLogin(context.Background(), client.LoginOptions{Source: p12, Secret: func(string) ([]byte, error) { return []byte("correct horse battery"), nil }})
			if err != nil {
				t.Fatal(err)
			}
			l.Configure(cfg)
		}
		out := make([]*client.Client, len(inst))
		for i, in := range inst {
			if out[i], err = client.New(in.https, cfg.Clone()); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	anon, alice, bob := clients(""), clients(filepath.Join(work, "alice.p12")), clients(filepath.Join(work, "bob.p12"))
	setup := time.Since(start)

	const (
		nRequests = 120 // applications
		nRaced    = 30  // of which the approval is raced on two more instances
		nRevoke   = 40  // certificates revoked (request raced on two instances, then approved)
		nCRLs     = 30  // CRLs signed while the rest goes on, 10 through each instance
		workers   = 12
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ops atomic.Int64
	// par runs fn(0..n-1) on the worker pool and fails on the first
	// unexpected error.
	par := func(what string, n int, fn func(i int) error) {
		t.Helper()
		var next atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := fn(i); err != nil {
						mu.Lock()
						if first == nil {
							first = fmt.Errorf("%s %d: %w", what, i, err)
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if first != nil {
			t.Fatal(first)
		}
	}
	// oneOf counts the outcomes of a race: exactly one nil, the rest
	// conflicts.
	oneOf := func(errs []error) error {
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ra.ErrConflict):
				return fmt.Errorf("a racing call failed otherwise: %w", err)
			}
		}
		if won != 1 {
			return fmt.Errorf("%d of %d racing calls won; want exactly 1 (%v)", won, len(errs), errs)
		}
		return nil
	}
	race := func(fns ...func() error) []error {
		errs := make([]error, len(fns))
		var wg sync.WaitGroup
		for i, fn := range fns {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = fn() }()
		}
		wg.Wait()
		ops.Add(int64(len(fns)))
		return errs
	}

	// CRLs through every instance, all along.
	var crlNumbers sync.Map // number -> instance
	crlDone := make(chan error, 1)
	go func() {
		var err error
		for k := 0; k < nCRLs && err == nil; k++ {
			var res *service.CRLResult
			if res, err = bob[k%3].CRL(ctx, service.CRLOptions{Force: true}); err == nil {
				crlNumbers.Store(res.Number, k%3)
				ops.Add(1)
			}
			time.Sleep(40 * time.Millisecond)
		}
		crlDone <- err
	}()

	refs := make([]string, nRequests)
	par("apply", nRequests, func(i int) error {
		app := service.Application{
			Applicant: ra.Applicant{Name: "Subscriber " + string(rune('A'+i%26)), IDType: ra.IDPassport, IDNumber: fmt.Sprintf("E%07d", 2000000+i),
				Mobile: "13812345678", Email: fmt.Sprintf("s%d@example.com", i)},
			UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
		}
		res, err := anon[i%3].Apply(ctx, []service.Application{app}, false)
		ops.Add(1)
		if err == nil {
			refs[i] = res[0].Ref
		}
		return err
	})
	par("approve", nRequests, func(i int) error {
		if i >= nRaced {
			_, err := alice[i%3].Approve(ctx, refs[i])
			ops.Add(1)
			return err
		}
		return oneOf(race(
			func() error { _, err := alice[0].Approve(ctx, refs[i]); return err },
			func() error { _, err := alice[1].Approve(ctx, refs[i]); return err },
			func() error { _, err := alice[2].Approve(ctx, refs[i]); return err }))
	})
	codes := make([]string, nRequests)
	par("issue", nRequests, func(i int) error {
		a, err := bob[(i+1)%3].Issue(ctx, refs[i], false)
		ops.Add(1)
		if err == nil {
			codes[i] = a.Passcode
		}
		return err
	})
	keys := make([]crypto.Signer, nRequests)
	serials := make([]string, nRequests)
	par("download", nRequests, func(i int) error {
		var mine [3]crypto.Signer
		fns := make([]func() error, 3)
		for j := range 3 {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			mine[j] = k
			fns[j] = func() error {
				got, err := anon[j].Download(ctx, service.DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrOf(k)})
				if err == nil {
					keys[i], serials[i] = mine[j], got.Serial
				}
				return err
			}
		}
		var wrong error
		errs := race(append(fns, func() error {
			_, wrong = anon[(i+2)%3].Download(ctx, service.DownloadInput{Ref: refs[i], Passcode: "AAAA-AAAA-AAAA-AAAA-AAAA", CSR: csrOf(mine[0])})
			return nil
		})...)
		if wrong == nil || !(errors.Is(wrong, ra.ErrAuth) || errors.Is(wrong, ra.ErrConflict)) {
			return fmt.Errorf("a wrong passcode for %s: %v; want refused", refs[i], wrong)
		}
		return oneOf(errs[:3])
	})
	revokeRefs := make([]string, nRevoke)
	par("revoke", nRevoke, func(i int) error {
		req := func(j int) func() error {
			return func() error {
				at := time.Now().UTC().Truncate(time.Second)
				proof, err := ca.SignPossession(keys[i], "revoke", serials[i], at, []byte("keyCompromise"))
				if err != nil {
					return err
				}
				res, err := anon[j].Revoke(ctx, service.RevokeInput{Serial: serials[i], Reason: "keyCompromise", Comment: "key lost", Proof: proof, SignedAt: at})
				if err == nil {
					revokeRefs[i] = res.Ref
				}
				return err
			}
		}
		if err := oneOf(race(req(i%3), req((i+1)%3))); err != nil {
			return err
		}
		_, err := alice[(i+2)%3].Approve(ctx, revokeRefs[i])
		ops.Add(1)
		return err
	})
	if err := <-crlDone; err != nil {
		t.Fatalf("signing CRLs: %v", err)
	}
	// The newest CRL, signed through the last instance after every
	// revocation.
	last, err := bob[2].CRL(ctx, service.CRLOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	crlNumbers.Store(last.Number, 2)
	ops.Add(1)
	elapsed := time.Since(start) - setup
	t.Logf("%d operations in %v through 3 instances (setup %v)", ops.Load(), elapsed.Round(time.Millisecond), setup.Round(time.Millisecond))
	if ops.Load() < 1000 {
		t.Errorf("%d operations; want at least 1000", ops.Load())
	}

	// Exactly one certificate per request, every revocation recorded, CRL
	// numbers 1..n with no gap and no repeat.
	sqldb, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	count := func(q string) int64 {
		t.Helper()
		var n int64
		if err := sqldb.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT COUNT(*) FROM certificates`); n != nRequests {
		t.Errorf("%d certificates; want %d, one per request", n, nRequests)
	}
	if n := count(`SELECT COUNT(*) FROM (SELECT request_id FROM certificates GROUP BY request_id HAVING COUNT(*) > 1) d`); n != 0 {
		t.Errorf("%d requests with more than one certificate", n)
	}
	if n := count(`SELECT COUNT(*) FROM certificates WHERE status = 'revoked'`); n != nRevoke {
		t.Errorf("%d certificates revoked; want %d", n, nRevoke)
	}
	var numbers []int64
	crlNumbers.Range(func(k, _ any) bool { numbers = append(numbers, k.(int64)); return true })
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] < numbers[j] })
	if n := count(`SELECT COUNT(*) FROM crls`); n != int64(len(numbers)) || len(numbers) != nCRLs+1 {
		t.Errorf("%d CRLs stored, %d signed; want %d", n, len(numbers), nCRLs+1)
	}
	for i, n := range numbers {
		if n != int64(i+1) {
			t.Fatalf("CRL numbers %v; want 1..%d, contiguous and unique", numbers, len(numbers))
		}
	}

	// Every instance serves the newest CRL, byte for byte the one signed
	// through the last, listing every revoked serial (curl, openssl).
	var want []byte
	for i, in := range inst {
		der := filepath.Join(work, fmt.Sprintf("fetched%d.crl", i))
		if out, err := exec.Command("curl", "-sSf", "-o", der, in.http+"/crl/ca.crl").CombinedOutput(); err != nil {
			t.Fatalf("curl CRL from instance %d: %v\n%s", i, err, out)
		}
		got, _ := os.ReadFile(der)
		if i == 0 {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Errorf("instance %d serves another CRL than instance 0", i)
		}
		out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", der, "-noout", "-text").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		text := string(out)
		if m := regexp.MustCompile(`X509v3 CRL Number:\s*\n\s*(\d+)`).FindStringSubmatch(text); m == nil || m[1] != fmt.Sprint(last.Number) {
			t.Errorf("instance %d serves CRL %v; want %d, the newest", i, m, last.Number)
		}
		listed := map[string]bool{}
		for _, m := range regexp.MustCompile(`Serial Number: ([0-9A-F]+)`).FindAllStringSubmatch(text, -1) {
			n, _ := new(big.Int).SetString(m[1], 16)
			listed[ra.SerialString(n)] = true
		}
		for _, s := range serials[:nRevoke] {
			if !listed[s] {
				t.Errorf("instance %d: revoked certificate %s is not on CRL %d", i, s, last.Number)
			}
		}
		if len(listed) != nRevoke {
			t.Errorf("instance %d: CRL %d lists %d serials; want %d", i, last.Number, len(listed), nRevoke)
		}
	}
	signed, err := os.ReadFile(filepath.Join(homes[2], "crl", fmt.Sprintf("ca-%06d.crl", last.Number)))
	if err != nil || !bytes.Equal(signed, want) {
		t.Errorf("the served CRL is not the one signed through instance 2 (%v)", err)
	}
	fetched := filepath.Join(work, "fetched0.crl")
	for _, h := range homes {
		if out := run(h, "crl", "--check", fetched, "-o", "json"); !strings.Contains(out, `"latest": true`) {
			t.Errorf("crl --check in %s: %s; want known and latest", h, out)
		}
		run(h, "audit", "verify")
		run(h, "doctor")
	}
}

// copyCADir prepares the home of another instance: the first home's ca/
// (certificate, key, passcode key) with their modes, in a home of mode 0700.
func copyCADir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(to, service.CADir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(from, service.CADir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, service.CADir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		if err := os.WriteFile(filepath.Join(to, service.CADir, e.Name()), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func csrOf(k crypto.Signer) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}}, k)
	if err != nil {
		panic(err)
	}
	return der
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
