package service

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// lostCommitsHint is what doctor says where the store knows less than what
// cmca has published.
const lostCommitsHint = "the store was restored from an older backup, or lost commits (its -wal file deleted or replaced: see docs/operations.md)"

// checkLostRevocations: every certificate the published full CRL
// (crl/ca.crl, signed by this CA) lists as revoked must be revoked in the
// store. A store that lost commits no longer knows the revocation, and the
// next CRL would leave the certificate out: doctor names each one (the
// first ten, then how many more).
func (d *doctor) checkLostRevocations(tx *store.Tx) error {
	path := filepath.Join(d.home, CRLDir, "ca.crl")
	data, err := os.ReadFile(path)
	if err != nil || d.caCert == nil {
		return nil // a missing CRL is reported by checkPublished
	}
	rl, err := x509.ParseRevocationList(data)
	if err != nil || rl.CheckSignatureFrom(d.caCert) != nil {
		return nil // reported by checkCRLs
	}
	revoked := map[string]bool{}
	err = tx.EachRevoked(time.Time{}, func(r store.Revoked) error {
		revoked[r.Serial] = true
		return nil
	})
	if err != nil {
		return err
	}
	d.rep.Checked["published_revocations"] += len(rl.RevokedCertificateEntries)
	missing := 0
	for _, e := range rl.RevokedCertificateEntries {
		serial := ra.SerialString(e.SerialNumber)
		if revoked[serial] {
			continue
		}
		missing++
		if missing <= 10 {
			d.add("crls", "certificate "+serial, fmt.Sprintf("is revoked in the published CRL %s but not in the store: %s; the next CRL would leave it out", rl.Number, lostCommitsHint),
				"restore the store from a backup made after the revocation (`cmca restore`), or revoke it again, before the next `cmca crl`")
		}
	}
	if missing > 10 {
		d.add("crls", path, fmt.Sprintf("%d more certificates revoked in it are not revoked in the store", missing-10), "")
	}
	return nil
}
