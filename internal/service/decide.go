package service

import (
	"context"
	"github.com/cmca/cmca/internal/msg"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// Decision is the outcome of approve or reject for one request.
type Decision struct {
	Ref           string   `json:"ref"`
	Kind          ra.Kind  `json:"kind"`
	State         ra.State `json:"state"`
	RevokedSerial string   `json:"revoked_serial,omitempty"`
}

// Approve accepts a submitted request. For a revocation, approval puts it
// in effect; for a reissue, it revokes the certificate being replaced. The
// caller (in ctx) needs the reviewer role, or the revoker role for a
// revocation request.
func (s *Service) Approve(ctx context.Context, ref string) (*Decision, error) {
	p, err := principal.Require(ctx, "")
	if err != nil {
		return nil, err
	}
	var d *Decision
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		d, err = s.approve(tx, p, r, "")
		return err
	})
	if err == nil && d.RevokedSerial != "" {
		s.checkpointAfterRevocation(ctx)
	}
	return d, err
}

// approveRole is the role that approves r: revoker for a revocation,
// reviewer for everything else.
func approveRole(r *ra.Request) principal.Role {
	if r.Kind == ra.KindRevoke {
		return principal.Revoker
	}
	return principal.Reviewer
}

// checkRole refuses p unless it holds role (System holds every role).
func checkRole(p principal.Principal, role principal.Role) error {
	if p.Kind != principal.System && !p.Has(role) {
		return &principal.AuthError{Code: principal.CodeMissingRole, Role: role, Caller: p.String()}
	}
	return nil
}

func (s *Service) approve(tx *store.Tx, p principal.Principal, r *ra.Request, detail string) (*Decision, error) {
	if err := checkRole(p, approveRole(r)); err != nil {
		return nil, err
	}
	operator := p.String()
	from := r.State
	to := ra.StateApproved
	if r.Kind == ra.KindRevoke {
		to = ra.StateCompleted
	}
	if err := ra.CheckTransition(r.Ref, r.Kind, from, to); err != nil {
		return nil, err
	}
	fourEyes := s.Policy().FourEyes
	if fourEyes && p.Same(r.SubmittedBy) {
		return nil, ra.WithCode("policy.four_eyes", msg.Errorf("four-eyes rule: %s submitted request %s and may not approve it; ask another operator: %w", operator, r.Ref, ra.ErrPolicy), "ref", r.Ref)
	}
	if fourEyes && p.Kind != principal.System {
		if err := checkNotApplicant(operator, r); err != nil { // policy.go
			return nil, err
		}
	}
	d := &Decision{Ref: r.Ref, Kind: r.Kind}
	now := tx.Now()
	if err := checkTarget(tx, r, now); err != nil {
		return nil, err
	}
	switch r.Kind {
	case ra.KindRevoke:
		reason, err := ra.ParseRevocationReason(r.Reason)
		if err != nil {
			return nil, err
		}
		if err := revokeCert(tx, operator, r, r.TargetSerial, reason, now); err != nil {
			return nil, err
		}
		d.RevokedSerial = r.TargetSerial
	case ra.KindReissue:
		rr, err := ra.ParseReissueReason(r.Reason)
		if err != nil {
			return nil, err
		}
		c, err := tx.Certificate(r.TargetSerial)
		if err != nil {
			return nil, err
		}
		if c.Status == ra.CertValid { // already revoked (e.g. by a revocation request meanwhile) is fine
			if err := revokeCert(tx, operator, r, r.TargetSerial, rr.RevocationReason(), now); err != nil {
				return nil, err
			}
			d.RevokedSerial = r.TargetSerial
		}
	}
	if d.RevokedSerial != "" {
		testhook.Point("approve:revoked") // certificate marked revoked, request not yet moved
	}
	r.State, r.DecidedBy = to, operator
	if err := tx.UpdateRequest(r, from); err != nil {
		return nil, err
	}
	if r.Kind == ra.KindNew {
		// Only an approved application becomes the profile a returning
		// applicant's next application may reuse.
		if err := tx.SetApplicantProfile(r.Applicant); err != nil {
			return nil, err
		}
	}
	if err := tx.Audit(event(operator, "approve", r, from, detail)); err != nil {
		return nil, err
	}
	d.State = r.State
	return d, nil
}

func revokeCert(tx *store.Tx, operator string, r *ra.Request, serial string, reason ra.RevocationReason, now time.Time) error {
	c, err := tx.Certificate(serial)
	if err != nil {
		return err
	}
	if c.Status == ra.CertRevoked {
		return msg.Errorf("certificate %s is already revoked (%s, %s); revocation is permanent: %w", serial, c.RevocationReason, c.RevokedAt.Format(time.DateOnly), ra.ErrConflict)
	}
	if c.StatusAt(now) == ra.CertExpired {
		// An expired certificate is off the CRL anyway (RFC 5280 §3.3);
		// the request was made in time but decided too late.
		return msg.Errorf("certificate %s expired on %s and can no longer be revoked; reject request %s: %w", serial, c.NotAfter.Format(time.DateOnly), r.Ref, ra.ErrConflict)
	}
	var invalidity time.Time
	if reason == "keyCompromise" {
		invalidity = r.CreatedAt // the key is known compromised at least since it was reported
	}
	if err := tx.RevokeCertificate(serial, now, reason.Code(), invalidity); err != nil {
		return err
	}
	return tx.Audit(ra.Event{Operator: operator, Action: "revoke-certificate", Ref: r.Ref, Serial: serial, Detail: "reason=" + string(reason)})
}

