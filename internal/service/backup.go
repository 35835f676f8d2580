package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// BackupResult describes a backup file.
type BackupResult struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Audited is false when the home was read-only and the backup could
	// not be recorded in the audit log; Warning says why.
	Audited bool   `json:"audited"`
	Warning string `json:"warning,omitempty"`
	store.StoreSummary
}

// Backup writes a consistent copy of the store to out while other cmca
// processes keep working (SQLite VACUUM INTO reads one snapshot). The file
// is created 0600, checked, and only then renamed to out: a failed backup
// never leaves a file that looks complete. The backup holds personal data
// and the pseudonym key; it does not hold the CA key, nor the CRLs (only
// their digests: the bodies are the files under HOME/crl, which belong in
// the file backup of the home).
//
// The caller (in ctx) needs the admin role.
func (s *Service) Backup(ctx context.Context, out string, force bool) (*BackupResult, error) {
	p, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	operator := p.String()
	if out == "" {
		return nil, ra.Fieldf("out", "name the backup file with --out")
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(out); err == nil && !force {
		return nil, msg.Errorf("%s already exists; choose another --out or pass --force: %w", out, ra.ErrConflict)
	}
	tmp := out + ".tmp-" + newSecretHex(4)
	if err := s.store.BackupTo(ctx, tmp); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	sum, err := checkStoreFile(ctx, tmp)
	if err != nil {
		return nil, msg.Errorf("the backup did not verify: %w", err)
	}
	digest, size, err := syncAndHash(tmp)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, msg.Errorf("back up store: %w", err)
	}
	syncDir(filepath.Dir(out))
	res := &BackupResult{Path: out, Bytes: size, SHA256: digest, StoreSummary: sum, Audited: true}
	// A copy of every applicant's data left the home: that is worth a record.
	rec := ra.Event{Operator: operator, Action: "backup", Detail: fmt.Sprintf("sha256=%s requests=%d certificates=%d crl=%d", digest, sum.Requests, sum.Certificates, sum.LastCRLNumber)}
	if !s.store.ReadOnly() {
		return res, s.store.Tx(ctx, func(tx *store.Tx) error { return tx.Audit(rec) })
	}
	// The backup read the store read-only (a read-only home can be backed
	// up); the record needs a write, which such a home refuses: then the
	// backup stands and the result says it is not in the audit log.
	err = func() error {
		rw, err := store.Open(ctx, s.store.Path())
		if err != nil {
			return err
		}
		defer rw.Close()
		rw.Now = s.store.Now
		return rw.Tx(ctx, func(tx *store.Tx) error { return tx.Audit(rec) })
	}()
	if err != nil {
		res.Audited = false
		res.Warning = fmt.Sprintf("the backup is not recorded in the audit log (the home is read-only: %v); record it by hand", err)
	}
	return res, nil
}

// checkStoreFile opens a store file (applying pending migrations) and
// checks that it is a sound cmca store with an intact audit chain.
func checkStoreFile(ctx context.Context, path string) (store.StoreSummary, error) {
	var sum store.StoreSummary
	st, err := store.Open(ctx, path)
	if err != nil {
		return sum, msg.Errorf("%s is not a cmca store (%v): %w", path, err, ra.ErrInvalid)
	}
	defer st.Close()
	err = st.Read(ctx, func(tx *store.Tx) error {
		if bad, err := tx.IntegrityCheck(); err != nil {
			return err
		} else if len(bad) > 0 {
			return msg.Errorf("integrity check failed: %s: %w", bad[0], ra.ErrInvalid)
		}
		if k, err := tx.Meta("pseudonym_key"); err != nil || k == "" {
			return msg.Errorf("it was not made by `cmca init` (no pseudonym key): %w", ra.ErrInvalid)
		}
		if _, problems, err := tx.VerifyAudit(); err != nil {
			return err
		} else if len(problems) > 0 {
			return msg.Errorf("its audit log is broken at record %d (%s): %w", problems[0].Seq, problems[0].Problem, ra.ErrConflict)
		}
		sum, err = tx.Summary()
		return err
	})
	return sum, err
}

