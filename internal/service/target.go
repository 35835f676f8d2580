package service

import (
	"github.com/cmca/cmca/internal/msg"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// checkTarget refuses to move a renewal or reissue on (approve, issue,
// download) once the certificate it acts on no longer allows it. A request
// is filed while its certificate is valid; it may be decided days later,
// after a revocation or the expiry of that certificate, and must then not
// produce a new valid certificate.
//
//   - A renewal continues a valid certificate: its target must still be
//     valid (not revoked, not expired).
//   - A reissue replaces a lost or damaged certificate, which its own
//     approval revokes (keyCompromise or superseded). Its target may
//     therefore be revoked for those two reasons, by the approval or by a
//     revocation meanwhile. Any other reason (affiliationChanged,
//     privilegeWithdrawn, cessationOfOperation, unspecified) means the
//     holder is no longer entitled: a replacement would undo it. A target
//     that expired before the reissue was approved is refused like a
//     renewal's: apply for a new certificate instead.
//
// Revocation requests check their target in revokeCert.
func checkTarget(tx *store.Tx, r *ra.Request, now time.Time) error {
	if r.TargetSerial == "" || (r.Kind != ra.KindRenew && r.Kind != ra.KindReissue) {
		return nil
	}
	c, err := tx.Certificate(r.TargetSerial)
	if err != nil {
		return err
	}
	reject := "reject the request; the holder applies for a new certificate"
	switch c.StatusAt(now) {
	case ra.CertRevoked:
		if r.Kind == ra.KindReissue && (c.RevocationReason == "keyCompromise" || c.RevocationReason == "superseded") {
			return nil
		}
		return msg.Errorf("request %s (%s) acts on certificate %s, which was revoked for %s on %s; it can no longer be approved, issued or downloaded: %s: %w",
			r.Ref, r.Kind, c.Serial, c.RevocationReason, c.RevokedAt.Format(time.DateOnly), reject, ra.ErrConflict)
	case ra.CertExpired:
		if r.Kind == ra.KindReissue && r.State != ra.StateSubmitted {
			return nil // approved in time: the replacement stands on its own
		}
		return msg.Errorf("request %s (%s) acts on certificate %s, which expired on %s; it can no longer be approved, issued or downloaded: %s: %w",
			r.Ref, r.Kind, c.Serial, c.NotAfter.Format(time.DateOnly), reject, ra.ErrConflict)
	}
	return nil
}

// withTargets fills in the status of the certificate each request acts on
// (review, status). Each certificate is read once.
func withTargets(tx *store.Tx, now time.Time, rs ...*ra.Request) error {
	seen := map[string]*ra.Certificate{}
	for _, r := range rs {
		if r.TargetSerial == "" {
			continue
		}
		c, ok := seen[r.TargetSerial]
		if !ok {
			var err error
			if c, err = tx.Certificate(r.TargetSerial); err != nil {
				return err
			}
			seen[r.TargetSerial] = c
		}
		r.TargetStatus, r.TargetRevocationReason = c.StatusAt(now), c.RevocationReason
	}
	return nil
}
