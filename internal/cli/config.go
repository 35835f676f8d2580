package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cmca/cmca/internal/ca"
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
	TokenModule string
	Service     service.Config
	// Counter mode (cmca apply --counter): the acceptance point of this
	// counter, and the operators who may carry a walk-in through approve,
	// issue and download in one sitting ("*" for any).
	CounterPoint   string
	CounterIssuers []string
	// Remote mode: the credential presented to the server (--login,
	// CMCA_LOGIN) and the file holding its password or PIN
	// (--login-password-file, CMCA_LOGIN_PASSWORD_FILE).
	Login             string
	LoginPasswordFile string
}

// configKeys documents every key with its default (docs/operations.md
// lists the same table; a test keeps the two in step).
var configDefaults = map[string]any{
	"home":                     "",
	"operator":                 "",
	"output":                   "text",
	"quiet":                    false,
	"accessible":               false,
	"insecure":                 false,
	"token.module":             "",
	"passcode.ttl":             "14d",
	"passcode.max_attempts":    5,
	"renew.window":             "30d",
	"renew.proof_max_age":      "10m",
	"crl.validity":             "7d",
	"crl.distribution_points":  []string{},
	"aia.ocsp":                 []string{},
	"aia.ca_issuers":           []string{},
	"ca.policy_oid":            "",
	"agreement.version":        "",
	"agreement.text":           "",
	"agreement.file":           "",
	"policy.four_eyes":         false,
	"counter.acceptance_point": "",
	"counter.issuers":          []string{},
	"login":                    "",
	"login_password_file":      "",
	"profiles":                 nil,
	"acceptance_points":        nil,
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
		if err := v.ReadInConfig(); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("read config %s: %v", file, err)}
		}
	} else if def := DefaultConfigFile(); def != "" {
		if _, err := os.Stat(def); err == nil {
			v.SetConfigFile(def)
			if err := v.ReadInConfig(); err != nil {
				return nil, &usageError{msg: fmt.Sprintf("read config %s: %v", def, err)}
			}
			file = def
		}
	}
	c := &Config{File: file, Home: v.GetString("home"), Operator: v.GetString("operator"), Output: v.GetString("output"),
		Quiet: v.GetBool("quiet"), Accessible: v.GetBool("accessible"), Insecure: v.GetBool("insecure"), TokenModule: v.GetString("token.module")}
	c.CounterPoint, c.CounterIssuers = v.GetString("counter.acceptance_point"), v.GetStringSlice("counter.issuers")
	c.Login, c.LoginPasswordFile = v.GetString("login"), v.GetString("login_password_file")
	if c.Home == "" {
		c.Home = DefaultHome()
	}
	if c.Operator == "" {
		if u, err := user.Current(); err == nil {
			c.Operator = u.Username
		} else {
			c.Operator = "operator"
		}
	}
	if c.Output != "text" && c.Output != "json" {
		return nil, &usageError{msg: fmt.Sprintf("--output must be text or json, got %q", c.Output)}
	}
	s := service.DefaultConfig()
	var err error
	durations := []struct {
		key string
		dst *time.Duration
	}{{"passcode.ttl", &s.PasscodeTTL}, {"renew.window", &s.RenewWindow}, {"renew.proof_max_age", &s.ProofMaxAge}, {"crl.validity", &s.CRLValidity}}
	for _, d := range durations {
		if *d.dst, err = ParseDuration(v.GetString(d.key)); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("config %s: %v", d.key, err)}
		}
	}
	s.MaxPasscodeAttempts = v.GetInt("passcode.max_attempts")
	s.CRLDistributionPoint = v.GetStringSlice("crl.distribution_points")
	s.OCSPServers = v.GetStringSlice("aia.ocsp")
	s.CAIssuersURL = v.GetStringSlice("aia.ca_issuers")
	s.PolicyOID = v.GetString("ca.policy_oid")
	s.FourEyes = v.GetBool("policy.four_eyes")
	if v.IsSet("profiles") {
		var ps []ca.Profile
		if err := v.UnmarshalKey("profiles", &ps); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("config profiles: %v", err)}
		}
		s.Profiles = ps
	}
	if v.IsSet("acceptance_points") {
		var aps []service.AcceptancePoint
		if err := v.UnmarshalKey("acceptance_points", &aps); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("config acceptance_points: %v", err)}
		}
		s.AcceptancePoints = aps
	}
	if ver := v.GetString("agreement.version"); ver != "" {
		s.Agreement.Version = ver
	}
	if t := v.GetString("agreement.text"); t != "" {
		s.Agreement.Text = t
	}
	if f := v.GetString("agreement.file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("config agreement.file: %v", err)}
		}
		s.Agreement.Text = string(b)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	c.Service = s
	return c, nil
}

// ParseDuration accepts Go durations ("36h", "10m") and whole days ("14d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, &ra.FieldError{Field: "duration", Msg: fmt.Sprintf("%q is not a number of days", s)}
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if y, ok := strings.CutSuffix(s, "y"); ok {
		n, err := strconv.Atoi(y)
		if err != nil || n < 0 {
			return 0, &ra.FieldError{Field: "duration", Msg: fmt.Sprintf("%q is not a number of years", s)}
		}
		return time.Duration(n) * 365 * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &ra.FieldError{Field: "duration", Msg: fmt.Sprintf("%q is not a duration (e.g. 14d, 36h, 10y)", s)}
	}
	return d, nil
}
