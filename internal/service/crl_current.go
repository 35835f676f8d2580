package service

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// CurrentCRL is the newest full or delta CRL, as `cmca serve` publishes it.
type CurrentCRL struct {
	Number     int64
	ThisUpdate time.Time
	DER        []byte
	PEM        []byte
}

// CurrentCRL returns the newest full (delta=false) or delta CRL the store
// records, its body from the store, or for a CRL whose body the store does
// not hold (signed on SQLite, or before a `cmca store migrate`) from its
// numbered file in the home, checked against its record either way. Every
// `cmca serve` on a PostgreSQL store publishes from here, so each instance
// serves the CRL another one signed as soon as it is committed.
//
// The body of the last one returned is kept in memory, by number: a call
// costs one indexed read unless a newer CRL was signed. ra.ErrNotFound
// means no CRL of that kind was signed yet; needs no role (the CRL is
// public).
func (s *Service) CurrentCRL(ctx context.Context, delta bool) (*CurrentCRL, error) {
	slot := &s.crlCache[0]
	if delta {
		slot = &s.crlCache[1]
	}
	var latest *store.CRL
	cached := slot.Load()
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if latest, err = tx.LatestCRL(delta); err != nil || latest == nil {
			return err
		}
		if cached != nil && cached.Number == latest.Number {
			return nil
		}
		latest, err = tx.CRLByNumber(latest.Number)
		return err
	})
	if err != nil {
		return nil, err
	}
	if latest == nil {
		return nil, fmt.Errorf("no CRL signed yet: %w", ra.ErrNotFound)
	}
	if cached != nil && cached.Number == latest.Number {
		return cached, nil
	}
	der := latest.DER
	if len(der) == 0 {
		path := filepath.Join(s.home, CRLDir, crlFileBase(latest.Number, delta))
		if err := checkCRLFile(path, latest); err != nil {
			return nil, fmt.Errorf("%w; run `cmca crl --force` to sign a CRL whose body the store keeps", err)
		}
		if der, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	if !crlBodyMatches(latest, der) {
		return nil, &crlBodyError{number: latest.Number, problem: "has a body in the store that does not match the SHA-256 its record holds (altered)"}
	}
	cur := &CurrentCRL{Number: latest.Number, ThisUpdate: latest.ThisUpdate, DER: der, PEM: pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})}
	// A slower caller that read an older CRL does not replace a newer one.
	for {
		old := slot.Load()
		if old != nil && old.Number > cur.Number {
			return cur, nil
		}
		if slot.CompareAndSwap(old, cur) {
			return cur, nil
		}
	}
}
