package cli

import (
	"context"
	"crypto"
	"errors"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// tokenCAKey opens (or, for a new self-signed CA, generates) the CA key on a
// PKCS#11 token named by a URI with object= or id=. With id= the key is the
// private key with that CKA_ID; with only object= it is the private key with
// that CKA_LABEL (a new one gets the label's bytes as its ID). The PIN comes
// from t.PINFile, --ca-pin-file, the URI's pin-source, CMCA_CA_PIN or a
// prompt. If it generated the key, undo deletes it again (for an init that
// fails afterwards); otherwise undo does nothing.
func (f *Factory) tokenCAKey(ctx context.Context, uriStr string, t *tokenFlags, algo token.KeyAlgo, generate bool) (signer crypto.Signer, undo func(), err error) {
	undo = func() {}
	s, id, signer, err := f.openCAKey(ctx, uriStr, t, algo, generate, "--pin-file")
	if err != nil || s == nil {
		return signer, undo, err
	}
	undo = func() {
		if err := s.DeleteObjects(ctx, id); err != nil {
			f.Warnf("warning: could not remove the new CA key from the token: %v\n", err)
		}
	}
	return signer, undo, nil
}

// openCAKey opens or generates the CA key; pinFlag names the flag that
// gives the PIN file in error messages. gen is the session and key ID of a
// key it generated, nil if the key was there already.
func (f *Factory) openCAKey(ctx context.Context, uriStr string, t *tokenFlags, algo token.KeyAlgo, generate bool, pinFlag string) (gen *token.Session, id []byte, signer crypto.Signer, err error) {
	u, err := token.ParseURI(uriStr)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(u.ID) == 0 && u.Object == "" {
		return nil, nil, nil, ra.Fieldf("ca-key", "the pkcs11: URI must name the key with id= (and/or object=), e.g. pkcs11:token=CA;object=ca-key")
	}
	tf := *t
	tf.URI = uriStr
	pin := secret{What: "CA token PIN", FileFlag: pinFlag, Env: "CMCA_CA_PIN"}
	if tf.PINFile == "" {
		tf.PINFile = f.caPINFile
	}
	s, err := f.openTokenLogin(ctx, &tf, &pin)
	if err != nil {
		return nil, nil, nil, err
	}
	id = u.ID
	if len(id) == 0 {
		id, err = s.KeyIDByLabel(ctx, u.Object)
		if errors.Is(err, ra.ErrNotFound) && generate {
			id, err = []byte(u.Object), nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	signer, err = s.Signer(ctx, id)
	if errors.Is(err, ra.ErrNotFound) && generate {
		label := u.Object
		if label == "" {
			label = "cmca CA key"
		}
		if signer, err = s.GenerateKey(ctx, algo, id, label); err != nil {
			return nil, nil, nil, err
		}
		return s, id, signer, nil
	}
	return nil, id, signer, err
}

// caKeyURI is the URI `cmca init` records for a CA key on a token: the
// one given, plus the --module path when the URI names none, so that the
// commands that sign later find the module without CMCA_TOKEN_MODULE.
func caKeyURI(uriStr string, t *tokenFlags) (string, error) {
	u, err := token.ParseURI(uriStr)
	if err != nil {
		return "", err
	}
	if u.ModulePath != "" || t.Module == "" {
		return uriStr, nil
	}
	u.ModulePath = t.Module
	return u.String(), nil
}

// tokenCA loads the CA whose key lives on a token, for commands that sign.
func (f *Factory) tokenCA(ctx context.Context, svc *service.Service, uri string) (*ca.CA, error) {
	pemData, err := svc.CACertificate()
	if err != nil {
		return nil, err
	}
	certs, err := ca.ParseCertificatesPEM(pemData)
	if err != nil {
		return nil, err
	}
	_, _, signer, err := f.openCAKey(ctx, uri, &tokenFlags{}, "", false, "--ca-pin-file")
	if err != nil {
		return nil, errorf("CA key %s: %w", uri, err)
	}
	return ca.New(certs[0], signer, certs[1:])
}
