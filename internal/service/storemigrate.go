package service

import (
	"context"
	"fmt"
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
	return s.store.CopyTo(ctx, to, ra.Event{Operator: p.String(), Action: "store-migrate",
		Detail: fmt.Sprintf("copied from %s to %s", s.store.Path(), store.Redact(to))})
}
