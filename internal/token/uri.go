package token

import (
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"net/url"
	"strings"

	"github.com/cmca/cmca/internal/ra"
)

// ErrNoCgo is returned by every PKCS#11 function in a binary built without
// cgo: the PKCS#11 bindings load the token's C library.
var ErrNoCgo = errors.New("this cmca was built without cgo, and USB key tokens and HSMs (PKCS#11) need a cgo build: rebuild with CGO_ENABLED=1 and a C compiler, or use --storage soft")

// URI is a parsed RFC 7512 PKCS#11 URI, such as
//
//	pkcs11:token=My%20Key;serial=123;id=%01%02;object=label?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
//
// Token, Serial, Manufacturer and Model name a token; Object and ID name an
// object on it. Empty fields (and a nil ID) are not set.
type URI struct {
	Token        string
	Serial       string
	Manufacturer string
	Model        string
	Object       string
	ID           []byte
	ModulePath   string
	PINSource    string
}

// classedError is a message for users that belongs to one of the ra error
// classes; like ra.FieldError, the class name is not part of the message.
// Its format and arguments make it translatable (msg.Translatable).
type classedError struct {
	msg    string
	class  error
	format string
	args   []any
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }

// Translate is the message in p's language.
func (e *classedError) Translate(p msg.Printer) string {
	if !msg.Has(e.format) {
		return e.msg
	}
	return p.Sprintf(e.format, p.Args(e.args)...)
}

// classed is a message for users (format is a catalogue ID) of a class.
func classed(class error, format string, args ...any) error {
	return &classedError{msg: fmt.Sprintf(format, args...), class: class, format: format, args: args}
}

const uriScheme = "pkcs11:"

func uriError(format string, args ...any) error {
	return ra.Fieldf("token_uri", format, args...)
}

