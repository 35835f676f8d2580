package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/token"
)

// tokenCAKey opens (or, for a new self-signed CA, generates) the CA key on a
// PKCS#11 token named by a URI with object= or id=.
func (f *Factory) tokenCAKey(ctx context.Context, uriStr string, t *tokenFlags, algo token.KeyAlgo, generate bool) (crypto.Signer, error) {
	u, err := token.ParseURI(uriStr)
	if err != nil {
		return nil, err
	}
	if len(u.ID) == 0 && u.Object == "" {
		return nil, &ra.FieldError{Field: "ca-key", Msg: "the pkcs11: URI must name the key with id= (and/or object=)"}
	}
	tf := *t
	tf.URI = uriStr
	if tf.PINFile == "" {
		tf.PINFile = f.caPINFile
	}
	s, err := f.openTokenEnv(ctx, &tf, "CMCA_CA_PIN")
	if err != nil {
		return nil, err
	}
	id := u.ID
	if len(id) == 0 {
		id = []byte(u.Object)
	}
	signer, err := s.Signer(ctx, id)
	if errors.Is(err, ra.ErrNotFound) && generate {
		label := u.Object
		if label == "" {
			label = "cmca CA key"
		}
		return s.GenerateKey(ctx, algo, id, label)
	}
	return signer, err
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
	signer, err := f.tokenCAKey(ctx, uri, &tokenFlags{}, "", false)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", uri, err)
	}
	return ca.New(certs[0], signer, certs[1:])
}
