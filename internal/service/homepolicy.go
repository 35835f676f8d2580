package service

import (
	"context"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// Policy is the home's security policy. It lives in the store (table
// policy): seeded from the configuration by `cmca init`, changed only by
// PolicySet (`cmca policy set`, admin role, audited), and loaded by the
// service itself. Nothing a caller passes (flags, environment, its own
// config file) changes it.
type Policy struct {
	PasscodeTTL         time.Duration `json:"passcode_ttl"`
	MaxPasscodeAttempts int           `json:"passcode_max_attempts"`
	RenewWindow         time.Duration `json:"renew_window"`  // renewals this close to expiry are approved automatically
	ProofMaxAge         time.Duration `json:"proof_max_age"` // how old a renewal's proof of possession may be
	FourEyes            bool          `json:"four_eyes"`     // approver may not be the submitter; issuer may not be the approver
	// CounterIssuers may carry a walk-in through approve, issue and
	// download in one sitting (apply --counter --issue); "*" for any.
	CounterIssuers []string `json:"counter_issuers"`
	// Usages are the usage types that may be applied for; "*" for every
	// profile in the configuration.
	Usages []string `json:"usages"`
	// Per client address of `cmca serve`: applications (apply, lookup,
	// renew, revoke, reissue) and passcode attempts (download).
	ApplyLimit    RateLimit `json:"ratelimit_apply"`
	PasscodeLimit RateLimit `json:"ratelimit_passcode"`
	// OCSPLimit: OCSP answers that cost a signature (a nonce, an unknown
	// serial, several certificates in one request).
	OCSPLimit RateLimit `json:"ratelimit_ocsp"`
	// CertLimit: revoke and reissue requests without proof of possession
	// per certificate, counted in the store (every process and instance).
	CertLimit CertLimit `json:"ratelimit_certificate"`
}

// DefaultPolicy is what a new home gets without configuration.
func DefaultPolicy() Policy {
	return Policy{PasscodeTTL: 14 * 24 * time.Hour, MaxPasscodeAttempts: 5, RenewWindow: 30 * 24 * time.Hour,
		ProofMaxAge: 10 * time.Minute, CounterIssuers: []string{}, Usages: []string{"*"},
		ApplyLimit: RateLimit{Burst: 20, Every: 30 * time.Second}, PasscodeLimit: RateLimit{Burst: 10, Every: 6 * time.Second},
		OCSPLimit: RateLimit{Burst: 100, Every: 100 * time.Millisecond}, CertLimit: CertLimit{N: 3, Window: 24 * time.Hour}}
}

// PolicyKey describes one policy setting: its name (the same as the config
// key that seeds it at init), what it means, and its range.
type PolicyKey struct {
	Key   string `json:"key"`
	Help  string `json:"help"`
	Range string `json:"range"`
	get   func(*Policy) string
	set   func(*Policy, string) error
}

// PolicyKeys lists every policy key.
var PolicyKeys = []PolicyKey{
	{Key: "passcode.ttl", Help: "how long a download passcode is valid", Range: "1m to 365d",
		get: func(p *Policy) string { return formatDuration(p.PasscodeTTL) },
		set: func(p *Policy, v string) (err error) {
			p.PasscodeTTL, err = parsePolicyDuration("passcode.ttl", v, time.Minute, 365*24*time.Hour)
			return err
		}},
	{Key: "passcode.max_attempts", Help: "wrong passcodes before the passcode locks", Range: "1 to 100",
		get: func(p *Policy) string { return strconv.Itoa(p.MaxPasscodeAttempts) },
		set: func(p *Policy, v string) (err error) {
			p.MaxPasscodeAttempts, err = parsePolicyInt("passcode.max_attempts", v, 1, 100)
			return err
		}},
	{Key: "renew.window", Help: "renewals this close to expiry are approved automatically (0 turns automatic renewal off)", Range: "0 to 365d",
		get: func(p *Policy) string { return formatDuration(p.RenewWindow) },
		set: func(p *Policy, v string) (err error) {
			p.RenewWindow, err = parsePolicyDuration("renew.window", v, 0, 365*24*time.Hour)
			return err
		}},
	{Key: "renew.proof_max_age", Help: "how far a proof of possession's time may be from now", Range: "10s to 24h",
		get: func(p *Policy) string { return formatDuration(p.ProofMaxAge) },
		set: func(p *Policy, v string) (err error) {
			p.ProofMaxAge, err = parsePolicyDuration("renew.proof_max_age", v, 10*time.Second, 24*time.Hour)
			return err
		}},
	{Key: "policy.four_eyes", Help: "the approver may not be the submitter or applicant, the issuer not the approver", Range: "true or false",
		get: func(p *Policy) string { return strconv.FormatBool(p.FourEyes) },
		set: func(p *Policy, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return ra.Fieldf("policy.four_eyes", "%q is not true or false", v)
			}
			p.FourEyes = b
			return nil
		}},
	{Key: "counter.issuers", Help: "operators who may approve, issue and hand over at the counter in one sitting", Range: "operator names, comma-separated; * for any; empty for none",
		get: func(p *Policy) string { return strings.Join(p.CounterIssuers, ",") },
		set: func(p *Policy, v string) (err error) {
			p.CounterIssuers, err = parseOperatorList(v)
			return err
		}},
	{Key: "usage.allowed", Help: "usage types that may be applied for", Range: "usage type names, comma-separated; * for all",
		get: func(p *Policy) string { return strings.Join(p.Usages, ",") },
		set: func(p *Policy, v string) error {
			var out []string
			for _, u := range splitList(v) {
				if u != "*" && !validUsageName(u) {
					return ra.Fieldf("usage.allowed", "%q is not a usage type name", u)
				}
				out = append(out, u)
			}
			if len(out) == 0 {
				return ra.Fieldf("usage.allowed", "name at least one usage type, or * for all")
			}
			p.Usages = out
			return nil
		}},
	{Key: "ratelimit.apply", Help: "cmca serve, per client address: applications (apply, lookup, renew, revoke, reissue; CMP kur, rr) at once / one more every", Range: rateLimitRange,
		get: func(p *Policy) string { return p.ApplyLimit.String() },
		set: func(p *Policy, v string) (err error) {
			p.ApplyLimit, err = parseRateLimit("ratelimit.apply", v)
			return err
		}},
	{Key: "ratelimit.passcode", Help: "cmca serve, per client address: passcode attempts (download, EST simpleenroll, CMP ir/cr/p10cr) at once / one more every", Range: rateLimitRange,
		get: func(p *Policy) string { return p.PasscodeLimit.String() },
		set: func(p *Policy, v string) (err error) {
			p.PasscodeLimit, err = parseRateLimit("ratelimit.passcode", v)
			return err
		}},
	{Key: "ratelimit.ocsp", Help: "cmca serve, per client address: OCSP answers signed on demand (a nonce, an unknown serial, several certificates) at once / one more every", Range: rateLimitRange,
		get: func(p *Policy) string { return p.OCSPLimit.String() },
		set: func(p *Policy, v string) (err error) {
			p.OCSPLimit, err = parseRateLimit("ratelimit.ocsp", v)
			return err
		}},
	{Key: "ratelimit.certificate", Help: "per certificate, in the store (every process and cmca serve instance): revoke and reissue requests without proof of possession, filed by callers without an operator role, at most N in any WINDOW", Range: certLimitRange,
		get: func(p *Policy) string { return p.CertLimit.String() },
		set: func(p *Policy, v string) (err error) {
			p.CertLimit, err = parseCertLimit("ratelimit.certificate", v)
			return err
		}},
}

