package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

// newKey is the key a renewal asks the CA to certify, kept where a rerun
// of an interrupted renewal finds it again.
type newKey struct {
	signer crypto.Signer
	reused bool // left by an earlier, interrupted run
	// token keys
	session *token.Session
	id      []byte
	// software keys
	pending string
}

// renewKeyID is the CKA_ID of the new key when renewing the certificate
// with this serial: derived from the serial, so that a rerun finds the key
// instead of making another one. A certificate is renewed once, so one ID
// per serial is enough.
func renewKeyID(serial string) []byte { return keyID("renew:" + serial) }

// renewKey finds the key of an interrupted renewal of h, or makes and keeps
// a new one: on h's token, or in out+".pending" (PKCS#12 under h's
// password, mode 0600).
func renewKey(ctx context.Context, h *holder, out string, algo token.KeyAlgo) (*newKey, error) {
	if h.Session == nil {
		nk := &newKey{pending: out + ".pending"}
		var err error
		if nk.signer, nk.reused, err = pendingKey(nk.pending, h.Password, algo); err != nil {
			return nil, err
		}
		return nk, nil
	}
	nk := &newKey{session: h.Session, id: renewKeyID(h.Serial)}
	signer, err := h.Session.Signer(ctx, nk.id)
	switch {
	case err == nil: // an interrupted renewal left its key: use it
		nk.signer, nk.reused = signer, true
	case errors.Is(err, ra.ErrNotFound):
		label := fmt.Sprintf("%s renewed %s", h.Cert.Subject.CommonName, time.Now().Format(time.DateOnly))
		if nk.signer, err = h.Session.GenerateKey(ctx, algo, nk.id, label); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return nk, nil
}

// discard removes the key (and, on a token, anything else under its ID).
// Call it only when the CA certainly certified nothing for it.
func (k *newKey) discard(ctx context.Context, f *Factory) {
	if k.session == nil {
		if err := os.Remove(k.pending); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Warnf("warning: could not remove the unused new key %s: %v\n", k.pending, err)
		}
		return
	}
	if err := k.session.DeleteObjects(ctx, k.id); err != nil {
		f.Warnf("warning: could not remove the unused new key from the token: %v\n", err)
	}
}

// discardUnsent removes the key after a failure before the CA was asked,
// unless an earlier run may already have had it certified.
func (k *newKey) discardUnsent(ctx context.Context, f *Factory) {
	if !k.reused {
		k.discard(ctx, f)
	}
}
