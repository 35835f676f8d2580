package store

import (
	"database/sql"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// InsertCertificate records an issued certificate, linked to the request
// (by reference) that produced it.
func (t *Tx) InsertCertificate(c *ra.Certificate) error {
	var d string
	err := t.savepoint(func() error {
		// RETURNING the columns the binding digests (as UpdateRequest).
		var err error
		d, err = scanDigest(t.queryRow(insertCertificateQuery,
			c.Serial, c.Subject, c.Name, c.Email, c.UsageType, string(c.Storage), c.KeyAlgo,
			c.NotBefore.Unix(), c.NotAfter.Unix(), c.SPKISHA256, c.DER, c.RequestRef), certGroups)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no such request: nothing inserted, as before
		}
		return err
	})
	if isUnique(err) {
		return msg.Errorf("serial %s already exists: %w", c.Serial, ra.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	if d != "" {
		t.freshCert = fresh{key: c.Serial, digest: d}
	}
	return nil
}

var insertCertificateQuery = `
INSERT INTO certificates (serial, request_id, applicant_id, subject, name, email, usage_type, storage, key_algo,
  not_before, not_after, spki_sha256, status, der)
SELECT ?, r.id, r.applicant_id, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'valid', ? FROM requests r WHERE r.ref = ?
RETURNING ` + groupCols(certGroups)

const certCols = `c.serial, r.ref, c.subject, c.name, c.email, c.usage_type, c.storage, c.key_algo, c.not_before, c.not_after,
  c.spki_sha256, c.status, c.revoked_at, c.revocation_reason, c.invalidity_date, c.der`

func scanCert(sc scanner) (*ra.Certificate, error) {
	var c ra.Certificate
	var nb, na int64
	var revokedAt, invalidity, reason sql.NullInt64
	err := sc.Scan(&c.Serial, &c.RequestRef, &c.Subject, &c.Name, &c.Email, &c.UsageType, &c.Storage, &c.KeyAlgo,
		&nb, &na, &c.SPKISHA256, &c.Status, &revokedAt, &reason, &invalidity, &c.DER)
	if err != nil {
		return nil, err
	}
	c.NotBefore, c.NotAfter = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC()
	c.RevokedAt, c.InvalidityDate = fromUnix(revokedAt), fromUnix(invalidity)
	if reason.Valid {
		c.RevocationReason = string(ra.ReasonName(int(reason.Int64)))
	}
	return &c, nil
}

// Certificate reads one certificate by canonical serial, or ra.ErrNotFound.
func (t *Tx) Certificate(serial string) (*ra.Certificate, error) {
	c, err := t.CertificateAsStored(serial)
	if err != nil {
		return nil, err
	}
	// Whatever revocation, renewal or download relies on must be what the
	// audit log bound.
	if err := t.CheckCertificate(serial); err != nil {
		return nil, err
	}
	return c, nil
}

// CertificateAsStored reads a certificate without checking it against the
// audit log: for display only (status, cert). In a write transaction on
// PostgreSQL the row stays locked until commit (forUpdate), so the check
// against the audit log that Certificate makes next reads the record of
// the same version of the row.
func (t *Tx) CertificateAsStored(serial string) (*ra.Certificate, error) {
	c, err := scanCert(t.queryRow(`SELECT `+certCols+` FROM certificates c JOIN requests r ON r.id = c.request_id WHERE c.serial = ?`+t.forUpdateOf("c"), serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ra.WithCode("certificate.not_found", msg.Errorf("no certificate with serial %s: %w", serial, ra.ErrNotFound), "serial", serial)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CertificateByKey finds the newest certificate for a public key (SHA-256
// of its SubjectPublicKeyInfo, hex), or ra.ErrNotFound.
func (t *Tx) CertificateByKey(spki string) (*ra.Certificate, error) {
	c, err := scanCert(t.queryRow(`SELECT `+certCols+` FROM certificates c JOIN requests r ON r.id = c.request_id WHERE c.spki_sha256 = ? ORDER BY c.not_before DESC LIMIT 1`+t.forUpdateOf("c"), spki))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ra.WithCode("certificate.not_found", msg.Errorf("no certificate for that key: %w", ra.ErrNotFound))
	}
	if err != nil {
		return nil, err
	}
	if err := t.CheckCertificate(c.Serial); err != nil {
		return nil, err
	}
	return c, nil
}

// CertFilter selects certificates.
type CertFilter struct {
	Status ra.CertStatus // valid, revoked, expired, or "" for all
	At     time.Time     // reference time for valid/expired
	Ref    string        // certificates produced by this request
	Limit  int
}

// Certificates lists certificates, newest first.
func (t *Tx) Certificates(f CertFilter) ([]*ra.Certificate, error) {
	q := `SELECT ` + certCols + ` FROM certificates c JOIN requests r ON r.id = c.request_id WHERE 1 = 1`
	var args []any
	switch f.Status {
	case ra.CertRevoked:
		q += ` AND c.status = 'revoked'`
	case ra.CertValid:
		q += ` AND c.status = 'valid' AND c.not_after >= ?`
		args = append(args, f.At.Unix())
	case ra.CertExpired:
		q += ` AND c.status = 'valid' AND c.not_after < ?`
		args = append(args, f.At.Unix())
	}
	if f.Ref != "" {
		q += ` AND r.ref = ?`
		args = append(args, f.Ref)
	}
	q += ` ORDER BY c.not_before DESC, c.serial`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	defer rows.Close()
	var out []*ra.Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeCertificate marks a valid certificate revoked. Revocation is
// permanent: a revoked certificate gives ra.ErrConflict.
func (t *Tx) RevokeCertificate(serial string, at time.Time, reason int, invalidity time.Time) error {
	// PostgreSQL: no revocation commits while a CRL is being signed (it
	// holds the CRL lock from numbering to commit), so every revocation a
	// CRL lists was timed before the CRL's thisUpdate (service.CRL reads
	// the clock once it holds the lock); and none is timed before a full
	// CRL that does not list it (lockForRevocation).
	if err := t.lockForRevocation(at); err != nil {
		return err
	}
	res, err := t.exec(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, invalidity_date = ?
WHERE serial = ? AND status = 'valid'`, at.Unix(), reason, unix(invalidity), serial)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", serial, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		if _, err := t.Certificate(serial); err != nil {
			return err
		}
		return msg.Errorf("certificate %s is already revoked: %w", serial, ra.ErrConflict)
	}
	// Revocation takes effect in OCSP at once: the pre-signed responses go
	// in this same transaction, and every responder sees the new revision.
	return t.invalidateOCSP(serial)
}

// Revoked is one CRL entry as stored.
type Revoked struct {
	Serial         string
	RevokedAt      time.Time
	Reason         int
	InvalidityDate time.Time
}

// EachRevoked calls fn for every revoked certificate that has not expired at
// `at`, streaming from the database: subscriber certificates in serial
// order, then the service certificates (operator credentials, server TLS;
// few) in serial order.
func (t *Tx) EachRevoked(at time.Time, fn func(Revoked) error) error {
	// INDEXED BY: walk the partial covering index (migration 0002) in serial
	// order; the planner would otherwise pick (status, not_after) and sort
	// every revoked row in memory.
	rows, err := t.query(`SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates INDEXED BY certificates_crl
WHERE status = 'revoked' AND not_after >= ? ORDER BY serial`, at.Unix())
	if err != nil {
		return fmt.Errorf("list revoked: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Revoked
		var revokedAt, reason, invalidity sql.NullInt64
		if err := rows.Scan(&r.Serial, &revokedAt, &reason, &invalidity); err != nil {
			return err
		}
		r.RevokedAt, r.InvalidityDate, r.Reason = fromUnix(revokedAt), fromUnix(invalidity), int(reason.Int64)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	return t.eachRevokedService(at, fn)
}
