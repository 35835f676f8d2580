package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cmca/cmca/internal/msg"
)

// CRL is a stored CRL.
type CRL struct {
	Number     int64
	BaseNumber int64 // 0 for a full CRL
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	// RevokedTotal is the number of revoked certificates at signing time.
	RevokedTotal int64
	Operator     string
	// SHA256 (lower-case hex) and Size describe the body, kept in a file
	// under HOME/crl (migration 0003). Rows signed before that have no
	// digest (SHA256 empty) and keep the body in DER instead.
	SHA256 string
	Size   int64
	// DER is the body when the store holds it: a legacy row, or a CRL
	// signed on PostgreSQL, where every instance (each with its own home)
	// serves it from the store. Nil for a row whose body is only a file,
	// and for rows read without it (LatestCRL).
	DER []byte
}

// Legacy reports whether the body of c is in the store (a CRL signed before
// migration 0003) rather than in a file.
func (c *CRL) Legacy() bool { return c.SHA256 == "" }

// crlColumns are the columns scanCRL reads, in its order, without der.
const crlColumns = `number, COALESCE(base_number, 0), this_update, next_update, entries, revoked_total, operator, der_sha256, der_size`

// scanCRL reads crlColumns (then extra, e.g. &c.DER) into a CRL.
func scanCRL(row interface{ Scan(...any) error }, extra ...any) (*CRL, error) {
	var c CRL
	var tu, nu int64
	dst := append([]any{&c.Number, &c.BaseNumber, &tu, &nu, &c.Entries, &c.RevokedTotal, &c.Operator, &c.SHA256, &c.Size}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	c.ThisUpdate, c.NextUpdate = time.Unix(tu, 0).UTC(), time.Unix(nu, 0).UTC()
	return &c, nil
}

// NextCRLNumber is one more than the highest number ever used, in this
// store or (after a restore) published before it (see CRLNumberFloor).
//
// On PostgreSQL it takes the CRL numbering lock, held until the transaction
// ends: of instances signing at once, each gets its own number, in commit
// order (SQLite: the write lock).
func (t *Tx) NextCRLNumber() (int64, error) {
	if err := t.lock(lockCRL); err != nil {
		return 0, err
	}
	var n int64
	if err := t.queryRow(`SELECT COALESCE(MAX(number), 0) + 1 FROM crls`).Scan(&n); err != nil {
		return 0, err
	}
	floor, err := t.CRLFloor()
	return max(n, floor+1), err
}

// lockForRevocation takes the CRL lock for a revocation timed at (the
// transaction's clock), so that no CRL is signed from here to commit
// (PostgreSQL; SQLite's write lock is held from BEGIN). A CRL signed and
// committed since the transaction began does not list the revocation; if
// its thisUpdate is later than at, the revocation would be dated before a
// full CRL that does not list it, and the next delta CRL, which lists the
// revocations from its base's thisUpdate on, would skip it. That is
// errStaleClock: Store.Tx runs the transaction again with a clock read
// after that CRL's thisUpdate. A full CRL's thisUpdate is read from the
// clock under this lock (service.CRL); a delta's may be bumped a second
// past it, so deltas are not compared. TestCRLRevocationRace forces it.
//
// Only when the clock, read again now, has reached that thisUpdate: then
// the transaction began before the CRL, and running it again dates the
// revocation after it. A clock still behind the newest CRL (an instance
// whose clock is late, or was set back after the CRL was signed) would be
// behind on every run: the revocation is not refused for it -- a
// revocation must always be possible -- and is dated by that clock, as
// before (docs/operations.md: keep the instances' clocks in step).
func (t *Tx) lockForRevocation(at time.Time) error {
	if t.engine != Postgres || !t.write {
		return nil
	}
	if err := t.lock(lockCRL); err != nil {
		return err
	}
	latest, err := t.LatestCRL(false)
	if err != nil || latest == nil {
		return err
	}
	if at.Unix() < latest.ThisUpdate.Unix() && t.clock != nil && t.clock().Unix() >= latest.ThisUpdate.Unix() {
		return msg.Errorf("revocation timed %s, before the thisUpdate %s of CRL %d signed meanwhile (are the clocks of the cmca instances set right?): %w",
			at.UTC().Format(time.RFC3339), latest.ThisUpdate.UTC().Format(time.RFC3339), latest.Number, errStaleClock)
	}
	return nil
}

// LockCRLs takes the CRL numbering lock until the transaction ends
// (PostgreSQL; SQLite's write transaction holds its one lock already):
// what the transaction does with the newest CRL (publish it) no other
// instance's signing or publishing interleaves with.
func (t *Tx) LockCRLs() error { return t.lock(lockCRL) }

// InsertCRL records a signed CRL by the digest and size of its body, which
// the caller keeps in a file; a reused number is a conflict. c.DER, when
// given, is stored too (PostgreSQL: the body shared by every instance);
// without it the row holds an empty der (SQLite: the file is the body).
func (t *Tx) InsertCRL(c CRL) error {
	if len(c.SHA256) != 64 || c.Size <= 0 {
		return fmt.Errorf("CRL %d: record it with the SHA-256 and size of its body", c.Number)
	}
	if c.DER != nil && int64(len(c.DER)) != c.Size {
		return fmt.Errorf("CRL %d: the body has %d bytes, not the %d recorded", c.Number, len(c.DER), c.Size)
	}
	var base any
	if c.BaseNumber > 0 {
		base = c.BaseNumber
	}
	err := t.savepoint(func() error {
		if c.DER != nil {
			_, err := t.exec(`INSERT INTO crls (number, base_number, this_update, next_update, entries, revoked_total, operator, der, der_sha256, der_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.Number, base, c.ThisUpdate.Unix(), c.NextUpdate.Unix(), c.Entries, c.RevokedTotal, c.Operator, c.DER, c.SHA256, c.Size)
			return err
		}
		_, err := t.exec(`INSERT INTO crls (number, base_number, this_update, next_update, entries, revoked_total, operator, der, der_sha256, der_size) VALUES (?, ?, ?, ?, ?, ?, ?, `+t.engine.emptyBlob()+`, ?, ?)`,
			c.Number, base, c.ThisUpdate.Unix(), c.NextUpdate.Unix(), c.Entries, c.RevokedTotal, c.Operator, c.SHA256, c.Size)
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("CRL number %d already used", c.Number)
	}
	return err
}

// LatestCRL returns the newest full (delta=false) or delta CRL, or nil if
// none was signed. DER is nil even for a legacy row (a CRL of a million
// entries is 48 MB; CRLByNumber reads it).
func (t *Tx) LatestCRL(delta bool) (*CRL, error) {
	q := `SELECT ` + crlColumns + ` FROM crls WHERE base_number IS NULL ORDER BY number DESC LIMIT 1`
	if delta {
		q = `SELECT ` + crlColumns + ` FROM crls WHERE base_number IS NOT NULL ORDER BY number DESC LIMIT 1`
	}
	c, err := scanCRL(t.queryRow(q))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// RevokedCount is how many certificates (subscriber and service ones) were
// ever revoked. Revocation never reverses, so the count only grows: a CRL
// signed at a lower count is out of date, whatever the clock says.
func (t *Tx) RevokedCount() (int64, error) {
	var n int64
	err := t.queryRow(`SELECT (SELECT COUNT(*) FROM certificates WHERE status = 'revoked') + (SELECT COUNT(*) FROM service_certificates WHERE status = 'revoked')`).Scan(&n)
	return n, err
}

// SetCRLBody stores the body of a CRL recorded by its digest only (signed
// on SQLite, then copied by `cmca store migrate`), so that every instance
// can serve it. The caller has checked der against the record; a row that
// holds a body already, or none by that number, is left alone.
func (t *Tx) SetCRLBody(number int64, der []byte) error {
	_, err := t.exec(`UPDATE crls SET der = ? WHERE number = ? AND der_sha256 <> '' AND der_size = ? AND length(der) = 0`, der, number, len(der))
	return err
}
