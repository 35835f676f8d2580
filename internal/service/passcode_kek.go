package service

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cmca/cmca/internal/atomicfile"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// PasscodeKEKFile is the key-encryption key for download passcodes: 32
// random bytes, mode 0600, outside the store (docs/security.md, "Passcodes
// for CMP").
const PasscodeKEKFile = "ca/passcode.kek"

// passcodeAD binds a box to its request: a box copied to another
// request's row does not decrypt.
func passcodeAD(ref string) []byte { return []byte("cmca passcode v1\x00" + ref) }

// PasscodeKEKCheck is the meta key under which the store records the check
// value of the CA's one passcode KEK (kekCheck): every instance on one
// store must hold the same ca/passcode.kek, or the passcodes boxed by one
// would not open on another (docs/operations.md, "Several instances on one
// database").
const PasscodeKEKCheck = "passcode_kek_check"

// CodePasscodeKeyMismatch is the error code of a home whose passcode KEK is
// not the one the store recorded (exit 4, HTTP 409; internal/api).
const CodePasscodeKeyMismatch = "passcode.key_mismatch"

// kekCheck is the check value of a KEK: HMAC-SHA256 under the key of a
// fixed label, hex. It identifies the key without revealing it.
func kekCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cmca passcode kek check v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// passcodeKEKError is the refusal of a home whose KEK the store does not
// know: nothing is written, and the fix is to copy the first instance's key.
func passcodeKEKError(path, problem string) error {
	return ra.WithCode(CodePasscodeKeyMismatch, msg.Errorf("passcode key %s %s: every instance on one store must use the key the first one made; copy ca/passcode.kek from an instance that has it (mode 0600), then try again: %w", path, problem, ra.ErrConflict), "path", path)
}

// LoadPasscodeKEK loads the home's passcode KEK and checks it against the
// one the store recorded, in its own store transaction, before any work
// that seals or opens a passcode box (whose transaction must not open
// another). With create, a KEK is made when neither the home nor the store
// has one: the file is written first (0600, never replacing one another
// process of this home wrote meanwhile), then its check value is recorded
// with Tx.SetMetaOnce; an instance that loses that race to another removes
// the key it made and is refused. A KEK made before check values were
// recorded gets its value recorded here, audited (passcode-key-record).
//
// It returns nil, nil when there is no KEK and create is false. On
// PostgreSQL, a home whose KEK differs from the recorded one, or that has
// none while the store records one, is refused with code
// passcode.key_mismatch (exit 4), nothing written.
func (s *Service) LoadPasscodeKEK(ctx context.Context, create bool) (cipher.AEAD, error) {
	s.kekMu.Lock()
	defer s.kekMu.Unlock()
	if s.kek != nil {
		return s.kek, nil
	}
	path := filepath.Join(s.home, PasscodeKEKFile)
	// SQLite: the store is this home's own file, so a key the record does
	// not match was replaced or lost here (a restore without ca/), not made
	// by another instance: as before the record, the home's key is used (a
	// new one made when missing), and the record follows it, audited.
	// Passcodes boxed under the old key need `cmca issue --resend` for CMP.
	single := s.store.Engine() == store.SQLite
	var aead cipher.AEAD
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		aead = nil
		recorded, err := tx.Meta(PasscodeKEKCheck)
		if err != nil {
			return err
		}
		key, err := readKEK(path)
		made := false
		if errors.Is(err, fs.ErrNotExist) {
			switch {
			case recorded != "" && !single:
				return passcodeKEKError(path, "is missing, but the store records one")
			case !create:
				return nil
			}
			if key, made, err = makeKEK(path); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		sum := kekCheck(key)
		switch {
		case recorded == "":
			if recorded, err = tx.SetMetaOnce(PasscodeKEKCheck, sum); err != nil {
				return err
			}
			if recorded == sum {
				why := "key made here"
				if !made {
					why = "key made before check values were recorded"
				}
				if err := tx.Audit(ra.Event{Operator: "system", Action: "passcode-key-record", Detail: why + "; check " + sum[:16]}); err != nil {
					return err
				}
			}
		case recorded != sum && single:
			why := "ca/passcode.kek replaced"
			if made {
				why = "ca/passcode.kek was missing; a new key made"
			}
			if err := tx.SetMeta(PasscodeKEKCheck, sum); err != nil {
				return err
			}
			if err := tx.Audit(ra.Event{Operator: "system", Action: "passcode-key-replace", Detail: why + "; passcodes issued before need `cmca issue --resend` for CMP; check " + recorded[:min(16, len(recorded))] + " -> " + sum[:16]}); err != nil {
				return err
			}
			recorded = sum
		}
		if recorded != sum {
			if made {
				// Lost the race to another instance: its key is the CA's.
				removeIfSame(path, key)
				return passcodeKEKError(path, "was just made here, but another instance recorded its own first; this one was removed")
			}
			return passcodeKEKError(path, "is not the key this store recorded")
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return err
		}
		aead, err = cipher.NewGCM(block)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.kek = aead
	return aead, nil
}

// makeKEK writes a new random KEK to path, unless another process of this
// home wrote one meanwhile: that one is read back (made false).
func makeKEK(path string) (key []byte, made bool, err error) {
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, msg.Errorf("passcode key: %w", err)
	}
	err = atomicfile.Write(path, key, atomicfile.Options{})
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, false, msg.Errorf("passcode key %s: %w", path, err)
	}
	if err == nil {
		return key, true, nil
	}
	key, err = readKEK(path)
	return key, false, err
}

// removeIfSame removes the key file if it still holds key.
func removeIfSame(path string, key []byte) {
	if b, err := os.ReadFile(path); err == nil && hmac.Equal(b, key) {
		os.Remove(path)
	}
}

// passcodeAEAD is the KEK loaded by LoadPasscodeKEK.
func (s *Service) passcodeAEAD() (cipher.AEAD, error) {
	s.kekMu.Lock()
	defer s.kekMu.Unlock()
	if s.kek == nil {
		return nil, msg.Errorf("passcode key %s is missing; the passcodes issued under it cannot be checked: ask the acceptance point to run `cmca issue --resend REF`", filepath.Join(s.home, PasscodeKEKFile))
	}
	return s.kek, nil
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
