package store

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
)

// LookupApplicant returns the stored profile of a person (the data of
// their last approved application), or ra.ErrNotFound.
func (t *Tx) LookupApplicant(idType ra.IDType, idNumber string) (ra.Applicant, error) {
	var a ra.Applicant
	err := t.queryRow(`SELECT id_type, id_number, name, surname, given_name, mobile, email, address FROM applicants WHERE id_type = ? AND id_number = ?`,
		string(idType), idNumber).Scan(&a.IDType, &a.IDNumber, &a.Name, &a.Surname, &a.GivenName, &a.Mobile, &a.Email, &a.Address)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && a.Name == "") {
		return ra.Applicant{}, ra.WithCode("applicant.not_found", msg.Errorf("no applicant with that %s number: %w", idType, ra.ErrNotFound))
	}
	return a, err
}

// EnsureApplicant returns the id of a person's record, creating an empty
// one (no name or contact data) for someone never seen. A submitted
// application never changes a stored profile: only an approval does
// (SetApplicantProfile), so an application nobody approved cannot plant
// contact data in the next one.
func (t *Tx) EnsureApplicant(idType ra.IDType, idNumber string) (int64, error) {
	now := t.now().Unix()
	var id int64
	err := t.queryRow(`
INSERT INTO applicants (id_type, id_number, name, mobile, email, address, created_at, updated_at)
VALUES (?, ?, '', '', '', '', ?, ?)
ON CONFLICT (id_type, id_number) DO UPDATE SET id_type = applicants.id_type
RETURNING id`, string(idType), idNumber, now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("save applicant: %w", err)
	}
	return id, nil
}

// SetApplicantProfile records the data of an approved application as the
// person's profile, which a later application may reuse.
func (t *Tx) SetApplicantProfile(a ra.Applicant) error {
	_, err := t.exec(`
INSERT INTO applicants (id_type, id_number, name, surname, given_name, mobile, email, address, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id_type, id_number) DO UPDATE SET
  name = excluded.name, surname = excluded.surname, given_name = excluded.given_name,
  mobile = excluded.mobile, email = excluded.email,
  address = excluded.address, updated_at = excluded.updated_at`,
		string(a.IDType), a.IDNumber, a.Name, a.Surname, a.GivenName, a.Mobile, a.Email, a.Address, t.now().Unix(), t.now().Unix())
	if err != nil {
		return fmt.Errorf("save applicant profile: %w", err)
	}
	return nil
}

