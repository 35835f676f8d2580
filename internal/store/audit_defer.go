package store

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cmca/cmca/internal/ra"
)

// On PostgreSQL a write transaction appends its audit records when it
// commits, not when Audit is called.
//
// The audit chain is one sequence, so appending takes the audit lock
// (lockAudit) until the transaction ends. Taken at the first Audit call, as
// SQLite's write lock is, it made the rest of the transaction serial across
// instances: a group commit of downloads (internal/service) calls Audit for
// its first item and then runs a dozen statements per further item, each a
// round trip to the server, all under the lock, and the other instances'
// groups waited for all of it. Now Audit computes what it can at once (the
// time, and the digests of the rows the record binds, as they stand after
// the transition) and keeps the record; the transaction takes the lock just
// before it commits, reads the chain's tail, and inserts its records in one
// statement. The lock is held for three round trips and the commit, and it
// is taken after every row lock of the transaction, so a transaction
// holding it never waits for a row.
//
// Reading the audit table inside the transaction first appends what is
// kept (flushAudit), so the transaction always reads its own records;
// lastBinding only when a kept record names the row it reads. A savepoint
// rolled back (Item, savepoint) drops the records kept since it was set.
// SQLite appends at once, as before: its write lock is held from BEGIN
// IMMEDIATE anyway.

// auditEntry is an audit record kept until the transaction commits.
type auditEntry struct {
	e ra.Event
	b binding
}

// auditMark is where a savepoint was set: how many records had been kept
// and how many of them inserted.
type auditMark struct{ kept, done int }

// deferAudit reports whether Audit keeps its records until commit.
func (t *Tx) deferAudit() bool { return t.engine == Postgres && t.write }

func (t *Tx) markAudit() auditMark { return auditMark{len(t.auditLog), t.auditDone} }

// rollbackAudit undoes what happened to the kept records since m, after
// the database rolled back to the savepoint set at m: the records kept
// since are dropped, and those inserted since (by a read that flushed) are
// no longer in the table.
func (t *Tx) rollbackAudit(m auditMark) {
	if len(t.auditLog) > m.kept {
		t.auditLog = t.auditLog[:m.kept]
	}
	if t.auditDone > m.done {
		t.auditDone = m.done
	}
}

// auditPending reports whether a kept record not yet inserted names the
// request ref (certificate false) or the certificate serial.
func (t *Tx) auditPending(certificate bool, key string) bool {
	return slices.ContainsFunc(t.auditLog[t.auditDone:], func(a auditEntry) bool {
		if certificate {
			return a.e.Serial == key
		}
		return a.e.Ref == key
	})
}

// flushAudit appends the kept records to the chain: under the audit lock,
// after the tail, in one statement.
func (t *Tx) flushAudit() error {
	pend := t.auditLog[t.auditDone:]
	if len(pend) == 0 {
		return nil
	}
	if err := t.lock(lockAudit); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	prev, last, err := t.auditTail()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	n := len(pend)
	seq, at := make([]int64, n), make([]int64, n)
	cols := make([][]string, 11) // operator ... cert_digest
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, a := range pend {
		e := a.e
		e.Seq = last + int64(i) + 1
		h := auditHash(prev, e, a.b)
		seq[i], at[i] = e.Seq, e.At.Unix()
		for j, v := range []string{e.Operator, e.Action, e.Ref, e.Serial, string(e.From), string(e.To), e.Detail, prev, h, a.b.req, a.b.cert} {
			cols[j][i] = v
		}
		prev = h
	}
	args := []any{seq, at}
	casts := []string{"$1::bigint[]", "$2::bigint[]"}
	for j, c := range cols {
		args = append(args, c)
		casts = append(casts, fmt.Sprintf("$%d::text[]", j+3))
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash, req_digest, cert_digest)
SELECT * FROM unnest(`+strings.Join(casts, ", ")+`)`, args...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	t.auditDone = len(t.auditLog)
	return nil
}
