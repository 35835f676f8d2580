package service

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// countingSigner counts the CA key's signatures.
type countingSigner struct {
	crypto.Signer
	n atomic.Int64
}

func (c *countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(r, d, o)
}

func countSignatures(t *testing.T, s *Service) *countingSigner {
	t.Helper()
	cs := &countingSigner{}
	s.SetCALoader(func(ctx context.Context) (*ca.CA, error) {
		c, err := s.FileCA(ctx)
		if err != nil {
			return nil, err
		}
		cs.Signer = c.Signer
		c.Signer = cs
		return c, nil
	})
	return cs
}

// publishedCheckpoint reads and verifies the home's checkpoint and returns
// it with the audit log's head.
func publishedCheckpoint(t *testing.T, s *Service) (*Checkpoint, int64) {
	t.Helper()
	c, err := readCheckpoint(filepath.Join(s.home, CheckpointFile))
	if err != nil || c == nil {
		t.Fatalf("read checkpoint: %v, %v", c, err)
	}
	if err := c.verify(s.caCertificate()); err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	var head int64
	if err := s.store.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		head, _, err = tx.AuditHead()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c, head
}

func TestCheckpointAfterEverySigningOperation(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	signs := countSignatures(t, s)
	if _, err := os.Stat(filepath.Join(s.home, CheckpointFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint before anything was signed: %v", err)
	}

	ref, code := issued(t, s)
	got, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))})
	if err != nil {
		t.Fatal(err)
	}
	if c, head := publishedCheckpoint(t, s); c.Seq != head {
		t.Errorf("after download: checkpoint at %d, head %d", c.Seq, head)
	}
	if n := signs.n.Load(); n != 2 {
		t.Errorf("download: %d CA signatures; want 2 (certificate, checkpoint)", n)
	}

	rv, err := s.Revoke(as(ctx, "subscriber"), RevokeInput{Serial: got.Serial, Reason: "keyCompromise", Comment: "stolen"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(as(ctx, "alice"), rv.Ref); err != nil {
		t.Fatal(err)
	}
	if c, head := publishedCheckpoint(t, s); c.Seq != head {
		t.Errorf("after revocation: checkpoint at %d, head %d", c.Seq, head)
	}
	if _, err := s.CRL(as(ctx, "alice"), CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, head := publishedCheckpoint(t, s); c.Seq != head {
		t.Errorf("after CRL: checkpoint at %d, head %d", c.Seq, head)
	}
	rep, err := s.VerifyAudit(as(ctx, "auditor"))
	if err != nil || !rep.OK {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
}

func TestDownloadManySignsOneCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := benchService(t)
	signs := countSignatures(t, s)
	const n = 8
	if _, err := s.Apply(as(ctx, "clerk"), benchApps(n), false); err != nil {
		t.Fatal(err)
	}
	if _, failed, err := s.ApproveMany(as(ctx, "reviewer"), nil, true); err != nil || len(failed) > 0 {
		t.Fatal(err, failed)
	}
	auths, failed, err := s.IssueMany(as(ctx, "issuer"), nil, true, false)
	if err != nil || len(failed) > 0 {
		t.Fatal(err, failed)
	}
	csrs := benchCSRs(t, n)
	var ins []DownloadInput
	for i, a := range auths {
		ins = append(ins, DownloadInput{Ref: a.Ref, Passcode: a.Passcode, CSR: csrs[i]})
	}
	out, err := s.DownloadMany(as(ctx, "clerk"), ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Ref, o.Err)
		}
	}
	if got := signs.n.Load(); got != n+1 {
		t.Errorf("DownloadMany of %d: %d CA signatures; want %d (one checkpoint per batch)", n, got, n+1)
	}
	if c, head := publishedCheckpoint(t, s); c.Seq != head {
		t.Errorf("checkpoint at %d, head %d", c.Seq, head)
	}
}

