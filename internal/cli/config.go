package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/spf13/viper"
)

// Config is every setting, resolved once: flag > CMCA_* environment >
// config file > default. Commands read these typed values, never viper.
type Config struct {
	File        string // the config file read, if any
	Home        string
	Operator    string
	Output      string // text or json
	Quiet       bool
	Accessible  bool
	Insecure    bool
	Lang        string // ui.lang: the language of messages and help; "" follows the locale
	TokenModule string
	Service     service.Config
	// Counter mode (cmca apply --counter): the acceptance point of this
	// counter. (Who may issue at the counter is policy: counter.issuers.)
	CounterPoint string
	// PolicyGiven maps each policy key this caller set (environment or
	// config file) to where it came from. After init such a key may only
	// repeat the home's stored value (checkPolicyOverrides).
	PolicyGiven map[string]string
	// The subject of a self-signed CA made by `cmca init`: organisation (O)
	// and country (C), when not given as flags.
	CAOrganization string
	CACountry      string
	// Remote mode: the server the commands talk to instead of the home
	// (server.url, --server, CMCA_SERVER) and the CA file that authenticates
	// it (server.ca, --server-ca, CMCA_SERVER_CA).
	ServerURL string
	ServerCA  string
	// cmca serve: the HTTPS and plain-HTTP listen addresses and the names of
	// the server certificate.
	Listen     string
	ListenHTTP string
	Names      []string
	// Remote mode: the credential presented to the server (--login,
	// CMCA_LOGIN) and the file holding its password or PIN
	// (--login-password-file, CMCA_LOGIN_PASSWORD_FILE).
	Login             string
	LoginPasswordFile string
}

// configKeys documents every key with its default (docs/operations.md
// lists the same table; a test keeps the two in step).
var configDefaults = map[string]any{
	"home":                          "",
	"store.url":                     "",
	"operator":                      "",
	"output":                        "text",
	"quiet":                         false,
	"accessible":                    false,
	"insecure":                      false,
	"ui.lang":                       "",
	"token.module":                  "",
	"passcode.ttl":                  "14d",
	"passcode.max_attempts":         5,
	"renew.window":                  "30d",
	"renew.proof_max_age":           "10m",
	"crl.validity":                  "7d",
	"crl.distribution_points":       []string{},
	"crl.delta_distribution_points": []string{},
	"aia.ocsp":                      []string{},
	"aia.ca_issuers":                []string{},
	"server.public_url":             "",
	"ocsp.validity":                 "1d",
	"ocsp.max_age":                  "5m",
	"ocsp.signer_validity":          "30d",
	"ca.policy_oid":                 "",
	"ca.organization":               "",
	"ca.country":                    "",
	"agreement.version":             "",
	"agreement.text":                "",
	"agreement.file":                "",
	"agreement.text_zh":             "",
	"agreement.file_zh":             "",
	"policy.four_eyes":              false,
	"counter.acceptance_point":      "",
	"counter.issuers":               []string{},
	"usage.allowed":                 []string{"*"},
	"ratelimit.apply":               "20/30s",
	"ratelimit.passcode":            "10/6s",
	"ratelimit.ocsp":                "100/100ms",
	"ratelimit.certificate":         "3/1d",
	"server.url":                    "",
	"server.ca":                     "",
	"server.listen":                 "",
	"server.listen_http":            "",
	"server.names":                  []string{},
	"login":                         "",
	"login_password_file":           "",
	"profiles":                      nil,
	"acceptance_points":             nil,
}

func newViper() *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("CMCA")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	for k, d := range configDefaults {
		if d != nil {
			v.SetDefault(k, d)
		}
	}
	return v
}

// DefaultHome is where data lives without --home: $XDG_DATA_HOME/cmca or
// ~/.local/share/cmca.
func DefaultHome() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cmca")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "cmca")
	}
	return "cmca-home"
}

// DefaultConfigFile is os.UserConfigDir()/cmca/config.yaml.
func DefaultConfigFile() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "cmca", "config.yaml")
}