// IsPolicyKey reports whether key is stored in the home's policy.
func IsPolicyKey(key string) bool {
	_, ok := policyKey(key)
	return ok
}

func policyKey(key string) (*PolicyKey, bool) {
	for i := range PolicyKeys {
		if PolicyKeys[i].Key == key {
			return &PolicyKeys[i], true
		}
	}
	return nil, false
}

// Get returns the canonical text of one key.
func (p *Policy) Get(key string) (string, bool) {
	k, ok := policyKey(key)
	if !ok {
		return "", false
	}
	return k.get(p), true
}

// Set parses and range-checks one key's value into p.
func (p *Policy) Set(key, value string) error {
	k, ok := policyKey(key)
	if !ok {
		return unknownPolicyKey(key)
	}
	return k.set(p, value)
}

// Validate checks every value of p is in range (the same checks as Set).
func (p *Policy) Validate() error {
	for _, k := range PolicyKeys {
		var q Policy
		if err := k.set(&q, k.get(p)); err != nil {
			return err
		}
	}
	return nil
}

// AllowsUsage reports whether usage type u may be applied for.
func (p *Policy) AllowsUsage(u string) bool {
	return slices.Contains(p.Usages, "*") || slices.Contains(p.Usages, u)
}

// MayIssueAtCounter reports whether the operator named name is a counter
// issuer.
func (p *Policy) MayIssueAtCounter(name string) bool {
	return slices.Contains(p.CounterIssuers, "*") || slices.Contains(p.CounterIssuers, name)
}

