package service

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"strconv"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// DownloadInput is what a subscriber sends to collect a certificate: the
// reference, the passcode, and a CSR signed by the key they generated.
type DownloadInput struct {
	Ref      string
	Passcode string
	CSR      []byte // DER
	Storage  ra.Storage

	// cmp, when set, replaces the passcode check by a CMP message's
	// password-based MAC check; the POP was verified by the caller.
	cmp *cmpAuth
}

// Issued is a certificate handed to its subscriber.
type Issued struct {
	Ref         string     `json:"ref"`
	Serial      string     `json:"serial"`
	Subject     string     `json:"subject"`
	NotBefore   time.Time  `json:"not_before"`
	NotAfter    time.Time  `json:"not_after"`
	UsageType   string     `json:"usage_type"`
	Storage     ra.Storage `json:"storage"`
	Retrieved   bool       `json:"retrieved,omitempty"` // an earlier download's certificate, fetched again for the same key
	Certificate []byte     `json:"-"`                   // DER
	Chain       [][]byte   `json:"-"`                   // DER, issuer first
}

// Download consumes the passcode of an issued request and signs the CSR.
//
// It is idempotent for one key: if the request was completed by an earlier
// download whose output was lost (a crash after signing), the same passcode
// with a CSR for the same public key returns the recorded certificate. A
// different key gets "passcode already used". Malformed CSRs and CSRs whose
// signature does not verify are refused before the passcode is looked at,
// so they cost no attempt. Concurrent calls share one transaction (group
// commit, groupcommit.go); each returns once its own record is committed.
func (s *Service) Download(ctx context.Context, in DownloadInput) (*Issued, error) {
	if err := ra.ValidatePasscodeFormat(in.Passcode); err != nil {
		return nil, err
	}
	if in.Storage != "" {
		st, err := ra.ParseStorage(string(in.Storage))
		if err != nil {
			return nil, err
		}
		in.Storage = st
	}
	csr, err := ca.ParseCSR(in.CSR)
	if err != nil {
		return nil, err
	}
	s.signers <- struct{}{}
	err = ca.CheckCSRSignature(csr)
	<-s.signers
	if err != nil {
		return nil, err
	}
	authority, err := s.CA(ctx)
	if err != nil {
		return nil, msg.Errorf("load CA: %w", err)
	}
	it := &groupItem{in: in, csr: csr, spki: spkiHash(csr.RawSubjectPublicKeyInfo), signed: s.presign(ctx, authority, in, csr)}
	return s.downloadGrouped(ctx, authority, it)
}

// downloadTx is Download's work inside the caller's transaction (Download,
// DownloadMany). A wrong passcode comes back as authErr with a nil err: the
// caller commits the attempt count, then reports it.
func (s *Service) downloadTx(tx *store.Tx, authority *ca.CA, in DownloadInput, csr *x509.CertificateRequest, spki string) (out *Issued, authErr error, err error) {
	out, job, authErr, err := s.downloadCheck(tx, authority, in, csr, spki, false)
	if err != nil || authErr != nil || out != nil {
		return out, authErr, err
	}
	if err := job.issue(authority, s.cfg.Extras()); err != nil {
		return nil, nil, err
	}
	out, err = s.downloadRecord(tx, authority, job)
	return out, nil, err
}

