package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// genesis is the prev_hash of the first audit record.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// auditHash is the chain link: SHA-256 over the previous hash and the
// record's fields, each length-prefixed so no two records encode alike.
func auditHash(prev string, e ra.Event) string {
	h := sha256.New()
	for _, f := range []string{prev, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.Unix(), 10), e.Operator, e.Action,
		e.Ref, e.Serial, string(e.From), string(e.To), e.Detail} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends a record to the hash-chained audit log, in the caller's
// transaction: the record exists if and only if the change it describes does.
//
// On PostgreSQL it takes the audit chain lock, held until the transaction
// ends: the tail read here is the newest committed one, and no other
// transaction appends until this one commits or rolls back, so the chain
// stays linear across instances (SQLite: the write lock).
func (t *Tx) Audit(e ra.Event) error {
	if err := t.lock(lockAudit); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	var prev string
	var last int64
	err := t.queryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		prev, last = genesis, 0
	} else if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e.Seq = last + 1
	if e.At.IsZero() {
		e.At = t.now()
	}
	_, err = t.exec(`INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At.Unix(), e.Operator, e.Action, e.Ref, e.Serial, string(e.From), string(e.To), e.Detail,
		prev, auditHash(prev, e))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit records.
type AuditFilter struct {
	Ref, Serial, Operator string
	Since, Until          time.Time
	Limit                 int
}

// AuditRecords lists audit records in order.
func (t *Tx) AuditRecords(f AuditFilter) ([]ra.Event, error) {
	q := `SELECT seq, at, operator, action, ref, serial, from_state, to_state, detail FROM audit`
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Ref != "" {
		add("ref = ?", f.Ref)
	}
	if f.Serial != "" {
		add("serial = ?", f.Serial)
	}
	if f.Operator != "" {
		add("operator = ?", f.Operator)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.Unix())
	}
	if !f.Until.IsZero() {
		add("at <= ?", f.Until.Unix())
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []ra.Event
	for rows.Next() {
		var e ra.Event
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Operator, &e.Action, &e.Ref, &e.Serial, &e.From, &e.To, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditProblem is one break in the audit chain.
type AuditProblem struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// VerifyAudit walks the whole chain and reports every record whose hash,
// link or sequence is wrong: an edited, deleted or reordered record.
func (t *Tx) VerifyAudit() (checked int, problems []AuditProblem, err error) {
	rows, err := t.query(`SELECT seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	prev, want := genesis, int64(1)
	for rows.Next() {
		var e ra.Event
		var at int64
		var prevHash, hash string
		if err := rows.Scan(&e.Seq, &at, &e.Operator, &e.Action, &e.Ref, &e.Serial, &e.From, &e.To, &e.Detail, &prevHash, &hash); err != nil {
			return checked, problems, err
		}
		e.At = time.Unix(at, 0).UTC()
		checked++
		if e.Seq != want {
			problems = append(problems, AuditProblem{e.Seq, fmt.Sprintf("expected record %d here: records missing or reordered", want)})
		}
		if prevHash != prev {
			problems = append(problems, AuditProblem{e.Seq, "does not link to the record before it: a record was deleted, inserted or reordered"})
		}
		if auditHash(prevHash, e) != hash {
			problems = append(problems, AuditProblem{e.Seq, "contents do not match its hash: the record was modified"})
		}
		prev, want = hash, e.Seq+1
	}
	return checked, problems, rows.Err()
}
