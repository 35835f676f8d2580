package service

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// RenewInput asks for a new certificate on a new key, proving possession of
// the current one: Proof is ca.SignPossession(currentKey, "renew", Serial,
// SignedAt, CSR).
//
// Proof (and SignedAt) may be left out when the caller in the context is
// the certificate's holder: the Subscriber principal named by Serial, which
// a transport puts there only after authenticating the caller with that
// very certificate (EST simplereenroll: the TLS handshake's CertificateVerify
// proved possession of the current key).
type RenewInput struct {
	Serial   string
	CSR      []byte // DER, for the new key
	SignedAt time.Time
	Proof    []byte
	Comment  string

	// cmp is set for a CMP kur: the message was signed with the current
	// key (checked against the stored certificate) and the new key's POP
	// verified; CSR and Proof are unused.
	cmp *cmpPossession
}

// cmpPossession is proof by a CMP message's signature: csr carries the
// new public key, signer the certificate whose key signed the message.
type cmpPossession struct {
	csr    *x509.CertificateRequest
	signer *x509.Certificate
}

// isHolder reports whether p is the holder of certificate serial,
// authenticated by the transport with the certificate itself.
func isHolder(p principal.Principal, serial string) bool {
	if p.Kind != principal.Subscriber {
		return false
	}
	name, err := ra.ParseSerial(p.Name)
	return err == nil && name == serial
}

// RenewResult is a renewal: issued at once inside the renewal window,
// otherwise a request waiting for review.
type RenewResult struct {
	Ref         string   `json:"ref"`
	State       ra.State `json:"state"`
	OldSerial   string   `json:"old_serial"`
	AutoApprove bool     `json:"auto_approved"`
	Issued      *Issued  `json:"certificate,omitempty"`
}

