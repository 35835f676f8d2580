// Command gen fills a cmca home with synthetic history for the benchmarks in
// bench/run.sh: completed enrolments (applicant, request, certificate, audit
// record), some of them revoked, and a short review queue. It writes through
// internal/store in large transactions, so a million enrolments take seconds,
// not a million CLI calls.
//
//	go run ./bench/gen -home DIR -n 1000000 -revoked 1000000 -submitted 100
//
// With -csrs, it instead reads "REF PASSCODE" lines (the output of
// `cmca issue -q --all-approved`) on stdin and writes a fresh P-256 key's CSR
// for each into DIR, with DIR/batch.jsonl for `cmca download-batch`:
//
//	cmca issue -q --all-approved | go run ./bench/gen -csrs DIR
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

func main() {
	home := flag.String("home", os.Getenv("CMCA_HOME"), "cmca home made by `cmca init`")
	n := flag.Int("n", 1000, "completed enrolments to add")
	revoked := flag.Int("revoked", -1, "how many of them are revoked (default all)")
	submitted := flag.Int("submitted", 100, "requests to leave in the review queue")
	quiet := flag.Bool("q", false, "no progress output")
	csrs := flag.String("csrs", "", "write CSRs and batch.jsonl for the REF PASSCODE lines on stdin into DIR")
	flag.Parse()
	if *csrs != "" {
		if err := writeCSRs(*csrs); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*home, *n, *revoked, *submitted, *quiet); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run(home string, n, revoked, submitted int, quiet bool) error {
	if home == "" {
		return fmt.Errorf("-home (or CMCA_HOME) is required")
	}
	if revoked < 0 {
		revoked = n
	}
	// Every synthetic certificate carries the CA certificate's bytes as its
	// body: a real DER certificate of realistic size, signed once.
	caPEM, err := os.ReadFile(filepath.Join(home, service.CACertFile))
	if err != nil {
		return fmt.Errorf("read CA certificate (run `cmca init` first): %w", err)
	}
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return fmt.Errorf("%s: no PEM block", service.CACertFile)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(home, service.DBFile))
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	err = st.Fill(ctx, store.FillOptions{Completed: n, Revoked: revoked, Submitted: submitted, DER: blk.Bytes, At: time.Now().Add(-24 * time.Hour)},
		func(done int) {
			if !quiet {
				fmt.Fprintf(os.Stderr, "\rgen: %d/%d rows (%.1fs)", done, n+submitted, time.Since(start).Seconds())
			}
		})
	if !quiet {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	// Fresh statistics for the query planner, as `cmca doctor` would keep.
	_, err = st.DB().ExecContext(ctx, `PRAGMA optimize`)
	return err
}

func writeCSRs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	batch, err := os.Create(filepath.Join(dir, "batch.jsonl"))
	if err != nil {
		return err
	}
	defer batch.Close()
	w := bufio.NewWriter(batch)
	enc := json.NewEncoder(w)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var ref, code string
		if _, err := fmt.Sscan(sc.Text(), &ref, &code); err != nil {
			return fmt.Errorf("bad line %q: want REF PASSCODE", sc.Text())
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cmca"}}, key)
		if err != nil {
			return err
		}
		name := ref + ".csr"
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
			return err
		}
		if err := enc.Encode(map[string]string{"ref": ref, "passcode": code, "csr": name}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return w.Flush()
}
