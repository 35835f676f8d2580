package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// OperatorInput adds an operator: a name, its roles and the public key of
// the credential it will log in with (made where the key lives: a .p12
// file or a token).
type OperatorInput struct {
	Name      string
	Roles     []principal.Role
	PublicKey crypto.PublicKey
}

// OperatorResult is a new operator and its certificate.
type OperatorResult struct {
	Operator    *store.Operator `json:"operator"`
	Certificate []byte          `json:"certificate"` // DER
	Chain       [][]byte        `json:"chain"`       // DER, the CA first
}

// ValidateOperatorName checks an operator name like every operator name
// (ra.ValidateOperator: one line of text, no invisible characters, not a
// name cmca keeps for itself).
func ValidateOperatorName(name string) (string, error) {
	return ra.ValidateOperator(name)
}

// ParseRoles reads a comma-separated list of roles, in display order,
// without duplicates; at least one.
func ParseRoles(list []string) ([]principal.Role, error) {
	seen := map[principal.Role]bool{}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			r, ok := principal.ParseRole(s)
			if !ok {
				names := make([]string, len(principal.AllRoles))
				for i, r := range principal.AllRoles {
					names[i] = string(r)
				}
				return nil, ra.Fieldf("role", "unknown role %q; use some of %s", strings.TrimSpace(s), strings.Join(names, ","))
			}
			seen[r] = true
		}
	}
	var out []principal.Role
	for _, r := range principal.AllRoles {
		if seen[r] {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, ra.Fieldf("role", "at least one role is needed")
	}
	return out, nil
}

// AddOperator issues an operator credential for in.PublicKey and records
// the operator with its roles (admin role; audited). An active operator of
// the same name is a conflict.
func (s *Service) AddOperator(ctx context.Context, in OperatorInput) (*OperatorResult, error) {
	who, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	name, err := ValidateOperatorName(in.Name)
	if err != nil {
		return nil, err
	}
	roles, err := ParseRoles(rolesStrings(in.Roles))
	if err != nil {
		return nil, err
	}
	if in.PublicKey == nil {
		return nil, msg.Errorf("no public key for the operator credential: %w", ra.ErrInvalid)
	}
	desc := ca.KeyDescription(in.PublicKey)
	if !slices.Contains(ca.KnownKeyAlgos, desc) || desc == "ecdsa-p521" {
		return nil, msg.Errorf("%s keys are not accepted for operator credentials; use ecdsa-p256, ecdsa-p384 or RSA of 2048 bits or more: %w", desc, ra.ErrPolicy)
	}
	// Refuse a taken name before the CA key is used (a token PIN asked).
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		_, err := tx.ActiveOperator(name)
		if err == nil {
			return msg.Errorf("operator %s already exists; revoke it first to give it a new credential: %w", name, ra.ErrConflict)
		}
		if errors.Is(err, ra.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, msg.Errorf("load CA: %w", err)
	}
	var out *OperatorResult
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		cert, err := authority.IssueOperator(in.PublicKey, name, ca.OperatorValidity, s.cfg.Extras(), tx.Now())
		if err != nil {
			return err
		}
		sc := serviceCertFrom(cert, store.PurposeOperator)
		if err := tx.InsertServiceCert(sc); err != nil {
			return err
		}
		o := &store.Operator{Name: name, Roles: roles, Serial: sc.Serial, CreatedAt: tx.Now().UTC().Truncate(time.Second), CreatedBy: who.String(), NotAfter: sc.NotAfter}
		if err := tx.InsertOperator(o); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: who.String(), Action: "operator-add", Serial: sc.Serial,
			Detail: fmt.Sprintf("name=%s roles=%s", name, strings.Join(rolesStrings(roles), ","))}); err != nil {
			return err
		}
		out = &OperatorResult{Operator: o, Certificate: cert.Raw, Chain: chainOf(authority)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.checkpoint(ctx, authority) // a certificate was signed: anchor the log
	return out, nil
}

// Operators lists the operators (auditor or admin role); revoked ones too
// when all is set.
func (s *Service) Operators(ctx context.Context, all bool) ([]*store.Operator, error) {
	if _, err := principal.Require(ctx, principal.Admin); err != nil {
		if _, err2 := principal.Require(ctx, principal.Auditor); err2 != nil {
			return nil, err
		}
	}
	var out []*store.Operator
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Operators(all)
		return err
	})
	return out, err
}