// Renew is certificate renewal (证书更新). Inside the renewal window before
// expiry it is approved automatically and the new certificate is issued in
// the same transaction (seed 2.3: natural-expiry renewal submits itself).
// Outside it, it is a request for review; once approved, it is issued with
// a passcode like a new application.
//
// It is idempotent for one new key: if the certificate was already renewed
// and the CSR is for the key of the renewal certificate (a retry after the
// first answer was lost in a crash), the recorded certificate is returned
// again (Issued.Retrieved), provided the proof of possession by the current
// key verifies as usual. A different key gets "already renewed".
//
// Any caller may renew (the proof of possession is the authority); it is
// recorded as the submitter. Approval inside the window is by the System
// principal. Without a Proof only the certificate's holder may renew (see
// RenewInput); the rules are the same: renewal window, once per
// certificate, revoked and expired certificates refused.
func (s *Service) Renew(ctx context.Context, in RenewInput) (*RenewResult, error) {
	p, err := principal.Require(ctx, "")
	if err != nil {
		return nil, err
	}
	operator := p.String()
	serial, err := ra.ParseSerial(in.Serial)
	if err != nil {
		return nil, err
	}
	var csr *x509.CertificateRequest
	if in.cmp != nil {
		csr = in.cmp.csr
	} else if csr, err = ca.ParseCSR(in.CSR); err != nil {
		return nil, err
	}
	comment, err := ra.ValidateText("comment", in.Comment, 500, false)
	if err != nil {
		return nil, err
	}
	spki := spkiHash(csr.RawSubjectPublicKeyInfo)
	var cur *ra.Certificate
	var done *ra.Request
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if cur, err = tx.Certificate(serial); err != nil {
			return err
		}
		done, err = renewedBy(tx, serial)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.checkHolder(cur, now); err != nil {
		// A renewal already made may still be fetched again once the old
		// certificate has expired; a revoked one is refused.
		if done == nil || cur.StatusAt(now) != ra.CertExpired {
			return nil, err
		}
	}
	pol := s.Policy()
	possession := "proof of possession verified"
	switch {
	case in.cmp != nil:
		if !bytes.Equal(in.cmp.signer.Raw, cur.DER) {
			return nil, msg.Errorf("the message is not signed with certificate %s as the CA issued it: %w", serial, ra.ErrAuth)
		}
		possession = "CMP kur signed by the current key; proof of possession of the new key verified"
	case len(in.Proof) == 0 && isHolder(p, serial):
		possession = "possession proven by TLS client authentication with the certificate"
		operator = serial
	default:
		if len(in.Proof) == 0 {
			return nil, msg.Errorf("renewing %s needs a proof of possession of its key: sign one with that key, or authenticate with the certificate itself (EST simplereenroll over TLS): %w", serial, ra.ErrAuth)
		}
		if d := now.Sub(in.SignedAt); d > pol.ProofMaxAge || d < -pol.ProofMaxAge {
			return nil, msg.Errorf("the proof of possession was signed at %s, too far from now; check the clock and retry: %w", in.SignedAt.Format(time.RFC3339), ra.ErrAuth)
		}
		old, err := x509.ParseCertificate(cur.DER)
		if err != nil {
			return nil, err
		}
		if err := ca.VerifyPossession(old.PublicKey, "renew", serial, in.SignedAt, in.CSR, in.Proof); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ra.ErrAuth)
		}
	}
	if spki == cur.SPKISHA256 {
		return nil, msg.Errorf("renewal needs a new key; the CSR reuses the current one: %w", ra.ErrPolicy)
	}
	inWindow := !now.Before(cur.NotAfter.Add(-pol.RenewWindow))
	var authority *ca.CA
	if inWindow || done != nil {
		if authority, err = s.CA(ctx); err != nil {
			return nil, msg.Errorf("load CA: %w", err)
		}
	}
	var out *RenewResult
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		// Checked again inside the transaction: a concurrent renewal may
		// have completed since the read above.
		if done, err := renewedBy(tx, serial); err != nil {
			return err
		} else if done != nil {
			if authority == nil {
				if authority, err = s.CA(ctx); err != nil {
					return msg.Errorf("load CA: %w", err)
				}
			}
			out, err = renewedAgain(tx, authority, done, serial, spki)
			return err
		}
		src, err := tx.Request(cur.RequestRef)
		if err != nil {
			return err
		}
		if open, err := tx.OpenRequestFor(serial, ra.KindRenew, ra.KindRevoke, ra.KindReissue); err != nil {
			return err
		} else if open != nil {
			return ra.WithCode(CodeOpenRequest, msg.Errorf("certificate %s already has an open %s request %s (%s): %w", serial, open.Kind, open.Ref, open.State, ra.ErrConflict),
				"serial", serial, "kind", string(open.Kind), "ref", open.Ref, "state", string(open.State))
		}
		r := derived(src, ra.KindRenew, serial, operator, tx.Now())
		r.Comment = comment
		if err := insertFor(tx, r); err != nil {
			return err
		}
		if err := tx.Audit(event(operator, "renew", r, "", possession)); err != nil {
			return err
		}
		out = &RenewResult{Ref: r.Ref, State: r.State, OldSerial: serial}
		if !inWindow {
			return nil
		}
		if _, err := s.approve(tx, principal.SystemPrincipal(), r, "inside the renewal window"); err != nil {
			return err
		}
		c, err := s.signVerified(tx, authority, r, csr, in.cmp != nil)
		if err != nil {
			return err
		}
		r.State, r.CertSerial = ra.StateCompleted, c.Serial
		if err := tx.UpdateRequest(r, ra.StateApproved); err != nil {
			return err
		}
		if err := tx.Audit(event("system", "renew-issue", r, ra.StateApproved, "serial="+c.Serial)); err != nil {
			return err
		}
		out.State, out.AutoApprove, out.Issued = r.State, true, issuedFrom(r, c, authority)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Issued != nil && !out.Issued.Retrieved {
		s.checkpoint(ctx, authority)
	}
	return out, nil
}

// CodeOpenRequest is the code of Renew's conflict with a request already
// open on the certificate (params: serial, kind, ref, state); EST
// simplereenroll answers a retry of a renewal waiting for review with it.
const CodeOpenRequest = "request.open"

// renewedAgain answers a renewal of a certificate that was already renewed
// (request done). A CSR for the renewal certificate's own key is a retry
// whose answer was lost: it gets the recorded certificate again. Any other
// key gets a conflict. Like a download fetched again, this writes nothing
// (no audit event either): no state changes, the certificate is public, and
// only the holder of the new key can use it.
func renewedAgain(tx *store.Tx, authority *ca.CA, done *ra.Request, serial, spki string) (*RenewResult, error) {
	c, err := tx.Certificate(done.CertSerial)
	if err != nil {
		return nil, err
	}
	if c.SPKISHA256 != spki {
		return nil, msg.Errorf("certificate %s was already renewed as %s (request %s); renew that certificate instead (an interrupted renewal is finished only with the new key it saved): %w", serial, done.CertSerial, done.Ref, ra.ErrConflict)
	}
	issued := issuedFrom(done, c, authority)
	issued.Retrieved = true
	return &RenewResult{Ref: done.Ref, State: done.State, OldSerial: serial, AutoApprove: done.DecidedBy == "system", Issued: issued}, nil
}

