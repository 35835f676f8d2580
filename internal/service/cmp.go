package service

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/cmp"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// CMP timings.
const (
	// CMPConfirmWait is how long an enrolment waits for its certConf.
	// Afterwards the transaction is closed as unconfirmed (the certificate
	// is kept) and the encrypted passcode it held is dropped.
	CMPConfirmWait = 15 * time.Minute
	// cmpNonceKeep is how long senderNonces are remembered: far longer
	// than any clock skew the handler accepts.
	cmpNonceKeep = 24 * time.Hour
)

// CMPBackend serves the CMP handler (internal/cmp) from the service: the
// same download, renewal and revocation paths as the commands.
type CMPBackend struct{ s *Service }

// CMP returns the service's CMP backend.
func (s *Service) CMP() *CMPBackend { return &CMPBackend{s: s} }

var _ cmp.Backend = (*CMPBackend)(nil)

// cmpAuth checks a CMP enrolment's MAC with the request's stored
// (encrypted) passcode instead of a typed passcode.
type cmpAuth struct {
	check func(tx *store.Tx, r *ra.Request) (bool, error)
}

// passcodeSecrets are the byte strings a client may have used as the MAC
// secret for a passcode: as displayed (7KQ3-PZ4M-...) or without dashes,
// upper case. docs/protocols.md tells users to type it as shown.
func passcodeSecrets(passcode string) [][]byte {
	out := [][]byte{[]byte(passcode)}
	if n := ra.NormalizePasscode(passcode); n != passcode {
		out = append(out, []byte(n))
	}
	return out
}

// failure maps a service error to a CMP failure bit.
func cmpFailure(err error) error {
	var f *cmp.Failure
	switch {
	case err == nil || errors.As(err, &f):
		return err
	case errors.Is(err, store.ErrReplay):
		if strings.Contains(err.Error(), "transactionID") {
			return cmp.Fail(cmp.TransactionIDInUse, err)
		}
		return cmp.Fail(cmp.BadSenderNonce, err)
	case errors.Is(err, ra.ErrAuth):
		return cmp.Fail(cmp.NotAuthorized, err)
	case errors.Is(err, ra.ErrNotFound):
		return cmp.Fail(cmp.BadRequest, err)
	case errors.Is(err, ra.ErrConflict):
		return cmp.Fail(cmp.BadRequest, err)
	case errors.Is(err, ra.ErrPolicy):
		return cmp.Fail(cmp.NotAuthorized, err)
	case errors.Is(err, ra.ErrInvalid):
		return cmp.Fail(cmp.BadCertTemplate, err)
	}
	return err
}

// sweepDue says whether a sweep is due: at most one a minute, so that an
// enrolment costs one store transaction, not two.
func (b *CMPBackend) sweepDue() bool {
	now := b.s.Now().Unix()
	last := b.s.cmpSweptAt.Load()
	return now-last >= 60 && b.s.cmpSweptAt.CompareAndSwap(last, now)
}

func (b *CMPBackend) sweep(tx *store.Tx) error {
	now := tx.Now()
	return tx.SweepCMP(now.Add(-cmpNonceKeep), now.Add(-CMPConfirmWait), b.s.Policy().MaxPasscodeAttempts)
}

// chain is the CA's certificates for extraCerts (issuer first) and the
// trust anchor for caPubs.
func chain(authority *ca.CA) (extra [][]byte, anchor []byte) {
	extra = [][]byte{authority.Cert.Raw}
	anchor = authority.Cert.Raw
	for _, c := range authority.Chain {
		extra = append(extra, c.Raw)
		anchor = c.Raw
	}
	return extra, anchor
}

