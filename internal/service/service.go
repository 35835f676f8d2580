// Package service is the one Go API behind every cmca command: the RA and
// CA operations, each a method taking a context and plain inputs and
// returning plain results. The CLI calls it in-process today; a remote
// transport (cmca serve) can expose the same methods over HTTPS without the
// commands changing.
package service

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// AcceptancePoint is an office that handles applications (申请受理点).
type AcceptancePoint struct {
	Name  string `mapstructure:"name" json:"name" yaml:"name"`
	Label string `mapstructure:"label" json:"label" yaml:"label"`
}

// Agreement is the subscriber agreement (数字证书订户协议) in force.
type Agreement struct {
	Version string `json:"version"`
	Text    string `json:"text"`
	// TextZH is the same version's text in Simplified Chinese, shown to
	// users whose language is zh-Hans; empty when the CA has none (they
	// are shown Text).
	TextZH string `json:"text_zh,omitempty"`
}

// Config is the service's configuration, read by the CLI. Security policy
// is not here: it is the home's (Policy, in the store). Config.Policy only
// seeds it, at init (and once for a home made before policy was stored).
type Config struct {
	// StoreURL is a PostgreSQL URL (postgres://...) for the store; empty
	// means SQLite, HOME/ra.db. The rest of the home (CA, CRLs) stays in
	// the home directory either way.
	StoreURL             string
	Policy               Policy        // seed of the home's policy; never read after
	CRLValidity          time.Duration // nextUpdate - thisUpdate
	CRLDistributionPoint []string
	// DeltaCRLDistributionPoint: where delta CRLs are published, named in
	// every full CRL's freshestCRL extension.
	DeltaCRLDistributionPoint []string
	OCSPServers               []string
	CAIssuersURL              []string
	PolicyOID                 string // the CA's certificate policy, in every certificate (config ca.policy_oid)
	// OCSP responses: nextUpdate - thisUpdate (ocsp.validity), the HTTP
	// max-age (ocsp.max_age) and the delegated signer's lifetime
	// (ocsp.signer_validity); see ocsp.go.
	OCSPValidity       time.Duration
	OCSPMaxAge         time.Duration
	OCSPSignerValidity time.Duration
	Profiles           []ca.Profile
	AcceptancePoints   []AcceptancePoint
	Agreement          Agreement
}

// DefaultConfig is what a fresh home runs with.
func DefaultConfig() Config {
	return Config{
		Policy:             DefaultPolicy(),
		CRLValidity:        7 * 24 * time.Hour,
		OCSPValidity:       DefaultOCSPValidity,
		OCSPMaxAge:         DefaultOCSPMaxAge,
		OCSPSignerValidity: DefaultOCSPSignerValidity,
		Profiles:           ca.DefaultProfiles(),
		AcceptancePoints: []AcceptancePoint{
			{Name: "online", Label: "Online service"},
			{Name: "head-office", Label: "Head office counter"},
		},
		Agreement: Agreement{Version: "2026-01", Text: DefaultAgreementText, TextZH: DefaultAgreementTextZH},
	}
}

// DefaultAgreementText is a placeholder agreement; a CA sets its own with the
// config keys agreement.version and agreement.text (or agreement.file).
const DefaultAgreementText = `Subscriber agreement (summary).
1. The information you give is true and complete; false information makes the certificate invalid.
2. You keep your private key, PIN and password secret and under your sole control.
3. You ask for revocation at once if the key is lost, disclosed or the certificate's data stops being true.
4. Revocation is permanent. The CA may revoke the certificate when it judges it necessary.`

// DefaultAgreementTextZH is DefaultAgreementText in Simplified Chinese
// (agreement.text_zh, agreement.file_zh).
const DefaultAgreementTextZH = `数字证书订户协议（摘要）。
1. 您提供的信息真实、完整；提供虚假信息将导致证书无效。
2. 您对私钥、PIN 码和口令保密，并由您本人唯一控制。
3. 如密钥丢失或泄露，或证书中的信息不再真实，您应立即申请证书作废。
4. 证书作废不可撤销。CA 在认为必要时可以作废证书。`