// InsertRequest stores a new request. r.Ref must be set; a clash of
// references returns ErrRefTaken so the caller can draw another.
func (t *Tx) InsertRequest(r *ra.Request, applicantID int64) error {
	var ag ra.Agent
	if r.Agent != nil {
		ag = *r.Agent
	}
	err := t.savepoint(func() error {
		_, err := t.exec(`
INSERT INTO requests (ref, kind, state, applicant_id, name, surname, given_name, id_type, id_number, mobile, email, address,
  agent_name, agent_id_type, agent_id_number, usage_type, acceptance_point, storage, agreement_version,
  target_serial, reason, comment, submitted_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Ref, string(r.Kind), string(r.State), applicantID, r.Applicant.Name, r.Applicant.Surname, r.Applicant.GivenName,
			string(r.Applicant.IDType), r.Applicant.IDNumber,
			r.Applicant.Mobile, r.Applicant.Email, r.Applicant.Address, ag.Name, string(ag.IDType), ag.IDNumber,
			r.UsageType, r.AcceptancePoint, string(r.Storage), r.AgreementVersion, nullStr(r.TargetSerial), r.Reason, r.Comment,
			r.SubmittedBy, r.CreatedAt.Unix(), r.UpdatedAt.Unix())
		return err
	})
	if isUnique(err) {
		return ErrRefTaken
	}
	if err != nil {
		return fmt.Errorf("save request: %w", err)
	}
	return nil
}

// ErrRefTaken means a freshly drawn reference number already exists.
var ErrRefTaken = errors.New("reference number already taken")

const requestCols = `ref, kind, state, name, surname, given_name, id_type, id_number, mobile, email, address,
  agent_name, agent_id_type, agent_id_number, usage_type, acceptance_point, storage, agreement_version,
  target_serial, reason, comment, decision_reason, submitted_by, decided_by, issued_by, cert_serial,
  passcode_expires, passcode_attempts, passcode_used, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanRequest(sc scanner) (*ra.Request, error) {
	var r ra.Request
	var ag ra.Agent
	var target, cert sql.NullString
	var expires sql.NullInt64
	var created, updated int64
	var used int
	err := sc.Scan(&r.Ref, &r.Kind, &r.State, &r.Applicant.Name, &r.Applicant.Surname, &r.Applicant.GivenName, &r.Applicant.IDType, &r.Applicant.IDNumber,
		&r.Applicant.Mobile, &r.Applicant.Email, &r.Applicant.Address, &ag.Name, &ag.IDType, &ag.IDNumber,
		&r.UsageType, &r.AcceptancePoint, &r.Storage, &r.AgreementVersion, &target, &r.Reason, &r.Comment,
		&r.DecisionReason, &r.SubmittedBy, &r.DecidedBy, &r.IssuedBy, &cert, &expires, &r.PasscodeAttempts, &used,
		&created, &updated)
	if err != nil {
		return nil, err
	}
	if ag.Name != "" {
		r.Agent = &ag
	}
	r.TargetSerial, r.CertSerial = target.String, cert.String
	r.PasscodeExpires = fromUnix(expires)
	r.PasscodeUsed = used != 0
	r.CreatedAt, r.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return &r, nil
}

// Request reads one request by reference, or ra.ErrNotFound. In a write
// transaction on PostgreSQL the row stays locked until commit (forUpdate).
//
// Whatever a state change reads must be what the audit log bound: the
// row is checked against its last binding. One statement reads the row
// and the columns its binding digests (a second read of the row cost a
// round trip to PostgreSQL per download).
func (t *Tx) Request(ref string) (*ra.Request, error) {
	vals := make([]any, len(requestDigestCols))
	extra := make([]any, len(vals))
	for i := range vals {
		extra[i] = &vals[i]
	}
	r, err := t.readRequest(ref, requestCheckedCols, extra)
	if err != nil {
		return nil, err
	}
	if err := t.checkBinding(false, ref, digestValues(requestGroups, vals)); err != nil {
		return nil, err
	}
	return r, nil
}

// RequestAsStored reads a request without checking it against the audit
// log: for display only (status), which shows an edited row and says so.
// (In a write transaction on PostgreSQL the row stays locked: forUpdate.)
func (t *Tx) RequestAsStored(ref string) (*ra.Request, error) {
	return t.readRequest(ref, requestCols, nil)
}

// requestDigestCols are the columns a request's binding digests, and
// requestCheckedCols the request's columns followed by them.
var (
	requestDigestCols  = strings.Split(groupCols(requestGroups), ", ")
	requestCheckedCols = requestCols + ", " + groupCols(requestGroups)
)

// readRequest reads the columns cols (requestCols, then the columns extra
// scans into) of request ref.
func (t *Tx) readRequest(ref, cols string, extra []any) (*ra.Request, error) {
	r, err := scanRequest(scanMore{t.queryRow(`SELECT `+cols+` FROM requests WHERE ref = ?`+t.forUpdate(), ref), extra})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, requestNotFound(ref)
	}
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", ref, err)
	}
	return r, nil
}

// scanMore scans a row into the destinations its caller gives, then into
// extra.
type scanMore struct {
	sc    scanner
	extra []any
}

func (m scanMore) Scan(dest ...any) error { return m.sc.Scan(append(dest, m.extra...)...) }

// Passcode is what a download checks beside the request: the stored hash
// of its passcode ("" if none) and whether it is locked.
type Passcode struct {
	Hash   string
	Locked bool
}

// requestPasscodeCols are the columns RequestWithPasscode reads: those of
// a request, its passcode hash and lock. They include every column its
// audit binding digests (requestGroups), each read once.
var requestPasscodeCols = splitCols(requestCols + `, passcode_hash, passcode_locked`)

var (
	requestPasscodeQuery = `SELECT ` + strings.Join(requestPasscodeCols, ", ") + ` FROM requests WHERE ref = ?`
	// requestBoundAt[i] is the position in requestPasscodeCols of the i-th
	// column digested by requestGroups.
	requestBoundAt = colPositions(requestPasscodeCols, requestGroups)
)

func splitCols(list string) []string {
	var cols []string
	for _, c := range strings.Split(list, ",") {
		cols = append(cols, strings.TrimSpace(c))
	}
	return cols
}

func colPositions(cols []string, gs []fieldGroup) []int {
	at := map[string]int{}
	for i, c := range cols {
		at[c] = i
	}
	var pos []int
	for _, g := range gs {
		for _, c := range slices.Concat(g.cols, g.added) { // groupCols' order
			i, ok := at[c]
			if !ok {
				panic("store: bound column " + c + " is not read")
			}
			pos = append(pos, i)
		}
	}
	return pos
}

// RequestWithPasscode is Request and PasscodeHash and PasscodeLocked in one
// read of the row: the request, proved against the digest its last audit
// record bound (ra.ErrIntegrity otherwise), and its passcode. A download
// checks all three; reading the row once instead of four times is most of
// what makes its check cheap.
func (t *Tx) RequestWithPasscode(ref string) (*ra.Request, Passcode, error) {
	r, pc, digest, err := t.requestWithPasscode(ref)
	if err != nil {
		return nil, Passcode{}, err
	}
	if err := t.checkBinding(false, ref, digest); err != nil {
		return nil, Passcode{}, err
	}
	return r, pc, nil
}

// RequestWithPasscodeAsStored is RequestWithPasscode without the proof
// against the audit log: for a check that a write transaction repeats with
// the proof (the presigning snapshot of a download).
func (t *Tx) RequestWithPasscodeAsStored(ref string) (*ra.Request, Passcode, error) {
	r, pc, _, err := t.requestWithPasscode(ref)
	return r, pc, err
}

// requestWithPasscode reads the row once, as the driver's values: the
// binding digest is computed from exactly what requestDigest would read,
// and the request is converted from the same values.
func (t *Tx) requestWithPasscode(ref string) (*ra.Request, Passcode, string, error) {
	vals := make(driverRow, len(requestPasscodeCols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := t.queryRow(requestPasscodeQuery+t.forUpdate(), ref).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Passcode{}, "", requestNotFound(ref)
	}
	if err != nil {
		return nil, Passcode{}, "", fmt.Errorf("read request %s: %w", ref, err)
	}
	r, err := scanRequest(vals)
	if err != nil {
		return nil, Passcode{}, "", fmt.Errorf("read request %s: %w", ref, err)
	}
	n := len(vals)
	var hash sql.NullString
	var locked sql.NullInt64
	if err := errors.Join(hash.Scan(vals[n-2]), locked.Scan(vals[n-1])); err != nil {
		return nil, Passcode{}, "", fmt.Errorf("read passcode of %s: %w", ref, err)
	}
	bound := make([]any, len(requestBoundAt))
	for i, at := range requestBoundAt {
		bound[i] = vals[at]
	}
	return r, Passcode{Hash: hash.String, Locked: locked.Int64 != 0}, digestValues(requestGroups, bound), nil
}

// driverRow is a row read as the driver's values. Its Scan converts them
// into the destinations scanRequest uses as database/sql would (through
// sql.Null*: a NULL into a string or a number is an error), and fills
// a *any or sql.Scanner as they are.
type driverRow []any

func (row driverRow) Scan(dest ...any) error {
	if len(dest) > len(row) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(row))
	}
	for i, d := range dest {
		if err := assignValue(d, row[i]); err != nil {
			return fmt.Errorf("scan column %d: %w", i, err)
		}
	}
	return nil
}

func assignValue(dest, src any) error {
	switch d := dest.(type) {
	case *any:
		*d = src
		return nil
	case sql.Scanner:
		return d.Scan(src)
	}
	v := reflect.ValueOf(dest)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("destination %T is not a pointer", dest)
	}
	e := v.Elem()
	switch e.Kind() {
	case reflect.String:
		var ns sql.NullString
		if err := ns.Scan(src); err != nil {
			return err
		}
		if !ns.Valid {
			return fmt.Errorf("NULL into %T", dest)
		}
		e.SetString(ns.String)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var ni sql.NullInt64
		if err := ni.Scan(src); err != nil {
			return err
		}
		if !ni.Valid {
			return fmt.Errorf("NULL into %T", dest)
		}
		e.SetInt(ni.Int64)
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return nil
}

var updateRequestQuery = `
UPDATE requests SET state = ?, decision_reason = ?, decided_by = ?, issued_by = ?, cert_serial = ?,
  passcode_expires = ?, passcode_attempts = ?, passcode_used = ?, updated_at = ?
WHERE ref = ? AND state = ?
RETURNING ` + groupCols(requestGroups)

func requestNotFound(ref string) error {
	return ra.WithCode("request.not_found", msg.Errorf("no request %s; check the reference number (业务受理号): %w", ref, ra.ErrNotFound), "ref", ref)
}

// RequestFilter selects requests for the review queue.
type RequestFilter struct {
	States []ra.State
	Kinds  []ra.Kind
	Serial string // requests acting on or producing this certificate
	Limit  int
}

// Requests lists requests, oldest first (the order they should be handled).
func (t *Tx) Requests(f RequestFilter) ([]*ra.Request, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if len(f.Kinds) > 0 {
		where = append(where, "kind IN ("+placeholders(len(f.Kinds))+")")
		for _, k := range f.Kinds {
			args = append(args, string(k))
		}
	}
	if f.Serial != "" {
		where = append(where, "(target_serial = ? OR cert_serial = ?)")
		args = append(args, f.Serial, f.Serial)
	}
	q := `SELECT ` + requestCols + ` FROM requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	var out []*ra.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OpenRequestFor returns the first unfinished request of kind k acting on a
// certificate, or nil.
//
// In a write transaction on PostgreSQL it first takes the certificate's
// lock, held until commit: of two transactions opening a request on one
// certificate, the second sees the first's request.
func (t *Tx) OpenRequestFor(serial string, kinds ...ra.Kind) (*ra.Request, error) {
	if err := t.lockCert(serial); err != nil {
		return nil, err
	}
	rs, err := t.Requests(RequestFilter{Serial: serial, Kinds: kinds, States: []ra.State{ra.StateSubmitted, ra.StateApproved, ra.StateIssued}, Limit: 1})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// UpdateRequest writes r's mutable fields, guarded by the state the caller
// read: if another process moved the request meanwhile, nothing is written
// and ra.ErrConflict is returned.
func (t *Tx) UpdateRequest(r *ra.Request, from ra.State) error {
	r.UpdatedAt = t.now().UTC()
	// RETURNING the columns the binding digests: the audit record of this
	// transition binds them without reading the row back (Tx.bind).
	d, err := scanDigest(t.queryRow(updateRequestQuery,
		string(r.State), r.DecisionReason, r.DecidedBy, r.IssuedBy, nullStr(r.CertSerial),
		unix(r.PasscodeExpires), r.PasscodeAttempts, boolInt(r.PasscodeUsed), r.UpdatedAt.Unix(), r.Ref, string(from)), requestGroups)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("request %s is no longer %s (another operator or process changed it): %w", r.Ref, from, ra.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update request %s: %w", r.Ref, err)
	}
	t.freshReq = fresh{key: r.Ref, digest: d}
	return nil
}

// SetPasscodeHash replaces the stored passcode hash of a request; a new
// passcode is not locked.
func (t *Tx) SetPasscodeHash(ref, hash string) error {
	_, err := t.exec(`UPDATE requests SET passcode_hash = ?, passcode_locked = 0 WHERE ref = ?`, hash, ref)
	return err
}

// PasscodeHash reads the stored passcode hash ("" if none).
func (t *Tx) PasscodeHash(ref string) (string, error) {
	var h sql.NullString
	err := t.queryRow(`SELECT passcode_hash FROM requests WHERE ref = ?`, ref).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", msg.Errorf("no request %s: %w", ref, ra.ErrNotFound)
	}
	return h.String, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RequestCounts counts requests per state, for the review summary.
func (t *Tx) RequestCounts() (map[ra.State]int, error) {
	rows, err := t.query(`SELECT state, COUNT(*) FROM requests GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[ra.State]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[ra.State(s)] = n
	}
	return out, rows.Err()
}