// Enrol is an ir, cr or p10cr: the download of an issued request, with the
// passcode proven by the message's MAC instead of typed. A wrong MAC counts
// against the passcode's attempts exactly as a wrong passcode does. Only
// the public key of the request is used.
func (b *CMPBackend) Enrol(ctx context.Context, in *cmp.EnrolRequest) (*cmp.Result, error) {
	s := b.s
	ref := strings.ToUpper(strings.TrimSpace(in.Ref))
	// The caller: a Subscriber named by the reference number, which the
	// MAC checked below authenticates.
	ctx = principal.With(ctx, principal.Principal{Kind: principal.Subscriber, Name: ref})
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, msg.Errorf("load CA: %w", err)
	}
	csr := in.Request.CSR
	if csr == nil {
		csr = &x509.CertificateRequest{PublicKey: in.Request.PublicKey, RawSubjectPublicKeyInfo: in.Request.RawSPKI}
	}
	spki := spkiHash(csr.RawSubjectPublicKeyInfo)
	res := &cmp.Result{}
	var box []byte
	var authErr error
	var out *Issued
	// The KEK that opens the stored passcode, checked against the store's
	// record: a home with another key is refused before anything is
	// written (no attempt counted, no nonce).
	if _, err := s.LoadPasscodeKEK(ctx, false); err != nil {
		return nil, cmpFailure(err)
	}
	// Swept in its own transaction: the enrolment's may roll back.
	if b.sweepDue() {
		if err := s.store.Tx(ctx, b.sweep); err != nil {
			return nil, err
		}
	}
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		t := &store.CMPTransaction{ID: in.TransactionID, Kind: in.Type.String(), Ref: ref, State: "failed"}
		if err := tx.BeginCMPTransaction(t); err != nil {
			return err
		}
		if err := tx.SeeNonce(in.SenderNonce); err != nil {
			return err
		}
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		if r.State == ra.StateCompleted && r.PasscodeUsed {
			// Said before the MAC is checked (the encrypted passcode is
			// gone), so it names no serial.
			return msg.Errorf("the passcode of %s was already used; a CMP enrolment cannot be repeated: if the certificate was lost, its holder can ask for a reissue: %w", ref, ra.ErrConflict)
		}
		auth := &cmpAuth{check: func(tx *store.Tx, r *ra.Request) (bool, error) {
			var err error
			if box, err = tx.PasscodeBox(r.Ref); err != nil {
				return false, err
			}
			if box == nil {
				return false, msg.Errorf("request %s has no passcode stored for CMP (issued before CMP was set up, or its key file was replaced); the acceptance point can issue a new passcode: %w", r.Ref, ra.ErrConflict)
			}
			passcode, err := s.openPasscode(r.Ref, box)
			if err != nil {
				return false, err
			}
			for _, secret := range passcodeSecrets(passcode) {
				if in.CheckMAC(secret) {
					res.Secret = secret
					return true, nil
				}
			}
			return false, nil
		}}
		out, authErr, err = s.downloadTx(tx, authority, DownloadInput{Ref: ref, cmp: auth}, csr, spki)
		if err != nil {
			return err
		}
		if authErr != nil { // a wrong MAC: the attempt count and the nonce are committed
			return tx.SweepPasscodeBoxes(s.Policy().MaxPasscodeAttempts) // locked now? then the box goes
		}
		t.Serial, t.State = out.Serial, "waiting"
		if in.ImplicitConfirm {
			t.State, res.ImplicitConfirm = "confirmed", true
		} else {
			t.PasscodeBox = box // kept encrypted until the certConf, which is MACed with it
		}
		return tx.UpdateCMPTransaction(t)
	})
	if err == nil && authErr != nil {
		return nil, cmp.Fail(cmp.BadMessageCheck, authErr) // "wrong passcode for REF (n attempts left) ..."
	}
	if err != nil {
		if res.Secret == nil {
			return nil, cmpFailure(err)
		}
		return res, cmpFailure(err)
	}
	res.Cert = out.Certificate
	extra, anchor := chain(authority)
	res.ExtraCerts, res.CAPubs = extra, [][]byte{anchor}
	return res, nil
}

// subscriberBySerial puts the caller of a signed CMP request in ctx: a
// Subscriber named by the serial of the certificate that signed it (the
// name the audit log records).
func subscriberBySerial(ctx context.Context, serial string) context.Context {
	return principal.With(ctx, principal.Principal{Kind: principal.Subscriber, Name: serial})
}

// signerSerial finds the stored certificate of a CMP message's signer.
func (b *CMPBackend) signerSerial(ctx context.Context, signer *x509.Certificate) (string, error) {
	authority, err := b.s.CA(ctx)
	if err != nil {
		return "", msg.Errorf("load CA: %w", err)
	}
	if err := signer.CheckSignatureFrom(authority.Cert); err != nil {
		return "", cmp.Fail(cmp.SignerNotTrusted, fmt.Errorf("the signer's certificate was not issued by this CA"))
	}
	return ra.SerialString(signer.SerialNumber), nil
}

// begin records a new signature-protected transaction and its nonce, in
// their own store transaction, before the work: a message refused later
// still cannot be replayed.
func (b *CMPBackend) begin(ctx context.Context, ex cmp.Exchange, kind, serial string) error {
	return b.s.store.Tx(ctx, func(tx *store.Tx) error {
		if b.sweepDue() {
			if err := b.sweep(tx); err != nil {
				return err
			}
		}
		if err := tx.BeginCMPTransaction(&store.CMPTransaction{ID: ex.TransactionID, Kind: kind, SignerSerial: serial, State: "failed"}); err != nil {
			return err
		}
		return tx.SeeNonce(ex.SenderNonce)
	})
}

func (b *CMPBackend) finish(ctx context.Context, id []byte, update func(t *store.CMPTransaction)) error {
	return b.s.store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.CMPTransaction(id)
		if err != nil {
			return err
		}
		update(t)
		return tx.UpdateCMPTransaction(t)
	})
}

