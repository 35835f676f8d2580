package service

import (
	"context"
	"errors"
	"path/filepath"

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
	// Integrity lists rows shown here that do not match what the audit log
	// bound (edited outside cmca); every state change refuses them.
	Integrity []string `json:"integrity,omitempty"`
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
		if d.Request, err = tx.RequestAsStored(ref); err != nil {
			return err
		}
		if d.Integrity, err = integrityProblems(d.Integrity, tx.CheckRequest(ref)); err != nil {
			return err
		}
		if d.History, err = tx.AuditRecords(store.AuditFilter{Ref: ref}); err != nil {
			return err
		}
		if d.Certificates, err = tx.Certificates(store.CertFilter{Ref: ref}); err != nil {
			return err
		}
		if d.Request.TargetSerial != "" {
			if d.Target, err = tx.CertificateAsStored(d.Request.TargetSerial); err != nil {
				return err
			}
			if d.Integrity, err = integrityProblems(d.Integrity, tx.CheckCertificate(d.Request.TargetSerial)); err != nil {
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

// Requests lists requests (the review queue); the caller needs an
// operator role (any).
func (s *Service) Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error) {
	if _, err := principal.Require(ctx, principal.AnyRole); err != nil {
		return nil, err
	}
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

// Certificates lists issued certificates; the caller needs an operator
// role (any).
func (s *Service) Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error) {
	if _, err := principal.Require(ctx, principal.AnyRole); err != nil {
		return nil, err
	}
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
	// Integrity: as in RequestDetail.
	Integrity []string `json:"integrity,omitempty"`
}

// Certificate reads one certificate by serial; the caller needs an
// operator role (any).
func (s *Service) Certificate(ctx context.Context, serial string) (*CertificateDetail, error) {
	if _, err := principal.Require(ctx, principal.AnyRole); err != nil {
		return nil, err
	}
	serial, err := ra.ParseSerial(serial)
	if err != nil {
		return nil, err
	}
	var d CertificateDetail
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if d.Certificate, err = tx.CertificateAsStored(serial); err != nil {
			return err
		}
		if d.Integrity, err = integrityProblems(d.Integrity, tx.CheckCertificate(serial)); err != nil {
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

// VerifyAudit checks the audit hash chain, the published checkpoint of its
// head (checkpoint.go), and every request and certificate against the
// digest its last audit record bound (store/binding.go). A problem with
// Seq 0 names no single record (a row no record binds, a missing
// checkpoint).
//
// Each file in checkpoints (e.g. a copy fetched from where the CRL is
// published, out of reach of whoever can write the home) is checked like
// the home's own checkpoint.
//
// The caller (in ctx) needs the auditor role.
func (s *Service) VerifyAudit(ctx context.Context) (*AuditReport, error) {
	return s.VerifyAuditWith(ctx)
}

// VerifyAuditWith is VerifyAudit that also checks the given checkpoint
// files (local only: the files are read where the store is).
func (s *Service) VerifyAuditWith(ctx context.Context, checkpoints ...string) (*AuditReport, error) {
	if _, err := principal.Require(ctx, principal.Auditor); err != nil {
		return nil, err
	}
	var r AuditReport
	caCert := s.caCertificate()
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if r.Checked, r.Problems, err = tx.VerifyAudit(); err != nil {
			return err
		}
		paths := append([]string{filepath.Join(s.home, CheckpointFile)}, checkpoints...)
		for i, path := range paths {
			seq, problem, err := checkpointProblem(tx, path, i > 0, caCert)
			if err != nil {
				return err
			}
			if problem != "" {
				r.Problems = append(r.Problems, store.AuditProblem{Seq: seq, Problem: problem})
			}
		}
		_, err = tx.CheckBindings(func(e *store.IntegrityError) error {
			r.Problems = append(r.Problems, store.AuditProblem{Seq: e.Seq, Problem: e.Kind + " " + e.Key + ": " + e.Problem() + "; it was changed outside cmca"})
			return nil
		})
		return err
	})
	r.OK = len(r.Problems) == 0
	return &r, err
}

// integrityProblems appends the problem an integrity check found to list;
// any other error is returned.
func integrityProblems(list []string, err error) ([]string, error) {
	var ie *store.IntegrityError
	if errors.As(err, &ie) {
		return append(list, ie.Kind+" "+ie.Key+": "+ie.Problem()+"; it was changed outside cmca, and cmca refuses to act on it"), nil
	}
	return list, err
}
