package service

import (
	"context"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"slices"
	"strings"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// Application is the application form (个人证书申请).
type Application struct {
	Applicant         ra.Applicant `json:"applicant" yaml:"applicant"`
	Agent             *ra.Agent    `json:"agent,omitempty" yaml:"agent,omitempty"`
	UsageType         string       `json:"usage_type" yaml:"usage_type"`
	AcceptancePoint   string       `json:"acceptance_point" yaml:"acceptance_point"`
	Storage           ra.Storage   `json:"storage" yaml:"storage"`
	AgreementAccepted bool         `json:"agreement_accepted" yaml:"agreement_accepted"`
	Comment           string       `json:"comment,omitempty" yaml:"comment,omitempty"`
	// DocumentsChecked says the caller, a counter operator, checked the
	// applicant's identity documents in person (counter mode); it needs the
	// counter role and is recorded in the audit log. Files cannot set it.
	DocumentsChecked bool `json:"documents_checked,omitempty" yaml:"-"`
	// Reuse names fields (name, mobile, email, address) left empty to be
	// taken from the applicant's stored profile (name brings the stored
	// surname and given name with it): the data of their last
	// approved application. The caller sees only masked values (Lookup).
	Reuse []string `json:"reuse_stored,omitempty" yaml:"-"`
}

// ReusableFields are the fields an application may take from a stored
// profile.
var ReusableFields = []string{"name", "mobile", "email", "address"}

// reuseStored fills the fields each application asks to reuse from the
// stored profile. A field given in the application is kept.
func (s *Service) reuseStored(ctx context.Context, apps []Application) error {
	need := false
	for _, a := range apps {
		need = need || len(a.Reuse) > 0
	}
	if !need {
		return nil
	}
	return s.store.Read(ctx, func(tx *store.Tx) error {
		for i := range apps {
			a := &apps[i]
			if len(a.Reuse) == 0 {
				continue
			}
			n, err := ra.ValidateID(a.Applicant.IDType, a.Applicant.IDNumber)
			if err != nil {
				return err
			}
			p, err := tx.LookupApplicant(a.Applicant.IDType, n)
			if err != nil {
				return msg.Errorf("no stored profile to reuse (nobody with that ID has an approved application); give the fields: %w", err)
			}
			var used []string
			for _, field := range a.Reuse {
				var dst *string
				var v string
				switch field {
				case "name":
					dst, v = &a.Applicant.Name, p.Name
					// The parts travel with the name they belong to, unless
					// the application gives parts of its own.
					if a.Applicant.Name == "" && a.Applicant.Surname == "" && a.Applicant.GivenName == "" {
						a.Applicant.Surname, a.Applicant.GivenName = p.Surname, p.GivenName
					}
				case "mobile":
					dst, v = &a.Applicant.Mobile, p.Mobile
				case "email":
					dst, v = &a.Applicant.Email, p.Email
				case "address":
					dst, v = &a.Applicant.Address, p.Address
				default:
					return ra.Fieldf("reuse_stored", "%q cannot be reused; only %s", field, strings.Join(ReusableFields, ", "))
				}
				if *dst == "" && v != "" {
					*dst = v
					used = append(used, field)
				}
			}
			a.Reuse = used
		}
		return nil
	})
}

// Validate normalises an application and checks it against the
// configuration. Flags, files and forms all come through here.
func (s *Service) Validate(a Application) (Application, error) {
	var err error
	if a.Applicant, err = a.Applicant.Normalize(); err != nil {
		return a, err
	}
	if a.Agent != nil && (a.Agent.Name != "" || a.Agent.IDNumber != "") {
		ag, err := a.Agent.Normalize()
		if err != nil {
			return a, err
		}
		a.Agent = &ag
	} else {
		a.Agent = nil
	}
	if a.UsageType == "" {
		return a, ra.Fieldf("usage_type", "is required")
	}
	if _, err := s.cfg.Profile(a.UsageType); err != nil {
		return a, err
	}
	if pol := s.Policy(); !pol.AllowsUsage(a.UsageType) {
		return a, ra.Fieldf("usage_type", "usage type %q is not offered by this CA's policy (usage.allowed: %s)", a.UsageType, strings.Join(pol.Usages, ", "))
	}
	if a.AcceptancePoint == "" {
		return a, ra.Fieldf("acceptance_point", "is required")
	}
	if err := s.cfg.acceptancePoint(a.AcceptancePoint); err != nil {
		return a, err
	}
	if a.Storage == "" {
		return a, ra.Fieldf("storage", "is required")
	}
	if a.Storage, err = ra.ParseStorage(string(a.Storage)); err != nil {
		return a, err
	}
	if a.Comment, err = ra.ValidateText("comment", a.Comment, 500, false); err != nil {
		return a, err
	}
	if !a.AgreementAccepted {
		return a, ra.Fieldf("agreement_accepted", "the subscriber agreement (version %s) must be accepted", s.cfg.Agreement.Version)
	}
	return a, nil
}

// BatchError reports every invalid application of a batch, by position.
type BatchError struct {
	Errors []ItemError
}

// ItemError is one failed item of a batch (Index counts from 1).
type ItemError struct {
	Index int    `json:"index"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the applications are invalid; nothing was submitted (fix them, or submit only the valid ones as a partial batch):", len(e.Errors))
	for i, it := range e.Errors {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Errors)-10)
			break
		}
		fmt.Fprintf(&b, "\n  #%d: %s", it.Index, it.Error)
	}
	return b.String()
}

func (e *BatchError) Unwrap() error { return ra.ErrInvalid }

// ApplyResult is one submitted application.
type ApplyResult struct {
	Index     int        `json:"index"`
	Ref       string     `json:"ref,omitempty"`
	State     ra.State   `json:"state,omitempty"`
	Returning bool       `json:"returning_applicant,omitempty"`
	Reused    []string   `json:"reused_fields,omitempty"`
	Error     *ItemError `json:"error,omitempty"`
}

// Apply submits applications in one transaction. Without partial, one
// invalid application rejects the whole batch and nothing is stored; with
// partial, the valid ones are stored and the invalid ones reported.
//
// Any caller may apply (anonymous too); an application whose documents
// were checked at a counter needs the counter role.
func (s *Service) Apply(ctx context.Context, apps []Application, partial bool) ([]ApplyResult, error) {
	need := principal.Role("")
	for _, a := range apps {
		if a.DocumentsChecked {
			need = principal.Counter
		}
	}
	p, err := principal.Require(ctx, need)
	if err != nil {
		return nil, err
	}
	operator := p.String()
	if len(apps) == 0 {
		return nil, ra.Fieldf("applications", "no application given")
	}
	apps = slices.Clone(apps)
	if err := s.reuseStored(ctx, apps); err != nil {
		return nil, err
	}
	valid := make([]Application, len(apps))
	results := make([]ApplyResult, len(apps))
	var bad []ItemError
	for i, a := range apps {
		results[i].Index = i + 1
		v, err := s.Validate(a)
		if err != nil {
			ie := ItemError{Index: i + 1, Error: err.Error()}
			var fe *ra.FieldError
			if errors.As(err, &fe) {
				ie.Field = fe.Field
			}
			bad = append(bad, ie)
			results[i].Error = &bad[len(bad)-1]
			continue
		}
		valid[i] = v
	}
	if len(bad) > 0 && (!partial || len(bad) == len(apps)) {
		if len(apps) == 1 {
			_, err := s.Validate(apps[0])
			return nil, err
		}
		return results, &BatchError{Errors: bad}
	}
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		now := tx.Now().UTC()
		for i, a := range valid {
			if results[i].Error != nil {
				continue
			}
			if _, err := tx.LookupApplicant(a.Applicant.IDType, a.Applicant.IDNumber); err == nil {
				results[i].Returning = true
			}
			results[i].Reused = a.Reuse
			id, err := tx.EnsureApplicant(a.Applicant.IDType, a.Applicant.IDNumber)
			if err != nil {
				return err
			}
			r := &ra.Request{Kind: ra.KindNew, State: ra.StateSubmitted, Applicant: a.Applicant, Agent: a.Agent,
				UsageType: a.UsageType, AcceptancePoint: a.AcceptancePoint, Storage: a.Storage,
				AgreementVersion: s.cfg.Agreement.Version, Comment: a.Comment, SubmittedBy: operator, CreatedAt: now, UpdatedAt: now}
			if err := insertWithRef(tx, r, id); err != nil {
				return err
			}
			detail := "usage=" + r.UsageType + " storage=" + string(r.Storage)
			if a.DocumentsChecked {
				detail += " counter=" + r.AcceptancePoint + "; documents checked by " + operator
			}
			if err := tx.Audit(event(operator, "apply", r, "", detail)); err != nil {
				return err
			}
			results[i].Ref, results[i].State = r.Ref, r.State
			reportProgress(ctx, i+1, len(valid))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// insertWithRef draws reference numbers until one is free.
func insertWithRef(tx *store.Tx, r *ra.Request, applicantID int64) error {
	for range 10 {
		r.Ref = ra.NewRef(r.CreatedAt)
		err := tx.InsertRequest(r, applicantID)
		if !errors.Is(err, store.ErrRefTaken) {
			return err
		}
	}
	return fmt.Errorf("could not draw a free reference number after 10 tries; try again (if it keeps failing, check the store with `cmca doctor`)")
}

// Lookup returns a returning applicant's stored profile (seed 2.1 step
// 3), masked: which fields are on record and a hint of each (138****8000,
// z***@example.com), never the data itself. Apply with Reuse takes them.
func (s *Service) Lookup(ctx context.Context, idType ra.IDType, idNumber string) (ra.Applicant, error) {
	n, err := ra.ValidateID(idType, idNumber)
	if err != nil {
		return ra.Applicant{}, err
	}
	var a ra.Applicant
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		a, err = tx.LookupApplicant(idType, n)
		return err
	})
	return a.Masked(), err
}
