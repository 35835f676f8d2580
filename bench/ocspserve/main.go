// ocspserve serves cmca's OCSP responder for the certificates of an OCSP
// anchor directory (../shared/anchors/ocsp/mk.sh: ca.crt, ca.key,
// serials.txt, every second serial revoked) from a real home, for
// bench/ocsp.sh: it imports the CA into a new home, records the serials as
// issued certificates, has the delegated signer issued, pre-signs every
// response into the store and serves /ocsp on -listen.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

func main() {
	anchor := flag.String("anchor", ".", "directory with ca.crt, ca.key and serials.txt")
	home := flag.String("home", "", "new home directory to create")
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	if err := run(*anchor, *home, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(anchor, home, listen string) error {
	ctx := principal.With(context.Background(), principal.Principal{Kind: principal.System})
	certPEM, err := os.ReadFile(filepath.Join(anchor, "ca.crt"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(anchor, "ca.key"))
	if err != nil {
		return err
	}
	if _, err := service.Init(ctx, home, service.InitOptions{ImportCertPEM: certPEM, ImportKeyPEM: keyPEM, Now: time.Now()}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	s, err := service.Open(ctx, home, service.DefaultConfig(), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	serials, err := readSerials(filepath.Join(anchor, "serials.txt"))
	if err != nil {
		return err
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return fmt.Errorf("ca.crt is not PEM")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return err
	}
	now := time.Now()
	if err := s.Store().Fill(ctx, store.FillOptions{Completed: len(serials), DER: b.Bytes, At: now}, nil); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	// Give the synthetic certificates the anchor's serials; every second
	// one (index 1, 3, ...) revoked for keyCompromise, as in index.txt.
	db := s.Store().DB()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT rowid FROM certificates ORDER BY rowid`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for i, id := range ids {
		status, revokedAt, reason := "valid", any(nil), any(nil)
		if i%2 == 1 {
			status, revokedAt, reason = "revoked", now.Add(-time.Hour).Unix(), 1
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET serial = ?, status = ?, revoked_at = ?, revocation_reason = ? WHERE rowid = ?`,
			ra.SerialString(serials[i]), status, revokedAt, reason, id); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	o, err := s.NewOCSP(nil)
	if err != nil {
		return err
	}
	if _, err := o.Responder.EnsureSigner(ctx, o.File, o.Issue); err != nil {
		return err
	}
	t0 := time.Now()
	n, err := o.Responder.Refresh(ctx)
	if err != nil {
		return err
	}
	w, err := o.Responder.Warm(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pre-signed %d responses in %s, %d cached; serving on %s\n", n, time.Since(t0).Round(time.Millisecond), w, listen)
	srv := &http.Server{Addr: listen, Handler: o.Responder.Wrap(http.NotFoundHandler()), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

func readSerials(p string) ([]*big.Int, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*big.Int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n, ok := new(big.Int).SetString(sc.Text(), 16)
		if !ok {
			return nil, fmt.Errorf("%s: bad serial %q", p, sc.Text())
		}
		out = append(out, n)
	}
	return out, sc.Err()
}
