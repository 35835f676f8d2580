package service

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/msg"
	"hash"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// CRLOptions control CRL generation.
type CRLOptions struct {
	Delta bool // a delta CRL against the latest full CRL
	Force bool // sign a new CRL even if the current one is up to date
}

// CRLResult describes the CRL now published.
type CRLResult struct {
	Number     int64     `json:"number"`
	BaseNumber int64     `json:"base_number,omitempty"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	Entries    int       `json:"entries"`
	Reused     bool      `json:"reused"` // the current CRL was still up to date; nothing was signed
	DERPath    string    `json:"der_path"`
	PEMPath    string    `json:"pem_path"`
	// File is the numbered history file holding this CRL (DER). Unlike
	// DERPath, a later CRL never replaces it.
	File string `json:"-"`
	// Warning says why an up-to-date CRL was signed again (its file was
	// missing or did not match its record); the CLI prints it on stderr.
	Warning string `json:"-"`
}

// CRL signs and publishes a CRL of every revoked, unexpired certificate.
// When the latest CRL already lists every revocation and is less than half
// way to its nextUpdate, it is republished as is: `cmca crl` from cron is
// cheap. CRL numbers come from the store inside the signing transaction, so
// a number is never used twice, even across crashes.
//
// The store records each CRL's number, times and the SHA-256 and size of
// its body; the body is the numbered history file under HOME/crl
// (ca-NNNNNN.crl, ca-delta-NNNNNN.crl). An up-to-date CRL whose file is
// missing or does not match its record is not republished: a new one is
// signed and Warning says why.
//
// The caller (in ctx) needs the issuer role.
func (s *Service) CRL(ctx context.Context, o CRLOptions) (*CRLResult, error) {
	p, err := principal.Require(ctx, principal.Issuer)
	if err != nil {
		return nil, err
	}
	operator := p.String()
	warning := ""
	if !o.Force {
		var latest *store.CRL
		fresh := false
		err := s.store.Read(ctx, func(tx *store.Tx) error {
			var err error
			if latest, err = tx.LatestCRL(o.Delta); err != nil || latest == nil {
				return err
			}
			n, err := tx.RevokedCount()
			half := latest.ThisUpdate.Add(latest.NextUpdate.Sub(latest.ThisUpdate) / 2)
			fresh = n == latest.RevokedTotal && s.Now().Before(half)
			if o.Delta && fresh {
				base, err := tx.LatestCRL(false)
				fresh = err == nil && base != nil && base.Number == latest.BaseNumber
			}
			if err != nil {
				return err
			}
			// After a restore, or when the store lost commits, newer CRLs
			// than the store's were published: sign one above them rather
			// than republish an older number.
			floor, err := tx.CRLFloor()
			if err != nil {
				return err
			}
			published, err := highestPublishedCRL(filepath.Join(s.home, CRLDir))
			fresh = fresh && latest.Number > floor && latest.Number >= published
			return err
		})
		if err != nil {
			return nil, err
		}
		if fresh {
			res, err := s.republish(ctx, latest.Number, o.Delta)
			var bad *crlBodyError
			if !errors.As(err, &bad) {
				return res, err
			}
			warning = bad.Error() + "; signing a new CRL"
		}
	}
	if o.Delta {
		if err := s.waitPastBase(ctx); err != nil {
			return nil, err
		}
	}
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, msg.Errorf("load CA: %w", err)
	}
	// The encoder holds the encoded entries (~49 MB for a million) until it
	// has signed them; collect sooner than the default while signing.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	dir := filepath.Join(s.home, CRLDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var rec store.CRL
	tmp := "" // the signed body until it becomes the numbered file
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		// Begun (the transaction's clock is fixed), the CRL lock not yet
		// taken: TestCRLRevocationRace commits a revocation here.
		testhook.Point("crl:begun")
		removeStaleTemps(dir)
		if tmp != "" { // a retried transaction (PostgreSQL): sign afresh
			os.Remove(tmp)
			tmp = ""
		}
		num, err := tx.NextCRLNumber()
		if err != nil {
			return err
		}
		// Never below a number already published under crl/, even if the
		// store does not know it (it lost commits, or is an older copy):
		// a relying party must never see one number on two CRLs.
		published, err := highestPublishedCRL(dir)
		if err != nil {
			return err
		}
		if published >= num {
			// The published CRLs the store lacks are history now: record
			// the floor, as cmca restore does, so that doctor takes them
			// for what they are (a restore with pg_restore has no other
			// way to set it).
			if err := tx.SetCRLNumberFloor(published); err != nil {
				return err
			}
			num = published + 1
		}
		// The clock is read now that the CRL lock is held (NextCRLNumber),
		// not when the transaction began: on PostgreSQL a revocation timed
		// after the transaction began may have committed before the lock
		// was taken, and its time must not be after thisUpdate.
		// Revocations take the same lock, so none commits from here on.
		now := s.Now().UTC().Truncate(time.Second)
		rec = store.CRL{Number: num, ThisUpdate: now, NextUpdate: now.Add(s.cfg.CRLValidity), Operator: operator}
		if rec.RevokedTotal, err = tx.RevokedCount(); err != nil {
			return err
		}
		since := time.Time{}
		if o.Delta {
			base, err := tx.LatestCRL(false)
			if err != nil {
				return err
			}
			if base == nil {
				return msg.Errorf("a delta CRL needs a full CRL first; sign a full CRL: %w", ra.ErrConflict)
			}
			rec.BaseNumber, since = base.Number, base.ThisUpdate
			// A delta's thisUpdate is strictly after its base's: openssl
			// -use_deltas ignores a delta no newer than its base (and may
			// take it for the full CRL). waitPastBase makes this a no-op
			// with a real clock.
			if !rec.ThisUpdate.After(base.ThisUpdate) {
				rec.ThisUpdate = base.ThisUpdate.Add(time.Second)
				rec.NextUpdate = rec.ThisUpdate.Add(s.cfg.CRLValidity)
			}
		}
		// No issuing distribution point: see ca.WriteCRL.
		tmpl := ca.CRLTemplate{Number: big.NewInt(num), ThisUpdate: rec.ThisUpdate, NextUpdate: rec.NextUpdate}
		if !o.Delta {
			tmpl.FreshestCRL = s.cfg.DeltaCRLDistributionPoint
		}
		if o.Delta {
			tmpl.BaseNumber = big.NewInt(rec.BaseNumber)
		}
		entries := func(yield func(ca.RevokedEntry) error) error {
			count := 0
			serial := new(big.Int) // WriteCRL keeps no reference: reuse one
			var raw [20]byte
			err := tx.EachRevoked(now, func(r store.Revoked) error {
				// A delta lists revocations from the base's thisUpdate
				// second on: one in that very second may be in both,
				// which RFC 5280 allows; one missed would not be.
				if o.Delta && r.RevokedAt.Before(since) {
					return nil
				}
				if err := parseSerialInto(serial, raw[:], r.Serial); err != nil {
					return err
				}
				count++
				return yield(ca.RevokedEntry{Serial: serial, RevokedAt: r.RevokedAt, Reason: r.Reason, InvalidityDate: r.InvalidityDate})
			})
			rec.Entries = count
			return err
		}
		// The body streams into a temporary file, hashed on the way: the
		// store keeps its digest and size, not its 48 MB.
		if tmp, rec.SHA256, rec.Size, err = writeSignedCRL(filepath.Join(dir, crlFileBase(num, o.Delta)), func(w io.Writer) error {
			return ca.WriteCRL(w, tmpl, entries, authority.Cert, authority.Signer)
		}); err != nil {
			return msg.Errorf("sign CRL: %w", err)
		}
		if s.store.Engine() == store.Postgres {
			// Every instance, each with a home of its own, serves the
			// body from the store (CurrentCRL); the file stays this
			// home's copy.
			if rec.DER, err = os.ReadFile(tmp); err != nil {
				return fmt.Errorf("sign CRL: %w", err)
			}
		}
		if err := tx.InsertCRL(rec); err != nil {
			return err
		}
		kind := "crl"
		if o.Delta {
			kind = "delta-crl"
		}
		if err := tx.Audit(ra.Event{Operator: operator, Action: kind, Detail: fmt.Sprintf("number=%d entries=%d", num, rec.Entries)}); err != nil {
			return err
		}
		// Signed, not committed: a crash here leaves no record and no
		// numbered file (a later signing removes the temporary one), so
		// the number was never seen and is free to use again.
		testhook.Point("crl:signed")
		return nil
	})
	if err != nil {
		return nil, err
	}
	hist := filepath.Join(dir, crlFileBase(rec.Number, o.Delta))
	if err := os.Rename(tmp, hist); err != nil {
		return nil, msg.Errorf("CRL %d is recorded but its file could not be put in place; sign a new CRL, forced: %w", rec.Number, err)
	}
	tmp = ""
	syncDir(dir)
	// Committed, not published: the next run finds this CRL up to date
	// and publishes it from its numbered file.
	testhook.Point("crl:committed")
	res := crlResult(&rec)
	res.Warning = warning
	if err := s.publish(ctx, res, o.Delta, crlBody{path: hist}); err != nil {
		return res, err
	}
	s.checkpoint(ctx, authority) // published beside the CRL
	return res, nil
}

// waitPastBase waits, at most a second, until the clock has left the second
// of the newest full CRL's thisUpdate, so that a delta signed right after
// its base gets a later thisUpdate that is not in the future.
func (s *Service) waitPastBase(ctx context.Context) error {
	var base *store.CRL
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		base, err = tx.LatestCRL(false)
		return err
	})
	if err != nil || base == nil {
		return err
	}
	wait := base.ThisUpdate.Add(time.Second).Sub(s.Now())
	if wait <= 0 || wait > time.Second {
		return nil // past it, or a clock set back: the signing bumps thisUpdate
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// republish publishes the stored CRL number again. A *crlBodyError means
// its body is missing or does not match its record.
func (s *Service) republish(ctx context.Context, number int64, delta bool) (*CRLResult, error) {
	var rec *store.CRL
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		rec, err = tx.CRLByNumber(number)
		return err
	})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.home, CRLDir)
	hist := filepath.Join(dir, crlFileBase(rec.Number, delta))
	body := crlBody{path: hist}
	if rec.Legacy() || len(rec.DER) > 0 {
		// The store holds the body: signed before CRL bodies moved to
		// files, or on PostgreSQL (perhaps by another instance).
		if len(rec.DER) == 0 {
			return nil, &crlBodyError{number: rec.Number, problem: "has no body in the store"}
		}
		if !crlBodyMatches(rec, rec.DER) {
			return nil, &crlBodyError{number: rec.Number, problem: "has a body in the store that does not match the SHA-256 its record holds (altered)"}
		}
		body = crlBody{der: rec.DER}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		// The home's copy: written if missing, or (PostgreSQL) put right
		// if it is not the body the store holds.
		if _, err := os.Stat(hist); err != nil || (!rec.Legacy() && checkCRLFile(hist, rec) != nil) {
			if err := WritePublicFile(hist, rec.DER); err != nil {
				return nil, err
			}
		}
	} else if err := checkCRLFile(hist, rec); err != nil {
		return nil, err
	}
	res := crlResult(rec)
	res.Reused = true
	return res, s.publish(ctx, res, delta, body)
}

func crlResult(c *store.CRL) *CRLResult {
	return &CRLResult{Number: c.Number, BaseNumber: c.BaseNumber, ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate, Entries: c.Entries}
}

// crlFileBase is the name of the numbered history file of a CRL.
func crlFileBase(number int64, delta bool) string {
	if delta {
		return fmt.Sprintf("ca-delta-%06d.crl", number)
	}
	return fmt.Sprintf("ca-%06d.crl", number)
}

// crlBodyError: the body of a stored CRL is missing or is not the one its
// record describes.
type crlBodyError struct {
	number  int64
	path    string
	problem string
}

// ErrCRLDamaged: a CRL the store records has a body (in the store, or its
// numbered file in the home) that is missing or does not match its record.
// `cmca crl --force` signs a new one.
var ErrCRLDamaged = errors.New("CRL body damaged")

func (e *crlBodyError) Unwrap() error { return ErrCRLDamaged }

func (e *crlBodyError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("CRL %d %s", e.number, e.problem)
	}
	return fmt.Sprintf("CRL %d: %s %s", e.number, e.path, e.problem)
}

// crlDigest identifies a CRL body: its size and SHA-256 (hex), as the
// store records them.
type crlDigest struct {
	size   int64
	sha256 string
}

// recordedDigest is the digest rec records for its body (not for a legacy
// row, whose body is in the store).
func recordedDigest(rec *store.CRL) crlDigest { return crlDigest{rec.Size, rec.SHA256} }

func digestOf(der []byte) crlDigest {
	sum := sha256.Sum256(der)
	return crlDigest{int64(len(der)), hex.EncodeToString(sum[:])}
}

// fileDigest streams a file through SHA-256.
func fileDigest(path string) (crlDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return crlDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return crlDigest{}, msg.Errorf("read %s: %w", path, err)
	}
	return crlDigest{n, hex.EncodeToString(h.Sum(nil))}, nil
}

// checkCRLFile checks that the file at path is the body rec records: its
// size first (no read), then its SHA-256, streamed.
func checkCRLFile(path string, rec *store.CRL) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &crlBodyError{number: rec.Number, path: path, problem: "is missing"}
	}
	if err != nil {
		return err
	}
	if fi.Size() != rec.Size {
		return &crlBodyError{number: rec.Number, path: path, problem: fmt.Sprintf("holds %d bytes, not the %d its record says", fi.Size(), rec.Size)}
	}
	got, err := fileDigest(path)
	if err != nil {
		return err
	}
	if got != recordedDigest(rec) {
		return &crlBodyError{number: rec.Number, path: path, problem: "does not match the SHA-256 its record holds (altered or replaced)"}
	}
	return nil
}

// crlBodyMatches reports whether der is the body rec records.
func crlBodyMatches(rec *store.CRL, der []byte) bool {
	if rec.Legacy() {
		return bytes.Equal(rec.DER, der)
	}
	return digestOf(der) == recordedDigest(rec)
}

// crlBody is where a CRL's DER is read from: a file, or (a legacy row) memory.
type crlBody struct {
	path string
	der  []byte
}

func (b crlBody) writeTo(w io.Writer) error {
	if b.der != nil {
		_, err := w.Write(b.der)
		return err
	}
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// writeSignedCRL streams a signed CRL into a new temporary file next to
// final, synced to disk, and returns its name, SHA-256 (hex) and size. On
// error nothing is left behind.
func writeSignedCRL(final string, write func(io.Writer) error) (tmp, digest string, size int64, err error) {
	h := &hashCounter{h: sha256.New()}
	tmp, err = atomicfile.Temp(final, atomicfile.Options{Mode: 0o644}, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := write(io.MultiWriter(bw, h)); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return "", "", 0, err
	}
	return tmp, hex.EncodeToString(h.h.Sum(nil)), h.n, nil
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// crlTempName matches the temporary files of CRL signing and publishing.
var crlTempName = regexp.MustCompile(`^ca(-delta)?(-\d+)?\.crl(\.pem)?\.tmp-`)

// removeStaleTemps removes temporary files that a cmca process killed while
// signing or publishing left in the CRL directory. Only those over an hour
// old: a process that has just committed may still be renaming its own.
func removeStaleTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !crlTempName.MatchString(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// publish writes the current CRL under home/crl (DER and PEM) from body.
// Files are replaced atomically. Concurrent `cmca crl` runs replace the
// current files one at a time, under the store's CRL lock (SQLite: its
// write lock), and never with a CRL older than the newest stored.
func (s *Service) publish(ctx context.Context, res *CRLResult, delta bool, body crlBody) error {
	dir := filepath.Join(s.home, CRLDir)
	base := "ca"
	if delta {
		base = "ca-delta"
	}
	res.DERPath = filepath.Join(dir, base+".crl")
	res.PEMPath = filepath.Join(dir, base+".crl.pem")
	res.File = filepath.Join(dir, crlFileBase(res.Number, delta))
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.LockCRLs(); err != nil {
			return err
		}
		if latest, err := tx.LatestCRL(delta); err != nil {
			return err
		} else if latest != nil && latest.Number > res.Number {
			return nil // a newer CRL was signed meanwhile; it publishes itself
		}
		return publishFiles(res.DERPath, res.PEMPath, body)
	})
}

// publishFiles writes the DER and PEM of body to temporary files in one
// pass over it, then renames them into place, the DER first.
func publishFiles(derPath, pemPath string, body crlBody) (err error) {
	var tmps []string
	defer func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}()
	open := func(path string) (*os.File, *bufio.Writer, error) {
		f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
		if err != nil {
			return nil, nil, err
		}
		tmps = append(tmps, f.Name())
		return f, bufio.NewWriterSize(f, 1<<16), nil
	}
	df, dw, err := open(derPath)
	if err != nil {
		return err
	}
	defer df.Close()
	pf, pw, err := open(pemPath)
	if err != nil {
		return err
	}
	defer pf.Close()
	err = writePEM(pw, "X509 CRL", func(enc io.Writer) error {
		return body.writeTo(io.MultiWriter(dw, enc))
	})
	for _, step := range []func() error{dw.Flush, pw.Flush,
		func() error { return df.Chmod(0o644) }, func() error { return pf.Chmod(0o644) }, df.Close, pf.Close} {
		if err != nil {
			return err
		}
		err = step()
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmps[0], derPath); err != nil {
		return err
	}
	tmps = tmps[1:]
	testhook.Point("crl:published") // DER replaced, PEM not yet
	if err := os.Rename(tmps[0], pemPath); err != nil {
		return err
	}
	tmps = nil
	return nil
}

// writePEM writes one PEM block of the given type whose bytes body writes,
// without holding them: the same output as pem.Encode with no headers.
func writePEM(w io.Writer, typ string, body func(io.Writer) error) error {
	if _, err := io.WriteString(w, "-----BEGIN "+typ+"-----\n"); err != nil {
		return err
	}
	lb := &lineBreaker{out: w}
	enc := base64.NewEncoder(base64.StdEncoding, lb)
	if err := body(enc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := lb.close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "-----END "+typ+"-----\n")
	return err
}

// lineBreaker breaks base64 text into PEM's 64-character lines.
type lineBreaker struct {
	out  io.Writer
	used int // characters on the current line
}

const pemLineLength = 64

func (l *lineBreaker) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(pemLineLength-l.used, len(b))
		if _, err := l.out.Write(b[:k]); err != nil {
			return 0, err
		}
		b, l.used = b[k:], l.used+k
		if l.used == pemLineLength {
			if _, err := l.out.Write(newline); err != nil {
				return 0, err
			}
			l.used = 0
		}
	}
	return n, nil
}

var newline = []byte{'\n'}

func (l *lineBreaker) close() error {
	if l.used > 0 {
		_, err := l.out.Write(newline)
		return err
	}
	return nil
}

// WritePublicFile replaces a public file (mode 0644: certificates, CRLs)
// atomically, through a temporary file of its own so that concurrent writers
// never mix their bytes.
func WritePublicFile(path string, data []byte) error {
	return replaceFile(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// CopyPublicFile replaces the public file path with a copy of the file src,
// atomically and without holding it in memory (a CRL may be 48 MB).
func CopyPublicFile(path, src string) error {
	return writeFileWith(path, crlBody{path: src}.writeTo)
}

// writeFileWith is WritePublicFile for content streamed by fn (the PEM of a
// large CRL is never held in memory whole).
func writeFileWith(path string, fn func(io.Writer) error) error {
	return replaceFile(path, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 1<<16)
		if err := fn(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// replaceFile writes a public file (0644) through internal/atomicfile.
// Small writes (a certificate: download-batch writes thousands) go straight
// to the file, without a buffer of their own, and are not synced.
func replaceFile(path string, fill func(*os.File) error) error {
	return atomicfile.WriteWith(path, atomicfile.Options{Mode: 0o644, Overwrite: true, NoSync: true}, fill)
}

// parseSerialInto decodes a stored serial (lower-case hex, no leading zeros)
// into n without allocating: a CRL decodes a million of them.
func parseSerialInto(n *big.Int, buf []byte, hexSerial string) error {
	if len(hexSerial) == 0 || len(hexSerial) > 2*len(buf) {
		return fmt.Errorf("bad serial %q in store", hexSerial)
	}
	odd := len(hexSerial) % 2
	out := buf[:(len(hexSerial)+1)/2]
	if odd == 1 {
		v, err := hex.DecodeString("0" + hexSerial[:1])
		if err != nil {
			return msg.Errorf("bad serial %q in store: %w", hexSerial, err)
		}
		out[0] = v[0]
	}
	if _, err := hex.Decode(out[odd:], []byte(hexSerial[odd:])); err != nil {
		return msg.Errorf("bad serial %q in store: %w", hexSerial, err)
	}
	n.SetBytes(out)
	return nil
}
