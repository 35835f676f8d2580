package store

import (
	"context"
	"fmt"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// FillOptions describes synthetic history for benchmarks and load tests
// (bench/gen): a store that looks as if it had served many subscribers.
type FillOptions struct {
	// Completed is the number of finished enrolments: each one applicant,
	// one completed request, one certificate and one audit record.
	Completed int
	// Revoked is how many of those certificates are revoked (the first ones).
	Revoked int
	// Submitted is the number of further requests waiting for review.
	Submitted int
	// DER is stored as the body of every synthetic certificate (the serial
	// inside it does not match; nothing reads it back to look one up).
	DER []byte
	// At is the time the records claim; certificates are valid for a year
	// from it.
	At time.Time
	// Chunk is the number of rows written per transaction (default 100,000).
	Chunk int
}

// Fill appends synthetic records in large transactions, generating rows
// inside SQLite (recursive CTEs) instead of one statement per row, and
// extends the audit hash chain so `cmca audit verify` still passes.
// Serials are random 128-bit values, as real ones are.
func (s *Store) Fill(ctx context.Context, o FillOptions, progress func(done int)) error {
	if err := s.engine.sqliteOnly("fill", "a SQLite store"); err != nil {
		return err
	}
	if o.Completed < 0 || o.Submitted < 0 || o.Revoked < 0 || o.Revoked > o.Completed {
		return fmt.Errorf("fill: bad counts %+v", o)
	}
	if len(o.DER) == 0 {
		return fmt.Errorf("fill: a certificate body is needed")
	}
	if o.Chunk <= 0 {
		o.Chunk = 100_000
	}
	at := o.At.Unix()
	total := o.Completed + o.Submitted
	for done := 0; done < total; {
		n := min(o.Chunk, total-done)
		err := s.Tx(ctx, func(tx *Tx) error {
			var base int64
			if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM requests`).Scan(&base); err != nil {
				return err
			}
			var abase int64
			if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM applicants`).Scan(&abase); err != nil {
				return err
			}
			// rows [done, done+n) of the whole run: completed first, then submitted
			completed := max(0, min(n, o.Completed-done))
			revoked := max(0, min(completed, o.Revoked-done))
			return tx.fillChunk(base, abase, n, completed, revoked, at, o.DER)
		})
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
		done += n
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

func (t *Tx) fillChunk(base, abase int64, n, completed, revoked int, at int64, der []byte) error {
	const series = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) `
	stmts := []struct {
		q    string
		args []any
	}{
		{series + `INSERT INTO applicants (id, id_type, id_number, name, mobile, email, address, created_at, updated_at)
SELECT ?2 + x, 'passport', printf('B%010d', ?2 + x), printf('Bench Subscriber %d', ?2 + x), '13800000000',
  printf('subscriber%d@example.com', ?2 + x), '', ?3, ?3 FROM c`, []any{n, abase, at}},
		{series + `INSERT INTO requests (id, ref, kind, state, applicant_id, name, id_type, id_number, mobile, email,
  usage_type, acceptance_point, storage, agreement_version, submitted_by, decided_by, issued_by, passcode_used, created_at, updated_at)
SELECT ?2 + x, printf('BENCH-%010d', ?2 + x), 'new', CASE WHEN x <= ?4 THEN 'completed' ELSE 'submitted' END, ?5 + x,
  printf('Bench Subscriber %d', ?5 + x), 'passport', printf('B%010d', ?5 + x), '13800000000', printf('subscriber%d@example.com', ?5 + x),
  'auth', 'online', 'soft', '2026-01', 'bench', CASE WHEN x <= ?4 THEN 'bench' ELSE '' END, CASE WHEN x <= ?4 THEN 'bench' ELSE '' END,
  CASE WHEN x <= ?4 THEN 1 ELSE 0 END, ?3, ?3 FROM c`, []any{n, base, at, completed, abase}},
		{series + `INSERT INTO certificates (serial, request_id, applicant_id, subject, name, email, usage_type, storage, key_algo,
  not_before, not_after, spki_sha256, status, revoked_at, revocation_reason, der)
SELECT printf('%x', 1 + abs(random()) % 7) || lower(substr(hex(randomblob(16)), 1, 31)), ?2 + x, ?5 + x,
  printf('CN=Bench Subscriber %d', ?5 + x), printf('Bench Subscriber %d', ?5 + x), printf('subscriber%d@example.com', ?5 + x),
  'auth', 'soft', 'ECDSA P-256', ?3, ?3 + 31536000, lower(hex(randomblob(32))),
  CASE WHEN x <= ?4 THEN 'revoked' ELSE 'valid' END, CASE WHEN x <= ?4 THEN ?3 + 60 END, CASE WHEN x <= ?4 THEN 1 END, ?6
FROM c WHERE x <= ?7`, []any{n, base, at, revoked, abase, der, completed}},
		{`UPDATE requests SET cert_serial = (SELECT serial FROM certificates WHERE request_id = requests.id) WHERE id > ?1 AND id <= ?2`,
			[]any{base, base + int64(completed)}},
	}
	for _, s := range stmts {
		if _, err := t.exec(s.q, s.args...); err != nil {
			return err
		}
	}
	return t.fillAudit(base, n, completed, at)
}

// fillAudit extends the hash chain with one record per synthetic request.
func (t *Tx) fillAudit(base int64, n, completed int, at int64) error {
	t.forget() // appends without Audit
	var prev string
	var last int64
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), 0), COALESCE((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), ?) FROM audit`, genesis).Scan(&last, &prev); err != nil {
		return err
	}
	rows, err := t.query(`SELECT ref, state, COALESCE(cert_serial, '') FROM requests WHERE id > ? AND id <= ? ORDER BY id`, base, base+int64(n))
	if err != nil {
		return err
	}
	var evs []ra.Event
	for rows.Next() {
		var e ra.Event
		if err := rows.Scan(&e.Ref, &e.To, &e.Serial); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	stmt, err := t.tx.PrepareContext(t.ctx, `INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash, req_digest, cert_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range evs {
		last++
		e.Seq, e.At, e.Operator = last, time.Unix(at, 0).UTC(), "bench"
		e.Action, e.From = "download", ra.StateIssued
		if e.To == ra.StateSubmitted {
			e.Action, e.From = "apply", ""
		}
		b, err := t.bind(e)
		if err != nil {
			return err
		}
		h := auditHash(prev, e, b)
		if _, err := stmt.ExecContext(t.ctx, e.Seq, at, e.Operator, e.Action, e.Ref, e.Serial, string(e.From), string(e.To), e.Detail, prev, h, b.req, b.cert); err != nil {
			return err
		}
		prev = h
	}
	return nil
}