// Validate checks a configuration.
func (c *Config) Validate() error {
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if c.CRLValidity <= 0 {
		return ra.Fieldf("crl.validity", "must be positive")
	}
	if c.OCSPValidity > 0 && c.OCSPSignerValidity > 0 && c.OCSPSignerValidity < 3*c.OCSPValidity {
		// the signer is replaced with a third of its life left, which
		// must cover a response signed just before
		return ra.Fieldf("ocsp.signer_validity", "must be at least three times ocsp.validity (%s)", c.OCSPValidity)
	}
	if len(c.Profiles) == 0 {
		return ra.Fieldf("profiles", "at least one usage type is needed")
	}
	if err := (&ca.Profile{}).CheckExtras(c.Extras()); err != nil { // URL syntax and ca.policy_oid
		return err
	}
	for _, u := range c.DeltaCRLDistributionPoint {
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "ldap") || !isASCII(u) {
			return ra.Fieldf("crl.delta_distribution_points", "%q is not an absolute http, https or ldap URL in ASCII", u)
		}
	}
	seen := map[string]bool{}
	for i := range c.Profiles {
		if err := c.Profiles[i].Validate(); err != nil {
			return err
		}
		if seen[c.Profiles[i].Name] {
			return ra.Fieldf("profiles", "usage type %q defined twice", c.Profiles[i].Name)
		}
		seen[c.Profiles[i].Name] = true
	}
	if len(c.AcceptancePoints) == 0 {
		return ra.Fieldf("acceptance_points", "at least one acceptance point is needed")
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Profile returns the profile of a usage type.
func (c *Config) Profile(name string) (*ca.Profile, error) {
	var names []string
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			// e.g. an S/MIME profile without an http CRL distribution point
			if err := c.Profiles[i].CheckExtras(c.Extras()); err != nil {
				return nil, err
			}
			return &c.Profiles[i], nil
		}
		names = append(names, c.Profiles[i].Name)
	}
	return nil, ra.Fieldf("usage_type", "unknown usage type %q; use one of %s", name, strings.Join(names, ", "))
}

// Extras are the CA-wide URLs and policy put into every certificate.
func (c *Config) Extras() ca.Extras {
	ex := ca.Extras{CRLDistributionPoints: c.CRLDistributionPoint, OCSPServers: c.OCSPServers, IssuingCertificateURL: c.CAIssuersURL}
	if c.PolicyOID != "" {
		ex.PolicyOIDs = []string{c.PolicyOID}
	}
	return ex
}

func (c *Config) acceptancePoint(name string) error {
	var names []string
	for _, p := range c.AcceptancePoints {
		if p.Name == name {
			return nil
		}
		names = append(names, p.Name)
	}
	return ra.Fieldf("acceptance_point", "unknown acceptance point %q; use one of %s", name, strings.Join(names, ", "))
}

// CALoader produces the CA when an operation needs to sign. It is called at
// most once per Service, and only by operations that sign, so commands that
// never sign never ask for a token PIN.
type CALoader func(ctx context.Context) (*ca.CA, error)

// Service runs RA and CA operations on one home.
type Service struct {
	home   string
	store  *store.Store
	cfg    Config
	loadCA CALoader

	// identityErr is why the store does not match ca/ca.crt, for a
	// service opened by OpenToDiagnose; Doctor reports it.
	identityErr error

	caOnce sync.Once
	ca     *ca.CA
	caErr  error

	polMu sync.RWMutex
	pol   Policy // the home's policy, loaded from the store

	dl        downloadGroup          // concurrent Downloads, committed together
	snaps     snapshotBatch          // their presign reads, one snapshot per batch
	signers   chan struct{}          // slots for their signature work, one per CPU (groupcommit.go)
	pseudoKey atomic.Pointer[[]byte] // the store's pseudonym key, once read

	kekMu sync.Mutex
	kek   cipher.AEAD // passcode key-encryption key, loaded on first need

	cmpSweptAt atomic.Int64 // Unix time of the last CMP sweep

	ckMu      sync.Mutex // writeCheckpoint, one at a time
	ckWritten []byte     // the checkpoint file this process wrote last

	crlCache [2]atomic.Pointer[CurrentCRL] // full, delta: the last served (CurrentCRL)

	// Now is the clock; tests move it instead of sleeping.
	Now func() time.Time
	// Warn receives what went wrong after an operation committed (e.g. the
	// audit checkpoint could not be published); the CLI prints it on
	// stderr. Nil discards.
	Warn func(msg string)
}

// Home layout.
const (
	DBFile     = "ra.db"
	CADir      = "ca"
	CACertFile = "ca/ca.crt"
	CAKeyFile  = "ca/ca.key"
	CRLDir     = "crl"
)

// ErrNoHome means the home has not been initialised.
var ErrNoHome = errors.New("home not initialised")

// Open opens an initialised home for reading and writing. The store must
// exist (only Init creates one) and belong to the home's CA (see
// checkIdentity); a store of an older schema is migrated.
func Open(ctx context.Context, home string, cfg Config, loadCA CALoader) (*Service, error) {
	return openHome(ctx, home, cfg, loadCA, false, false)
}

// OpenReadOnly opens an initialised home whose store is only read: the
// store is opened read-only (store.OpenReadOnly), so commands that only
// read work on a read-only home and write nothing. Methods that write fail.
func OpenReadOnly(ctx context.Context, home string, cfg Config, loadCA CALoader) (*Service, error) {
	return openHome(ctx, home, cfg, loadCA, true, false)
}

// OpenToDiagnose opens a home read-only for Doctor: a store that does not
// match the home's CA certificate (checkIdentity) is opened anyway and the
// mismatch is one of the problems Doctor reports. Store files that are not
// a usable store (missing, empty, foreign, newer schema) are still refused.
func OpenToDiagnose(ctx context.Context, home string, cfg Config, loadCA CALoader) (*Service, error) {
	return openHome(ctx, home, cfg, loadCA, true, true)
}

