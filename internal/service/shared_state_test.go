package service

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// instanceHomes makes n homes of one CA on one new PostgreSQL database, as
// docs/operations.md says to prepare instances: `cmca init` in the first,
// then its ca/ directory (certificate, key, passcode key) copied to the
// others. Each home gets a Service.
func instanceHomes(t *testing.T, n int) (string, []*Service) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	first := t.TempDir()
	if _, err := Init(ctx, first, InitOptions{CAName: "Shared CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now(), StoreURL: db}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	cfg := DefaultConfig()
	cfg.StoreURL = db
	out := []*Service{openTestServiceCfg(t, first, clk, cfg)}
	for range n - 1 {
		home := t.TempDir()
		if err := os.Chmod(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(home, CADir), 0o700); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(first, CADir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(first, CADir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := e.Info()
			if err := os.WriteFile(filepath.Join(home, CADir, e.Name()), data, fi.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, openTestServiceCfg(t, home, clk, cfg))
	}
	return db, out
}

// TestSharedCRLAcrossHomes: on PostgreSQL a CRL signed through one home is
// served by an instance on another home, byte for byte, from the store; a
// newer CRL signed through the second is picked up by the first (the cache
// is by number); `crl --check` and doctor work on a home that signed
// nothing.
func TestSharedCRLAcrossHomes(t *testing.T) {
	ctx := context.Background()
	_, inst := instanceHomes(t, 3)
	a, b, c := inst[0], inst[1], inst[2]
	if _, err := b.CurrentCRL(ctx, false); !errors.Is(err, ra.ErrNotFound) {
		t.Fatalf("CurrentCRL before any CRL: %v; want ErrNotFound", err)
	}
	ref, code := issued(t, a)
	got, err := b.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))})
	if err != nil {
		t.Fatalf("Download through another home: %v", err)
	}
	if _, err := b.Revoke(as(ctx, "carol"), RevokeInput{Serial: got.Serial, Reason: "keyCompromise", Comment: "lost", Direct: true}); err != nil {
		t.Fatal(err)
	}
	res, err := a.CRL(as(ctx, "bob"), CRLOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(res.File)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Service{"b": b, "c": c} {
		cur, err := s.CurrentCRL(ctx, false)
		if err != nil {
			t.Fatalf("%s: CurrentCRL: %v", name, err)
		}
		if cur.Number != res.Number || !bytes.Equal(cur.DER, signed) {
			t.Errorf("%s serves CRL %d (%d bytes); want CRL %d as signed through a (%d bytes)", name, cur.Number, len(cur.DER), res.Number, len(signed))
		}
		if blk, _ := pem.Decode(cur.PEM); blk == nil || blk.Type != "X509 CRL" || !bytes.Equal(blk.Bytes, signed) {
			t.Errorf("%s: the PEM is not the DER", name)
		}
	}
	// A newer CRL signed through b: a (which cached its own) picks it up.
	res2, err := b.CRL(as(ctx, "bob"), CRLOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	signed2, _ := os.ReadFile(res2.File)
	if cur, err := a.CurrentCRL(ctx, false); err != nil || cur.Number != res2.Number || !bytes.Equal(cur.DER, signed2) {
		t.Errorf("a after b signed CRL %d: %v, %v", res2.Number, cur, err)
	}
	// crl --check on c (which signed nothing) knows both.
	chk, err := c.CheckCRL(ctx, signed)
	if err != nil || !chk.Known || chk.Latest {
		t.Errorf("c: CheckCRL(CRL %d) = %+v, %v; want known, not latest", res.Number, chk, err)
	}
	if chk, err := c.CheckCRL(ctx, signed2); err != nil || !chk.Known || !chk.Latest {
		t.Errorf("c: CheckCRL(CRL %d) = %+v, %v; want known and latest", res2.Number, chk, err)
	}
	// `cmca crl` on c republishes the stored body into c's home.
	if r, err := c.CRL(as(ctx, "bob"), CRLOptions{}); err != nil || !r.Reused || r.Number != res2.Number {
		t.Errorf("c: CRL = %+v, %v; want CRL %d republished", r, err, res2.Number)
	} else if data, _ := os.ReadFile(r.DERPath); !bytes.Equal(data, signed2) {
		t.Errorf("c: %s is not CRL %d", r.DERPath, res2.Number)
	}
	// A damaged copy in c's home is put right from the store.
	if err := os.Truncate(filepath.Join(c.home, CRLDir, crlFileBase(res2.Number, false)), 10); err != nil {
		t.Fatal(err)
	}
	if r, err := c.CRL(as(ctx, "bob"), CRLOptions{}); err != nil || !r.Reused {
		t.Errorf("c: CRL after its copy was damaged = %+v, %v; want republished from the store", r, err)
	} else if data, _ := os.ReadFile(r.File); !bytes.Equal(data, signed2) {
		t.Errorf("c: %s was not put right", r.File)
	}
	for name, s := range map[string]*Service{"a": a, "b": b, "c": c} {
		rep, err := s.Doctor(as(ctx, "auditor"))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Errorf("%s: doctor: %v", name, rep.Problems)
		}
		ar, err := s.VerifyAudit(as(ctx, "auditor"))
		if err != nil || !ar.OK {
			t.Errorf("%s: audit verify: %+v, %v", name, ar, err)
		}
	}
	// A body altered in the store is not served, and doctor says so.
	if _, err := a.store.Raw().Exec(`UPDATE crls SET der = ? WHERE number = ?`, append([]byte{}, signed2[:len(signed2)-1]...), res2.Number); err != nil {
		t.Fatal(err)
	}
	fresh := openTestServiceCfg(t, c.home, &clock{t: c.Now()}, c.cfg)
	if _, err := fresh.CurrentCRL(ctx, false); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("CurrentCRL of an altered body: %v; want refused", err)
	}
	rep, err := fresh.Doctor(as(ctx, "auditor"))
	if err != nil || rep.OK || !strings.Contains(fmtProblems(rep.Problems), "the body the store holds is not the one its record describes") {
		t.Errorf("doctor after the body was altered: %+v, %v", rep, err)
	}
}