func unknownPolicyKey(key string) error {
	var names []string
	for _, k := range PolicyKeys {
		names = append(names, k.Key)
	}
	return ra.Fieldf("key", "%q is not a policy key; use one of %s", key, strings.Join(names, ", "))
}

func validUsageName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseOperatorList validates every name like an operator name ("*" for
// any), so the list compares with validated callers.
func parseOperatorList(v string) ([]string, error) {
	out := []string{}
	for _, s := range splitList(v) {
		if s == "*" {
			out = append(out, s)
			continue
		}
		n, err := ra.ValidateOperator(s)
		if err != nil {
			return nil, &ra.FieldError{Field: "counter.issuers", Msg: err.Error()}
		}
		out = append(out, n)
	}
	return out, nil
}

func parsePolicyInt(key, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, ra.Fieldf(key, "%q is not a whole number from %d to %d", v, lo, hi)
	}
	return n, nil
}

// parsePolicyDuration accepts Go durations ("36h", "10m") and whole days
// ("14d") within [lo, hi]; a number too large for a duration is out of
// range, never wrapped round.
func parsePolicyDuration(key, v string, lo, hi time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(v)
	bad := func() (time.Duration, error) {
		return 0, ra.Fieldf(key, "%q is not a duration from %s to %s (e.g. 14d, 36h, 10m)", v, formatDuration(lo), formatDuration(hi))
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return bad()
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return bad()
		}
	}
	if d < lo || d > hi {
		return bad()
	}
	return d, nil
}

