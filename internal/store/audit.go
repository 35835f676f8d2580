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
// The digests binding the rows the record names (binding.go) follow the
// other fields; records written before schema 5 have none, and their hash
// is computed as it was then.
func auditHash(prev string, e ra.Event, b binding) string {
	fields := []string{prev, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.Unix(), 10), e.Operator, e.Action,
		e.Ref, e.Serial, string(e.From), string(e.To), e.Detail}
	if b != (binding{}) {
		fields = append(fields, "bound", b.req, b.cert)
	}
	buf := make([]byte, 0, 512)
	for _, f := range fields { // "len:field;"
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ';')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// binding is what an audit record binds: the digests of the request and of
// the certificate it names, as they stand after the transition.
type binding struct{ req, cert string }

func (t *Tx) bind(e ra.Event) (binding, error) {
	var b binding
	var err error
	// A row this transaction just wrote is bound from the write's own
	// RETURNING; any other is read back.
	if e.Ref != "" && t.freshReq.key == e.Ref {
		b.req = t.freshReq.digest
	} else if e.Ref != "" {
		if b.req, err = t.requestDigest(e.Ref); err != nil {
			return b, err
		}
	}
	if e.Serial != "" && t.freshCert.key == e.Serial {
		b.cert = t.freshCert.digest
	} else if e.Serial != "" {
		if b.cert, err = t.certDigest(e.Serial); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Audit appends a record to the hash-chained audit log, in the caller's
// transaction: the record exists if and only if the change it describes does.
//
// On PostgreSQL the record is bound now and appended when the transaction
// commits (audit_defer.go), under the audit chain lock: the tail it follows
// is the newest committed one, and no other transaction appends until this
// one commits or rolls back, so the chain stays linear across instances
// (SQLite: the write lock, and the record is appended at once).
func (t *Tx) Audit(e ra.Event) error {
	if e.At.IsZero() {
		e.At = t.now()
	}
	if t.deferAudit() {
		b, err := t.bind(e)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		t.auditLog = append(t.auditLog, auditEntry{e, b})
		return nil
	}
	prev, last, err := t.auditTail()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e.Seq = last + 1
	b, err := t.bind(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	hash := auditHash(prev, e, b)
	_, err = t.exec(`INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash, req_digest, cert_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At.Unix(), e.Operator, e.Action, e.Ref, e.Serial, string(e.From), string(e.To), e.Detail,
		prev, hash, b.req, b.cert)
	if err != nil {
		t.tail = nil
		return fmt.Errorf("audit: %w", err)
	}
	t.tail = &tail{seq: e.Seq, hash: hash}
	return nil
}

// tail is the newest audit record a transaction wrote itself.
type tail struct {
	seq  int64
	hash string
}

// auditTail returns the hash and seq the next record chains to. The first
// call in a transaction takes the audit chain lock (PostgreSQL) and reads
// the newest record; later calls reuse the record the transaction wrote
// last, which under the lock is still the newest (a group commit appends
// hundreds). A rollback to a savepoint forgets it (Tx.forget): the record
// may be gone, and on PostgreSQL the lock with it.
func (t *Tx) auditTail() (string, int64, error) {
	if t.tail != nil {
		return t.tail.hash, t.tail.seq, nil
	}
	var prev string
	var last int64
	err := t.queryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return genesis, 0, nil
	}
	return prev, last, err
}

// AuditFilter selects audit records.
type AuditFilter struct {
	Ref, Serial, Operator string
	Since, Until          time.Time
	Limit                 int
}

// AuditRecords lists audit records in order.
func (t *Tx) AuditRecords(f AuditFilter) ([]ra.Event, error) {
	if err := t.flushAudit(); err != nil {
		return nil, err
	}
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
	if err := t.flushAudit(); err != nil {
		return 0, nil, err
	}
	rows, err := t.query(`SELECT seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash, req_digest, cert_digest FROM audit ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	prev, want := genesis, int64(1)
	for rows.Next() {
		var e ra.Event
		var at int64
		var prevHash, hash string
		var b binding
		if err := rows.Scan(&e.Seq, &at, &e.Operator, &e.Action, &e.Ref, &e.Serial, &e.From, &e.To, &e.Detail, &prevHash, &hash, &b.req, &b.cert); err != nil {
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
		if auditHash(prevHash, e, b) != hash {
			problems = append(problems, AuditProblem{e.Seq, "contents do not match its hash: the record was modified"})
		}
		prev, want = hash, e.Seq+1
	}
	return checked, problems, rows.Err()
}

// AuditHead is the newest audit record's sequence number and hash (0 and
// the genesis hash for an empty log).
func (t *Tx) AuditHead() (int64, string, error) {
	if err := t.flushAudit(); err != nil {
		return 0, "", err
	}
	var seq int64
	var hash string
	err := t.queryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, genesis, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read audit head: %w", err)
	}
	return seq, hash, nil
}

// AuditHash is the hash of record seq ("" if there is no such record).
func (t *Tx) AuditHash(seq int64) (string, error) {
	if err := t.flushAudit(); err != nil {
		return "", err
	}
	var hash string
	err := t.queryRow(`SELECT hash FROM audit WHERE seq = ?`, seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read audit record %d: %w", seq, err)
	}
	return hash, nil
}
