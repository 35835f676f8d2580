package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/store"
)

// CheckpointFile is the signed anchor of the audit log's head, published
// beside the CRL (issue 11, item 4). The hash chain proves that no record
// before the head was changed; the checkpoint proves how far the head had
// come when it was signed, so records cut from the end are noticed.
const CheckpointFile = "crl/audit-checkpoint.json"

// Checkpoint is the audit log's head, signed with the CA key.
type Checkpoint struct {
	Version int       `json:"version"`   // 1
	Seq     int64     `json:"seq"`       // the newest audit record when signed
	Hash    string    `json:"hash"`      // that record's chain hash
	Time    time.Time `json:"time"`      // when it was signed
	CA      string    `json:"ca_sha256"` // SHA-256 of the CA certificate (DER), lower-case hex
	// Signature is the CA key's signature (ECDSA ASN.1 or RSA PKCS#1 v1.5,
	// with SHA-256) over signedBytes.
	Signature []byte `json:"signature"`
}

// signedBytes is the canonical encoding the signature covers: a domain
// separator, then each field length-prefixed.
func (c *Checkpoint) signedBytes() []byte {
	b := []byte("cmca-audit-checkpoint-v1\n")
	for _, f := range []string{strconv.Itoa(c.Version), strconv.FormatInt(c.Seq, 10), c.Hash,
		strconv.FormatInt(c.Time.Unix(), 10), c.CA} {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, ';')
	}
	return b
}

// checkpointAlgorithm is the signature algorithm for a CA key.
func checkpointAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return x509.ECDSAWithSHA256, nil
	case *rsa.PublicKey:
		return x509.SHA256WithRSA, nil
	}
	return 0, fmt.Errorf("audit checkpoint: unsupported CA key type %T", pub)
}

func certSHA256(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return hex.EncodeToString(h[:])
}

// signCheckpoint signs the head (seq, hash) with the CA key.
func signCheckpoint(authority *ca.CA, seq int64, hash string, now time.Time) (*Checkpoint, error) {
	if _, err := checkpointAlgorithm(authority.Cert.PublicKey); err != nil {
		return nil, err
	}
	c := &Checkpoint{Version: 1, Seq: seq, Hash: hash, Time: now.UTC().Truncate(time.Second), CA: certSHA256(authority.Cert)}
	d := sha256.Sum256(c.signedBytes())
	sig, err := authority.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, msg.Errorf("sign audit checkpoint: %w", err)
	}
	c.Signature = sig
	return c, nil
}

// verify checks the checkpoint's signature against the CA certificate.
func (c *Checkpoint) verify(caCert *x509.Certificate) error {
	if c.Version != 1 {
		return fmt.Errorf("unknown checkpoint version %d", c.Version)
	}
	if c.CA != certSHA256(caCert) {
		return fmt.Errorf("signed for CA certificate %s, not this home's (%s)", c.CA, certSHA256(caCert))
	}
	alg, err := checkpointAlgorithm(caCert.PublicKey)
	if err != nil {
		return err
	}
	if err := caCert.CheckSignature(alg, c.signedBytes(), c.Signature); err != nil {
		return msg.Errorf("the signature does not verify with the CA certificate: %w", err)
	}
	return nil
}

// readCheckpoint reads the published checkpoint; nil without error if
// there is none.
func readCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseCheckpoint(path, data)
}

func parseCheckpoint(path string, data []byte) (*Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, msg.Errorf("%s is not an audit checkpoint: %w", path, err)
	}
	return &c, nil
}

// writeCheckpoint signs the audit log's current head and publishes it,
// unless the published checkpoint already covers it. It runs after the
// transaction that wrote the records has committed, so a checkpoint never
// names a record that does not exist. Bulk commands call it once per batch.
//
// On PostgreSQL the newest checkpoint is also kept in the store (one row,
// never moved back), where every instance's `audit verify` and `doctor`
// find it; a head the stored checkpoint covers already is not signed
// again, and the home's file is brought up to the stored one.
//
// Calls in one process run one at a time (consecutive download groups
// overlap: groupcommit.go), so the head read last is published last.
func (s *Service) writeCheckpoint(ctx context.Context, authority *ca.CA) error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	shared := s.store.Engine() == store.Postgres
	var seq int64
	var hash string
	var stored *Checkpoint
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if seq, hash, err = tx.AuditHead(); err != nil || !shared {
			return err
		}
		row, err := tx.AuditCheckpoint()
		if row != nil {
			stored = fromStored(row)
		}
		return err
	})
	if err != nil || seq == 0 {
		return err
	}
	path := filepath.Join(s.home, CheckpointFile)
	old, own, err := s.readOwnCheckpoint(path)
	fileCovers := func(seq int64) bool {
		return err == nil && old != nil && old.Seq >= seq && (own || old.verify(authority.Cert) == nil)
	}
	var c *Checkpoint
	if stored != nil && stored.Seq >= seq && stored.verify(authority.Cert) == nil {
		c = stored // another instance signed this head, or a later one
	} else {
		if !shared && fileCovers(seq) {
			// Never move the published checkpoint back (a slower
			// concurrent process that read an older head).
			return nil
		}
		if c, err = signCheckpoint(authority, seq, hash, s.Now()); err != nil {
			return err
		}
		if shared {
			if err := s.store.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.PutAuditCheckpoint(c.toStored())
				return err
			}); err != nil {
				return err
			}
		}
	}
	if fileCovers(c.Seq) {
		return nil
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data = append(data, '\n')
	if err := WritePublicFile(path, data); err != nil {
		return err
	}
	s.ckWritten = data
	return nil
}

