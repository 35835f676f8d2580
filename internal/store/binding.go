package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cmca/cmca/internal/ra"
)

// Binding of rows to the audit log (issue 11, item 3).
//
// Every audit record that names a request (ref) or a certificate (serial)
// stores a digest of that row as it stands once the transition is written:
// one SHA-256 per field group, over a canonical, length-prefixed encoding of
// the group's columns. The digests are covered by the record's hash, so they
// are part of the chain. Reading a request or certificate for a state change
// (Tx.Request, Tx.Certificate, Tx.CertificateByKey) checks the row against
// the digest its last audit record bound, and refuses a row that was edited
// behind cmca's back with an *IntegrityError (ra.ErrIntegrity).
//
// The passcode attempt counter is bound too: every wrong passcode already
// writes a "passcode-failed" audit record, so the counter never changes
// without a record, and a counter reset in the store is caught.

// fieldGroup is a named set of columns digested together; a mismatch names
// the group.
type fieldGroup struct {
	name string
	cols []string
	// added are columns a later schema version added to the group. They are
	// encoded after cols, behind a marker, only when one of them is set
	// (not NULL, not ""): a row that leaves them all empty digests as it did
	// before they existed, so the digests bound earlier still match, and a
	// row that sets one digests differently from every row that does not.
	added []string
}

var requestGroups = []fieldGroup{
	{name: "identity", cols: []string{"name", "id_type", "id_number", "mobile", "email", "address", "agent_name", "agent_id_type", "agent_id_number"},
		added: []string{"surname", "given_name"}}, // schema 11
	{name: "usage", cols: []string{"usage_type", "acceptance_point", "agreement_version"}},
	{name: "storage", cols: []string{"storage"}},
	{name: "passcode", cols: []string{"passcode_hash", "passcode_expires", "passcode_attempts", "passcode_used"}},
	{name: "state", cols: []string{"kind", "state", "target_serial", "reason", "cert_serial", "submitted_by", "decided_by", "issued_by"}},
}

var certGroups = []fieldGroup{
	{name: "certificate", cols: []string{"serial", "request_id", "applicant_id", "subject", "name", "email", "usage_type", "storage", "key_algo",
		"not_before", "not_after", "spki_sha256", "der"}},
	{name: "revocation", cols: []string{"status", "revoked_at", "revocation_reason", "invalidity_date"}},
}

func groupCols(gs []fieldGroup) string {
	var cols []string
	for _, g := range gs {
		cols = append(cols, g.cols...)
		cols = append(cols, g.added...)
	}
	return strings.Join(cols, ", ")
}

var (
	requestBoundQuery = `SELECT ` + groupCols(requestGroups) + ` FROM requests WHERE ref = ?`
	certBoundQuery    = `SELECT ` + groupCols(certGroups) + ` FROM certificates WHERE serial = ?`
)

// encodeValue appends one column value, typed and length-prefixed, so that
// no two different rows encode alike (NULL, 0 and "" all differ).
func encodeValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'N', ';')
	case int64:
		b = append(b, 'I')
		b = strconv.AppendInt(b, x, 10)
		return append(b, ';')
	case float64:
		b = append(b, 'F')
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
		return append(b, ';')
	case bool:
		if x {
			return append(b, 'I', '1', ';')
		}
		return append(b, 'I', '0', ';')
	case string:
		b = append(b, 'S')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		b = append(b, x...)
		return append(b, ';')
	case []byte:
		b = append(b, 'B')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		b = append(b, x...)
		return append(b, ';')
	}
	return append(b, fmt.Sprintf("?%T:%v;", v, v)...)
}

// isSet reports whether a column value is other than NULL or "".
func isSet(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []byte:
		return len(x) > 0
	}
	return true
}

// digestValues is the stored digest of one row: "group=hex;group=hex".
func digestValues(gs []fieldGroup, vals []any) string {
	var out strings.Builder
	var buf []byte
	i := 0
	for _, g := range gs {
		buf = append(buf[:0], "cmca-binding-v1\x00"...)
		buf = append(buf, g.name...)
		buf = append(buf, 0)
		for range g.cols {
			buf = encodeValue(buf, vals[i])
			i++
		}
		added := vals[i : i+len(g.added)]
		i += len(g.added)
		if slices.ContainsFunc(added, isSet) {
			buf = append(buf, '+')
			for _, v := range added {
				buf = encodeValue(buf, v)
			}
		}
		sum := sha256.Sum256(buf)
		if out.Len() > 0 {
			out.WriteByte(';')
		}
		out.WriteString(g.name)
		out.WriteByte('=')
		out.WriteString(hex.EncodeToString(sum[:]))
	}
	return out.String()
}

