package service

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"github.com/cmca/cmca/internal/msg"
	"os"
	"path/filepath"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
	"github.com/cmca/cmca/internal/token"
)

// InitOptions describe a new home.
type InitOptions struct {
	CAName       string
	Organization string
	Country      string
	KeyAlgo      token.KeyAlgo
	Validity     time.Duration
	// Import an existing CA instead of making a self-signed one: a PEM
	// certificate (optionally followed by its chain) and a PEM key file.
	ImportCertPEM []byte
	ImportKeyPEM  []byte
	// Signer, when set, is a CA key that lives elsewhere (a PKCS#11 token);
	// KeyURI records where, so later commands can find it again.
	Signer crypto.Signer
	KeyURI string
	Force  bool // replace an existing home's store and CA
	// StoreURL: make the store in this PostgreSQL database (which must
	// exist and be empty) instead of HOME/ra.db.
	StoreURL string
	Now      time.Time
	// Policy seeds the home's security policy (nil: DefaultPolicy).
	Policy *Policy
}

// InitResult describes the CA of a new home.
type InitResult struct {
	Home      string    `json:"home"`
	Subject   string    `json:"ca_subject"`
	Serial    string    `json:"ca_serial"`
	KeyAlgo   string    `json:"ca_key_algo"`
	KeyURI    string    `json:"ca_key,omitempty"`
	NotAfter  time.Time `json:"ca_not_after"`
	CertPath  string    `json:"ca_cert_path"`
	Imported  bool      `json:"imported"`
	SchemaVer int       `json:"schema_version"`
	// StoreID is the new store's random ID (store_identity, migration
	// 0004); a backup carries it, a new `cmca init` makes another.
	StoreID string `json:"store_id"`
}

