package ra

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
)

// MaxOperatorName is the longest operator name accepted, in characters.
const MaxOperatorName = 64

// reservedOperators are names cmca writes itself in audit records; an
// operator may not take one (a manual approval by "system" would read as
// automatic).
var reservedOperators = []string{"system", "anonymous"}

// ValidateOperator checks and normalises an operator name the way every
// other text field is checked (valid UTF-8, NFC, trimmed, no control or
// invisible format characters), and stricter: a single line with no
// whitespace other than plain spaces, no zero-width joiners, at most
// MaxOperatorName characters, and none of the names cmca reserves for
// itself (system, anonymous, in any case). Two names that normalise alike
// are the same operator (four-eyes compares the normalised names).
func ValidateOperator(name string) (string, error) {
	s, err := ValidateText("operator", name, MaxOperatorName, true)
	if err != nil {
		return "", err
	}
	for _, r := range s {
		switch {
		case r == '\u200C' || r == '\u200D':
			return "", Fieldf("operator", "contains an invisible joiner character; type the name plainly")
		case unicode.IsSpace(r) && r != ' ':
			return "", Fieldf("operator", "contains whitespace other than plain spaces")
		}
	}
	if strings.Contains(s, "  ") {
		return "", Fieldf("operator", "contains two spaces in a row")
	}
	folded := cases.Fold().String(s)
	for _, r := range reservedOperators {
		if folded == r {
			return "", &FieldError{Field: "operator", Msg: "\"" + s + "\" is reserved for cmca itself; choose another operator name"}
		}
	}
	return s, nil
}
