//go:build !cgo

package token

import (
	"context"
	"crypto"
	"crypto/x509"
)

// Module is a loaded PKCS#11 library. This binary was built without cgo,
// so every PKCS#11 function returns ErrNoCgo.
type Module struct{}

// OpenModule returns ErrNoCgo: this binary was built without cgo.
func OpenModule(path string) (*Module, error) { return nil, ErrNoCgo }

// Close returns ErrNoCgo.
func (m *Module) Close() error { return ErrNoCgo }

// Tokens returns ErrNoCgo.
func (m *Module) Tokens(ctx context.Context) ([]TokenInfo, error) { return nil, ErrNoCgo }

// Open returns ErrNoCgo.
func (m *Module) Open(ctx context.Context, sel Selector, pin []byte) (*Session, error) {
	return nil, ErrNoCgo
}

// Session is an open session on one token; without cgo there are none.
type Session struct{}

// Info returns an empty TokenInfo.
func (s *Session) Info() TokenInfo { return TokenInfo{} }

// GenerateKey returns ErrNoCgo.
func (s *Session) GenerateKey(ctx context.Context, algo KeyAlgo, id []byte, label string) (crypto.Signer, error) {
	return nil, ErrNoCgo
}

// Signer returns ErrNoCgo.
func (s *Session) Signer(ctx context.Context, id []byte) (crypto.Signer, error) {
	return nil, ErrNoCgo
}

// FindKey returns ErrNoCgo.
func (s *Session) FindKey(ctx context.Context, pub crypto.PublicKey) ([]byte, error) {
	return nil, ErrNoCgo
}

// KeyIDByLabel returns ErrNoCgo.
func (s *Session) KeyIDByLabel(ctx context.Context, label string) ([]byte, error) {
	return nil, ErrNoCgo
}

// ImportCertificate returns ErrNoCgo.
func (s *Session) ImportCertificate(ctx context.Context, id []byte, label string, cert *x509.Certificate) error {
	return ErrNoCgo
}

// DeleteObjects returns ErrNoCgo.
func (s *Session) DeleteObjects(ctx context.Context, id []byte) error { return ErrNoCgo }

// Objects returns ErrNoCgo.
func (s *Session) Objects(ctx context.Context) ([]Object, error) { return nil, ErrNoCgo }

// Close returns ErrNoCgo.
func (s *Session) Close() error { return ErrNoCgo }