// Update is a kur: renewal through Renew, proven by the message's
// signature with the current key. Outside the renewal window nothing is
// filed: the client is told when it may renew.
func (b *CMPBackend) Update(ctx context.Context, in *cmp.UpdateRequest) (*cmp.Result, error) {
	s := b.s
	serial, err := b.signerSerial(ctx, in.Signer)
	if err != nil {
		return nil, cmpFailure(err)
	}
	if err := b.begin(ctx, in.Exchange, "kur", serial); err != nil {
		return nil, cmpFailure(err)
	}
	res := &cmp.Result{Signed: true}
	if window := s.Policy().RenewWindow; s.Now().Before(in.Signer.NotAfter.Add(-window)) {
		return res, cmp.Fail(cmp.NotAuthorized, msg.Errorf("certificate %s may be renewed over CMP from %s (%s before it expires); before that, a renewal is a request an operator reviews: %w",
			serial, in.Signer.NotAfter.Add(-window).Format(time.DateOnly), window, ra.ErrPolicy))
	}
	csr := &x509.CertificateRequest{PublicKey: in.Request.PublicKey, RawSubjectPublicKeyInfo: in.Request.RawSPKI}
	out, err := s.Renew(subscriberBySerial(ctx, serial), RenewInput{Serial: serial, cmp: &cmpPossession{csr: csr, signer: in.Signer}})
	if err != nil {
		return res, cmpFailure(err)
	}
	if out.Issued == nil {
		return res, cmp.Fail(cmp.NotAuthorized, fmt.Errorf("renewal %s of %s waits for review (%s)", out.Ref, serial, out.State))
	}
	if out.Issued.Retrieved {
		return res, cmp.Fail(cmp.DuplicateCertReq, fmt.Errorf("certificate %s was already renewed as %s", serial, out.Issued.Serial))
	}
	err = b.finish(ctx, in.TransactionID, func(t *store.CMPTransaction) {
		t.Ref, t.Serial, t.State = out.Ref, out.Issued.Serial, "waiting"
		if in.ImplicitConfirm {
			t.State, res.ImplicitConfirm = "confirmed", true
		}
	})
	if err != nil {
		return res, err
	}
	authority, err := s.CA(ctx)
	if err != nil {
		return res, err
	}
	res.Cert = out.Issued.Certificate
	extra, anchor := chain(authority)
	res.ExtraCerts, res.CAPubs = extra, [][]byte{anchor}
	return res, nil
}

// Revoke is an rr signed by the key of the certificate to revoke: a
// revocation request through Revoke, filed for review like `cmca revoke`
// by the holder (the stored policy decides whether it takes effect at
// once).
func (b *CMPBackend) Revoke(ctx context.Context, in *cmp.RevokeRequest) (*cmp.Result, error) {
	s := b.s
	serial, err := b.signerSerial(ctx, in.Signer)
	if err != nil {
		return nil, cmpFailure(err)
	}
	if err := b.begin(ctx, in.Exchange, "rr", serial); err != nil {
		return nil, cmpFailure(err)
	}
	res := &cmp.Result{Signed: true}
	if in.Serial != serial {
		return res, cmp.Fail(cmp.NotAuthorized, fmt.Errorf("an rr must be signed with the key of the certificate it revokes (%s), not of %s", in.Serial, serial))
	}
	reason := ra.RevocationReason("unspecified")
	if in.Reason >= 0 {
		reason = ""
		for _, r := range ra.RevocationReasons {
			if r.Code() == in.Reason {
				reason = r
			}
		}
		if reason == "" {
			return res, cmp.Fail(cmp.BadRequest, fmt.Errorf("revocation reason %d is not accepted (revocation is permanent; certificateHold is not offered)", in.Reason))
		}
	}
	out, err := s.Revoke(subscriberBySerial(ctx, serial), RevokeInput{Serial: serial, Reason: string(reason), cmp: &cmpPossession{signer: in.Signer}})
	if err != nil {
		return res, cmpFailure(err)
	}
	if out.Revoked {
		res.Text = fmt.Sprintf("certificate %s revoked (%s)", serial, reason)
	} else {
		res.Text = fmt.Sprintf("revocation request %s for certificate %s filed (%s); it takes effect when an operator approves it", out.Ref, serial, reason)
	}
	if err := b.finish(ctx, in.TransactionID, func(t *store.CMPTransaction) { t.Ref, t.Serial, t.State = out.Ref, serial, "done" }); err != nil {
		return res, err
	}
	return res, nil
}

