package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/cmca/cmca/internal/ca"
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
	DER        []byte    `json:"-"`
}

// CRL signs and publishes a CRL of every revoked, unexpired certificate.
// When the latest CRL already lists every revocation and is less than half
// way to its nextUpdate, it is republished as is: `cmca crl` from cron is
// cheap. CRL numbers come from the store inside the signing transaction, so
// a number is never used twice, even across crashes.
func (s *Service) CRL(ctx context.Context, operator string, o CRLOptions) (*CRLResult, error) {
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
			// After a restore, newer CRLs than the store's were published:
			// sign one above them rather than republish an older number.
			floor, err := tx.CRLFloor()
			fresh = fresh && latest.Number > floor
			return err
		})
		if err != nil {
			return nil, err
		}
		if fresh {
			if latest, err = s.crlBytes(ctx, latest.Number); err != nil {
				return nil, err
			}
			res := crlResult(latest)
			res.Reused = true
			return res, s.publish(ctx, res, o.Delta)
		}
	}
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	// A CRL of a million entries holds ~50 MB of encoded entries and ~50 MB
	// of output at once; with the default GOGC the heap may grow to twice
	// that before collecting. Collect sooner while signing.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	var rec store.CRL
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		num, err := tx.NextCRLNumber()
		if err != nil {
			return err
		}
		now := tx.Now().UTC().Truncate(time.Second)
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
				return fmt.Errorf("a delta CRL needs a full CRL first; run `cmca crl`: %w", ra.ErrConflict)
			}
			rec.BaseNumber, since = base.Number, base.ThisUpdate
		}
		tmpl := ca.CRLTemplate{Number: big.NewInt(num), ThisUpdate: rec.ThisUpdate, NextUpdate: rec.NextUpdate,
			IssuingDistributionPoint: s.cfg.CRLDistributionPoint}
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
		var buf bytes.Buffer
		buf.Grow(int(rec.RevokedTotal)*48 + 1024) // ~45 bytes an entry: no regrowth copies
		if err := ca.WriteCRL(&buf, tmpl, entries, authority.Cert, authority.Signer); err != nil {
			return fmt.Errorf("sign CRL: %w", err)
		}
		rec.DER = buf.Bytes()
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
		// file, so the number was never seen and is free to use again.
		testhook.Point("crl:signed")
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Committed, not published: the next run finds this CRL up to date
	// and publishes it.
	testhook.Point("crl:committed")
	res := crlResult(&rec)
	return res, s.publish(ctx, res, o.Delta)
}

func crlResult(c *store.CRL) *CRLResult {
	return &CRLResult{Number: c.Number, BaseNumber: c.BaseNumber, ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate, Entries: c.Entries, DER: c.DER}
}

// publish writes the CRL under home/crl: the current one (DER and PEM) and
// a numbered copy for history. Files are replaced atomically. Concurrent
// `cmca crl` runs replace the current files one at a time, under the
// store's write lock, and never with a CRL older than the newest stored.
func (s *Service) publish(ctx context.Context, res *CRLResult, delta bool) error {
	dir := filepath.Join(s.home, CRLDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	base := "ca"
	if delta {
		base = "ca-delta"
	}
	res.DERPath = filepath.Join(dir, base+".crl")
	res.PEMPath = filepath.Join(dir, base+".crl.pem")
	hist := filepath.Join(dir, fmt.Sprintf("%s-%06d.crl", base, res.Number))
	if _, err := os.Stat(hist); err != nil {
		if err := WritePublicFile(hist, res.DER); err != nil {
			return err
		}
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		if latest, err := tx.LatestCRL(delta); err != nil {
			return err
		} else if latest != nil && latest.Number > res.Number {
			return nil // a newer CRL was signed meanwhile; it publishes itself
		}
		if err := WritePublicFile(res.DERPath, res.DER); err != nil {
			return err
		}
		testhook.Point("crl:published") // DER replaced, PEM not yet
		return writeFileWith(res.PEMPath, func(w io.Writer) error {
			return pem.Encode(w, &pem.Block{Type: "X509 CRL", Bytes: res.DER})
		})
	})
}

// WritePublicFile replaces a public file (mode 0644: certificates, CRLs)
// atomically, through a temporary file of its own so that concurrent writers
// never mix their bytes.
func WritePublicFile(path string, data []byte) error {
	return writeFileWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileWith is writeFile for content streamed by fn (the PEM of a large
// CRL is never held in memory whole).
func writeFileWith(path string, fn func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<16)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// crlBytes reads a stored CRL with its DER.
func (s *Service) crlBytes(ctx context.Context, number int64) (*store.CRL, error) {
	var c *store.CRL
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		c, err = tx.CRLByNumber(number)
		return err
	})
	return c, err
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
			return fmt.Errorf("bad serial %q in store: %w", hexSerial, err)
		}
		out[0] = v[0]
	}
	if _, err := hex.Decode(out[odd:], []byte(hexSerial[odd:])); err != nil {
		return fmt.Errorf("bad serial %q in store: %w", hexSerial, err)
	}
	n.SetBytes(out)
	return nil
}