// ParseURI parses a PKCS#11 URI (RFC 7512). Values are percent-decoded;
// attributes this program does not use are ignored. A pin-value attribute is
// refused so that PINs do not end up in shell history: use pin-source.
// Every error wraps ra.ErrInvalid.
func ParseURI(s string) (*URI, error) {
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		return nil, uriError("%q does not start with %q; write it like pkcs11:token=My%%20Key;id=%%01", s, uriScheme)
	}
	rest := s[len(uriScheme):]
	path, query, _ := strings.Cut(rest, "?")

	u := &URI{}
	seen := map[string]bool{}
	parse := func(part, sep string, set func(name, raw string) error) error {
		if part == "" {
			return nil
		}
		for attr := range strings.SplitSeq(part, sep) {
			if attr == "" {
				continue // tolerate "pkcs11:token=a;" and "?a=b&"
			}
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return uriError("attribute %q in %q is not of the form name=value", attr, s)
			}
			if seen[name] {
				return uriError("attribute %q appears more than once in %q", name, s)
			}
			seen[name] = true
			if err := set(name, raw); err != nil {
				return err
			}
		}
		return nil
	}
	decode := func(name, raw string) (string, error) {
		v, err := url.PathUnescape(raw)
		if err != nil {
			return "", uriError("attribute %q has a bad percent-encoding %q; encode bytes as %%XX", name, raw)
		}
		return v, nil
	}

	err := parse(path, ";", func(name, raw string) error {
		var dst *string
		switch name {
		case "token":
			dst = &u.Token
		case "serial":
			dst = &u.Serial
		case "manufacturer":
			dst = &u.Manufacturer
		case "model":
			dst = &u.Model
		case "object":
			dst = &u.Object
		case "id":
			v, err := decode(name, raw)
			if err != nil {
				return err
			}
			u.ID = []byte(v)
			return nil
		default:
			if _, err := decode(name, raw); err != nil {
				return err
			}
			return nil // unknown or unused attribute
		}
		v, err := decode(name, raw)
		if err != nil {
			return err
		}
		*dst = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = parse(query, "&", func(name, raw string) error {
		v, err := decode(name, raw)
		if err != nil {
			return err
		}
		switch name {
		case "module-path":
			u.ModulePath = v
		case "pin-source":
			u.PINSource = v
		case "pin-value":
			return uriError("pin-value in a PKCS#11 URI is not accepted; use pin-source=file:/path or let cmca prompt for the PIN")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// String formats u as a PKCS#11 URI. ID bytes are always percent-encoded;
// other values are percent-encoded where RFC 7512 requires it.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(uriScheme)
	n := 0
	add := func(name, v string, allowed string) {
		if v == "" {
			return
		}
		if n > 0 {
			b.WriteByte(';')
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(uriEscape(v, allowed))
	}
	add("token", u.Token, "")
	add("manufacturer", u.Manufacturer, "")
	add("model", u.Model, "")
	add("serial", u.Serial, "")
	add("object", u.Object, "")
	if len(u.ID) > 0 {
		if n > 0 {
			b.WriteByte(';')
		}
		n++
		b.WriteString("id=")
		for _, c := range u.ID {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	q := 0
	addQuery := func(name, v string) {
		if v == "" {
			return
		}
		if q == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		q++
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(uriEscape(v, "/:"))
	}
	addQuery("module-path", u.ModulePath)
	addQuery("pin-source", u.PINSource)
	return b.String()
}

// uriEscape percent-encodes every byte of s except RFC 3986 unreserved
// characters and those in allowed.
func uriEscape(s, allowed string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', strings.IndexByte(allowed, c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Selector is how a user names a token: by label, by serial number, by a
// PKCS#11 URI, or any combination (all given parts must match). The zero
// Selector means "the only initialized token present".
type Selector struct {
	Label  string
	Serial string
	URI    *URI
}

// IsZero reports whether s names no token in particular.
func (s Selector) IsZero() bool {
	return s.Label == "" && s.Serial == "" &&
		(s.URI == nil || (s.URI.Token == "" && s.URI.Serial == "" && s.URI.Manufacturer == "" && s.URI.Model == ""))
}

// Matches reports whether the token t is one that s names.
func (s Selector) Matches(t TokenInfo) bool {
	if s.Label != "" && s.Label != t.Label {
		return false
	}
	if s.Serial != "" && s.Serial != t.Serial {
		return false
	}
	if u := s.URI; u != nil {
		if (u.Token != "" && u.Token != t.Label) ||
			(u.Serial != "" && u.Serial != t.Serial) ||
			(u.Manufacturer != "" && u.Manufacturer != t.Manufacturer) ||
			(u.Model != "" && u.Model != t.Model) {
			return false
		}
	}
	return true
}

// String describes s for error messages.
func (s Selector) String() string {
	var parts []string
	if s.Label != "" {
		parts = append(parts, fmt.Sprintf("label %q", s.Label))
	}
	if s.Serial != "" {
		parts = append(parts, fmt.Sprintf("serial %q", s.Serial))
	}
	if s.URI != nil {
		parts = append(parts, "URI "+s.URI.String())
	}
	if len(parts) == 0 {
		return "any token"
	}
	return strings.Join(parts, ", ")
}

// TokenInfo describes a token present in a slot. URI is a PKCS#11 URI that
// names the token (label, manufacturer, model and serial).
type TokenInfo struct {
	Label         string `json:"label"`
	Serial        string `json:"serial"`
	Manufacturer  string `json:"manufacturer"`
	Model         string `json:"model"`
	Initialized   bool   `json:"initialized"`
	LoginRequired bool   `json:"login_required"`
	ReadOnly      bool   `json:"read_only"`
	URI           string `json:"uri"`
}

// String is the token's label and serial, as shown in messages.
func (t TokenInfo) String() string {
	name := fmt.Sprintf("%q", t.Label)
	if !t.Initialized && t.Label == "" {
		name = "uninitialized token"
	}
	if t.Serial == "" {
		return name
	}
	return fmt.Sprintf("%s (serial %s)", name, t.Serial)
}

// Object is an object stored on a token. Class is one of "private-key",
// "public-key", "certificate", "data", "secret-key" or "other". KeyType
// ("EC", "RSA", ...) is set for keys; Extractable and Sensitive for private
// and secret keys whose token reveals them; Certificate for X.509
// certificate objects.
type Object struct {
	Class       string
	Label       string
	ID          []byte
	KeyType     string
	Extractable *bool
	Sensitive   *bool
	Certificate *x509.Certificate
}

// AmbiguousTokenError is returned when a token was not named and more than
// one is present, or when the name fits several tokens.
type AmbiguousTokenError struct {
	Tokens []TokenInfo
}

func (e *AmbiguousTokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tokens fit: ", len(e.Tokens))
	for i, t := range e.Tokens {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	b.WriteString("; name one with --token-label or --token-serial")
	return b.String()
}

// Unwrap makes an AmbiguousTokenError an ra.ErrInvalid.
func (e *AmbiguousTokenError) Unwrap() error { return ra.ErrInvalid }