func syncAndHash(path string) (string, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// RestoreOptions control a restore.
type RestoreOptions struct {
	Home  string
	File  string
	Force bool // replace an existing store (kept aside as ra.db.pre-restore-TIME)
	Now   func() time.Time
}

// RestoreResult describes a restored store.
type RestoreResult struct {
	Home     string `json:"home"`
	From     string `json:"from"`
	SHA256   string `json:"sha256"`
	Replaced string `json:"replaced,omitempty"` // where the previous store was kept
	// ReplacedCheckpoint is where the audit checkpoint of the replaced store
	// was kept.
	ReplacedCheckpoint string `json:"replaced_checkpoint,omitempty"`
	NextCRLNumber      int64  `json:"next_crl_number"`
	// LostCertificates are certificates the replaced store knew and the
	// backup does not: they were issued after the backup and can no longer
	// be revoked through cmca.
	LostCertificates []string `json:"lost_certificates,omitempty"`
	store.StoreSummary
}

// Restore puts a backup in place as the home's store. Stop every other cmca
// process on the home first. It refuses a backup that is not a sound cmca
// store, whose audit chain is broken, or that belongs to another CA than
// the home's ca/ca.crt; and an existing store unless Force.
//
// CRL numbers never go back: CRLs published under HOME/crl, and those in a
// replaced store, may be newer than the backup, so the restored store's
// numbering continues above the highest number seen anywhere.
//
// The caller (in ctx) needs the admin role.
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	p, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = testhook.Clock()
	}
	src, err := filepath.Abs(o.File)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(src); err != nil {
		return nil, msg.Errorf("backup %s: %w", o.File, ra.ErrNotFound)
	}
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return nil, err
	}
	dst := filepath.Join(o.Home, DBFile)
	_, statErr := os.Stat(dst)
	exists := statErr == nil
	if exists && !o.Force {
		return nil, msg.Errorf("%s already holds a cmca store; pass --force to replace it (it is kept as %s.pre-restore-TIME): %w", o.Home, DBFile, ra.ErrConflict)
	}
	tmp := dst + ".restore-tmp"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	if err := copyFile(src, tmp); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	sum, err := checkStoreFile(ctx, tmp)
	if err != nil {
		return nil, msg.Errorf("refusing to restore %s: %w", o.File, err)
	}
	digest, _, err := syncAndHash(src)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Home: o.Home, From: src, SHA256: digest, StoreSummary: sum}
	st, err := store.Open(ctx, tmp)
	if err != nil {
		return nil, err
	}
	st.Now = o.Now
	stOpen := true
	defer func() {
		if stOpen {
			st.Close()
		}
	}()
	if err := st.Read(ctx, func(tx *store.Tx) error { return checkSameCA(tx, o.Home) }); err != nil {
		return nil, msg.Errorf("refusing to restore %s: %w", o.File, err)
	}

	floor, err := highestPublishedCRL(filepath.Join(o.Home, CRLDir))
	if err != nil {
		return nil, err
	}
	oldSerials := map[string]bool{}
	if exists {
		res.Replaced = dst + ".pre-restore-" + o.Now().UTC().Format("20060102T150405Z")
		for i := 2; ; i++ {
			if _, serr := os.Lstat(res.Replaced); serr != nil {
				break
			}
			res.Replaced = fmt.Sprintf("%s.pre-restore-%s-%d", dst, o.Now().UTC().Format("20060102T150405Z"), i)
		}
		old, err := store.Open(ctx, dst)
		switch {
		case errors.Is(err, store.ErrNotStore), errors.Is(err, store.ErrNewerSchema):
			// An emptied, damaged or foreign file, or a newer cmca's
			// store: what a restore is for. It is kept byte for byte.
			err = copyFile(dst, res.Replaced)
		case err != nil:
			return nil, msg.Errorf("open the store being replaced: %w", err)
		default:
			err = old.Read(ctx, func(tx *store.Tx) error {
				s, err := tx.Summary()
				if err != nil {
					return err
				}
				floor = max(floor, s.LastCRLNumber)
				return tx.EachCertFacts(func(c store.CertFacts) error { oldSerials[c.Serial] = true; return nil })
			})
			if err == nil {
				err = old.BackupTo(ctx, res.Replaced)
			}
			old.Close()
		}
		if err != nil {
			return nil, msg.Errorf("keep the store being replaced: %w", err)
		}
	}

	err = st.Tx(ctx, func(tx *store.Tx) error {
		if floor > sum.LastCRLNumber {
			if err := tx.SetCRLNumberFloor(floor); err != nil {
				return err
			}
		}
		if res.NextCRLNumber, err = tx.NextCRLNumber(); err != nil {
			return err
		}
		err := tx.EachCertFacts(func(c store.CertFacts) error { delete(oldSerials, c.Serial); return nil })
		if err != nil {
			return err
		}
		for s := range oldSerials {
			res.LostCertificates = append(res.LostCertificates, s)
		}
		return tx.Audit(ra.Event{Operator: p.String(), Action: "restore", Detail: fmt.Sprintf("from backup sha256=%s; CRL numbering continues at %d; %d certificates of the replaced store are not in the backup", digest, res.NextCRLNumber, len(res.LostCertificates))})
	})
	stOpen = false
	if cerr := st.Close(); err == nil {
		err = cerr // the WAL is checkpointed into the file before it moves
	}
	if err != nil {
		return nil, msg.Errorf("refusing to restore %s: %w", o.File, err)
	}
	if exists {
		for _, p := range []string{dst + "-wal", dst + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, msg.Errorf("restore: %w", err)
	}
	syncDir(o.Home)
	// The published checkpoint anchors the replaced store's log, which may
	// reach beyond the backup's: keep it aside; `cmca restore` then signs
	// one for the restored log (Service.SignCheckpoint).
	cp := filepath.Join(o.Home, CheckpointFile)
	if _, err := os.Stat(cp); err == nil {
		res.ReplacedCheckpoint = cp + ".pre-restore-" + o.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(cp, res.ReplacedCheckpoint); err != nil {
			return nil, msg.Errorf("restore: keep the audit checkpoint aside: %w", err)
		}
	}
	return res, nil
}

