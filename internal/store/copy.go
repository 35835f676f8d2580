package store

import (
	"context"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"slices"
	"sort"
	"strings"

	"github.com/cmca/cmca/internal/ra"
)

// CopyReport describes a store copied into PostgreSQL (cmca store migrate).
type CopyReport struct {
	To            string           `json:"to"` // the URL, without its password
	SchemaVersion int              `json:"schema_version"`
	Rows          map[string]int64 `json:"rows"` // per table, equal in source and copy
	AuditRecords  int              `json:"audit_records"`
	NextCRLNumber int64            `json:"next_crl_number"`
}

// copyOrder lists the tables parents first (foreign keys); tables of later
// migrations not named here follow in name order.
var copyOrder = []string{"meta", "store_identity", "policy", "applicants", "requests", "certificates", "crls", "audit",
	"service_certificates", "operators"}

// CopyTo copies this SQLite store into the empty PostgreSQL database at u,
// in one verified pass and one PostgreSQL transaction: the schema is made,
// every table copied from one snapshot of the source, then the row counts
// of every table are compared, the copy's audit chain is verified whole and
// its next CRL number compared with the source's; only then does it commit.
// A failure anywhere rolls everything back and leaves the database empty,
// so the same command can simply be run again. A database that is not
// empty is refused. The source is only read.
func (s *Store) CopyTo(ctx context.Context, u string, note ra.Event) (*CopyReport, error) {
	if s.engine != SQLite {
		return nil, msg.Errorf("the store is already in PostgreSQL: %w", ra.ErrInvalid)
	}
	dst, err := connect(ctx, u, false)
	if err != nil {
		return nil, err
	}
	defer dst.db.Close()
	if err := dst.checkEmpty(ctx); err != nil {
		return nil, err
	}
	dst.Now = s.Now
	names, err := migrationNames(Postgres)
	if err != nil {
		return nil, err
	}
	rep := &CopyReport{To: dst.path, Rows: map[string]int64{}}
	err = s.Read(ctx, func(src *Tx) error {
		ver, err := src.schemaVersion()
		if err != nil {
			return err
		}
		if ver != LatestVersion() {
			return msg.Errorf("the store is at schema version %d, not %d; open it once with this cmca (any command) to migrate it first: %w", ver, LatestVersion(), ra.ErrConflict)
		}
		rep.SchemaVersion = ver
		tables, err := src.tables()
		if err != nil {
			return err
		}
		// The same transaction also makes the schema: nothing commits
		// unless everything verified.
		return dst.tx1(ctx, func(tx *Tx) error {
			if err := dst.checkEmptyTx(tx); err != nil {
				return err
			}
			if err := dst.applyMigrations(ctx, tx, names, 0); err != nil {
				return err
			}
			for _, table := range tables {
				n, err := copyTable(src, tx, table)
				if err != nil {
					return fmt.Errorf("copy %s: %w", table, err)
				}
				rep.Rows[table] = n
			}
			if err := tx.resetIdentities(); err != nil {
				return err
			}
			return verifyCopy(src, tx, tables, rep, note)
		})
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return rep, nil
}

// verifyCopy compares the copy with its source, inside the copy's
// transaction, and appends note (the migration's own audit record).
func verifyCopy(src, dst *Tx, tables []string, rep *CopyReport, note ra.Event) error {
	for _, table := range tables {
		a, err := src.count(table)
		if err != nil {
			return err
		}
		b, err := dst.count(table)
		if err != nil {
			return err
		}
		if a != b || a != rep.Rows[table] {
			return msg.Errorf("verify: table %s has %d rows in the store and %d in the copy: %w", table, a, b, ra.ErrConflict)
		}
	}
	checked, problems, err := dst.VerifyAudit()
	if err != nil {
		return err
	}
	if len(problems) > 0 || int64(checked) != rep.Rows["audit"] {
		return msg.Errorf("verify: the copy's audit chain checks %d of %d records, problems %v: %w", checked, rep.Rows["audit"], problems, ra.ErrConflict)
	}
	want, err := src.NextCRLNumber()
	if err != nil {
		return err
	}
	got, err := dst.NextCRLNumber()
	if err != nil {
		return err
	}
	if got != want {
		return msg.Errorf("verify: the next CRL number would be %d in the copy, %d in the store: %w", got, want, ra.ErrConflict)
	}
	rep.NextCRLNumber = got
	if note.Action != "" {
		if err := dst.Audit(note); err != nil {
			return err
		}
	}
	rep.AuditRecords = checked
	return nil
}

func (t *Tx) schemaVersion() (int, error) {
	var v int
	err := t.queryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// tables lists the source's tables to copy, parents first.
func (t *Tx) tables() ([]string, error) {
	rows, err := t.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		all = append(all, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := slices.Index(copyOrder, all[i]), slices.Index(copyOrder, all[j])
		if a < 0 {
			a = len(copyOrder)
		}
		if b < 0 {
			b = len(copyOrder)
		}
		if a != b {
			return a < b
		}
		return all[i] < all[j]
	})
	return all, nil
}

func (t *Tx) count(table string) (int64, error) {
	var n int64
	if table == "audit" {
		if err := t.flushAudit(); err != nil {
			return 0, err
		}
	}
	err := t.queryRow(`SELECT COUNT(*) FROM ` + quoteIdent(table)).Scan(&n)
	return n, err
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// copyTable copies every row of table from src to dst, column by column
// by name, and returns how many. Rows the migrations seeded in the new
// database (ocsp_revision's one row) give way to the source's.
func copyTable(src, dst *Tx, table string) (int64, error) {
	dst.forget() // the audit table is copied without Audit
	if _, err := dst.exec(`DELETE FROM ` + quoteIdent(table)); err != nil {
		return 0, err
	}
	rows, err := src.query(`SELECT * FROM ` + quoteIdent(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	ins := `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(quoted, ", ") + `) OVERRIDING SYSTEM VALUE VALUES (` + placeholders(len(cols)) + `)`
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok && b == nil {
				vals[i] = []byte{} // an empty BLOB, not NULL
			}
		}
		if _, err := dst.exec(ins, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// resetIdentities moves every identity column's sequence past the rows
// copied with their ids, so the next insert does not reuse one.
func (t *Tx) resetIdentities() error {
	rows, err := t.query(`SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	type col struct{ table, column string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, false)`, quoteIdent(c.column), quoteIdent(c.table))
		if _, err := t.exec(q, c.table, c.column); err != nil {
			return fmt.Errorf("reset identity %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}
