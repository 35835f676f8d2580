package store

import (
	"database/sql"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
)

// Purposes of service certificates.
const (
	PurposeOperator = "operator"
	PurposeServer   = "server"
)

// ServiceCert is a certificate cmca issued for its own use: an operator's
// credential or the server's TLS certificate (migration 0007).
type ServiceCert struct {
	Serial     string    `json:"serial"`
	Purpose    string    `json:"purpose"`
	Subject    string    `json:"subject"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SPKISHA256 string    `json:"spki_sha256"`
	Status     string    `json:"status"` // valid | revoked
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Reason     int       `json:"-"`
	DER        []byte    `json:"-"`
}

// Operator statuses.
const (
	OperatorActive  = "active"
	OperatorRevoked = "revoked"
)

// Operator is an operator of `cmca serve`: the roles come from here, the
// certificate only identifies.
type Operator struct {
	Name      string           `json:"name"`
	Roles     []principal.Role `json:"roles"`
	Serial    string           `json:"serial"`
	Status    string           `json:"status"`
	CreatedAt time.Time        `json:"created_at"`
	CreatedBy string           `json:"created_by"`
	RevokedAt time.Time        `json:"revoked_at,omitzero"`
	RevokedBy string           `json:"revoked_by,omitempty"`
	NotAfter  time.Time        `json:"not_after"`
}

// InsertServiceCert records a certificate cmca issued for its own use.
func (t *Tx) InsertServiceCert(c *ServiceCert) error {
	err := t.savepoint(func() error {
		_, err := t.exec(`INSERT INTO service_certificates (serial, purpose, subject, not_before, not_after, spki_sha256, status, der)
VALUES (?, ?, ?, ?, ?, ?, 'valid', ?)`, c.Serial, c.Purpose, c.Subject, c.NotBefore.Unix(), c.NotAfter.Unix(), c.SPKISHA256, c.DER)
		return err
	})
	if isUnique(err) {
		return msg.Errorf("serial %s already exists: %w", c.Serial, ra.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	return nil
}

const serviceCertCols = `serial, purpose, subject, not_before, not_after, spki_sha256, status, revoked_at, revocation_reason, der`

// ServiceCert reads a service certificate by canonical serial, or
// ra.ErrNotFound.
func (t *Tx) ServiceCert(serial string) (*ServiceCert, error) {
	var c ServiceCert
	var nb, na int64
	var revokedAt, reason sql.NullInt64
	err := t.queryRow(`SELECT `+serviceCertCols+` FROM service_certificates WHERE serial = ?`, serial).Scan(
		&c.Serial, &c.Purpose, &c.Subject, &nb, &na, &c.SPKISHA256, &c.Status, &revokedAt, &reason, &c.DER)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, msg.Errorf("no service certificate with serial %s: %w", serial, ra.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read service certificate: %w", err)
	}
	c.NotBefore, c.NotAfter, c.RevokedAt, c.Reason = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC(), fromUnix(revokedAt), int(reason.Int64)
	return &c, nil
}

// RevokeServiceCert marks a valid service certificate revoked; it then
// appears on the next CRL. An already revoked one gives ra.ErrConflict.
func (t *Tx) RevokeServiceCert(serial string, at time.Time, reason int) error {
	if err := t.lockForRevocation(at); err != nil { // as in RevokeCertificate
		return err
	}
	res, err := t.exec(`UPDATE service_certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid'`,
		at.Unix(), reason, serial)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", serial, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		if _, err := t.ServiceCert(serial); err != nil {
			return err
		}
		return msg.Errorf("certificate %s is already revoked: %w", serial, ra.ErrConflict)
	}
	return nil
}