// formatDuration writes whole days as "14d", other durations as Go does.
func formatDuration(d time.Duration) string {
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// seedPolicy writes p as the home's policy, every key, audited.
func seedPolicy(tx *store.Tx, p Policy, by, why string) error {
	if err := p.Validate(); err != nil {
		return msg.Errorf("policy: %w", err)
	}
	var parts []string
	for _, k := range PolicyKeys {
		v := k.get(&p)
		if err := tx.SetPolicy(k.Key, v, by); err != nil {
			return err
		}
		parts = append(parts, k.Key+"="+v)
	}
	return tx.Audit(ra.Event{Operator: by, Action: "policy-seed", Detail: why + ": " + strings.Join(parts, " ")})
}

// readPolicy reads the home's policy. Keys missing from the store (added
// by a newer cmca than the one that seeded it) take their defaults.
func readPolicy(tx *store.Tx) (Policy, int, error) {
	rows, err := tx.Policy()
	if err != nil {
		return Policy{}, 0, err
	}
	p := DefaultPolicy()
	for _, r := range rows {
		k, ok := policyKey(r.Key)
		if !ok {
			continue // a key of a newer cmca: not ours to judge
		}
		if err := k.set(&p, r.Value); err != nil {
			return Policy{}, 0, msg.Errorf("stored policy %s: %w; fix it with `cmca policy set %s VALUE`", r.Key, err, r.Key)
		}
	}
	return p, len(rows), nil
}

// loadPolicy reads the home's policy into s; a home made before policy
// was stored (no rows) is seeded once from seed, the configuration of this
// first open.
func (s *Service) loadPolicy(ctx context.Context, seed Policy) error {
	var p Policy
	var n int
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		p, n, err = readPolicy(tx)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 && s.store.ReadOnly() {
		// A read-only open writes nothing: the seed is in force until a
		// command that writes stores it.
		p = seed
	} else if n == 0 {
		err = s.store.Tx(ctx, func(tx *store.Tx) error {
			if p, n, err = readPolicy(tx); err != nil || n > 0 { // another process seeded it meanwhile
				return err
			}
			p = seed
			return seedPolicy(tx, p, "system", "home made before policy was stored; seeded from the configuration of its first open")
		})
		if err != nil {
			return err
		}
	}
	s.polMu.Lock()
	s.pol = p
	s.polMu.Unlock()
	return nil
}

// Policy is the home's policy in force.
func (s *Service) Policy() Policy {
	s.polMu.RLock()
	defer s.polMu.RUnlock()
	p := s.pol
	p.CounterIssuers, p.Usages = slices.Clone(p.CounterIssuers), slices.Clone(p.Usages)
	return p
}

// PolicySetting is one row of `cmca policy show`.
type PolicySetting struct {
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	Range     string    `json:"range"`
	Help      string    `json:"help"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// PolicySettings lists every policy key with its stored value; the caller
// needs an operator role (any).
func (s *Service) PolicySettings(ctx context.Context) ([]PolicySetting, error) {
	if _, err := principal.Require(ctx, principal.AnyRole); err != nil {
		return nil, err
	}
	var rows []store.PolicyRow
	var p Policy
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if rows, err = tx.Policy(); err != nil {
			return err
		}
		p, _, err = readPolicy(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]PolicySetting, 0, len(PolicyKeys))
	for _, k := range PolicyKeys {
		ps := PolicySetting{Key: k.Key, Value: k.get(&p), Range: k.Range, Help: k.Help}
		for _, r := range rows {
			if r.Key == k.Key {
				ps.UpdatedAt, ps.UpdatedBy = r.UpdatedAt, r.UpdatedBy
			}
		}
		out = append(out, ps)
	}
	return out, nil
}

// PolicyChange is the result of PolicySet.
type PolicyChange struct {
	Key  string `json:"key"`
	From string `json:"from"`
	To   string `json:"to"`
}

// PolicySet changes one policy key, range-checked and audited. The caller
// (in ctx) needs the admin role.
func (s *Service) PolicySet(ctx context.Context, key, value string) (*PolicyChange, error) {
	p, err := principal.Require(ctx, principal.Admin)
	if err != nil {
		return nil, err
	}
	k, ok := policyKey(key)
	if !ok {
		return nil, unknownPolicyKey(key)
	}
	var out *PolicyChange
	var pol Policy
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		cur, _, err := readPolicy(tx)
		if err != nil {
			return err
		}
		next := cur
		next.CounterIssuers, next.Usages = slices.Clone(cur.CounterIssuers), slices.Clone(cur.Usages)
		if err := k.set(&next, value); err != nil {
			return err
		}
		out = &PolicyChange{Key: key, From: k.get(&cur), To: k.get(&next)}
		if err := tx.SetPolicy(key, out.To, p.String()); err != nil {
			return err
		}
		pol = next
		return tx.Audit(ra.Event{Operator: p.String(), Action: "policy-set", Detail: fmt.Sprintf("%s: %s -> %s", key, out.From, out.To)})
	})
	if err != nil {
		return nil, err
	}
	s.polMu.Lock()
	s.pol = pol
	s.polMu.Unlock()
	return out, nil
}