// loadConfig reads the config file (explicit, or the default if present)
// and resolves every key.
func loadConfig(v *viper.Viper, explicit string) (*Config, error) {
	file := explicit
	if file == "" {
		file = os.Getenv("CMCA_CONFIG")
	}
	if file != "" {
		v.SetConfigFile(file)
		if !knownConfigExt(file) {
			// /dev/null, a here-document, a name without an extension: YAML
			// (JSON is YAML too), not viper's `Unsupported Config Type ""`.
			v.SetConfigType("yaml")
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, usagef("read config %s: %v", file, err)
		}
	} else if def := DefaultConfigFile(); def != "" {
		if _, err := os.Stat(def); err == nil {
			v.SetConfigFile(def)
			if err := v.ReadInConfig(); err != nil {
				return nil, usagef("read config %s: %v", def, err)
			}
			file = def
		}
	}
	c := &Config{File: file, Home: v.GetString("home"), Operator: v.GetString("operator"), Output: v.GetString("output"),
		Quiet: v.GetBool("quiet"), Accessible: v.GetBool("accessible"), Insecure: v.GetBool("insecure"), TokenModule: v.GetString("token.module")}
	c.CounterPoint = v.GetString("counter.acceptance_point")
	if c.Lang = v.GetString("ui.lang"); c.Lang != "" {
		if _, err := msg.Parse(c.Lang); err != nil {
			return nil, usagef("--lang or config ui.lang: %v", err)
		}
	}
	c.CAOrganization, c.CACountry = v.GetString("ca.organization"), v.GetString("ca.country")
	c.ServerURL, c.ServerCA = v.GetString("server.url"), v.GetString("server.ca")
	c.Listen, c.ListenHTTP, c.Names = v.GetString("server.listen"), v.GetString("server.listen_http"), v.GetStringSlice("server.names")
	if u := os.Getenv("CMCA_SERVER"); u != "" && !v.IsSet("server_flag") {
		c.ServerURL = u // beside CMCA_SERVER_URL, which viper reads for server.url
	}
	if u := v.GetString("server_flag"); u != "" {
		c.ServerURL = u
	}
	if c.ServerURL != "" && v.GetString("operator") != "" {
		return nil, usagef("--operator, CMCA_OPERATOR and config operator are refused against a server (--server, CMCA_SERVER, server.url): the server names you from your login credential")
	}
	c.Login, c.LoginPasswordFile = v.GetString("login"), v.GetString("login_password_file")
	if c.Home == "" {
		c.Home = DefaultHome()
	}
	if c.Output != "text" && c.Output != "json" {
		return nil, usagef("--output must be text or json, got %q", c.Output)
	}
	s := service.DefaultConfig()
	s.StoreURL = v.GetString("store.url")
	var err error
	for _, k := range durationKeys {
		if *k.dst(&s), err = parseDurationKey(k, v.GetString(k.key)); err != nil {
			return nil, usagef("config %s: %v", k.key, err)
		}
	}
	s.CRLDistributionPoint = v.GetStringSlice("crl.distribution_points")
	s.DeltaCRLDistributionPoint = v.GetStringSlice("crl.delta_distribution_points")
	s.OCSPServers = v.GetStringSlice("aia.ocsp")
	s.CAIssuersURL = v.GetStringSlice("aia.ca_issuers")
	if err := s.ApplyPublicURL(v.GetString("server.public_url")); err != nil {
		return nil, errorf("configuration: %w", err)
	}
	s.PolicyOID = v.GetString("ca.policy_oid")
	if c.PolicyGiven, err = policySeed(v, &s.Policy); err != nil {
		return nil, err
	}
	if v.IsSet("profiles") {
		var ps []ca.Profile
		if err := v.UnmarshalKey("profiles", &ps); err != nil {
			return nil, usagef("config profiles: %v", err)
		}
		s.Profiles = ps
	}
	if v.IsSet("acceptance_points") {
		var aps []service.AcceptancePoint
		if err := v.UnmarshalKey("acceptance_points", &aps); err != nil {
			return nil, usagef("config acceptance_points: %v", err)
		}
		s.AcceptancePoints = aps
	}
	if ver := v.GetString("agreement.version"); ver != "" {
		s.Agreement.Version = ver
	}
	if t := v.GetString("agreement.text"); t != "" {
		s.Agreement.Text, s.Agreement.TextZH = t, "" // the default Chinese text is not its translation
	}
	if f := v.GetString("agreement.file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("config agreement.file: %v", err)
		}
		s.Agreement.Text, s.Agreement.TextZH = string(b), ""
	}
	if t := v.GetString("agreement.text_zh"); t != "" {
		s.Agreement.TextZH = t
	}
	if f := v.GetString("agreement.file_zh"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("config agreement.file_zh: %v", err)
		}
		s.Agreement.TextZH = string(b)
	}
	if err := s.Validate(); err != nil {
		return nil, errorf("configuration: %w", err)
	}
	c.Service = s
	return c, nil
}

// knownConfigExt reports whether viper can tell the file's format from its
// name.
func knownConfigExt(file string) bool {
	ext := strings.TrimPrefix(filepath.Ext(file), ".")
	for _, e := range viper.SupportedExts {
		if strings.EqualFold(e, ext) {
			return true
		}
	}
	return false
}