// Confirm is a certConf. Accepted: the transaction is closed. Rejected:
// the client will not use the certificate, which is revoked at once with
// reason cessationOfOperation (docs/protocols.md explains why).
func (b *CMPBackend) Confirm(ctx context.Context, in *cmp.ConfirmRequest) (*cmp.Result, error) {
	s := b.s
	res := &cmp.Result{}
	var failure error
	if in.CheckMAC != nil { // MACed with the passcode of the enrolment
		if _, err := s.LoadPasscodeKEK(ctx, false); err != nil {
			return nil, cmpFailure(err)
		}
	}
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.SeeNonce(in.SenderNonce); err != nil {
			return err // rolled back unless authenticated below
		}
		t, err := tx.CMPTransaction(in.TransactionID)
		if err != nil {
			return cmp.Fail(cmp.BadRequest, fmt.Errorf("no enrolment with this transactionID is waiting for a certConf"))
		}
		// Authenticate as the transaction was: the same passcode, or the
		// same signer.
		switch {
		case in.CheckMAC != nil && t.PasscodeBox != nil:
			passcode, err := s.openPasscode(t.Ref, t.PasscodeBox)
			if err != nil {
				return err
			}
			for _, secret := range passcodeSecrets(passcode) {
				if in.CheckMAC(secret) {
					res.Secret = secret
				}
			}
			if res.Secret == nil {
				return cmp.Fail(cmp.BadMessageCheck, fmt.Errorf("the certConf's MAC does not verify with the passcode of %s", t.Ref))
			}
		case in.Signer != nil && t.SignerSerial != "":
			if ra.SerialString(in.Signer.SerialNumber) != t.SignerSerial {
				return cmp.Fail(cmp.NotAuthorized, fmt.Errorf("the certConf is not signed by the certificate that signed the request"))
			}
			res.Signed = true
		case in.CheckMAC == nil && in.Signer == nil:
			return cmp.Fail(cmp.NotAuthorized, fmt.Errorf("the certConf is not protected"))
		default:
			return cmp.Fail(cmp.NotAuthorized, fmt.Errorf("the certConf is not protected as its transaction was, or came after %s", CMPConfirmWait))
		}
		if t.State != "waiting" {
			failure = cmp.Fail(cmp.CertConfirmed, fmt.Errorf("the transaction is %s, not waiting for a certConf", t.State))
			return nil
		}
		if len(in.Statuses) != 1 {
			failure = cmp.Fail(cmp.BadRequest, fmt.Errorf("the certConf must confirm exactly the one certificate issued"))
			return nil
		}
		c, err := tx.Certificate(t.Serial)
		if err != nil {
			return err
		}
		st := in.Statuses[0]
		if !certHashMatches(c.DER, st.CertHash) {
			failure = cmp.Fail(cmp.BadCertID, fmt.Errorf("the certHash does not match certificate %s", c.Serial))
			return nil
		}
		t.PasscodeBox = nil
		if !st.Rejected() {
			t.State = "confirmed"
			return tx.UpdateCMPTransaction(t)
		}
		t.State = "rejected"
		if err := tx.UpdateCMPTransaction(t); err != nil {
			return err
		}
		r, err := tx.Request(c.RequestRef)
		if err != nil {
			return err
		}
		why := st.StatusInfo.Text()
		if err := tx.Audit(event("subscriber", "cmp-cert-rejected", r, r.State, fmt.Sprintf("serial=%s %s", c.Serial, why))); err != nil {
			return err
		}
		return revokeCert(tx, principal.SystemPrincipal().String(), r, c.Serial, "cessationOfOperation", tx.Now())
	})
	if err == nil {
		err = failure
	}
	if err != nil {
		if res.Secret == nil && !res.Signed {
			return nil, cmpFailure(err)
		}
		return res, cmpFailure(err)
	}
	return res, nil
}

// certHashMatches compares a certConf certHash with the certificate: the
// hash of its signature algorithm (RFC 4210 §5.3.18), SHA-256 otherwise.
func certHashMatches(der, got []byte) bool {
	cert, err := x509.ParseCertificate(der)
	h := crypto.SHA256
	if err == nil {
		switch cert.SignatureAlgorithm {
		case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
			h = crypto.SHA384
		case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
			h = crypto.SHA512
		}
	}
	d := h.New()
	d.Write(der)
	want := d.Sum(nil)
	if subtle.ConstantTimeCompare(want, got) == 1 {
		return true
	}
	alt := sha256.Sum256(der)
	return subtle.ConstantTimeCompare(alt[:], got) == 1
}

// ResponseSigner signs responses to signed requests with the CA key.
func (b *CMPBackend) ResponseSigner(ctx context.Context) (crypto.Signer, []*x509.Certificate, error) {
	authority, err := b.s.CA(ctx)
	if err != nil {
		return nil, nil, err
	}
	return authority.Signer, append([]*x509.Certificate{authority.Cert}, authority.Chain...), nil
}