// scanDigest reads one row of groupCols(gs) and digests it.
func scanDigest(sc scanner, gs []fieldGroup, prefix ...any) (string, error) {
	n := 0
	for _, g := range gs {
		n += len(g.cols) + len(g.added)
	}
	vals := make([]any, n)
	ptrs := make([]any, 0, len(prefix)+n)
	ptrs = append(ptrs, prefix...)
	for i := range vals {
		ptrs = append(ptrs, &vals[i])
	}
	if err := sc.Scan(ptrs...); err != nil {
		return "", err
	}
	return digestValues(gs, vals), nil
}

// requestDigest digests a request row as it stands ("" if there is none).
func (t *Tx) requestDigest(ref string) (string, error) {
	d, err := scanDigest(t.queryRow(requestBoundQuery, ref), requestGroups)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("digest request %s: %w", ref, err)
	}
	return d, nil
}

// certDigest digests a certificate row as it stands ("" if there is none,
// e.g. the CA certificate named by the init record).
func (t *Tx) certDigest(serial string) (string, error) {
	d, err := scanDigest(t.queryRow(certBoundQuery, serial), certGroups)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("digest certificate %s: %w", serial, err)
	}
	return d, nil
}

// fresh is the binding digest of one row as a write in this transaction
// left it, returned by that write (RETURNING): Audit binds it without
// reading the row back. Any later statement that may change a row of the
// same table, and any rollback to a savepoint (Tx.forget), drops it.
type fresh struct{ key, digest string }

// touch drops the fresh digests a statement q may outdate: a statement
// other than a SELECT naming the requests or certificates table. (Rows
// change only through statements naming their table: no triggers write
// them.)
func (t *Tx) touch(q string) {
	if t.freshReq.key == "" && t.freshCert.key == "" {
		return
	}
	if s := strings.TrimLeft(q, " \t\n"); len(s) >= 6 && strings.EqualFold(s[:6], "SELECT") {
		return
	}
	if strings.Contains(q, "requests") {
		t.freshReq = fresh{}
	}
	if strings.Contains(q, "certificates") {
		t.freshCert = fresh{}
	}
}

// IntegrityError is a row that does not match the digest its last audit
// record bound: it was changed outside cmca. It wraps ra.ErrIntegrity.
type IntegrityError struct {
	Kind   string   `json:"kind"`   // "request" or "certificate"
	Key    string   `json:"key"`    // reference or serial
	Groups []string `json:"groups"` // field groups that differ; empty when no audit record binds the row
	Seq    int64    `json:"seq"`    // the audit record whose digest the row fails (0 if none)
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("%s %s: %s; it was changed outside cmca: compare with a backup (`cmca doctor` lists every such row): %v",
		e.Kind, e.Key, e.Problem(), ra.ErrIntegrity)
}

// Problem says what is wrong, without the row's name.
func (e *IntegrityError) Problem() string {
	if len(e.Groups) == 0 {
		return "no audit record binds this row"
	}
	return fmt.Sprintf("%s fields do not match audit record %d", strings.Join(e.Groups, ", "), e.Seq)
}

func (e *IntegrityError) Unwrap() error { return ra.ErrIntegrity }

// diffGroups names the groups whose digests differ between two stored
// digests.
func diffGroups(want, got string) []string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	w, g := parse(want), parse(got)
	var out []string
	for _, gs := range [][]fieldGroup{requestGroups, certGroups} {
		for _, grp := range gs {
			if _, in := g[grp.name]; !in {
				continue
			}
			if w[grp.name] != g[grp.name] {
				out = append(out, grp.name)
			}
		}
	}
	if len(out) == 0 && want != got {
		out = []string{"all"}
	}
	return out
}

// lastBinding is the newest audit record binding a request (or a
// certificate): its seq and digest, or 0 and "".
func (t *Tx) lastBinding(certificate bool, key string) (int64, string, error) {
	if t.auditPending(certificate, key) {
		if err := t.flushAudit(); err != nil {
			return 0, "", err
		}
	}
	q := `SELECT seq, req_digest FROM audit WHERE ref = ? AND req_digest != '' ORDER BY seq DESC LIMIT 1`
	if certificate {
		q = `SELECT seq, cert_digest FROM audit WHERE serial = ? AND cert_digest != '' ORDER BY seq DESC LIMIT 1`
	}
	var seq int64
	var d string
	err := t.queryRow(q, key).Scan(&seq, &d)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read audit binding of %s: %w", key, err)
	}
	return seq, d, nil
}

// CheckRequest checks a request row against its last audited digest.
func (t *Tx) CheckRequest(ref string) error {
	cur, err := t.requestDigest(ref)
	if err != nil || cur == "" {
		return err
	}
	return t.checkBinding(false, ref, cur)
}

