package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"os"
	"strconv"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// This file holds the SQL of the maintenance commands: consistency checks
// (cmca doctor) and online backups (cmca backup / restore).

// IntegrityCheck runs SQLite's own checks of the file and of the foreign
// keys; it returns one line per problem, none when the file is sound.
func (t *Tx) IntegrityCheck() ([]string, error) {
	if t.engine == Postgres {
		return t.pgIntegrityCheck()
	}
	var out []string
	rows, err := t.query(`PRAGMA integrity_check`)
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = t.query(`PRAGMA foreign_key_check`)
	if err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s row %d refers to a missing %s row", table, rowid.Int64, parent))
	}
	return out, rows.Err()
}

// RequestFacts is what the consistency check needs of a request.
type RequestFacts struct {
	Ref          string
	Kind         ra.Kind
	State        ra.State
	TargetSerial string
	CertSerial   string
	HasPasscode  bool
	HasExpiry    bool
	PasscodeUsed bool
}

// EachRequestFacts streams every request in insertion order.
func (t *Tx) EachRequestFacts(fn func(RequestFacts) error) error {
	rows, err := t.query(`SELECT ref, kind, state, COALESCE(target_serial, ''), COALESCE(cert_serial, ''),
  passcode_hash IS NOT NULL AND passcode_hash != '', passcode_expires IS NOT NULL, passcode_used FROM requests ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f RequestFacts
		if err := rows.Scan(&f.Ref, &f.Kind, &f.State, &f.TargetSerial, &f.CertSerial, &f.HasPasscode, &f.HasExpiry, &f.PasscodeUsed); err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CertFacts is what the consistency check needs of a certificate. Its
// request is found by a left join, so a certificate whose request is gone
// still shows up (RequestRef empty).
type CertFacts struct {
	Serial            string
	RequestRef        string
	RequestState      ra.State
	RequestCertSerial string
	Status            ra.CertStatus
	Revoked           bool // revoked_at is set
	SPKISHA256        string
	DER               []byte
}

// EachCertFacts streams every certificate in serial order.
func (t *Tx) EachCertFacts(fn func(CertFacts) error) error {
	rows, err := t.query(`SELECT c.serial, COALESCE(r.ref, ''), COALESCE(r.state, ''), COALESCE(r.cert_serial, ''),
  c.status, c.revoked_at IS NOT NULL, c.spki_sha256, c.der
FROM certificates c LEFT JOIN requests r ON r.id = c.request_id ORDER BY c.serial`)
	if err != nil {
		return fmt.Errorf("list certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f CertFacts
		if err := rows.Scan(&f.Serial, &f.RequestRef, &f.RequestState, &f.RequestCertSerial, &f.Status, &f.Revoked, &f.SPKISHA256, &f.DER); err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CertStatus reads a certificate's stored status; found is false if there
// is no such certificate.
func (t *Tx) CertStatus(serial string) (status ra.CertStatus, found bool, err error) {
	err = t.queryRow(`SELECT status FROM certificates WHERE serial = ?`, serial).Scan(&status)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return status, err == nil, err
}

// EachCRL streams every stored CRL, lowest number first. DER is set only
// for legacy rows (see CRLByNumber).
func (t *Tx) EachCRL(fn func(CRL) error) error {
	rows, err := t.query(`SELECT ` + crlColumns + `, der FROM crls ORDER BY number`)
	if err != nil {
		return fmt.Errorf("list CRLs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var der []byte
		c, err := scanCRL(rows, &der)
		if err != nil {
			return err
		}
		if len(der) > 0 {
			c.DER = der
		}
		if err := fn(*c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachAudit streams the whole audit log in order.
func (t *Tx) EachAudit(fn func(ra.Event) error) error {
	if err := t.flushAudit(); err != nil {
		return err
	}
	rows, err := t.query(`SELECT seq, at, operator, action, ref, serial, from_state, to_state, detail FROM audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e ra.Event
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Operator, &e.Action, &e.Ref, &e.Serial, &e.From, &e.To, &e.Detail); err != nil {
			return err
		}
		e.At = time.Unix(at, 0).UTC()
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// StoreSummary counts what a store holds, to describe a backup.
type StoreSummary struct {
	SchemaVersion int   `json:"schema_version"`
	Requests      int   `json:"requests"`
	Certificates  int   `json:"certificates"`
	CRLs          int   `json:"crls"`
	LastCRLNumber int64 `json:"last_crl_number"`
	AuditRecords  int   `json:"audit_records"`
}

// Summary counts the rows of the main tables.
func (t *Tx) Summary() (StoreSummary, error) {
	var s StoreSummary
	if err := t.flushAudit(); err != nil {
		return s, err
	}
	err := t.queryRow(`SELECT
  (SELECT COALESCE(MAX(version), 0) FROM schema_migrations),
  (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM certificates),
  (SELECT COUNT(*) FROM crls), (SELECT COALESCE(MAX(number), 0) FROM crls),
  (SELECT COUNT(*) FROM audit)`).Scan(&s.SchemaVersion, &s.Requests, &s.Certificates, &s.CRLs, &s.LastCRLNumber, &s.AuditRecords)
	if err != nil {
		return s, fmt.Errorf("summarise store: %w", err)
	}
	return s, nil
}

// CRLNumberFloor is the meta key recording the highest CRL number known to
// have been used outside this store (a restore from an older backup finds
// newer CRLs already published). NextCRLNumber never goes below it.
const CRLNumberFloor = "crl_number_floor"

// SetCRLNumberFloor raises the floor of CRL numbers to n.
func (t *Tx) SetCRLNumberFloor(n int64) error {
	cur, err := t.Meta(CRLNumberFloor)
	if err != nil {
		return err
	}
	if c, err := strconv.ParseInt(cur, 10, 64); err == nil && c >= n {
		return nil
	}
	return t.SetMeta(CRLNumberFloor, strconv.FormatInt(n, 10))
}

// CRLFloor reads the floor of CRL numbers (0 if none).
func (t *Tx) CRLFloor() (int64, error) {
	v, err := t.Meta(CRLNumberFloor)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %q is not a number", CRLNumberFloor, v)
	}
	return n, nil
}

// BackupTo writes a consistent copy of the live database to path with
// VACUUM INTO: one read transaction, so concurrent writers neither block
// for long nor leave a torn copy. path must not exist; it is created 0600
// before SQLite writes to it, so the copy is never readable by others.
func (s *Store) BackupTo(ctx context.Context, path string) error {
	if err := s.engine.sqliteOnly("cmca backup", "pg_dump (docs/operations.md)"); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return msg.Errorf("create backup: %w", err)
	}
	f.Close()
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return msg.Errorf("back up store: %w", err)
	}
	return nil
}
