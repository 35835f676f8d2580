package cli

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"os"
)

// secret says where a secret (passcode, PIN, password) may come from. It is
// never taken from a plain flag: flags end up in shell history and `ps`.
type secret struct {
	What     string // "passcode", "token PIN", ...
	FileFlag string // e.g. "--pin-file"
	File     string // value of that flag; "-" reads stdin
	Env      string // environment variable, e.g. CMCA_PIN
	New      bool   // a new password: prompt twice
}

// read returns the secret from its file, stdin, environment or a no-echo
// prompt, in that order. Without a terminal and without a source, it is a
// usage error naming the flag and variable to use.
func (f *Factory) readSecret(s secret) ([]byte, error) {
	switch {
	case s.File == "-":
		b, err := f.IO.ReadStdin()
		if err != nil {
			return nil, err
		}
		return firstLine(b), nil
	case s.File != "":
		fi, err := os.Stat(s.File)
		if err != nil {
			return nil, usagef("read %s from %s: %v", s.What, s.File, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			f.Warnf("warning: %s is readable by others; keep secret files mode 0600\n", s.File)
		}
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, usagef("read %s from %s: %v", s.What, s.File, err)
		}
		return firstLine(b), nil
	case s.Env != "" && os.Getenv(s.Env) != "":
		return []byte(os.Getenv(s.Env)), nil
	}
	if !f.IO.CanPrompt() {
		hint := s.FileFlag + " FILE (or - for stdin)"
		if s.Env != "" {
			hint += " or set " + s.Env
		}
		return nil, usagef("no %s given and no terminal to prompt on: pass %s", s.What, hint)
	}
	for {
		a, err := f.IO.ReadSecretLine(f.T(capitalise(s.What)) + ": ")
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.What, errCancelled)
		}
		if !s.New {
			return a, nil
		}
		b, err := f.IO.ReadSecretLine(f.Tf("Repeat %s: ", f.T(s.What)))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.What, errCancelled)
		}
		if subtle.ConstantTimeCompare(a, b) == 1 {
			return a, nil
		}
		f.Warnf("The two entries differ; try again.\n")
	}
}

// firstLine keeps the first line of a secret file, without the newline.
func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return b
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return string(bytes.ToUpper([]byte(s[:1]))) + s[1:]
}

// wipe overwrites a secret once it is no longer needed.
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