// renewedBy returns the completed renewal of a certificate, if any: a
// certificate is renewed once; its successor is renewed after that.
func renewedBy(tx *store.Tx, serial string) (*ra.Request, error) {
	rs, err := tx.Requests(store.RequestFilter{Serial: serial, Kinds: []ra.Kind{ra.KindRenew}, States: []ra.State{ra.StateCompleted}})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.TargetSerial == serial {
			return r, nil
		}
	}
	return nil, nil
}

// checkHolder refuses management of certificates that are revoked or
// expired.
func (s *Service) checkHolder(c *ra.Certificate, now time.Time) error {
	switch c.StatusAt(now) {
	case ra.CertRevoked:
		return msg.Errorf("certificate %s was revoked on %s (%s); revocation is permanent, apply for a new certificate: %w", c.Serial, c.RevokedAt.Format(time.DateOnly), c.RevocationReason, ra.ErrConflict)
	case ra.CertExpired:
		return msg.Errorf("certificate %s expired on %s; apply for a new certificate: %w", c.Serial, c.NotAfter.Format(time.DateOnly), ra.ErrConflict)
	}
	return nil
}

// derived makes a request acting on a certificate, copying the identity of
// the request that produced it.
func derived(src *ra.Request, kind ra.Kind, serial, operator string, now time.Time) *ra.Request {
	return &ra.Request{Kind: kind, State: ra.StateSubmitted, Applicant: src.Applicant, Agent: src.Agent, UsageType: src.UsageType,
		AcceptancePoint: src.AcceptancePoint, Storage: src.Storage, AgreementVersion: src.AgreementVersion, TargetSerial: serial,
		SubmittedBy: operator, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
}

func insertFor(tx *store.Tx, r *ra.Request) error {
	id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
	if err != nil {
		return err
	}
	return insertWithRef(tx, r, id)
}

// RevokeInput asks for revocation (证书作废).
type RevokeInput struct {
	Serial  string
	Reason  string // RFC 5280 reason name
	Comment string
	// Proof, when set, is ca.SignPossession(key, "revoke", Serial, SignedAt,
	// []byte(Reason)): the holder proved possession, which the reviewer sees.
	Proof    []byte
	SignedAt time.Time
	// cmp is set for a CMP rr: the message was signed with the key of
	// the certificate to revoke (compared with the stored certificate).
	cmp *cmpPossession
	// Direct is passive revocation by an operator (seed 2.4): the request is
	// recorded and approved at once. It needs a Comment as justification.
	Direct bool
}

// RevokeResult is a revocation request and, if direct, its effect.
type RevokeResult struct {
	Ref     string    `json:"ref"`
	State   ra.State  `json:"state"`
	Serial  string    `json:"serial"`
	Reason  string    `json:"reason"`
	Revoked bool      `json:"revoked"`
	At      time.Time `json:"revoked_at,omitzero"`
}

// Revoke records a revocation request; it takes effect when an operator
// approves it, or at once when Direct. Any caller may ask; Direct needs the
// revoker role. Possession of the key is recorded as proven (for the
// reviewer) by a signed Proof, a CMP rr signed with the key, or a caller
// who is the certificate's holder (see isHolder); never otherwise.
func (s *Service) Revoke(ctx context.Context, in RevokeInput) (*RevokeResult, error) {
	need := principal.Role("")
	if in.Direct {
		need = principal.Revoker
	}
	p, err := principal.Require(ctx, need)
	if err != nil {
		return nil, err
	}
	operator := p.String()
	serial, err := ra.ParseSerial(in.Serial)
	if err != nil {
		return nil, err
	}
	reason, err := ra.ParseRevocationReason(in.Reason)
	if err != nil {
		return nil, err
	}
	if in.Direct && strings.TrimSpace(in.Comment) == "" {
		return nil, ra.Fieldf("comment", "direct revocation by an operator needs a justification")
	}
	comment, err := ra.ValidateText("comment", in.Comment, 500, in.Direct)
	if err != nil {
		return nil, err
	}
	var out *RevokeResult
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		c, err := tx.Certificate(serial)
		if err != nil {
			return err
		}
		if err := s.checkHolder(c, tx.Now()); err != nil {
			return err
		}
		detail := "reason=" + string(reason)
		proven := true
		if in.Proof != nil {
			old, err := x509.ParseCertificate(c.DER)
			if err != nil {
				return err
			}
			if err := ca.VerifyPossession(old.PublicKey, "revoke", serial, in.SignedAt, []byte(reason), in.Proof); err != nil {
				return fmt.Errorf("%v: %w", err, ra.ErrAuth)
			}
			detail += " possession=proven"
		} else if in.cmp != nil {
			if !bytes.Equal(in.cmp.signer.Raw, c.DER) {
				return msg.Errorf("the revocation request is not signed with certificate %s as the CA issued it: %w", serial, ra.ErrAuth)
			}
			detail += " possession=proven (CMP rr signed by the certificate's key)"
		} else if isHolder(p, serial) {
			detail += " possession=proven (TLS client authentication with the certificate)"
		} else {
			proven = false
		}
		if open, err := tx.OpenRequestFor(serial, ra.KindRevoke); err != nil {
			return err
		} else if open != nil {
			return msg.Errorf("certificate %s already has a revocation request %s waiting for review: %w", serial, open.Ref, ra.ErrConflict)
		}
		var record func(ref string) error
		if !proven && countsForCertLimit(p) {
			if record, err = checkCertLimit(tx, serial); err != nil {
				return err
			}
		}
		src, err := tx.Request(c.RequestRef)
		if err != nil {
			return err
		}
		r := derived(src, ra.KindRevoke, serial, operator, tx.Now())
		r.Reason, r.Comment = string(reason), comment
		if err := insertFor(tx, r); err != nil {
			return err
		}
		if record != nil {
			if err := record(r.Ref); err != nil {
				return err
			}
		}
		if err := tx.Audit(event(operator, "revoke-request", r, "", detail)); err != nil {
			return err
		}
		out = &RevokeResult{Ref: r.Ref, State: r.State, Serial: serial, Reason: string(reason)}
		testhook.Point("revoke:recorded") // request and audit written, not yet committed
		if in.Direct {
			if _, err := s.approve(tx, p, r, "direct revocation: "+comment); err != nil {
				return err
			}
			out.State, out.Revoked, out.At = r.State, true, tx.Now().UTC().Truncate(time.Second)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReissueInput asks for a replacement of a lost or damaged certificate
// (证书补办). The certificate is named by serial or by the reference of the
// request that produced it.
type ReissueInput struct {
	Serial  string
	Ref     string
	Reason  string // lost or damaged
	Comment string
}

// Reissue records a reissue request. On approval the old certificate is
// revoked (lost: keyCompromise; damaged: superseded) and the request is
// issued like a new one: new passcode, new key, new serial.
// Any caller may ask; an operator reviews it.
func (s *Service) Reissue(ctx context.Context, in ReissueInput) (*RevokeResult, error) {
	p, err := principal.Require(ctx, "")
	if err != nil {
		return nil, err
	}
	operator := p.String()
	reason, err := ra.ParseReissueReason(in.Reason)
	if err != nil {
		return nil, err
	}
	comment, err := ra.ValidateText("comment", in.Comment, 500, false)
	if err != nil {
		return nil, err
	}
	var serial string
	if in.Serial != "" {
		if serial, err = ra.ParseSerial(in.Serial); err != nil {
			return nil, err
		}
	} else if in.Ref == "" {
		return nil, ra.Fieldf("serial", "name the certificate by its serial number or its request's reference number")
	}
	var out *RevokeResult
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		if serial == "" {
			orig, err := tx.Request(in.Ref)
			if err != nil {
				return err
			}
			if orig.CertSerial == "" {
				return msg.Errorf("request %s has no certificate yet (it is %s); nothing to reissue: %w", orig.Ref, orig.State, ra.ErrConflict)
			}
			serial = orig.CertSerial
		}
		c, err := tx.Certificate(serial)
		if err != nil {
			return err
		}
		if err := s.checkHolder(c, tx.Now()); err != nil {
			return err
		}
		if open, err := tx.OpenRequestFor(serial, ra.KindReissue, ra.KindRenew); err != nil {
			return err
		} else if open != nil {
			return msg.Errorf("certificate %s already has an open %s request %s (%s): %w", serial, open.Kind, open.Ref, open.State, ra.ErrConflict)
		}
		// A reissue carries no proof of possession (the key is lost or
		// broken); only the holder logged in with the certificate itself
		// has shown they hold it.
		var record func(ref string) error
		if !isHolder(p, serial) && countsForCertLimit(p) {
			if record, err = checkCertLimit(tx, serial); err != nil {
				return err
			}
		}
		src, err := tx.Request(c.RequestRef)
		if err != nil {
			return err
		}
		r := derived(src, ra.KindReissue, serial, operator, tx.Now())
		r.Reason, r.Comment = string(reason), comment
		if err := insertFor(tx, r); err != nil {
			return err
		}
		if record != nil {
			if err := record(r.Ref); err != nil {
				return err
			}
		}
		if err := tx.Audit(event(operator, "reissue-request", r, "", "reason="+string(reason))); err != nil {
			return err
		}
		out = &RevokeResult{Ref: r.Ref, State: r.State, Serial: serial, Reason: string(reason)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