// MaxDuration is the longest duration cmca accepts anywhere: 100 years.
// Longer ones are refused, not wrapped around (585y once became 21 days).
const MaxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration accepts Go durations ("36h", "10m"), whole days ("14d")
// and whole years of 365 days ("10y"), from 0 up to MaxDuration. A value
// out of range is an error, never an overflowed duration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	unit, what := time.Duration(0), ""
	num, isDays := strings.CutSuffix(s, "d")
	if isDays {
		unit, what = 24*time.Hour, "days"
	} else if y, ok := strings.CutSuffix(s, "y"); ok {
		num, unit, what = y, 365*24*time.Hour, "years"
	}
	if unit != 0 {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, ra.Fieldf("duration", "%q is not a number of %s", s, what)
		}
		if n > int64(MaxDuration/unit) {
			return 0, ra.Fieldf("duration", "%q is too long: at most %d %s (100 years)", s, MaxDuration/unit, what)
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s) // an overflow is an error here too
	if err != nil || d < 0 {
		return 0, ra.Fieldf("duration", "%q is not a duration from 0 to 100y (e.g. 14d, 36h, 10y)", s)
	}
	if d > MaxDuration {
		return 0, ra.Fieldf("duration", "%q is too long: at most 100y", s)
	}
	return d, nil
}

// durationKey is a configuration key holding a duration and its range.
// The policy durations (passcode.ttl, renew.*) are range-checked by
// service.Policy.Set, the same check `cmca policy set` makes.
type durationKey struct {
	key      string
	min, max time.Duration
	dst      func(*service.Config) *time.Duration
}

// durationKeys are the duration keys of the configuration with the range
// each accepts (docs/operations.md).
var durationKeys = []durationKey{
	{"crl.validity", time.Hour, 365 * 24 * time.Hour, func(c *service.Config) *time.Duration { return &c.CRLValidity }},
	{"ocsp.validity", time.Hour, 7 * 24 * time.Hour, func(c *service.Config) *time.Duration { return &c.OCSPValidity }},
	{"ocsp.max_age", time.Minute, 24 * time.Hour, func(c *service.Config) *time.Duration { return &c.OCSPMaxAge }},
	{"ocsp.signer_validity", 24 * time.Hour, 90 * 24 * time.Hour, func(c *service.Config) *time.Duration { return &c.OCSPSignerValidity }},
}

// parseDurationKey parses and range-checks the value of a duration key.
func parseDurationKey(k durationKey, s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < k.min || d > k.max {
		return 0, ra.Fieldf(k.key, "%q is out of range: from %s to %s", s, fmtDuration(k.min), fmtDuration(k.max))
	}
	return d, nil
}

// fmtDuration writes whole days as "14d".
func fmtDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// policySeed reads the policy keys of the configuration into p (the seed
// `cmca init` stores) with the same range checks as `cmca policy set`, and
// reports which keys this caller set, and where.
func policySeed(v *viper.Viper, p *service.Policy) (map[string]string, error) {
	given := map[string]string{}
	for _, k := range service.PolicyKeys {
		val := strings.Join(v.GetStringSlice(k.Key), ",")
		if k.Key != "counter.issuers" && k.Key != "usage.allowed" {
			val = v.GetString(k.Key)
		}
		if err := p.Set(k.Key, val); err != nil {
			return nil, errorf("configuration: %w", err)
		}
		env := "CMCA_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.Key))
		switch {
		case os.Getenv(env) != "":
			given[k.Key] = "environment variable " + env
		case v.InConfig(k.Key):
			given[k.Key] = "config file " + v.ConfigFileUsed()
		}
	}
	return given, nil
}

// checkPolicyOverrides refuses a caller whose environment or config file
// sets a policy key to anything but the home's stored value: policy is the
// home's, changed only by `cmca policy set`. Every command but init runs
// this check (init seeds the policy from the same keys).
func checkPolicyOverrides(c *Config, stored service.Policy) error {
	for _, k := range service.PolicyKeys {
		from, ok := c.PolicyGiven[k.Key]
		if !ok {
			continue
		}
		want, _ := c.Service.Policy.Get(k.Key)
		have, _ := stored.Get(k.Key)
		if want != have {
			return errorf("%s sets %s to %s, but the home's policy says %s and a caller cannot change it: change it with `cmca policy set %s %s` (admin role), or remove the setting from %s: %w",
				from, k.Key, want, have, k.Key, want, from, ra.ErrPolicy)
		}
	}
	return nil
}
