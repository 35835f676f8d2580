package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OCSPResponse is a pre-signed OCSP response as stored.
type OCSPResponse struct {
	Serial     string
	Hash       string // the CertID hash algorithm: sha1, sha256, sha384, sha512
	Status     string // good or revoked
	ThisUpdate time.Time
	NextUpdate time.Time
	DER        []byte
}

// OCSPCertificate is what OCSP needs of a certificate: its status, and the
// stored response for one CertID hash if there is one (Response nil
// otherwise).
type OCSPCertificate struct {
	Serial    string
	Status    string // valid or revoked
	RevokedAt time.Time
	Reason    int
	NotAfter  time.Time
	Response  *OCSPResponse
}

// ocspIssued is every certificate OCSP answers for: the subscribers'
// (certificates) and those cmca issued for its own use (service
// certificates: operator credentials, the server's TLS certificate), all
// signed by the one CA and listed on its CRL when revoked. Serials are
// random and unique across both.
const ocspIssued = `(SELECT serial, status, revoked_at, revocation_reason, not_after FROM certificates
UNION ALL SELECT serial, status, revoked_at, revocation_reason, not_after FROM service_certificates)`

// OCSPRevision reads the revocation revision (migration 0009): it grows
// with every revocation. A plain read outside any transaction, so it
// never waits for a writer.
func (s *Store) OCSPRevision(ctx context.Context) (int64, error) {
	st, err := s.ocspPrepared(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := st.revision.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("read OCSP revision: %w", err)
	}
	return n, nil
}

// OCSPCertificate reads a certificate's status and its stored response for
// hash; (nil, nil) when no certificate has the serial. Subscriber and
// service certificates alike. A plain read outside any transaction.
func (s *Store) OCSPCertificate(ctx context.Context, serial, hash string) (*OCSPCertificate, error) {
	var c OCSPCertificate
	var revokedAt, reason sql.NullInt64
	var notAfter int64
	var oStatus sql.NullString
	var oThis, oNext sql.NullInt64
	var der []byte
	st, err := s.ocspPrepared(ctx)
	if err != nil {
		return nil, err
	}
	err = st.certificate.QueryRowContext(ctx, hash, serial, hash, serial).Scan(&c.Serial, &c.Status, &revokedAt, &reason, &notAfter, &oStatus, &oThis, &oNext, &der)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read OCSP status of %s: %w", serial, err)
	}
	c.RevokedAt, c.Reason, c.NotAfter = fromUnix(revokedAt), int(reason.Int64), time.Unix(notAfter, 0).UTC()
	if oStatus.Valid {
		c.Response = &OCSPResponse{Serial: serial, Hash: hash, Status: oStatus.String,
			ThisUpdate: time.Unix(oThis.Int64, 0).UTC(), NextUpdate: time.Unix(oNext.Int64, 0).UTC(), DER: der}
	}
	return &c, nil
}

// PutOCSPResponse stores (or replaces) a pre-signed response. A response
// whose status is not the certificate's (signed "good" just before a
// revocation committed), or for a serial the CA did not issue, is not
// stored: the status is checked in the same statement.
func (t *Tx) PutOCSPResponse(r *OCSPResponse) error {
	_, err := t.exec(`INSERT INTO ocsp_responses (serial, hash, status, this_update, next_update, der)
SELECT ?, ?, ?, ?, ?, ? FROM `+ocspIssued+` c WHERE c.serial = ? AND (c.status = 'revoked') = (? = 'revoked')
ON CONFLICT (serial, hash) DO UPDATE SET status = excluded.status, this_update = excluded.this_update,
  next_update = excluded.next_update, der = excluded.der`,
		r.Serial, r.Hash, r.Status, r.ThisUpdate.Unix(), r.NextUpdate.Unix(), r.DER, r.Serial, r.Status)
	if err != nil {
		return fmt.Errorf("store OCSP response for %s: %w", r.Serial, err)
	}
	return nil
}

