package service

import (
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// RateLimit is a per-client-address limit of `cmca serve`: Burst requests
// at once, one more every Every. The zero value is no limit ("off").
type RateLimit struct {
	Burst int           `json:"burst"`
	Every time.Duration `json:"every"`
}

// Off reports whether the limit is turned off.
func (l RateLimit) Off() bool { return l.Burst <= 0 || l.Every <= 0 }

// String is the policy text: "BURST/EVERY" (e.g. "10/6s"), or "off".
func (l RateLimit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Burst) + "/" + formatDuration(l.Every)
}

// rateLimitRange is the range of the ratelimit.* policy keys.
const rateLimitRange = "BURST/EVERY (1 to 1000000 requests, one more every 1ms to 24h), or off"

// parseRateLimit reads "BURST/EVERY" or "off".
func parseRateLimit(key, v string) (RateLimit, error) {
	s := strings.TrimSpace(v)
	if strings.EqualFold(s, "off") {
		return RateLimit{}, nil
	}
	bad := ra.Fieldf(key, "%q is not BURST/EVERY (e.g. 10/6s: 10 at once, one more every 6 seconds; burst 1 to 1000000, every 1ms to 24h) or off", v)
	b, e, ok := strings.Cut(s, "/")
	if !ok {
		return RateLimit{}, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(b))
	if err != nil || n < 1 || n > 1_000_000 {
		return RateLimit{}, bad
	}
	d, err := parsePolicyDuration(key, e, time.Millisecond, 24*time.Hour)
	if err != nil {
		return RateLimit{}, bad
	}
	return RateLimit{Burst: n, Every: d}, nil
}
