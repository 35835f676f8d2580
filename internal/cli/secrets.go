package cli

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

// secret says where a secret (passcode, PIN, password) may come from. It is
// never taken from a plain flag: flags end up in shell history and `ps`.
type secret struct {
	What     string // "passcode", "token PIN", ...
	FileFlag string // e.g. "--pin-file"
	File     string // value of that flag; "-" reads stdin
	Env      string // environment variable, e.g. CMCA_PIN
	// EnvHint names an environment variable that gives the file (already
	// resolved into File), for the message when nothing is given.
	EnvHint string
	New     bool // a new password: prompt twice
	// Rule, for a new secret, is shown in the prompt ("at least 8
	// characters"); Check enforces it. At a prompt a refused entry is asked
	// again; from a file or the environment it is an error.
	Rule  string
	Check func([]byte) error
}

// newP12Password is where a new PKCS#12 password comes from, and its rule.
func newP12Password(file string) secret {
	return secret{What: "new PKCS#12 password", FileFlag: "--password-file", File: file, Env: "CMCA_P12_PASSWORD", New: true,
		Rule: fmt.Sprintf("at least %d characters", token.MinPasswordLen), Check: token.CheckNewPassword}
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
		if s.EnvHint != "" {
			hint += " or set " + s.EnvHint
		}
		return nil, usagef("no %s given and no terminal to prompt on: pass %s", s.What, hint)
	}
	prompt := f.T(capitalise(s.What))
	if s.Rule != "" {
		prompt += f.Tf(" (%s)", f.T(s.Rule))
	}
	for {
		a, err := f.IO.ReadSecretLine(prompt + ": ")
		if err != nil {
			return nil, errorf("read %s: %w", s.What, errCancelled)
		}
		if !s.New {
			return a, nil
		}
		if s.Check != nil {
			if err := s.Check(a); err != nil {
				var fe *ra.FieldError
				msg := err.Error()
				if errors.As(err, &fe) {
					msg = fe.Msg
				}
				wipe(a)
				f.Warnf("%s; try again.\n", capitalise(msg))
				continue
			}
		}
		b, err := f.IO.ReadSecretLine(f.Tf("Repeat %s: ", f.T(s.What)))
		if err != nil {
			return nil, errorf("read %s: %w", s.What, errCancelled)
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