// OCSPStale lists up to limit unexpired certificates (at now) that need a
// response signed: those without a response for hash, and those whose
// response for any hash is due (next_update before due) or states another
// status than the certificate's. Response is set for the stale ones.
func (t *Tx) OCSPStale(hash string, now, due time.Time, limit int) ([]OCSPCertificate, error) {
	// Subscriber certificates, then service certificates (few: their
	// stored responses are found from them, not by a second pass over
	// every stored response).
	rows, err := t.query(`SELECT c.serial, c.status, c.revoked_at, c.revocation_reason, c.not_after, ? FROM `+ocspIssued+` c
WHERE c.not_after >= ? AND NOT EXISTS (SELECT 1 FROM ocsp_responses o WHERE o.serial = c.serial AND o.hash = ?)
UNION ALL
SELECT c.serial, c.status, c.revoked_at, c.revocation_reason, c.not_after, o.hash FROM ocsp_responses o JOIN certificates c ON c.serial = o.serial
WHERE c.not_after >= ? AND (o.next_update < ? OR (o.status = 'good') <> (c.status = 'valid'))
UNION ALL
SELECT c.serial, c.status, c.revoked_at, c.revocation_reason, c.not_after, o.hash FROM service_certificates c CROSS JOIN ocsp_responses o
WHERE o.serial = c.serial AND c.not_after >= ? AND (o.next_update < ? OR (o.status = 'good') <> (c.status = 'valid'))
LIMIT ?`, hash, now.Unix(), hash, now.Unix(), due.Unix(), now.Unix(), due.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("list stale OCSP responses: %w", err)
	}
	defer rows.Close()
	var out []OCSPCertificate
	for rows.Next() {
		var c OCSPCertificate
		var revokedAt, reason sql.NullInt64
		var notAfter int64
		var h string
		if err := rows.Scan(&c.Serial, &c.Status, &revokedAt, &reason, &notAfter, &h); err != nil {
			return nil, err
		}
		c.RevokedAt, c.Reason, c.NotAfter = fromUnix(revokedAt), int(reason.Int64), time.Unix(notAfter, 0).UTC()
		c.Response = &OCSPResponse{Serial: c.Serial, Hash: h}
		out = append(out, c)
	}
	return out, rows.Err()
}

// invalidateOCSP drops the pre-signed responses of a certificate whose
// status changed and counts the revision up, in the caller's transaction.
func (t *Tx) invalidateOCSP(serial string) error {
	if _, err := t.exec(`DELETE FROM ocsp_responses WHERE serial = ?`, serial); err != nil {
		return fmt.Errorf("drop OCSP responses of %s: %w", serial, err)
	}
	if _, err := t.exec(`UPDATE ocsp_revision SET revision = revision + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("count OCSP revision: %w", err)
	}
	t.revoked++
	return nil
}

// LocalRevocations counts the revocations committed through this Store
// (this process): a responder sharing the Store sees them at once without
// reading the database.
func (s *Store) LocalRevocations() int64 { return s.revocations.Load() }

// ocspStmts are the statements of every OCSP request, prepared once: an
// OCSP responder answers thousands a second, and parsing the SQL each
// time cost more than running it.
type ocspStmts struct {
	revision, certificate *sql.Stmt
	err                   error
}

func (s *Store) ocspPrepared(ctx context.Context) (*ocspStmts, error) {
	s.ocspOnce.Do(func() {
		st := &s.ocspStmts
		if st.revision, st.err = s.db.PrepareContext(ctx, s.engine.rebind(`SELECT revision FROM ocsp_revision WHERE id = 1`)); st.err != nil {
			return
		}
		// One primary-key lookup per table (subscribers first): the
		// hot path of every request the cache cannot answer.
		st.certificate, st.err = s.db.PrepareContext(ctx, s.engine.rebind(`SELECT c.serial, c.status, c.revoked_at, c.revocation_reason, c.not_after,
  o.status, o.this_update, o.next_update, o.der
FROM certificates c LEFT JOIN ocsp_responses o ON o.serial = c.serial AND o.hash = ?
WHERE c.serial = ?
UNION ALL
SELECT c.serial, c.status, c.revoked_at, c.revocation_reason, c.not_after,
  o.status, o.this_update, o.next_update, o.der
FROM service_certificates c LEFT JOIN ocsp_responses o ON o.serial = c.serial AND o.hash = ?
WHERE c.serial = ?
LIMIT 1`))
	})
	if s.ocspStmts.err != nil {
		return nil, fmt.Errorf("prepare OCSP statements: %w", s.ocspStmts.err)
	}
	return &s.ocspStmts, nil
}

// EachOCSPResponse calls fn for every stored response for hash whose
// nextUpdate is after now and whose status is the certificate's (a
// responder's cache warm-up), streaming from the database.
func (s *Store) EachOCSPResponse(ctx context.Context, hash string, now time.Time, fn func(OCSPResponse) error) error {
	rows, err := s.db.QueryContext(ctx, s.engine.rebind(`SELECT o.serial, o.status, o.this_update, o.next_update, o.der
FROM ocsp_responses o JOIN `+ocspIssued+` c ON c.serial = o.serial
WHERE o.hash = ? AND o.next_update > ? AND (o.status = 'good') = (c.status = 'valid')`), hash, now.Unix())
	if err != nil {
		return fmt.Errorf("read OCSP responses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := OCSPResponse{Hash: hash}
		var this, next int64
		if err := rows.Scan(&r.Serial, &r.Status, &this, &next, &r.DER); err != nil {
			return err
		}
		r.ThisUpdate, r.NextUpdate = time.Unix(this, 0).UTC(), time.Unix(next, 0).UTC()
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