// readOwnCheckpoint is readCheckpoint, and reports whether the file holds
// exactly the checkpoint this process wrote last (whose signature it need
// not check again: a serving process checks the file once per download
// group). Called with ckMu held.
func (s *Service) readOwnCheckpoint(path string) (c *Checkpoint, own bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c, err = parseCheckpoint(path, data)
	return c, err == nil && s.ckWritten != nil && bytes.Equal(data, s.ckWritten), err
}

func fromStored(c *store.Checkpoint) *Checkpoint {
	return &Checkpoint{Version: c.Version, Seq: c.Seq, Hash: c.Hash, Time: c.Time, CA: c.CASHA256, Signature: c.Signature}
}

func (c *Checkpoint) toStored() store.Checkpoint {
	return store.Checkpoint{Version: c.Version, Seq: c.Seq, Hash: c.Hash, Time: c.Time, CASHA256: c.CA, Signature: c.Signature}
}

// checkpoint writes the audit checkpoint after a signing operation; a
// failure does not undo what was committed, so it becomes a warning.
func (s *Service) checkpoint(ctx context.Context, authority *ca.CA) {
	if err := s.writeCheckpoint(ctx, authority); err != nil {
		s.warn(fmt.Sprintf("the audit checkpoint could not be published (%v); run `cmca crl --force` to sign one", err))
	}
}

// checkpointAfterRevocation anchors a revocation: approving one does not
// otherwise need the CA key, so the key is loaded here (a token asks for
// its PIN). If it cannot be, the revocation stands and the warning says to
// sign a CRL, which writes the checkpoint.
func (s *Service) checkpointAfterRevocation(ctx context.Context) {
	authority, err := s.CA(ctx)
	if err != nil {
		s.warn(fmt.Sprintf("the revocation is recorded, but no audit checkpoint was signed (load CA: %v); run `cmca crl` to publish it and sign one", err))
		return
	}
	s.checkpoint(ctx, authority)
}

func (s *Service) warn(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
	}
}

// checkpointProblem checks the published checkpoint against the audit log
// in tx: signed by this CA, the log reaches its record, and that record's
// hash is the one signed. It returns "" when all holds. A missing
// checkpoint is a problem once the store holds a certificate or a CRL (each
// of which wrote one); seq is the record concerned.
//
// path is the home's own checkpoint, or (given) a copy fetched from where
// the CRL is published, which must exist. For the home's own, the
// checkpoint the store keeps (PostgreSQL: the newest any instance signed)
// is checked too, and either one present is enough to not be missing.
func checkpointProblem(tx *store.Tx, path string, given bool, caCert *x509.Certificate) (seq int64, problem string, err error) {
	c, rerr := readCheckpoint(path)
	if rerr != nil {
		return 0, rerr.Error(), nil
	}
	if c == nil && given {
		return 0, fmt.Sprintf("no audit checkpoint at %s", path), nil
	}
	var stored *Checkpoint
	if !given {
		row, err := tx.AuditCheckpoint()
		if err != nil {
			return 0, "", err
		}
		if row != nil {
			stored = fromStored(row)
		}
	}
	if c == nil && stored == nil {
		sum, err := tx.Summary()
		if err != nil {
			return 0, "", err
		}
		if sum.Certificates > 0 || sum.CRLs > 0 {
			return 0, fmt.Sprintf("no audit checkpoint at %s, though the store holds certificates or CRLs: it was deleted (or the home predates checkpoints: run `cmca crl --force` to sign one)", path), nil
		}
		return 0, "", nil
	}
	for _, chk := range []struct {
		c     *Checkpoint
		where string
	}{{c, path}, {stored, "in the store"}} {
		if chk.c == nil {
			continue
		}
		if seq, problem, err := checkOneCheckpoint(tx, chk.c, chk.where, caCert); err != nil || problem != "" {
			return seq, problem, err
		}
	}
	return 0, "", nil
}

// checkOneCheckpoint checks one checkpoint c (read from where) against the
// audit log in tx.
func checkOneCheckpoint(tx *store.Tx, c *Checkpoint, where string, caCert *x509.Certificate) (seq int64, problem string, err error) {
	if caCert == nil {
		return c.Seq, "the CA certificate cannot be read, so the audit checkpoint cannot be checked", nil
	}
	if err := c.verify(caCert); err != nil {
		return c.Seq, fmt.Sprintf("audit checkpoint %s is not valid: %v", where, err), nil
	}
	head, _, err := tx.AuditHead()
	if err != nil {
		return 0, "", err
	}
	if head < c.Seq {
		return c.Seq, fmt.Sprintf("the log ends at record %d, but the checkpoint signed %s (%s) covers record %d: the newest records were cut", head, c.Time.Format(time.RFC3339), where, c.Seq), nil
	}
	h, err := tx.AuditHash(c.Seq)
	if err != nil {
		return 0, "", err
	}
	if h != c.Hash {
		return c.Seq, fmt.Sprintf("record %d is not the one the checkpoint signed %s (%s): the log was rewritten", c.Seq, c.Time.Format(time.RFC3339), where), nil
	}
	return 0, "", nil
}

// caCertificate parses the home's CA certificate (nil if unreadable).
func (s *Service) caCertificate() *x509.Certificate {
	data, err := s.CACertificate()
	if err != nil {
		return nil
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		return nil
	}
	return certs[0]
}

// SignCheckpoint signs and publishes a checkpoint of the audit log's head
// now (after `cmca restore`, or for a home that predates checkpoints). It
// loads the CA key.
func (s *Service) SignCheckpoint(ctx context.Context) error {
	authority, err := s.CA(ctx)
	if err != nil {
		return msg.Errorf("load CA: %w", err)
	}
	return s.writeCheckpoint(ctx, authority)
}