func TestCheckpointProblems(t *testing.T) {
	ctx := context.Background()
	other := t.TempDir()
	if _, err := Init(ctx, other, InitOptions{CAName: "Other CA", KeyAlgo: token.ECDSAP256, Validity: 24 * time.Hour, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	otherCA, err := LoadFileCA(other, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *Service, c *Checkpoint) // c is the published checkpoint, rewritten after
		want   string
	}{
		{"intact", func(*testing.T, *Service, *Checkpoint) {}, ""},
		{"seq edited", func(_ *testing.T, _ *Service, c *Checkpoint) { c.Seq-- }, "signature does not verify"},
		{"hash edited", func(_ *testing.T, _ *Service, c *Checkpoint) { c.Hash = strings.Repeat("0", 64) }, "signature does not verify"},
		{"another CA's", func(t *testing.T, _ *Service, c *Checkpoint) {
			o, err := signCheckpoint(otherCA, c.Seq, c.Hash, c.Time)
			if err != nil {
				t.Fatal(err)
			}
			*c = *o
		}, "not this home's"},
		{"records cut", func(t *testing.T, s *Service, _ *Checkpoint) {
			if _, err := s.store.Raw().Exec(`DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)`); err != nil {
				t.Fatal(err)
			}
		}, "the newest records were cut"},
		{"log rewritten", func(t *testing.T, s *Service, c *Checkpoint) {
			if _, err := s.store.Raw().Exec(`UPDATE audit SET hash = ? WHERE seq = ?`, strings.Repeat("1", 64), c.Seq); err != nil {
				t.Fatal(err)
			}
		}, "is not the one the checkpoint signed"},
		{"deleted", func(t *testing.T, s *Service, c *Checkpoint) {
			*c = Checkpoint{}
			// and the copy a PostgreSQL store keeps
			if _, err := s.store.Raw().Exec(`DELETE FROM audit_checkpoint`); err != nil {
				t.Fatal(err)
			}
		}, "no audit checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestService(t)
			ref, code := issued(t, s)
			if _, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))}); err != nil {
				t.Fatal(err)
			}
			c, _ := publishedCheckpoint(t, s)
			tt.tamper(t, s, c)
			path := filepath.Join(s.home, CheckpointFile)
			if c.Version == 0 {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else {
				data, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var problem string
			err := s.store.Read(ctx, func(tx *store.Tx) error {
				var err error
				_, problem, err = checkpointProblem(tx, path, false, s.caCertificate())
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && problem != "" || !strings.Contains(problem, tt.want) {
				t.Errorf("checkpointProblem = %q; want %q", problem, tt.want)
			}
			rep, err := s.Doctor(as(ctx, "auditor"))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != (tt.want == "") {
				t.Errorf("doctor OK = %v; problems %v", rep.OK, rep.Problems)
			}
		})
	}
}

func TestEditedRowsAreRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("identity after approval", func(t *testing.T) {
		s, _ := newTestService(t)
		res, err := s.Apply(as(ctx, "clerk"), []Application{testApplication()}, false)
		if err != nil {
			t.Fatal(err)
		}
		ref := res[0].Ref
		if _, err := s.Approve(as(ctx, "alice"), ref); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Raw().Exec(`UPDATE requests SET name = 'Mallory' WHERE ref = ?`, ref); err != nil {
			t.Fatal(err)
		}
		_, err = s.Issue(as(ctx, "bob"), ref, false)
		var ie *store.IntegrityError
		if !errors.Is(err, ra.ErrIntegrity) || !errors.As(err, &ie) || ie.Groups[0] != "identity" {
			t.Fatalf("Issue after the name was edited = %v; want an integrity error naming identity", err)
		}
		rep, err := s.Doctor(as(ctx, "auditor"))
		if err != nil || rep.OK {
			t.Fatalf("Doctor = %+v, %v; want the edited request reported", rep, err)
		}
	})
	t.Run("certificate unrevoked", func(t *testing.T) {
		s, _ := newTestService(t)
		ref, code := issued(t, s)
		got, err := s.Download(ctx, DownloadInput{Ref: ref, Passcode: code, CSR: csrFor(t, newKey(t))})
		if err != nil {
			t.Fatal(err)
		}
		rv, err := s.Revoke(as(ctx, "subscriber"), RevokeInput{Serial: got.Serial, Reason: "keyCompromise", Comment: "stolen"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Approve(as(ctx, "alice"), rv.Ref); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Raw().Exec(`UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL WHERE serial = ?`, got.Serial); err != nil {
			t.Fatal(err)
		}
		_, err = s.Revoke(as(ctx, "subscriber"), RevokeInput{Serial: got.Serial, Reason: "superseded", Comment: "again"})
		if !errors.Is(err, ra.ErrIntegrity) || !strings.Contains(err.Error(), "revocation fields") {
			t.Fatalf("Revoke of the unrevoked certificate = %v; want an integrity error naming revocation", err)
		}
		rep, err := s.VerifyAudit(as(ctx, "auditor"))
		if err != nil || rep.OK {
			t.Fatalf("VerifyAudit = %+v, %v; want the edited certificate reported", rep, err)
		}
	})
}

// BenchmarkCheckpoint is the cost a signing command pays once for the audit
// checkpoint: read the head, verify the published checkpoint, sign, write.
func BenchmarkCheckpoint(b *testing.B) {
	s := benchService(b)
	ctx := context.Background()
	authority, err := s.CA(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// a new record each time, so each checkpoint is signed and written
		if err := s.store.Tx(ctx, func(tx *store.Tx) error { return tx.Audit(ra.Event{Operator: "bench", Action: "note"}) }); err != nil {
			b.Fatal(err)
		}
		if err := s.writeCheckpoint(ctx, authority); err != nil {
			b.Fatal(err)
		}
	}
}