// eachRevokedService streams the revoked, unexpired service certificates
// in serial order (part of EachRevoked).
func (t *Tx) eachRevokedService(at time.Time, fn func(Revoked) error) error {
	rows, err := t.query(`SELECT serial, revoked_at, revocation_reason FROM service_certificates
WHERE status = 'revoked' AND not_after >= ? ORDER BY serial`, at.Unix())
	if err != nil {
		return fmt.Errorf("list revoked service certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Revoked
		var revokedAt, reason sql.NullInt64
		if err := rows.Scan(&r.Serial, &revokedAt, &reason); err != nil {
			return err
		}
		r.RevokedAt, r.Reason = fromUnix(revokedAt), int(reason.Int64)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// InsertOperator records a new active operator whose certificate was
// recorded with InsertServiceCert. An active operator of that name gives
// ra.ErrConflict.
func (t *Tx) InsertOperator(o *Operator) error {
	err := t.savepoint(func() error {
		_, err := t.exec(`INSERT INTO operators (name, roles, serial, status, created_at, created_by) VALUES (?, ?, ?, 'active', ?, ?)`,
			o.Name, joinRoles(o.Roles), o.Serial, o.CreatedAt.Unix(), o.CreatedBy)
		return err
	})
	if isUnique(err) {
		return msg.Errorf("operator %s already exists; revoke it first to give it a new credential: %w", o.Name, ra.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save operator: %w", err)
	}
	o.Status = OperatorActive
	return nil
}

const operatorCols = `o.name, o.roles, o.serial, o.status, o.created_at, o.created_by, o.revoked_at, o.revoked_by, c.not_after`

func scanOperator(sc scanner) (*Operator, error) {
	var o Operator
	var roles string
	var created, notAfter int64
	var revoked sql.NullInt64
	if err := sc.Scan(&o.Name, &roles, &o.Serial, &o.Status, &created, &o.CreatedBy, &revoked, &o.RevokedBy, &notAfter); err != nil {
		return nil, err
	}
	o.Roles = splitRoles(roles)
	o.CreatedAt, o.RevokedAt, o.NotAfter = time.Unix(created, 0).UTC(), fromUnix(revoked), time.Unix(notAfter, 0).UTC()
	return &o, nil
}

// ActiveOperator reads the active operator of a name, or ra.ErrNotFound.
func (t *Tx) ActiveOperator(name string) (*Operator, error) {
	o, err := scanOperator(t.queryRow(`SELECT `+operatorCols+` FROM operators o JOIN service_certificates c ON c.serial = o.serial
WHERE o.name = ? AND o.status = 'active'`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, msg.Errorf("no active operator %s: %w", name, ra.ErrNotFound)
	}
	return o, err
}

// OperatorBySerial reads the operator whose certificate has serial, in any
// status, or ra.ErrNotFound.
func (t *Tx) OperatorBySerial(serial string) (*Operator, error) {
	o, err := scanOperator(t.queryRow(`SELECT `+operatorCols+` FROM operators o JOIN service_certificates c ON c.serial = o.serial
WHERE o.serial = ?`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, msg.Errorf("no operator with certificate %s: %w", serial, ra.ErrNotFound)
	}
	return o, err
}

// Operators lists operators by name, then newest first; revoked ones only
// if all is set.
func (t *Tx) Operators(all bool) ([]*Operator, error) {
	q := `SELECT ` + operatorCols + ` FROM operators o JOIN service_certificates c ON c.serial = o.serial`
	if !all {
		q += ` WHERE o.status = 'active'`
	}
	rows, err := t.query(q + ` ORDER BY o.name, o.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	defer rows.Close()
	var out []*Operator
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// DisableOperator marks the active operator of name revoked.
func (t *Tx) DisableOperator(name, by string, at time.Time) error {
	res, err := t.exec(`UPDATE operators SET status = 'revoked', revoked_at = ?, revoked_by = ? WHERE name = ? AND status = 'active'`, at.Unix(), by, name)
	if err != nil {
		return fmt.Errorf("disable operator %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return msg.Errorf("no active operator %s: %w", name, ra.ErrNotFound)
	}
	return nil
}

func joinRoles(rs []principal.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func splitRoles(s string) []principal.Role {
	var out []principal.Role
	for _, p := range strings.Split(s, ",") {
		if r, ok := principal.ParseRole(p); ok {
			out = append(out, r)
		}
	}
	return out
}
