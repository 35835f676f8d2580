package ra

import (
	"math/big"
	"strings"
	"time"
)

// CertStatus is a certificate's standing in the CA's records.
type CertStatus string

const (
	CertValid   CertStatus = "valid"
	CertRevoked CertStatus = "revoked"
	CertExpired CertStatus = "expired" // derived from NotAfter at read time, never stored
)

// Certificate is the CA's record of a certificate it issued.
type Certificate struct {
	Serial           string     `json:"serial"` // lower-case hex, no leading zeros
	RequestRef       string     `json:"request_ref"`
	Subject          string     `json:"subject"`
	Name             string     `json:"name"`
	Email            string     `json:"email"`
	UsageType        string     `json:"usage_type"`
	Storage          Storage    `json:"storage"`
	KeyAlgo          string     `json:"key_algo"`
	NotBefore        time.Time  `json:"not_before"`
	NotAfter         time.Time  `json:"not_after"`
	Status           CertStatus `json:"status"`
	RevokedAt        time.Time  `json:"revoked_at,omitzero"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
	InvalidityDate   time.Time  `json:"invalidity_date,omitzero"`
	SPKISHA256       string     `json:"spki_sha256"`
	DER              []byte     `json:"-"`
}

// StatusAt is the status as a relying party sees it at time t.
func (c *Certificate) StatusAt(t time.Time) CertStatus {
	if c.Status == CertRevoked {
		return CertRevoked
	}
	if t.After(c.NotAfter) {
		return CertExpired
	}
	return CertValid
}

// ParseSerial accepts a serial number as users copy it: hex with or without
// colons or a 0x prefix, any case (openssl prints upper-case hex). It returns
// the canonical lower-case form used in the store.
func ParseSerial(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "0x")
	t = strings.ReplaceAll(t, ":", "")
	n, ok := new(big.Int).SetString(t, 16)
	if !ok || t == "" || n.Sign() <= 0 || len(t) > 40 {
		return "", Fieldf("serial", "%q is not a certificate serial number (hexadecimal digits)", truncate(s, 48))
	}
	return n.Text(16), nil
}

// SerialString is the canonical text of a serial number.
func SerialString(n *big.Int) string { return n.Text(16) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
