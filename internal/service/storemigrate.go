package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// MigrateStore copies the home's SQLite store into the empty PostgreSQL
// database at to (cmca store migrate), in one verified pass: row counts
// compared, the audit chain verified again, CRL numbering continued. The
// copy's audit log ends with a store-migrate record; the SQLite store is
// only read. A failure leaves the database empty, so the command can be run
// again. The caller (in ctx) needs the admin role.
func (s *Service) MigrateStore(ctx context.Context, to string) (*store.CopyReport, error) {
	p, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	if s.store.Engine() != store.SQLite {
		return nil, msg.Errorf("the home's store is already in PostgreSQL (store.url): %w", ra.ErrInvalid)
	}
	rep, err := s.store.CopyTo(ctx, to, ra.Event{Operator: p.String(), Action: "store-migrate",
		Detail: fmt.Sprintf("copied from %s to %s", s.store.Path(), store.Redact(to))})
	if err != nil {
		return nil, err
	}
	if err := s.shareHomeState(ctx, to); err != nil {
		s.warn(fmt.Sprintf("the store is copied, but the current CRLs and audit checkpoint of the home could not be put into it (%v); run `cmca crl --force` with the new store.url so that every instance can serve them", err))
	}
	return rep, nil
}

// shareHomeState puts what the SQLite home kept in files and a PostgreSQL
// store keeps in the database into the copy at to: the bodies of the
// latest full and delta CRL (checked against their records) and the
// published audit checkpoint (checked against the CA certificate), so that
// every instance on the new store serves and checks them.
func (s *Service) shareHomeState(ctx context.Context, to string) error {
	dst, err := store.OpenURL(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	c, err := readCheckpoint(filepath.Join(s.home, CheckpointFile))
	if err != nil {
		return err
	}
	caCert := s.caCertificate()
	return dst.Tx(ctx, func(tx *store.Tx) error {
		for _, delta := range []bool{false, true} {
			latest, err := tx.LatestCRL(delta)
			if err != nil {
				return err
			}
			if latest == nil || latest.Legacy() {
				continue
			}
			path := filepath.Join(s.home, CRLDir, crlFileBase(latest.Number, delta))
			if err := checkCRLFile(path, latest); err != nil {
				return err
			}
			der, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := tx.SetCRLBody(latest.Number, der); err != nil {
				return err
			}
		}
		if c == nil || caCert == nil || c.verify(caCert) != nil {
			return nil
		}
		_, err := tx.PutAuditCheckpoint(c.toStored())
		return err
	})
}