// RevokeOperator disables the operator and revokes its certificate (reason
// cessationOfOperation, or the one given), in one audited transaction: its
// logins are refused at once, and the next CRL lists the certificate.
func (s *Service) RevokeOperator(ctx context.Context, name string, reason ra.RevocationReason) (*store.Operator, error) {
	who, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	if name, err = ValidateOperatorName(name); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "cessationOfOperation"
	}
	var out *store.Operator
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		o, err := tx.ActiveOperator(name)
		if err != nil {
			return err
		}
		now := tx.Now().UTC().Truncate(time.Second)
		if err := tx.DisableOperator(name, who.String(), now); err != nil {
			return err
		}
		testhook.Point("operator-revoke:disabled") // timed and disabled, certificate not yet revoked
		if err := tx.RevokeServiceCert(o.Serial, now, reason.Code()); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: who.String(), Action: "operator-revoke", Serial: o.Serial,
			Detail: fmt.Sprintf("name=%s reason=%s", name, reason)}); err != nil {
			return err
		}
		o.Status, o.RevokedAt, o.RevokedBy = store.OperatorRevoked, now, who.String()
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.checkpointAfterRevocation(ctx)
	return out, nil
}

// IssueServerCertificate issues and records the TLS server certificate of
// `cmca serve` for pub (system caller; audited). It returns the
// certificate and the chain above it, the CA first.
func (s *Service) IssueServerCertificate(ctx context.Context, pub crypto.PublicKey, dnsNames []string, ips []net.IP) (*x509.Certificate, []*x509.Certificate, error) {
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, nil, msg.Errorf("load CA: %w", err)
	}
	var cert *x509.Certificate
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		if cert, err = authority.IssueServer(pub, dnsNames, ips, ca.ServerValidity, s.cfg.Extras(), tx.Now()); err != nil {
			return err
		}
		sc := serviceCertFrom(cert, store.PurposeServer)
		if err := tx.InsertServiceCert(sc); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "system", Action: "server-certificate", Serial: sc.Serial, Detail: "names=" + strings.Join(certNames(cert), ",")})
	})
	if err != nil {
		return nil, nil, err
	}
	s.checkpoint(ctx, authority)
	return cert, append([]*x509.Certificate{authority.Cert}, authority.Chain...), nil
}

// PrincipalForCertificate says who holds a client certificate that has
// already been verified as issued by this CA and unexpired: the active
// operator it was issued to (roles from the store), or the subscriber of a
// valid certificate. A revoked or unknown certificate, or one of a disabled
// operator, is an authentication error.
func (s *Service) PrincipalForCertificate(ctx context.Context, cert *x509.Certificate) (principal.Principal, error) {
	serial := ra.SerialString(cert.SerialNumber)
	var p principal.Principal
	now := s.Now()
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		if ca.IsOperatorCert(cert) {
			o, err := tx.OperatorBySerial(serial)
			if errors.Is(err, ra.ErrNotFound) {
				return msg.Errorf("the operator certificate %s is not on record: %w", serial, ra.ErrAuth)
			} else if err != nil {
				return err
			}
			sc, err := tx.ServiceCert(serial)
			if err != nil {
				return err
			}
			if !bytes.Equal(sc.DER, cert.Raw) {
				return msg.Errorf("the operator certificate %s does not match the one on record: %w", serial, ra.ErrAuth)
			}
			if o.Status != store.OperatorActive || sc.Status != "valid" {
				return msg.Errorf("operator %s was revoked on %s; ask an admin for a new credential: %w", o.Name, o.RevokedAt.Format(time.DateOnly), ra.ErrAuth)
			}
			if now.After(sc.NotAfter) {
				return msg.Errorf("the credential of operator %s expired on %s; ask an admin for a new one: %w", o.Name, sc.NotAfter.Format(time.DateOnly), ra.ErrAuth)
			}
			p = principal.Principal{Kind: principal.Operator, Name: o.Name, Roles: o.Roles}
			return nil
		}
		c, err := tx.Certificate(serial)
		if errors.Is(err, ra.ErrNotFound) {
			return msg.Errorf("certificate %s is neither an operator credential nor a subscriber certificate on record: %w", serial, ra.ErrAuth)
		} else if err != nil {
			return err
		}
		if !bytes.Equal(c.DER, cert.Raw) {
			return msg.Errorf("certificate %s does not match the one on record: %w", serial, ra.ErrAuth)
		}
		switch c.StatusAt(now) {
		case ra.CertRevoked:
			return msg.Errorf("certificate %s was revoked on %s: %w", serial, c.RevokedAt.Format(time.DateOnly), ra.ErrAuth)
		case ra.CertExpired:
			return msg.Errorf("certificate %s expired on %s: %w", serial, c.NotAfter.Format(time.DateOnly), ra.ErrAuth)
		}
		p = principal.Principal{Kind: principal.Subscriber, Name: serial}
		return nil
	})
	return p, err
}

func serviceCertFrom(cert *x509.Certificate, purpose string) *store.ServiceCert {
	return &store.ServiceCert{Serial: ra.SerialString(cert.SerialNumber), Purpose: purpose, Subject: cert.Subject.String(),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, SPKISHA256: spkiHash(cert.RawSubjectPublicKeyInfo), DER: cert.Raw}
}

func chainOf(authority *ca.CA) [][]byte {
	out := [][]byte{authority.Cert.Raw}
	for _, c := range authority.Chain {
		out = append(out, c.Raw)
	}
	return out
}

func certNames(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func rolesStrings(rs []principal.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
