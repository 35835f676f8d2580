package ra

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// PasscodeChars is the passcode length in base32 characters: 20 characters
// carry 100 bits from crypto/rand, shown in five groups of four.
const PasscodeChars = 20

// NewPasscode returns a fresh download passcode (下载授权码) for display, e.g.
// "7KQ3-PZ4M-XW2A-9HCD-1EFG", and the hash to store. The passcode itself is
// never stored.
func NewPasscode() (display, hash string) {
	raw := randomBase32(PasscodeChars)
	var b strings.Builder
	for i := 0; i < len(raw); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i : i+4])
	}
	return b.String(), HashPasscode(raw)
}

// NormalizePasscode removes grouping and maps characters people confuse
// (O->0, I/L->1), so a passcode read aloud or retyped still matches.
func NormalizePasscode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// HashPasscode hashes a passcode for storage: "sha256$salt$digest". A passcode
// carries 100 random bits, so a salted SHA-256 is enough: there is no
// dictionary to attack and brute force is stopped by the attempt limit.
func HashPasscode(passcode string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hashWithSalt(salt, NormalizePasscode(passcode))
}

func hashWithSalt(salt []byte, norm string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(norm))
	return "sha256$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(h.Sum(nil))
}

// CheckPasscode reports whether passcode matches the stored hash, in
// constant time.
func CheckPasscode(stored, passcode string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false
	}
	want := hashWithSalt(salt, NormalizePasscode(passcode))
	return subtle.ConstantTimeCompare([]byte(want), []byte(stored)) == 1
}

// ValidatePasscodeFormat rejects input that cannot be a passcode before any
// attempt is counted against the request.
func ValidatePasscodeFormat(s string) error {
	n := NormalizePasscode(s)
	if len(n) != PasscodeChars {
		return Fieldf("passcode", "a passcode has %d characters (e.g. 7KQ3-PZ4M-XW2A-9HCD-1EFG), got %d", PasscodeChars, len(n))
	}
	for _, r := range n {
		if !strings.ContainsRune(crockford, r) {
			return Fieldf("passcode", "a passcode has only letters and digits, got %q", r)
		}
	}
	return nil
}
