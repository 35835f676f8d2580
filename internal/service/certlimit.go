package service

import (
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// CertLimit is the per-certificate limit of revoke and reissue requests
// filed without proof of possession: at most N filed for one certificate in
// any Window. The zero value is no limit ("off").
type CertLimit struct {
	N      int           `json:"n"`
	Window time.Duration `json:"window"`
}

// Off reports whether the limit is turned off.
func (l CertLimit) Off() bool { return l.N <= 0 || l.Window <= 0 }

// String is the policy text: "N/WINDOW" (e.g. "3/1d"), or "off".
func (l CertLimit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.N) + "/" + formatDuration(l.Window)
}

// certLimitRange is the range of policy key ratelimit.certificate.
const certLimitRange = "N/WINDOW (1 to 1000 requests per 1m to 365d), or off"

// parseCertLimit reads "N/WINDOW" or "off".
func parseCertLimit(key, v string) (CertLimit, error) {
	s := strings.TrimSpace(v)
	if strings.EqualFold(s, "off") {
		return CertLimit{}, nil
	}
	bad := ra.Fieldf(key, "%q is not N/WINDOW (e.g. 3/1d: at most 3 requests in any day; N 1 to 1000, window 1m to 365d) or off", v)
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return CertLimit{}, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil || n < 1 || n > 1000 {
		return CertLimit{}, bad
	}
	d, err := parsePolicyDuration(key, b, time.Minute, 365*24*time.Hour)
	if err != nil {
		return CertLimit{}, bad
	}
	return CertLimit{N: n, Window: d}, nil
}

// CodeCertLimit is the code of a revoke or reissue request refused by the
// per-certificate limit (params: serial, limit, retry_after in seconds,
// retry_at in RFC 3339). Its class is policy (exit 6); over HTTP it is 429
// with Retry-After.
const CodeCertLimit = "ratelimit.certificate"

// countsForCertLimit reports whether a request by p without proof of
// possession counts towards (and is held to) the certificate's limit:
// everyone's does but an operator's. An operator (any role, local or
// logged in) has checked the applicant's identity before filing, is
// audited by name, and is the holder's way out when a stranger has used up
// the certificate's requests: the counter.
func countsForCertLimit(p principal.Principal) bool {
	return p.Kind != principal.System && len(p.Roles) == 0
}

// checkCertLimit refuses a request without proof of possession on
// certificate serial when the policy's ratelimit.certificate requests were
// already filed in the window ending now (the transaction's clock), and
// otherwise records ref as one of them once it is inserted (the returned
// function). The limit is read from the store in the same transaction, and
// the count is taken under the certificate's lock (store.UnprovenSince),
// so processes and `cmca serve` instances sharing the store cannot both
// pass it.
func checkCertLimit(tx *store.Tx, serial string) (record func(ref string) error, err error) {
	pol, _, err := readPolicy(tx)
	if err != nil {
		return nil, err
	}
	record = func(ref string) error { return tx.RecordUnproven(serial, ref) }
	l := pol.CertLimit
	if l.Off() {
		return record, nil
	}
	now := tx.Now()
	filed, err := tx.UnprovenSince(serial, now.Add(-l.Window))
	if err != nil {
		return nil, err
	}
	if len(filed) < l.N {
		return record, nil
	}
	// The count falls below N when the request that makes it N expires.
	at := filed[len(filed)-l.N].Add(l.Window)
	wait := at.Sub(now)
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	at = now.Add(time.Duration(secs) * time.Second).UTC()
	return nil, ra.WithCode(CodeCertLimit,
		msg.Errorf("certificate %s already has %d revoke or reissue requests without proof of possession in the last %s (policy ratelimit.certificate %s); file again from %s, prove possession of the key, or ask an operator at the counter: %w",
			serial, len(filed), formatDuration(l.Window), l, at.Format(time.RFC3339), ra.ErrPolicy),
		"serial", serial, "limit", l.String(), "retry_after", strconv.FormatInt(secs, 10), "retry_at", at.Format(time.RFC3339))
}
