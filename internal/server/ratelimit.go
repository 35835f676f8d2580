package server

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/cmca/cmca/internal/cmp"
)

// limiter is a token bucket per key (the rateKey of a client address):
// Burst tokens, one more every Every. Idle buckets are forgotten, so memory
// stays bounded by the addresses active within Burst*Every.
type limiter struct {
	limit   func() Limit // read at every request: a policy change applies at once
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l Limit, now func() time.Time) *limiter {
	return newDynamicLimiter(func() Limit { return l }, now)
}

func newDynamicLimiter(l func() Limit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// NewAddressLimit is the same per-address token bucket for a handler
// outside this package (the OCSP responder's signing limit,
// ocsp.Responder.LimitSigning): the returned function takes a token for a
// client address (host only, bucketed as rateKey does), or says how long
// until there is one. limit is read at every call, so a policy change
// applies at once.
func NewAddressLimit(limit func() Limit, now func() time.Time) func(addr string) (time.Duration, bool) {
	if now == nil {
		now = time.Now
	}
	l := newDynamicLimiter(limit, now)
	return func(addr string) (time.Duration, bool) { return l.allow(rateKey(addr)) }
}

// allow takes a token for key; when there is none it says how long until
// there is.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	lim := l.limit()
	if lim.Burst <= 0 || lim.Every <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	full := time.Duration(lim.Burst) * lim.Every
	if now.Sub(l.swept) > full {
		for k, b := range l.buckets {
			if now.Sub(b.at) > full {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(lim.Burst), at: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(lim.Burst), b.tokens+float64(elapsed)/float64(lim.Every))
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) * float64(lim.Every)), false
}

// rateKey is the bucket a client address (http.Request.RemoteAddr,
// "host:port") counts against. Addresses a single client picks freely
// share one: every loopback address (127.0.0.0/8, ::1 and their
// IPv4-mapped forms) is "loopback"; an IPv4-mapped IPv6 address is its
// IPv4 address; an IPv6 address counts by its /64 (a host or a LAN picks
// addresses inside its /64 at will; privacy addresses change daily); the
// zone (%eth0) is dropped. Proxy headers (X-Forwarded-For, Forwarded,
// X-Real-IP) are never read: cmca serve is reached directly.
func rateKey(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.Is4():
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// Limits are the per-client buckets of `cmca serve`, shared by every
// handler a client can reach them through: the API and EST (NewServer,
// Options.Limits) and CMP on both listeners (cmp.Options.Limit). A client
// spends one budget whichever protocol it uses.
type Limits struct {
	apply, passcode *limiter
}

// NewLimits makes the buckets: apply for applications (apply, lookup,
// renew, revoke, reissue; CMP kur and rr), passcode for passcode attempts
// (download, EST simpleenroll; CMP ir, cr, p10cr). Each limit is read at
// every request, so a policy change applies at once. now is the clock
// (nil: time.Now).
func NewLimits(apply, passcode func() Limit, now func() time.Time) *Limits {
	if now == nil {
		now = time.Now
	}
	return &Limits{apply: newDynamicLimiter(apply, now), passcode: newDynamicLimiter(passcode, now)}
}

// CMP is the cmp.Options.Limit of a CMP handler: enrolments take a
// passcode token, kur and rr an application token; a certConf (the end
// of a transaction already counted) and anything else are not limited.
func (l *Limits) CMP(r *http.Request, body cmp.BodyType) (time.Duration, bool) {
	switch body {
	case cmp.BodyIR, cmp.BodyCR, cmp.BodyP10CR:
		return l.passcode.allow(rateKey(r.RemoteAddr))
	case cmp.BodyKUR, cmp.BodyRR:
		return l.apply.allow(rateKey(r.RemoteAddr))
	}
	return 0, true
}