// checkSameCA refuses a backup made by another CA than the home's: its
// recorded identity (schema version 4 on) names another CA certificate
// fingerprint, or, for an older backup, its first audit record (init)
// names another CA certificate serial.
func checkSameCA(tx *store.Tx, home string) error {
	cert, fp, err := homeCACert(home)
	if errors.Is(err, ra.ErrNotFound) {
		return nil // a bare home: the CA files are restored separately
	}
	if err != nil {
		return err
	}
	id, err := tx.Identity()
	if err != nil {
		return err
	}
	if id != nil {
		if id.CACertSHA256 != fp {
			return msg.Errorf("the backup belongs to another CA (certificate SHA-256 %s) than %s (SHA-256 %s): %w", id.CACertSHA256, filepath.Join(home, CACertFile), fp, ra.ErrConflict)
		}
		return nil
	}
	evs, err := tx.AuditRecords(store.AuditFilter{Limit: 1})
	if err != nil {
		return err
	}
	want := ra.SerialString(cert.SerialNumber)
	if len(evs) == 0 || evs[0].Action != "init" || evs[0].Serial != want {
		got := "(none)"
		if len(evs) > 0 {
			got = evs[0].Serial
		}
		return msg.Errorf("the backup belongs to another CA (certificate serial %s) than %s (serial %s): %w", got, filepath.Join(home, CACertFile), want, ra.ErrConflict)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
