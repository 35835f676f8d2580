package ra

import (
	"fmt"
	"strings"
)

// RevocationReason is an RFC 5280 CRLReason (§5.3.1), by name.
type RevocationReason string

// Reasons in RFC 5280 order with their codes. certificateHold (6) and
// removeFromCRL (8) exist in the RFC but are refused: revocation here is
// permanent (seed 2.4).
var reasonCodes = map[RevocationReason]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"cACompromise":         2,
	"affiliationChanged":   3,
	"superseded":           4,
	"cessationOfOperation": 5,
	"privilegeWithdrawn":   9,
	"aACompromise":         10,
}

// RevocationReasons lists the accepted names in code order.
var RevocationReasons = []RevocationReason{
	"unspecified", "keyCompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "privilegeWithdrawn",
}

// Code is the CRLReason code.
func (r RevocationReason) Code() int { return reasonCodes[r] }

// ParseRevocationReason accepts an RFC 5280 reason name in any case, or its
// kebab-case spelling (key-compromise).
func ParseRevocationReason(s string) (RevocationReason, error) {
	k := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(s), "-", ""), "_", ""))
	switch k {
	case "certificatehold", "removefromcrl":
		return "", Fieldf("reason", "%s is not accepted: revocation is permanent and cannot be put on hold or undone", s)
	case "cacompromise", "aacompromise":
		return "", Fieldf("reason", "%s applies to authority certificates, not personal ones", s)
	}
	for name := range reasonCodes {
		if strings.ToLower(string(name)) == k {
			return name, nil
		}
	}
	return "", Fieldf("reason", "unknown reason %q; use one of %v", truncate(s, 40), RevocationReasons)
}

// ReasonName returns the name for a CRLReason code.
func ReasonName(code int) RevocationReason {
	for n, c := range reasonCodes {
		if c == code {
			return n
		}
	}
	return RevocationReason(fmt.Sprintf("reason(%d)", code))
}

// ReissueReason says why a replacement is asked for, and fixes the reason
// the old certificate is revoked with.
type ReissueReason string

const (
	ReissueLost    ReissueReason = "lost"    // old key may be in someone else's hands: keyCompromise
	ReissueDamaged ReissueReason = "damaged" // old key unusable: superseded
)

func ParseReissueReason(s string) (ReissueReason, error) {
	switch ReissueReason(strings.ToLower(strings.TrimSpace(s))) {
	case ReissueLost:
		return ReissueLost, nil
	case ReissueDamaged:
		return ReissueDamaged, nil
	}
	return "", Fieldf("reason", "unknown reissue reason %q; use lost or damaged", truncate(s, 40))
}

// RevocationReason is the reason the replaced certificate is revoked with.
func (r ReissueReason) RevocationReason() RevocationReason {
	if r == ReissueLost {
		return "keyCompromise"
	}
	return "superseded"
}
