package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/ra"
)

// PasscodeKEKFile is the key-encryption key for download passcodes: 32
// random bytes, mode 0600, outside the store (docs/security.md, "Passcodes
// for CMP").
const PasscodeKEKFile = "ca/passcode.kek"

// passcodeAD binds a box to its request: a box copied to another
// request's row does not decrypt.
func passcodeAD(ref string) []byte { return []byte("cmca passcode v1\x00" + ref) }

// passcodeAEAD returns AES-256-GCM under the home's passcode KEK, creating
// the key on first need. A key file readable by group or others is
// refused.
func (s *Service) passcodeAEAD() (cipher.AEAD, error) {
	s.kekMu.Lock()
	defer s.kekMu.Unlock()
	if s.kek != nil {
		return s.kek, nil
	}
	path := filepath.Join(s.home, PasscodeKEKFile)
	key, err := readKEK(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, msg.Errorf("passcode key: %w", err)
		}
		// Never replaces a key another process created meanwhile: that
		// one wins and is read back.
		if err := atomicfile.Write(path, key, atomicfile.Options{}); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, msg.Errorf("passcode key %s: %w", path, err)
		}
		key, err = readKEK(path)
	}
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s.kek = aead
	return aead, nil
}

func readKEK(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("passcode key %s is not a regular file; restore it from the backup", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, msg.Errorf("passcode key %s is readable by others (mode %v); run `chmod 600 %s`: %w", path, fi.Mode().Perm(), path, ra.ErrPolicy)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("passcode key %s has %d bytes, want 32; restore it from the backup", path, len(key))
	}
	return key, nil
}

// sealPasscode encrypts a passcode for the request ref: nonce || ciphertext.
func (s *Service) sealPasscode(ref, passcode string) ([]byte, error) {
	aead, err := s.passcodeAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(passcode)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(passcode), passcodeAD(ref)), nil
}

// openPasscode decrypts a box made by sealPasscode.
func (s *Service) openPasscode(ref string, box []byte) (string, error) {
	aead, err := s.passcodeAEAD()
	if err != nil {
		return "", err
	}
	if len(box) < aead.NonceSize() {
		return "", fmt.Errorf("the stored passcode of %s is damaged", ref)
	}
	plain, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], passcodeAD(ref))
	if err != nil {
		return "", fmt.Errorf("the stored passcode of %s does not decrypt under %s (replaced key file?)", ref, PasscodeKEKFile)
	}
	return string(plain), nil
}