// CheckCertificate checks a certificate row against its last audited
// digest.
func (t *Tx) CheckCertificate(serial string) error {
	cur, err := t.certDigest(serial)
	if err != nil || cur == "" {
		return err
	}
	return t.checkBinding(true, serial, cur)
}

func (t *Tx) checkBinding(certificate bool, key, cur string) error {
	seq, want, err := t.lastBinding(certificate, key)
	if err != nil {
		return err
	}
	kind := "request"
	if certificate {
		kind = "certificate"
	}
	if seq == 0 {
		return &IntegrityError{Kind: kind, Key: key}
	}
	if want != cur {
		return &IntegrityError{Kind: kind, Key: key, Seq: seq, Groups: diffGroups(want, cur)}
	}
	return nil
}

// CheckBindings checks every request and certificate against its last
// audited digest and calls fn for each one that fails (doctor, audit
// verify). It returns how many rows it checked.
func (t *Tx) CheckBindings(fn func(*IntegrityError) error) (int, error) {
	type bound struct {
		seq int64
		sum [32]byte
	}
	if err := t.flushAudit(); err != nil {
		return 0, err
	}
	reqs, certs := map[string]bound{}, map[string]bound{}
	rows, err := t.query(`SELECT seq, ref, serial, req_digest, cert_digest FROM audit WHERE req_digest != '' OR cert_digest != '' ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("read audit bindings: %w", err)
	}
	for rows.Next() {
		var seq int64
		var ref, serial, rd, cd string
		if err := rows.Scan(&seq, &ref, &serial, &rd, &cd); err != nil {
			rows.Close()
			return 0, err
		}
		if rd != "" {
			reqs[ref] = bound{seq, sha256.Sum256([]byte(rd))}
		}
		if cd != "" {
			certs[serial] = bound{seq, sha256.Sum256([]byte(cd))}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	checked := 0
	var bad []*IntegrityError
	for _, tbl := range []struct {
		kind, q string
		gs      []fieldGroup
		m       map[string]bound
	}{
		{"request", `SELECT ref, ` + groupCols(requestGroups) + ` FROM requests ORDER BY id`, requestGroups, reqs},
		{"certificate", `SELECT serial, ` + groupCols(certGroups) + ` FROM certificates ORDER BY serial`, certGroups, certs},
	} {
		rows, err := t.query(tbl.q)
		if err != nil {
			return checked, fmt.Errorf("read %ss: %w", tbl.kind, err)
		}
		for rows.Next() {
			var key string
			d, err := scanDigest(rows, tbl.gs, &key)
			if err != nil {
				rows.Close()
				return checked, err
			}
			checked++
			b, ok := tbl.m[key]
			switch {
			case !ok:
				bad = append(bad, &IntegrityError{Kind: tbl.kind, Key: key})
			case sha256.Sum256([]byte(d)) != b.sum:
				bad = append(bad, &IntegrityError{Kind: tbl.kind, Key: key, Seq: b.seq, Groups: []string{d}}) // named below
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return checked, err
		}
	}
	for _, e := range bad {
		if e.Seq != 0 {
			col := "req_digest"
			if e.Kind == "certificate" {
				col = "cert_digest"
			}
			var want string
			if err := t.queryRow(`SELECT `+col+` FROM audit WHERE seq = ?`, e.Seq).Scan(&want); err != nil {
				return checked, err
			}
			e.Groups = diffGroups(want, e.Groups[0])
		}
		if err := fn(e); err != nil {
			return checked, err
		}
	}
	return checked, nil
}

// baselineBindings binds the rows found when a store is upgraded to schema
// 5: one "baseline" audit record per request and per certificate. What was
// edited before the upgrade cannot be told apart; what is edited after it
// can.
func (t *Tx) baselineBindings() error {
	var refs, serials []string
	for _, q := range []struct {
		sql string
		out *[]string
	}{{`SELECT ref FROM requests ORDER BY id`, &refs}, {`SELECT serial FROM certificates ORDER BY serial`, &serials}} {
		rows, err := t.tx.QueryContext(t.ctx, q.sql)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			*q.out = append(*q.out, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	const detail = "digest recorded at the upgrade to schema 5; earlier changes to this row are not bound"
	for _, ref := range refs {
		if err := t.Audit(ra.Event{Operator: "system", Action: "baseline", Ref: ref, Detail: detail}); err != nil {
			return err
		}
	}
	for _, serial := range serials {
		if err := t.Audit(ra.Event{Operator: "system", Action: "baseline", Serial: serial, Detail: detail}); err != nil {
			return err
		}
	}
	return nil
}

// afterMigration is Go work a migration needs, run in the same
// transaction once the SQL of every pending migration has run (so it sees
// the newest schema, which is the only one Go code knows).
var afterMigration = map[int]func(*Tx) error{
	5: (*Tx).baselineBindings,
}