// TestSharedCheckpointAcrossHomes: on PostgreSQL the newest audit
// checkpoint is in the store: a home that signed nothing checks it (and is
// clean without a file of its own), it never moves back, and a log cut
// behind it is found from every home.
func TestSharedCheckpointAcrossHomes(t *testing.T) {
	ctx := context.Background()
	_, inst := instanceHomes(t, 2)
	a, b := inst[0], inst[1]
	ref, code := issued(t, a)
	if _, err := a.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))}); err != nil {
		t.Fatal(err)
	}
	stored := func() *store.Checkpoint {
		t.Helper()
		var c *store.Checkpoint
		if err := a.store.Read(ctx, func(tx *store.Tx) error {
			var err error
			c, err = tx.AuditCheckpoint()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := stored()
	fileA, _ := publishedCheckpoint(t, a)
	if c1 == nil || c1.Seq != fileA.Seq || c1.Hash != fileA.Hash || !bytes.Equal(c1.Signature, fileA.Signature) {
		t.Fatalf("stored checkpoint %+v; want the one published in a's home %+v", c1, fileA)
	}
	if _, err := os.Stat(filepath.Join(b.home, CheckpointFile)); err == nil {
		t.Fatal("b has a checkpoint file before signing anything")
	}
	if ar, err := b.VerifyAudit(as(ctx, "auditor")); err != nil || !ar.OK {
		t.Errorf("b: audit verify with the store's checkpoint only: %+v, %v", ar, err)
	}
	// An older checkpoint does not replace a newer one.
	if err := a.store.Tx(ctx, func(tx *store.Tx) error {
		old := *c1
		old.Seq--
		kept, err := tx.PutAuditCheckpoint(old)
		if kept {
			t.Error("PutAuditCheckpoint kept an older checkpoint")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// b signs a CRL: the stored checkpoint moves on, b's file is written.
	if _, err := b.CRL(as(ctx, "bob"), CRLOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	c2 := stored()
	if fileB, _ := publishedCheckpoint(t, b); c2.Seq <= c1.Seq || c2.Seq != fileB.Seq {
		t.Errorf("after b's CRL: stored checkpoint at %d (was %d), b's file at %d", c2.Seq, c1.Seq, fileB.Seq)
	}
	// a's file lags behind: a's next checkpoint brings it up to the store's
	// without signing again when the head has not moved.
	if err := a.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := publishedCheckpoint(t, a); f.Seq != c2.Seq || !bytes.Equal(f.Signature, c2.Signature) {
		t.Errorf("a's file after SignCheckpoint: seq %d; want the stored one (seq %d, same signature)", f.Seq, c2.Seq)
	}
	// The newest records cut (a rollback of the database): both homes see
	// it, b through the store's checkpoint even with its own file removed.
	if err := os.Remove(filepath.Join(b.home, CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Raw().Exec(`DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)`); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Service{"a": a, "b": b} {
		ar, err := s.VerifyAudit(as(ctx, "auditor"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range ar.Problems {
			found = found || strings.Contains(p.Problem, "the newest records were cut")
		}
		if !found {
			t.Errorf("%s: audit verify after the head was cut: %+v; want the cut found", name, ar.Problems)
		}
	}
}

func fmtProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}