// downloadCheck is the first part of downloadTx: everything before the CA
// signs. It returns the recorded certificate again (out) for a retry with
// the same key, authErr for a wrong passcode (the attempt is counted in
// tx), or a job ready to sign. Nothing is written unless the passcode is
// wrong, and that under its own savepoint, so a caller needs none around
// the check. csrVerified says the CSR's signature was already checked.
func (s *Service) downloadCheck(tx *store.Tx, authority *ca.CA, in DownloadInput, csr *x509.CertificateRequest, spki string, csrVerified bool) (out *Issued, job *signJob, authErr error, err error) {
	r, pc, err := tx.RequestWithPasscode(in.Ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if r.State == ra.StateCompleted && r.PasscodeUsed {
		if ok, err := s.passcodeMatches(tx, r, pc.Hash, in); err != nil {
			return nil, nil, nil, err
		} else if !ok {
			return nil, nil, nil, ra.WithCode("passcode.wrong", msg.Errorf("the passcode of %s was already used and this one does not match it: %w", r.Ref, ra.ErrAuth), "ref", r.Ref, "attempts_left", "0")
		}
		c, err := tx.Certificate(r.CertSerial)
		if err != nil {
			return nil, nil, nil, err
		}
		if c.SPKISHA256 != spki {
			return nil, nil, nil, ra.WithCode("passcode.used", msg.Errorf("the passcode of %s was already used to download certificate %s; if that certificate was lost, its holder can ask for a reissue: %w", r.Ref, c.Serial, ra.ErrConflict), "ref", r.Ref, "serial", c.Serial)
		}
		out = issuedFrom(r, c, authority)
		out.Retrieved = true
		return out, nil, nil, nil
	}
	if r.State != ra.StateIssued {
		switch r.State {
		case ra.StateSubmitted, ra.StateApproved:
			return nil, nil, nil, msg.Errorf("request %s is %s: no download passcode has been issued yet; the passcode comes from the acceptance point once an operator has approved and issued the request: %w", r.Ref, r.State, ra.ErrConflict)
		case ra.StateRejected:
			return nil, nil, nil, msg.Errorf("request %s was rejected (%s); correct what the reason says and apply again: %w", r.Ref, r.DecisionReason, ra.ErrConflict)
		}
		return nil, nil, nil, msg.Errorf("request %s is %s and has nothing to download; its history says why: %w", r.Ref, r.State, ra.ErrConflict)
	}
	// A lock is stored state: raising the limit later does not lift it;
	// lowering it locks what already reached the new limit.
	maxAttempts := s.Policy().MaxPasscodeAttempts
	if pc.Locked || r.PasscodeAttempts >= maxAttempts {
		return nil, nil, nil, ra.WithCode("passcode.locked", msg.Errorf("the passcode of %s is locked after %d wrong attempts; the acceptance point can issue a new one: %w", r.Ref, r.PasscodeAttempts, ra.ErrAuth), "ref", r.Ref, "attempts", strconv.Itoa(r.PasscodeAttempts))
	}
	now := tx.Now()
	if now.After(r.PasscodeExpires) {
		expired := r.PasscodeExpires.Local().Format(time.DateTime)
		return nil, nil, nil, ra.WithCode("passcode.expired", msg.Errorf("the passcode of %s expired on %s; the acceptance point can issue a new one: %w", r.Ref, expired, ra.ErrAuth), "ref", r.Ref, "expired", expired)
	}
	if ok, err := s.passcodeMatches(tx, r, pc.Hash, in); err != nil {
		return nil, nil, nil, err
	} else if !ok {
		left := maxAttempts - r.PasscodeAttempts - 1
		// The check's only writes, under their own savepoint: a caller
		// running the check outside one (downloadItems) keeps nothing
		// half written.
		err := tx.Item(func() error {
			r.PasscodeAttempts++
			if err := tx.UpdateRequest(r, r.State); err != nil {
				return err
			}
			if err := tx.Audit(event("subscriber", "passcode-failed", r, r.State, fmt.Sprintf("attempt %d of %d", r.PasscodeAttempts, maxAttempts))); err != nil {
				return err
			}
			if left <= 0 {
				return tx.LockPasscode(r.Ref)
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
		if left <= 0 {
			authErr = ra.WithCode("passcode.wrong", msg.Errorf("wrong passcode for %s; it is now locked: the acceptance point can issue a new one: %w", r.Ref, ra.ErrAuth), "ref", r.Ref, "attempts_left", "0")
		} else {
			plural := "s"
			if left == 1 {
				plural = ""
			}
			authErr = ra.WithCode("passcode.wrong", fmt.Errorf("wrong passcode for %s (%d attempt%s left); check the passcode the acceptance point gave you, or ask it for a new one: %w", r.Ref, left, plural, ra.ErrAuth), "ref", r.Ref, "attempts_left", strconv.Itoa(left))
		}
		return nil, nil, authErr, nil // commit the attempt count, then report
	}
	if in.Storage != "" && in.Storage != r.Storage {
		return nil, nil, nil, ra.WithCode("download.storage", msg.Errorf("request %s asked for %s storage; its certificate is downloaded to that storage only: %w", r.Ref, r.Storage, ra.ErrInvalid), "ref", r.Ref, "storage", string(r.Storage))
	}
	// After the passcode: only its holder learns about the target.
	if err := checkTarget(tx, r, now); err != nil {
		return nil, nil, nil, err
	}
	job, err = s.prepareSign(tx, r, csr, csrVerified || in.cmp != nil)
	return nil, job, nil, err
}

// passcodeMatches checks the passcode of in against the stored hash, or,
// for CMP, the message's MAC against the stored encrypted passcode.
func (s *Service) passcodeMatches(tx *store.Tx, r *ra.Request, hash string, in DownloadInput) (bool, error) {
	if in.cmp != nil {
		return in.cmp.check(tx, r)
	}
	return ra.CheckPasscode(hash, in.Passcode), nil
}

// downloadRecord is the last part of downloadTx, once job is signed: the
// certificate is recorded and the request completed, passcode consumed.
func (s *Service) downloadRecord(tx *store.Tx, authority *ca.CA, job *signJob) (*Issued, error) {
	c, err := s.recordCert(tx, job)
	if err != nil {
		return nil, err
	}
	testhook.Point("download:signed")                       // signed and recorded, not yet committed
	if err := tx.DeletePasscodeBox(job.r.Ref); err != nil { // consumed: the encrypted copy goes
		return nil, err
	}
	r := job.r
	from := r.State
	r.State, r.CertSerial, r.PasscodeUsed = ra.StateCompleted, c.Serial, true
	if err := tx.UpdateRequest(r, from); err != nil {
		return nil, err
	}
	if err := tx.Audit(event("subscriber", "download", r, from, "serial="+c.Serial)); err != nil {
		return nil, err
	}
	return issuedFrom(r, c, authority), nil
}

// signJob is one certificate to sign: what the store said (prepareSign),
// then the signed certificate (issue). Signing needs no store, so bulk
// paths sign many jobs at once on all cores.
type signJob struct {
	r       *ra.Request
	csr     *x509.CertificateRequest
	prof    *ca.Profile
	keyDesc string
	subj    ca.Subject
	now     time.Time
	cert    *x509.Certificate
}

// sign checks the CSR against the request's profile, signs, and records the
// certificate, in the caller's transaction.
func (s *Service) sign(tx *store.Tx, authority *ca.CA, r *ra.Request, csr *x509.CertificateRequest) (*ra.Certificate, error) {
	return s.signVerified(tx, authority, r, csr, false)
}

// signVerified is sign; csrVerified says the key's proof of possession
// was already checked (a CMP request's POP: csr then only carries the key).
func (s *Service) signVerified(tx *store.Tx, authority *ca.CA, r *ra.Request, csr *x509.CertificateRequest, csrVerified bool) (*ra.Certificate, error) {
	job, err := s.prepareSign(tx, r, csr, csrVerified)
	if err != nil {
		return nil, err
	}
	if err := job.issue(authority, s.cfg.Extras()); err != nil {
		return nil, err
	}
	return s.recordCert(tx, job)
}

// prepareSign reads what signing needs: the profile (which must accept the
// CSR's key), the subject and the time.
func (s *Service) prepareSign(tx *store.Tx, r *ra.Request, csr *x509.CertificateRequest, csrVerified bool) (*signJob, error) {
	prof, err := s.cfg.Profile(r.UsageType)
	if err != nil {
		return nil, err
	}
	if !csrVerified {
		if err := ca.CheckCSRSignature(csr); err != nil {
			return nil, err
		}
	}
	keyDesc, err := ca.CheckCSRKey(csr, prof)
	if err != nil {
		return nil, err
	}
	pseudo, err := s.pseudonym(tx, r.Applicant)
	if err != nil {
		return nil, err
	}
	return &signJob{r: r, csr: csr, prof: prof, keyDesc: keyDesc, now: tx.Now(),
		subj: ca.Subject{Name: r.Applicant.Name, Email: r.Applicant.Email, Pseudonym: pseudo,
			Surname: r.Applicant.Surname, GivenName: r.Applicant.GivenName}}, nil
}

// issue signs the job's certificate. It touches no store and is safe to run
// for several jobs at once.
func (j *signJob) issue(authority *ca.CA, ex ca.Extras) error {
	cert, err := authority.Issue(j.csr, j.subj, j.prof, ex, j.now)
	j.cert = cert
	return err
}

// recordCert stores a signed job's certificate.
func (s *Service) recordCert(tx *store.Tx, j *signJob) (*ra.Certificate, error) {
	r, cert := j.r, j.cert
	rec := &ra.Certificate{Serial: ra.SerialString(cert.SerialNumber), RequestRef: r.Ref, Subject: ca.DistinguishedName(cert.RawSubject),
		Name: r.Applicant.Name, Email: r.Applicant.Email, UsageType: r.UsageType, Storage: r.Storage, KeyAlgo: j.keyDesc,
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Status: ra.CertValid, SPKISHA256: spkiHash(cert.RawSubjectPublicKeyInfo), DER: cert.Raw}
	if err := tx.InsertCertificate(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

func issuedFrom(r *ra.Request, c *ra.Certificate, authority *ca.CA) *Issued {
	chain := [][]byte{authority.Cert.Raw}
	for _, x := range authority.Chain {
		chain = append(chain, x.Raw)
	}
	return &Issued{Ref: r.Ref, Serial: c.Serial, Subject: c.Subject, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		UsageType: c.UsageType, Storage: c.Storage, Certificate: c.DER, Chain: chain}
}

func spkiHash(spki []byte) string {
	h := sha256.Sum256(spki)
	return hex.EncodeToString(h[:])
}

// CertificateForKey finds the newest certificate the CA issued for a public
// key (DER SubjectPublicKeyInfo), e.g. to finish a download whose output was
// lost.
func (s *Service) CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error) {
	if len(spki) == 0 {
		return nil, ra.Fieldf("spki", "is required: the DER SubjectPublicKeyInfo of the key")
	}
	if _, err := x509.ParsePKIXPublicKey(spki); err != nil {
		return nil, ra.Fieldf("spki", "is not a DER SubjectPublicKeyInfo (%v)", err)
	}
	var c *ra.Certificate
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		c, err = tx.CertificateByKey(spkiHash(spki))
		return err
	})
	return c, err
}