// Reject refuses a submitted request, with a reason the applicant will see.
// The caller (in ctx) needs the reviewer role.
func (s *Service) Reject(ctx context.Context, ref, reason string) (*Decision, error) {
	p, err := principal.Require(ctx, principal.Reviewer)
	if err != nil {
		return nil, err
	}
	operator := p.String()
	if strings.TrimSpace(reason) == "" {
		return nil, ra.Fieldf("reason", "a rejection needs a reason so the applicant knows what to fix")
	}
	reason, err = ra.ValidateText("reason", reason, 500, true)
	if err != nil {
		return nil, err
	}
	var d *Decision
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		from := r.State
		if err := ra.CheckTransition(r.Ref, r.Kind, from, ra.StateRejected); err != nil {
			return err
		}
		r.State, r.DecidedBy, r.DecisionReason = ra.StateRejected, operator, reason
		if err := tx.UpdateRequest(r, from); err != nil {
			return err
		}
		if err := tx.Audit(event(operator, "reject", r, from, reason)); err != nil {
			return err
		}
		d = &Decision{Ref: r.Ref, Kind: r.Kind, State: r.State}
		return nil
	})
	return d, err
}

// Authorisation is an issued download passcode. Passcode is the only copy:
// the store keeps a hash.
type Authorisation struct {
	Ref      string     `json:"ref"`
	Passcode string     `json:"passcode"`
	Expires  time.Time  `json:"expires"`
	Resent   bool       `json:"resent"`
	Storage  ra.Storage `json:"storage"`
}

// Issue authorises issuance of an approved request (签发): it draws the
// one-time download passcode. With resend, it replaces an outstanding,
// expired or locked passcode; the old one stops working at once. The
// caller (in ctx) needs the issuer role.
func (s *Service) Issue(ctx context.Context, ref string, resend bool) (*Authorisation, error) {
	p, err := principal.Require(ctx, principal.Issuer)
	if err != nil {
		return nil, err
	}
	// The passcode is boxed for CMP under the KEK, checked against the
	// store's record before the transaction (LoadPasscodeKEK).
	if _, err := s.LoadPasscodeKEK(ctx, true); err != nil {
		return nil, err
	}
	var out *Authorisation
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = s.issueTx(tx, p, ref, resend)
		return err
	})
	return out, err
}

// issueTx is Issue's work inside the caller's transaction (Issue, IssueMany).
func (s *Service) issueTx(tx *store.Tx, p principal.Principal, ref string, resend bool) (out *Authorisation, err error) {
	operator := p.String()
	err = func() error {
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		from := r.State
		switch {
		case from == ra.StateIssued && !resend:
			expires := r.PasscodeExpires.Local().Format(time.DateTime)
			return ra.WithCode("passcode.exists", msg.Errorf("request %s already has a passcode (expires %s); issuing a new one replaces it only when asked to resend: %w", ref, expires, ra.ErrConflict), "ref", ref, "expires", expires)
		case from == ra.StateApproved && resend:
			resend = false // nothing to replace; plain issue
		}
		if err := ra.CheckTransition(r.Ref, r.Kind, from, ra.StateIssued); err != nil {
			if from == ra.StateSubmitted {
				return msg.Errorf("request %s is not approved yet; an operator approves it first: %w", ref, ra.ErrConflict)
			}
			return err
		}
		pol := s.Policy()
		if pol.FourEyes && p.Same(r.DecidedBy) {
			return ra.WithCode("policy.four_eyes", msg.Errorf("four-eyes rule: %s approved request %s and may not also issue it; ask another operator: %w", operator, ref, ra.ErrPolicy), "ref", ref)
		}
		if err := checkTarget(tx, r, tx.Now()); err != nil {
			return err
		}
		code, hash := ra.NewPasscode()
		if err := tx.SetPasscodeHash(ref, hash); err != nil {
			return err
		}
		// The passcode encrypted for the CMP server, which needs it to
		// check a password-based MAC (docs/security.md).
		box, err := s.sealPasscode(ref, code)
		if err != nil {
			return err
		}
		if err := tx.SetPasscodeBox(ref, box); err != nil {
			return err
		}
		now := tx.Now()
		r.State, r.IssuedBy = ra.StateIssued, operator
		r.PasscodeExpires = now.Add(pol.PasscodeTTL).UTC().Truncate(time.Second)
		r.PasscodeAttempts, r.PasscodeUsed = 0, false
		if err := tx.UpdateRequest(r, from); err != nil {
			return err
		}
		action := "issue"
		if resend {
			action = "resend-passcode"
		}
		if err := tx.Audit(event(operator, action, r, from, "passcode expires "+r.PasscodeExpires.Format(time.RFC3339))); err != nil {
			return err
		}
		out = &Authorisation{Ref: ref, Passcode: code, Expires: r.PasscodeExpires, Resent: resend, Storage: r.Storage}
		return nil
	}()
	return out, err
}