// Init creates a home: directories (0700), the store, and the CA.
func Init(ctx context.Context, home string, o InitOptions) (*InitResult, error) {
	if o.Now.IsZero() {
		o.Now = testhook.Clock()()
	}
	pol := DefaultPolicy()
	if o.Policy != nil {
		pol = *o.Policy
	}
	if err := pol.Validate(); err != nil {
		return nil, msg.Errorf("policy: %w", err)
	}
	dbPath := filepath.Join(home, DBFile)
	o.StoreURL = testhook.StoreURLFor(home, o.StoreURL)
	if o.StoreURL != "" {
		// Checked before anything is written: a home that has a CA keeps
		// it without --force (said first: its database is most likely
		// this home's store, not one to drop), and the database must be
		// empty (--force never empties a database).
		if _, err := os.Stat(filepath.Join(home, CACertFile)); err == nil && !o.Force {
			return nil, msg.Errorf("%s already holds a cmca store (its CA in %s, its records in the database); to replace it, pass --force and an empty database: %w", home, CACertFile, ra.ErrConflict)
		}
		if err := store.CheckEmptyURL(ctx, o.StoreURL); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(dbPath); err == nil && !o.Force {
		return nil, msg.Errorf("%s already holds a cmca store; pass --force to replace it (its records and CA will be lost): %w", home, ra.ErrConflict)
	}
	var cert *x509.Certificate
	var chain []*x509.Certificate
	var signer crypto.Signer
	var keyPEM []byte
	imported := false
	switch {
	case len(o.ImportCertPEM) > 0:
		certs, err := ca.ParseCertificatesPEM(o.ImportCertPEM)
		if err != nil {
			return nil, msg.Errorf("CA certificate: %v: %w", err, ra.ErrInvalid)
		}
		cert, chain = certs[0], certs[1:]
		signer = o.Signer
		if signer == nil {
			if len(o.ImportKeyPEM) == 0 {
				return nil, ra.Fieldf("ca-key", "importing a CA certificate needs its key: pass --ca-key FILE or a pkcs11: URI")
			}
			signer, err = ca.ParsePrivateKeyPEM(o.ImportKeyPEM)
			if err != nil {
				return nil, msg.Errorf("CA key: %v: %w", err, ra.ErrInvalid)
			}
			keyPEM = o.ImportKeyPEM
		}
		imported = true
	default:
		if o.CAName == "" {
			return nil, ra.Fieldf("ca-name", "is required")
		}
		if o.Validity < 24*time.Hour {
			return nil, ra.Fieldf("validity", "a CA needs at least one day of validity")
		}
		signer = o.Signer
		if signer == nil {
			var err error
			signer, err = token.GenerateSoftKey(o.KeyAlgo)
			if err != nil {
				return nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(signer)
			if err != nil {
				return nil, err
			}
			keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}
		var err error
		cert, err = ca.SelfSigned(ca.RootOptions{CommonName: o.CAName, Organization: o.Organization, Country: o.Country, Validity: o.Validity, Now: o.Now}, signer)
		if err != nil {
			return nil, err
		}
	}
	if _, err := ca.New(cert, signer, chain); err != nil {
		return nil, err
	}

	for _, d := range []string{home, filepath.Join(home, CADir), filepath.Join(home, CRLDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, msg.Errorf("create %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, err
		}
	}
	if o.Force && o.StoreURL == "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	if o.Force {
		os.Remove(filepath.Join(home, CAKeyFile))
	}
	if keyPEM != nil {
		if err := token.WriteSecretFile(filepath.Join(home, CAKeyFile), keyPEM, true); err != nil {
			return nil, err
		}
	}
	blocks := []*pem.Block{{Type: "CERTIFICATE", Bytes: cert.Raw}}
	for _, c := range chain {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := ca.WritePEM(filepath.Join(home, CACertFile), 0o644, blocks...); err != nil {
		return nil, err
	}
	// The only place a store is created. It records which CA it belongs
	// to; every later open compares that with ca/ca.crt.
	create, loc := store.Create, dbPath
	if o.StoreURL != "" {
		create, loc = store.CreateURL, o.StoreURL
	}
	st, err := create(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.Now = func() time.Time { return o.Now }
	fingerprint := sha256.Sum256(cert.Raw)
	keyRef := "file:" + CAKeyFile
	if o.KeyURI != "" {
		keyRef = o.KeyURI
	}
	storeID := store.NewStoreID()
	err = st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.SetIdentity(store.Identity{StoreID: storeID, CACertSHA256: hex.EncodeToString(fingerprint[:]), CreatedAt: o.Now}); err != nil {
			return err
		}
		for k, v := range map[string]string{"pseudonym_key": newSecretHex(32), "ca_key": keyRef, "created_at": o.Now.UTC().Format(time.RFC3339)} {
			if err := tx.SetMeta(k, v); err != nil {
				return err
			}
		}
		if err := tx.Audit(ra.Event{Operator: "system", Action: "init", Serial: ra.SerialString(cert.SerialNumber), Detail: "CA " + ca.DistinguishedName(cert.RawSubject)}); err != nil {
			return err
		}
		return seedPolicy(tx, pol, "system", "cmca init")
	})
	if err != nil {
		return nil, err
	}
	v, _ := st.SchemaVersion(ctx)
	return &InitResult{Home: home, Subject: ca.DistinguishedName(cert.RawSubject), Serial: ra.SerialString(cert.SerialNumber), KeyAlgo: ca.KeyDescription(cert.PublicKey),
		KeyURI: o.KeyURI, NotAfter: cert.NotAfter, CertPath: filepath.Join(home, CACertFile), Imported: imported, SchemaVer: v, StoreID: storeID}, nil
}

// CAKeyRef reads where the home's CA key lives: "file:ca/ca.key" or a
// pkcs11: URI.
func (s *Service) CAKeyRef(ctx context.Context) (string, error) {
	var ref string
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		ref, err = tx.Meta("ca_key")
		return err
	})
	return ref, err
}
