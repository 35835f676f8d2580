package service

import (
	"context"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// RequestDetail is a request with its history and certificates.
type RequestDetail struct {
	Request      *ra.Request       `json:"request"`
	History      []ra.Event        `json:"history"`
	Certificates []*ra.Certificate `json:"certificates,omitempty"`
	Target       *ra.Certificate   `json:"target_certificate,omitempty"`
}

// ForApplicant returns a copy fit for `status`, which anyone holding the
// reference number may run: without the ID numbers, mobile and address, and
// with the e-mail masked (z***@example.com). An application that reused a
// stored profile must not show the profile's full e-mail to whoever filed
// it with someone else's ID number.
func (d *RequestDetail) ForApplicant() *RequestDetail {
	out := *d
	r := *d.Request
	r.Applicant.IDNumber, r.Applicant.Mobile, r.Applicant.Address = "", "", ""
	r.Applicant.Email = ra.MaskEmail(r.Applicant.Email)
	if r.Agent != nil {
		ag := *r.Agent
		ag.IDNumber = ""
		r.Agent = &ag
	}
	out.Request = &r
	return &out
}

// Status reads a request, its history and the certificates it touches.
func (s *Service) Status(ctx context.Context, ref string) (*RequestDetail, error) {
	var d RequestDetail
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if d.Request, err = tx.Request(ref); err != nil {
			return err
		}
		if d.History, err = tx.AuditRecords(store.AuditFilter{Ref: ref}); err != nil {
			return err
		}
		if d.Certificates, err = tx.Certificates(store.CertFilter{Ref: ref}); err != nil {
			return err
		}
		if d.Request.TargetSerial != "" {
			if d.Target, err = tx.Certificate(d.Request.TargetSerial); err != nil {
				return err
			}
		}
		return withTargets(tx, s.Now(), d.Request)
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Requests lists requests (the review queue).
func (s *Service) Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error) {
	var out []*ra.Request
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if out, err = tx.Requests(f); err != nil {
			return err
		}
		return withTargets(tx, s.Now(), out...)
	})
	return out, err
}

// Certificates lists issued certificates.
func (s *Service) Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error) {
	var out []*ra.Certificate
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Certificates(store.CertFilter{Status: status, At: s.Now(), Limit: limit})
		return err
	})
	return out, err
}

// CertificateDetail is a certificate and the requests that touched it.
type CertificateDetail struct {
	Certificate *ra.Certificate `json:"certificate"`
	Status      ra.CertStatus   `json:"status"`
	Requests    []*ra.Request   `json:"requests"`
}

// Certificate reads one certificate by serial.
func (s *Service) Certificate(ctx context.Context, serial string) (*CertificateDetail, error) {
	serial, err := ra.ParseSerial(serial)
	if err != nil {
		return nil, err
	}
	var d CertificateDetail
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if d.Certificate, err = tx.Certificate(serial); err != nil {
			return err
		}
		d.Requests, err = tx.Requests(store.RequestFilter{Serial: serial})
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Status = d.Certificate.StatusAt(s.Now())
	return &d, nil
}

// Audit lists audit records.
// The caller (in ctx) needs the auditor role.
func (s *Service) Audit(ctx context.Context, f store.AuditFilter) ([]ra.Event, error) {
	if _, err := principal.Require(ctx, principal.Auditor); err != nil {
		return nil, err
	}
	var out []ra.Event
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.AuditRecords(f)
		return err
	})
	return out, err
}

// AuditReport is the result of verifying the audit chain.
type AuditReport struct {
	Checked  int                  `json:"checked"`
	OK       bool                 `json:"ok"`
	Problems []store.AuditProblem `json:"problems,omitempty"`
}

// VerifyAudit checks the audit hash chain.
// The caller (in ctx) needs the auditor role.
func (s *Service) VerifyAudit(ctx context.Context) (*AuditReport, error) {
	if _, err := principal.Require(ctx, principal.Auditor); err != nil {
		return nil, err
	}
	var r AuditReport
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		r.Checked, r.Problems, err = tx.VerifyAudit()
		return err
	})
	r.OK = len(r.Problems) == 0
	return &r, err
}
