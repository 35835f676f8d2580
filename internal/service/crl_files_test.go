package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritePEMMatchesEncode: the streamed PEM is byte for byte what
// pem.Encode makes, at every length around the 48-byte line boundary.
func TestWritePEMMatchesEncode(t *testing.T) {
	for _, n := range []int{1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 100_000} {
		data := make([]byte, n)
		rand.Read(data)
		var got bytes.Buffer
		err := writePEM(&got, "X509 CRL", func(w io.Writer) error {
			// in uneven pieces, as a file copy might deliver them
			for rest := data; len(rest) > 0; {
				k := min(len(rest), 1+len(rest)%37)
				if _, err := w.Write(rest[:k]); err != nil {
					return err
				}
				rest = rest[k:]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: data})
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("writePEM of %d bytes differs from pem.Encode:\n%q\nwant\n%q", n, got.Bytes(), want)
		}
	}
}

// TestDeltaCRLBodyChecked: the body of the latest delta CRL is checked like
// a full CRL's: altered or deleted, doctor names it and `cmca crl --delta`
// signs a fresh delta instead of republishing it.
func TestDeltaCRLBodyChecked(t *testing.T) {
	// On PostgreSQL the store holds the body, and the file is the home's
	// copy (TestSharedCRLAcrossHomes).
	sqliteOnly(t)
	ctx := context.Background()
	s, clk := newTestService(t)
	serial := downloaded(t, s, "张三", "11010519491231002X")
	if _, err := s.CRL(as(ctx, "alice"), CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: serial, Reason: "keyCompromise", Direct: true, Comment: "lost"}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	d2, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
	if err != nil || d2.Number != 2 || d2.Warning != "" || filepath.Base(d2.File) != "ca-delta-000002.crl" {
		t.Fatalf("delta CRL = %+v, %v; want number 2 in ca-delta-000002.crl", d2, err)
	}
	again, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
	if err != nil || !again.Reused || again.Number != 2 {
		t.Fatalf("delta CRL again = %+v, %v; want 2 reused", again, err)
	}
	doctorFinds(t, s, "")

	steps := []struct {
		name    string
		damage  func(path string) error
		problem string // doctor's
		warning string // cmca crl's
	}{
		{"altered", func(p string) error {
			der, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			der[len(der)/2] ^= 1
			return os.WriteFile(p, der, 0o644)
		}, "is not the body of CRL", "does not match the SHA-256"},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }, "is not the body of CRL", "holds 10 bytes"},
		{"deleted", os.Remove, "the latest of its kind, is missing", "is missing"},
	}
	want := int64(3)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			latest := filepath.Join(s.home, CRLDir, crlFileBase(want-1, true))
			if err := st.damage(latest); err != nil {
				t.Fatal(err)
			}
			doctorFinds(t, s, st.problem)
			res, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
			if err != nil || res.Reused || res.Number != want || !strings.Contains(res.Warning, st.warning) {
				t.Fatalf("delta CRL after the body was %s = %+v, %v; want %d signed, warning %q", st.name, res, err, want, st.warning)
			}
			if got, err := s.CheckCRL(ctx, crlDER(t, res)); err != nil || !got.Known || !got.Latest || got.BaseNumber != 1 {
				t.Errorf("CheckCRL(new delta) = %+v, %v", got, err)
			}
			os.Remove(latest) // the damaged older file: operators may prune it
			doctorFinds(t, s, "")
			want++
		})
	}
}

// doctorFinds runs doctor and checks that it finds a problem containing
// want, or none if want is empty.
func doctorFinds(t *testing.T, s *Service, want string) {
	t.Helper()
	rep, err := s.Doctor(as(context.Background(), "auditor"))
	if err != nil {
		t.Fatal(err)
	}
	if want == "" {
		if !rep.OK {
			t.Fatalf("doctor: %v; want no problems", rep.Problems)
		}
		return
	}
	for _, p := range rep.Problems {
		if p.Check == "crls" && strings.Contains(p.String(), want) {
			return
		}
	}
	t.Fatalf("doctor: %v; want a crls problem containing %q", rep.Problems, want)
}

// TestCRLAboveLostRecordsRaisesFloor: when the store lacks CRLs published
// under crl/ (restored from an older copy: pg_restore of an older dump on
// PostgreSQL, which has no cmca restore to raise the floor), `cmca crl`
// numbers above them and records that floor, so doctor stops reporting
// the published files as unknown to the store. The audit log still tells
// that the lost CRL was signed.
func TestCRLAboveLostRecordsRaisesFloor(t *testing.T) {
	s, _ := newTestService(t)
	ctx := as(context.Background(), "alice")
	for range 2 {
		if _, err := s.CRL(ctx, CRLOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.store.Raw().Exec(`DELETE FROM crls WHERE number = 2`); err != nil {
		t.Fatal(err)
	}
	doctorFinds(t, s, "CRL number 2 was published but is not in the store")
	res, err := s.CRL(ctx, CRLOptions{})
	if err != nil || res.Number != 3 || res.Reused {
		t.Fatalf("CRL after losing the record of CRL 2 = %+v, %v; want 3 signed", res, err)
	}
	rep, err := s.Doctor(as(context.Background(), "auditor"))
	if err != nil {
		t.Fatal(err)
	}
	lost := false
	for _, p := range rep.Problems {
		if strings.Contains(p.String(), "was published but is not in the store") {
			t.Errorf("doctor after CRL 3: %v; want the published CRL 2 below the floor", p)
		}
		lost = lost || strings.Contains(p.String(), "CRL 2: the audit log reports signing it")
	}
	if !lost {
		t.Errorf("doctor after CRL 3: %v; want the audit log's CRL 2 still reported missing", rep.Problems)
	}
}