func openHome(ctx context.Context, home string, cfg Config, loadCA CALoader, readOnly, diagnose bool) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, msg.Errorf("configuration: %w", err)
	}
	cfg.StoreURL = testhook.StoreURLFor(home, cfg.StoreURL)
	db := filepath.Join(home, DBFile)
	open := store.Open
	if readOnly {
		open = store.OpenReadOnly
	}
	noHome := func() error {
		return msg.Errorf("%s has no cmca store; run `cmca init --home %s` first, or put the store back from a backup (`cmca restore`): %w", home, home, ErrNoHome)
	}
	if cfg.StoreURL != "" {
		// PostgreSQL: the store is the database (store.OpenURL refuses an
		// empty one); the home holds the CA and the CRLs. No home at all
		// is no home, as on SQLite, whatever the database holds.
		if _, err := os.Lstat(home); errors.Is(err, fs.ErrNotExist) {
			return nil, noHome()
		}
		db, open = cfg.StoreURL, store.OpenURL
		if readOnly {
			open = store.OpenURLReadOnly
		}
	} else if _, err := os.Lstat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, noHome()
	}
	st, err := open(ctx, db)
	if err != nil {
		return nil, err
	}
	s := &Service{home: home, store: st, cfg: cfg, loadCA: loadCA, Now: testhook.Clock(), signers: make(chan struct{}, runtime.GOMAXPROCS(0))}
	st.Now = func() time.Time { return s.Now() }
	if loadCA == nil {
		s.loadCA = s.FileCA
	}
	// The store must be this home's before anything is read from it or
	// written to it (loadPolicy may seed an older home's policy).
	if err := s.checkIdentity(ctx); err != nil {
		if !diagnose || !(errors.Is(err, ErrOtherCA) || errors.Is(err, ra.ErrNotFound)) {
			st.Close()
			return nil, err
		}
		s.identityErr = err // Doctor reports it
	}
	if err := s.loadPolicy(ctx, cfg.Policy); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// SetCALoader replaces how the CA is loaded (e.g. from a PKCS#11 token).
func (s *Service) SetCALoader(l CALoader) { s.loadCA = l }

// Close releases the store.
func (s *Service) Close() error { return s.store.Close() }

// Store exposes the store to maintenance commands (doctor, backup).
func (s *Service) Store() *store.Store { return s.store }

// Home is the home directory.
func (s *Service) Home() string { return s.home }

// Config is the policy in force.
func (s *Service) Config() *Config { return &s.cfg }

// CA loads the CA on first use.
func (s *Service) CA(ctx context.Context) (*ca.CA, error) {
	s.caOnce.Do(func() { s.ca, s.caErr = s.loadCA(ctx) })
	return s.ca, s.caErr
}

// CACertificate reads the CA certificate without touching the key.
func (s *Service) CACertificate() ([]byte, error) {
	return os.ReadFile(filepath.Join(s.home, CACertFile))
}

// FileCA loads the CA certificate and a software key from the home.
func (s *Service) FileCA(ctx context.Context) (*ca.CA, error) {
	return LoadFileCA(s.home, false)
}

// LoadFileCA reads ca/ca.crt (with any chain after it) and ca/ca.key. A key
// file readable by group or others is refused unless insecure is set.
func LoadFileCA(home string, insecure bool) (*ca.CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(home, CACertFile))
	if err != nil {
		return nil, msg.Errorf("read CA certificate: %w", err)
	}
	certs, err := ca.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	keyPath := filepath.Join(home, CAKeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, msg.Errorf("read CA key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 && !insecure {
		return nil, msg.Errorf("%s is readable by others (mode %04o); run `chmod 600 %s` (or pass --insecure): %w", keyPath, fi.Mode().Perm(), keyPath, ra.ErrPolicy)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, msg.Errorf("read CA key: %w", err)
	}
	key, err := ca.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	return ca.New(certs[0], key, certs[1:])
}

// pseudonym derives the subject serialNumber of a person: an HMAC of the ID
// under a per-CA secret, so it is stable for one person and reveals nothing.
// The key, set once by init, is read from the store on first use and kept.
func (s *Service) pseudonym(tx *store.Tx, a ra.Applicant) (string, error) {
	key := s.pseudoKey.Load()
	if key == nil {
		k, err := tx.Meta("pseudonym_key")
		if err != nil {
			return "", err
		}
		b, err := hex.DecodeString(k)
		if err != nil || len(b) < 16 {
			return "", fmt.Errorf("store has no pseudonym key; was it initialised by `cmca init`?")
		}
		key = &b
		s.pseudoKey.Store(key)
	}
	m := hmac.New(sha256.New, *key)
	m.Write([]byte(string(a.IDType) + ":" + a.IDNumber))
	return "CMCA-" + strings.ToUpper(hex.EncodeToString(m.Sum(nil))[:24]), nil
}

func newSecretHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// audit builds an audit event for a request transition.
func event(op, action string, r *ra.Request, from ra.State, detail string) ra.Event {
	return ra.Event{Operator: op, Action: action, Ref: r.Ref, Serial: firstNonEmpty(r.CertSerial, r.TargetSerial), From: from, To: r.State, Detail: detail}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
