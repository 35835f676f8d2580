package service

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// ErrOtherCA means the store belongs to another CA than the home's
// ca/ca.crt (exit 4).
var ErrOtherCA = msg.Errorf("store of another CA: %w", ra.ErrConflict)

// homeCACert reads the home's CA certificate (the first of ca/ca.crt) and
// the SHA-256 of its DER, lower-case hex.
func homeCACert(home string) (*x509.Certificate, string, error) {
	path := filepath.Join(home, CACertFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", msg.Errorf("%s is missing, so the store cannot be matched to its CA: put the CA certificate back from the CA's backup: %w", path, ra.ErrNotFound)
	}
	if err != nil {
		return nil, "", msg.Errorf("read CA certificate: %w", err)
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v: %w", path, err, ra.ErrConflict)
	}
	sum := sha256.Sum256(certs[0].Raw)
	return certs[0], hex.EncodeToString(sum[:]), nil
}

// checkIdentity refuses a store that belongs to another CA than the home's
// ca/ca.crt: its recorded CA certificate fingerprint differs (ErrOtherCA).
//
// A store made before schema version 4 has no identity. It is accepted if
// its first audit record (init) names the serial of the home's CA
// certificate, and a read-write open records the identity then (a new
// store ID, the certificate's fingerprint) with an audit record; a
// read-only open checks the same and records nothing.
func (s *Service) checkIdentity(ctx context.Context) error {
	cert, fp, err := homeCACert(s.home)
	if err != nil {
		return err
	}
	var id *store.Identity
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if id, err = tx.Identity(); err != nil || id != nil {
			return err
		}
		return initNamesCA(tx, cert, s.home)
	})
	if err != nil {
		return err
	}
	if id != nil {
		if id.CACertSHA256 != fp {
			return msg.Errorf("%s belongs to another CA (certificate SHA-256 %s) than %s (SHA-256 %s): put this home's store back from a backup: %w",
				s.store.Path(), id.CACertSHA256, filepath.Join(s.home, CACertFile), fp, ErrOtherCA)
		}
		return nil
	}
	if s.store.ReadOnly() {
		return nil
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		if got, err := tx.Identity(); err != nil || got != nil {
			return err // another process recorded it meanwhile
		}
		id := store.Identity{StoreID: store.NewStoreID(), CACertSHA256: fp, CreatedAt: tx.Now()}
		if err := tx.SetIdentity(id); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "system", Action: "identify", Serial: ra.SerialString(cert.SerialNumber),
			Detail: fmt.Sprintf("store_id=%s ca_cert_sha256=%s (store made before schema version 4)", id.StoreID, fp)})
	})
}

// initNamesCA: the store's first audit record is `cmca init` of cert.
func initNamesCA(tx *store.Tx, cert *x509.Certificate, home string) error {
	evs, err := tx.AuditRecords(store.AuditFilter{Limit: 1})
	if err != nil {
		return err
	}
	want := ra.SerialString(cert.SerialNumber)
	if len(evs) == 0 || evs[0].Action != "init" {
		return msg.Errorf("%s has no identity and no init record: it was not made by `cmca init` of this home; put the store back from a backup: %w", filepath.Join(home, DBFile), ErrOtherCA)
	}
	if evs[0].Serial != want {
		return msg.Errorf("%s belongs to another CA (certificate serial %s) than %s (serial %s): put this home's store back from a backup: %w",
			filepath.Join(home, DBFile), evs[0].Serial, filepath.Join(home, CACertFile), want, ErrOtherCA)
	}
	return nil
}
