//go:build cgo

package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/cmca/cmca/internal/ra"
)

// A PKCS#11 library keeps process-wide state: loading the same library twice
// gives the same instance, a second C_Initialize fails and one C_Finalize
// ends it for everybody. Modules opened from the same file therefore share
// one initialized context, finalized when the last Module is closed.
var (
	modulesMu sync.Mutex
	modules   = map[string]*moduleCtx{}
)

type moduleCtx struct {
	key      string
	ctx      *pkcs11.Ctx
	refs     int
	finalize bool // we initialized it, so we finalize it

	mu     sync.Mutex
	logins map[uint]int // logged-in sessions per slot
}

// Module is a loaded PKCS#11 library. Close it when done.
type Module struct {
	path string
	mc   *moduleCtx

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
}

// OpenModule loads the PKCS#11 library at path and initializes it.
func OpenModule(path string) (*Module, error) {
	if path == "" {
		return nil, classed(ra.ErrInvalid, "no PKCS#11 module given; set CMCA_TOKEN_MODULE to the token's PKCS#11 library (for SoftHSM: /usr/lib/softhsm/libsofthsm2.so)")
	}
	key := path
	if strings.ContainsRune(path, os.PathSeparator) {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, classed(ra.ErrNotFound, "PKCS#11 module %s does not exist; check CMCA_TOKEN_MODULE and that the token's driver is installed", path)
			}
			return nil, fmt.Errorf("PKCS#11 module: %w", err)
		}
		if p, err := filepath.EvalSymlinks(path); err == nil {
			key = p
		}
		if p, err := filepath.Abs(key); err == nil {
			key = p
		}
	}

	modulesMu.Lock()
	defer modulesMu.Unlock()
	if mc := modules[key]; mc != nil {
		mc.refs++
		return newModule(path, mc), nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, classed(ra.ErrInvalid, "cannot load %s as a PKCS#11 module; check that CMCA_TOKEN_MODULE names the token's PKCS#11 library for this architecture", path)
	}
	mc := &moduleCtx{key: key, ctx: ctx, refs: 1, finalize: true, logins: map[uint]int{}}
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, mapP11Error(err, "initialize PKCS#11 module %s", path)
		}
		mc.finalize = false // somebody else in this process owns it
	}
	modules[key] = mc
	return newModule(path, mc), nil
}

func newModule(path string, mc *moduleCtx) *Module {
	return &Module{path: path, mc: mc, sessions: map[*Session]struct{}{}}
}

// Close closes the module's open Sessions and releases the module. The
// library is finalized and unloaded when the last Module opened from the
// same file is closed.
func (m *Module) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	open := make([]*Session, 0, len(m.sessions))
	for s := range m.sessions {
		open = append(open, s)
	}
	m.mu.Unlock()

	var errs []error
	for _, s := range open {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}

	modulesMu.Lock()
	defer modulesMu.Unlock()
	mc := m.mc
	mc.refs--
	if mc.refs > 0 {
		return errors.Join(errs...)
	}
	delete(modules, mc.key)
	if mc.finalize {
		if err := mc.ctx.Finalize(); err != nil {
			errs = append(errs, mapP11Error(err, "finalize PKCS#11 module"))
		}
	}
	mc.ctx.Destroy()
	return errors.Join(errs...)
}

// live reports an error if m was closed.
func (m *Module) live() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return classed(ra.ErrConflict, "PKCS#11 module %s is closed; open it again", m.path)
	}
	return nil
}

type slotToken struct {
	slot uint
	info TokenInfo
}

func tokenInfo(ti pkcs11.TokenInfo) TokenInfo {
	t := TokenInfo{
		Label:         strings.TrimRight(ti.Label, " \x00"),
		Serial:        strings.TrimRight(ti.SerialNumber, " \x00"),
		Manufacturer:  strings.TrimRight(ti.ManufacturerID, " \x00"),
		Model:         strings.TrimRight(ti.Model, " \x00"),
		Initialized:   ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0,
		LoginRequired: ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0,
		ReadOnly:      ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0,
	}
	t.URI = (&URI{Token: t.Label, Manufacturer: t.Manufacturer, Model: t.Model, Serial: t.Serial}).String()
	return t
}

// slots lists the slots that hold a token right now. Slot IDs are only valid
// until the next C_Initialize, so they never leave this package.
func (m *Module) slots(ctx context.Context) ([]slotToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.live(); err != nil {
		return nil, err
	}
	ids, err := m.mc.ctx.GetSlotList(true)
	if err != nil {
		return nil, mapP11Error(err, "list slots")
	}
	var out []slotToken
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ti, err := m.mc.ctx.GetTokenInfo(id)
		if err != nil {
			if isRV(err, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID) {
				continue // removed while we looked
			}
			return nil, mapP11Error(err, "read token information")
		}
		out = append(out, slotToken{slot: id, info: tokenInfo(ti)})
	}
	// Slot order is the module's business; users get a stable order:
	// initialized tokens by label and serial, then the free ones.
	slices.SortStableFunc(out, func(a, b slotToken) int {
		if a.info.Initialized != b.info.Initialized {
			if a.info.Initialized {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.info.Label, b.info.Label); c != 0 {
			return c
		}
		return strings.Compare(a.info.Serial, b.info.Serial)
	})
	return out, nil
}

// Tokens lists the tokens present, including uninitialized ones (SoftHSM
// always shows one free, uninitialized token): initialized ones first, by
// label and serial.
func (m *Module) Tokens(ctx context.Context) ([]TokenInfo, error) {
	st, err := m.slots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TokenInfo, len(st))
	for i, s := range st {
		out[i] = s.info
	}
	return out, nil
}

// Open finds the initialized token sel names, opens a session on it and, if
// pin is not nil, logs in as the user. A zero Selector picks the only
// initialized token; with several it returns *AmbiguousTokenError. A
// write-protected token is opened read-only: signing works, while
// GenerateKey, ImportCertificate and DeleteObjects fail with ra.ErrConflict.
func (m *Module) Open(ctx context.Context, sel Selector, pin []byte) (*Session, error) {
	st, err := m.slots(ctx)
	if err != nil {
		return nil, err
	}
	var present, match []slotToken
	for _, s := range st {
		if !s.info.Initialized {
			continue
		}
		present = append(present, s)
		if sel.Matches(s.info) {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 0 && len(present) == 0:
		return nil, classed(ra.ErrNotFound, "no initialized token found in %s; plug in the token (or initialize it) and try again", m.path)
	case len(match) == 0:
		names := make([]string, len(present))
		for i, s := range present {
			names[i] = s.info.String()
		}
		return nil, classed(ra.ErrNotFound, "no token matches %s; tokens present: %s", sel, strings.Join(names, ", "))
	case len(match) > 1:
		e := &AmbiguousTokenError{}
		for _, s := range match {
			e.Tokens = append(e.Tokens, s.info)
		}
		return nil, e
	}
	tok := match[0]
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	p := m.mc.ctx
	readOnly := tok.info.ReadOnly
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if !readOnly {
		flags |= pkcs11.CKF_RW_SESSION
	}
	h, err := p.OpenSession(tok.slot, flags)
	if isRV(err, pkcs11.CKR_TOKEN_WRITE_PROTECTED) {
		readOnly = true
		h, err = p.OpenSession(tok.slot, pkcs11.CKF_SERIAL_SESSION)
	}
	if err != nil {
		return nil, mapP11Error(err, "open session on token %s", tok.info)
	}
	s := &Session{m: m, h: h, slot: tok.slot, info: tok.info}
	s.info.ReadOnly = readOnly
	if pin != nil {
		err := p.Login(h, pkcs11.CKU_USER, string(pin))
		if err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
			_ = p.CloseSession(h)
			return nil, mapP11Error(err, "log in to token %s", tok.info)
		}
		s.loggedIn = true
		m.mc.mu.Lock()
		m.mc.logins[tok.slot]++
		m.mc.mu.Unlock()
	}
	m.mu.Lock()
	if m.closed { // closed while we were opening
		m.mu.Unlock()
		_ = s.Close()
		return nil, classed(ra.ErrConflict, "PKCS#11 module %s is closed; open it again", m.path)
	}
	m.sessions[s] = struct{}{}
	m.mu.Unlock()
	return s, nil
}

// Session is an open session on one token. Its methods and the Signers it
// returns may be used from several goroutines; calls are serialized.
type Session struct {
	m        *Module
	slot     uint
	info     TokenInfo
	loggedIn bool

	mu     sync.Mutex
	h      pkcs11.SessionHandle
	closed bool
}

// Info describes the session's token. ReadOnly is also set when the token
// refused a read-write session.
func (s *Session) Info() TokenInfo { return s.info }

// Close logs out (if this was the last logged-in session on the token in
// this process) and closes the session. Signers from it stop working.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	p := s.m.mc.ctx
	var errs []error
	if s.loggedIn {
		mc := s.m.mc
		mc.mu.Lock()
		mc.logins[s.slot]--
		last := mc.logins[s.slot] <= 0
		if last {
			delete(mc.logins, s.slot)
		}
		mc.mu.Unlock()
		if last {
			if err := p.Logout(s.h); err != nil && !isRV(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
				errs = append(errs, mapP11Error(err, "log out"))
			}
		}
	}
	if err := p.CloseSession(s.h); err != nil {
		errs = append(errs, mapP11Error(err, "close session"))
	}
	s.m.mu.Lock()
	delete(s.m.sessions, s)
	s.m.mu.Unlock()
	return errors.Join(errs...)
}

// begin locks the session for one operation.
func (s *Session) begin(ctx context.Context) (*pkcs11.Ctx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, classed(ra.ErrConflict, "token session is closed; open the token again")
	}
	return s.m.mc.ctx, nil
}

func (s *Session) needWrite(what string) error {
	if s.info.ReadOnly {
		return classed(ra.ErrConflict, "%s: token %s is write-protected; remove the write protection and try again", what, s.info)
	}
	if !s.loggedIn {
		return classed(ra.ErrAuth, "%s: not logged in to token %s; give the user PIN", what, s.info)
	}
	return nil
}

// findObjects returns the handles of the objects that match template.
// The caller holds s.mu.
func (s *Session) findObjects(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	p := s.m.mc.ctx
	if err := p.FindObjectsInit(s.h, template); err != nil {
		return nil, mapP11Error(err, "search objects")
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := p.FindObjects(s.h, 64)
		if err != nil {
			_ = p.FindObjectsFinal(s.h)
			return nil, mapP11Error(err, "search objects")
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := p.FindObjectsFinal(s.h); err != nil {
		return nil, mapP11Error(err, "search objects")
	}
	return out, nil
}

// attrs reads attributes of one object, skipping (leaving nil) those the
// object does not have. The caller holds s.mu.
func (s *Session) attrs(h pkcs11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	p := s.m.mc.ctx
	template := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		template[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := p.GetAttributeValue(s.h, h, template)
	if err == nil {
		out := make(map[uint][]byte, len(got))
		for _, a := range got {
			out[a.Type] = a.Value
		}
		return out, nil
	}
	if !isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, mapP11Error(err, "read object attributes")
	}
	// One attribute is missing or secret: read them one at a time.
	out := make(map[uint][]byte, len(types))
	for _, t := range types {
		got, err := p.GetAttributeValue(s.h, h, []*pkcs11.Attribute{pkcs11.NewAttribute(t, nil)})
		switch {
		case err == nil:
			out[t] = got[0].Value
		case isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_SENSITIVE):
		default:
			return nil, mapP11Error(err, "read object attributes")
		}
	}
	return out, nil
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// GenerateKey generates a key pair on the token: a private key that never
// leaves it (sensitive, not extractable, sign only) and its public key, both
// with CKA_ID id and CKA_LABEL label. It fails with ra.ErrConflict if
// objects with that ID exist already or the token is full.
func (s *Session) GenerateKey(ctx context.Context, algo KeyAlgo, id []byte, label string) (crypto.Signer, error) {
	if len(id) == 0 {
		return nil, classed(ra.ErrInvalid, "generate key: empty key ID; give the key an ID")
	}
	var (
		mech    uint
		keyType uint
		pubAlgo []*pkcs11.Attribute
	)
	switch algo {
	case ECDSAP256, ECDSAP384:
		oid := oidP256
		if algo == ECDSAP384 {
			oid = oidP384
		}
		params, err := asn1.Marshal(oid)
		if err != nil {
			return nil, fmt.Errorf("generate key: encode curve: %w", err)
		}
		mech, keyType = pkcs11.CKM_EC_KEY_PAIR_GEN, pkcs11.CKK_EC
		pubAlgo = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params)}
	case RSA2048, RSA3072:
		bits := 2048
		if algo == RSA3072 {
			bits = 3072
		}
		mech, keyType = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, pkcs11.CKK_RSA
		pubAlgo = []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		}
	default:
		if _, err := ParseKeyAlgo(string(algo)); err != nil {
			return nil, err
		}
		return nil, classed(ra.ErrInvalid, "generate key: %s keys cannot be made on a token", algo)
	}

	p, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if err := s.needWrite("generate key"); err != nil {
		return nil, err
	}
	existing, err := s.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, classed(ra.ErrConflict, "generate key: token %s already holds %d object(s) with ID %X; choose another ID or delete them", s.info, len(existing), id)
	}

	common := func(class uint) []*pkcs11.Attribute {
		a := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}
		if label != "" {
			a = append(a, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
		}
		return a
	}
	pubT := append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
	)
	pubT = append(pubT, pubAlgo...)
	privT := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	)

	pubH, privH, err := p.GenerateKeyPair(s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT)
	if err != nil {
		// C_GenerateKeyPair creates both keys or neither, but a token may
		// misbehave: clear away anything left under this ID.
		_ = s.destroyAll(id)
		return nil, mapP11Error(err, "generate %s key on token %s", algo, s.info)
	}
	pub, err := s.readPublic(pubH, keyType)
	if err != nil {
		_ = p.DestroyObject(s.h, privH)
		_ = p.DestroyObject(s.h, pubH)
		return nil, fmt.Errorf("generate key: read the new public key: %w", err)
	}
	return &p11Signer{s: s, priv: privH, pub: pub}, nil
}

// destroyAll destroys every object with CKA_ID id, as far as it can.
// The caller holds s.mu.
func (s *Session) destroyAll(id []byte) error {
	hs, err := s.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		if err := s.m.mc.ctx.DestroyObject(s.h, h); err != nil {
			errs = append(errs, mapP11Error(err, "delete object with ID %X", id))
		}
	}
	return errors.Join(errs...)
}

// readPublic reads the public key of a public key object.
// The caller holds s.mu.
func (s *Session) readPublic(h pkcs11.ObjectHandle, keyType uint) (crypto.PublicKey, error) {
	switch keyType {
	case pkcs11.CKK_EC:
		a, err := s.attrs(h, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		return parseECPoint(a[pkcs11.CKA_EC_PARAMS], a[pkcs11.CKA_EC_POINT])
	case pkcs11.CKK_RSA:
		a, err := s.attrs(h, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		return parseRSA(a[pkcs11.CKA_MODULUS], a[pkcs11.CKA_PUBLIC_EXPONENT])
	}
	return nil, classed(ra.ErrInvalid, "key type 0x%X is not supported; use an EC or RSA key", keyType)
}

func parseECPoint(params, point []byte) (*ecdsa.PublicKey, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) > 0 {
		return nil, classed(ra.ErrInvalid, "EC key has unreadable CKA_EC_PARAMS (only named curves are supported)")
	}
	var curve elliptic.Curve
	switch {
	case oid.Equal(oidP256):
		curve = elliptic.P256()
	case oid.Equal(oidP384):
		curve = elliptic.P384()
	case oid.Equal(oidP521):
		curve = elliptic.P521()
	default:
		return nil, classed(ra.ErrInvalid, "EC curve %s is not supported; use P-256 or P-384", oid)
	}
	// PKCS#11 says CKA_EC_POINT is a DER OCTET STRING; a few tokens give
	// the bare point instead.
	var raw []byte
	if rest, err := asn1.Unmarshal(point, &raw); err != nil || len(rest) > 0 {
		raw = point
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		if pub2, err2 := ecdsa.ParseUncompressedPublicKey(curve, point); err2 == nil {
			return pub2, nil
		}
		return nil, classed(ra.ErrInvalid, "EC key has an unreadable CKA_EC_POINT: %v", err)
	}
	return pub, nil
}

func parseRSA(modulus, exponent []byte) (*rsa.PublicKey, error) {
	if len(modulus) == 0 || len(exponent) == 0 {
		return nil, classed(ra.ErrInvalid, "RSA key lacks its modulus or exponent")
	}
	e := new(big.Int).SetBytes(exponent)
	if !e.IsInt64() || e.Int64() > 1<<31-1 || e.Int64() < 3 {
		return nil, classed(ra.ErrInvalid, "RSA public exponent %s is not supported", e)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(e.Int64())}, nil
}

// Signer returns the private key with CKA_ID id as a crypto.Signer. Its
// public key comes from the public key object with the same ID, or else
// from a certificate with that ID.
func (s *Session) Signer(ctx context.Context, id []byte) (crypto.Signer, error) {
	if _, err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.signerLocked(id)
}

func (s *Session) signerLocked(id []byte) (*p11Signer, error) {
	if len(id) == 0 {
		return nil, classed(ra.ErrInvalid, "empty key ID; name the key by its ID")
	}
	hs, err := s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(hs) == 0 && !s.loggedIn:
		return nil, classed(ra.ErrNotFound, "no private key with ID %X visible on token %s without logging in; give the user PIN", id, s.info)
	case len(hs) == 0:
		return nil, classed(ra.ErrNotFound, "no private key with ID %X on token %s", id, s.info)
	case len(hs) > 1:
		return nil, classed(ra.ErrConflict, "token %s has %d private keys with ID %X; delete the extra ones", s.info, len(hs), id)
	}
	priv := hs[0]
	a, err := s.attrs(priv, pkcs11.CKA_KEY_TYPE)
	if err != nil {
		return nil, err
	}
	keyType, ok := attrUint(a[pkcs11.CKA_KEY_TYPE])
	if !ok {
		return nil, classed(ra.ErrInvalid, "private key with ID %X has no readable key type", id)
	}
	pub, err := s.publicFor(id, keyType)
	if err != nil {
		return nil, err
	}
	return &p11Signer{s: s, priv: priv, pub: pub}, nil
}

// publicFor finds the public key for the key pair with CKA_ID id.
// The caller holds s.mu.
func (s *Session) publicFor(id []byte, keyType uint) (crypto.PublicKey, error) {
	hs, err := s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	if len(hs) > 0 {
		return s.readPublic(hs[0], keyType)
	}
	hs, err = s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		a, err := s.attrs(h, pkcs11.CKA_VALUE)
		if err != nil {
			return nil, err
		}
		if cert, err := x509.ParseCertificate(a[pkcs11.CKA_VALUE]); err == nil {
			return cert.PublicKey, nil
		}
	}
	return nil, classed(ra.ErrNotFound, "token %s has a private key with ID %X but no public key or certificate for it; import its certificate", s.info, id)
}

// KeyIDByLabel returns the CKA_ID of the private key with CKA_LABEL label,
// for keys a user names by object= in a PKCS#11 URI. Log in first. It fails
// with ra.ErrNotFound if there is none and ra.ErrConflict if several keys
// carry the label.
func (s *Session) KeyIDByLabel(ctx context.Context, label string) ([]byte, error) {
	if label == "" {
		return nil, classed(ra.ErrInvalid, "find key: empty label; name the key by its label")
	}
	if _, err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	hs, err := s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(hs) == 0 && !s.loggedIn:
		return nil, classed(ra.ErrNotFound, "no private key labelled %q visible on token %s without logging in; give the user PIN", label, s.info)
	case len(hs) == 0:
		return nil, classed(ra.ErrNotFound, "no private key labelled %q on token %s", label, s.info)
	case len(hs) > 1:
		return nil, classed(ra.ErrConflict, "token %s has %d private keys labelled %q; name the key by id= in the URI", s.info, len(hs), label)
	}
	a, err := s.attrs(hs[0], pkcs11.CKA_ID)
	if err != nil {
		return nil, err
	}
	if len(a[pkcs11.CKA_ID]) == 0 {
		return nil, classed(ra.ErrInvalid, "the private key labelled %q on token %s has no ID; give it one (pkcs11-tool --set-id)", label, s.info)
	}
	return a[pkcs11.CKA_ID], nil
}

// FindKey returns the CKA_ID of the key pair whose public key equals pub.
// Only private keys are searched, so log in first.
func (s *Session) FindKey(ctx context.Context, pub crypto.PublicKey) ([]byte, error) {
	want, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, classed(ra.ErrInvalid, "find key: public key type %T is not supported", pub)
	}
	if _, err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	hs, err := s.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := s.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE)
		if err != nil {
			return nil, err
		}
		keyType, ok := attrUint(a[pkcs11.CKA_KEY_TYPE])
		id := a[pkcs11.CKA_ID]
		if !ok || len(id) == 0 {
			continue
		}
		got, err := s.publicFor(id, keyType)
		if err != nil {
			continue // not a usable key pair
		}
		if want.Equal(got) {
			return id, nil
		}
	}
	if !s.loggedIn {
		return nil, classed(ra.ErrNotFound, "no key pair for this public key visible on token %s without logging in; give the user PIN", s.info)
	}
	return nil, classed(ra.ErrNotFound, "no key pair for this public key on token %s", s.info)
}

// ImportCertificate stores cert on the token as a public X.509 certificate
// object with CKA_ID id. Importing the same certificate under the same ID
// again does nothing. If a key pair with that ID exists, cert must be for
// it (ra.ErrConflict otherwise).
func (s *Session) ImportCertificate(ctx context.Context, id []byte, label string, cert *x509.Certificate) error {
	if cert == nil || len(cert.Raw) == 0 {
		return classed(ra.ErrInvalid, "import certificate: no certificate given")
	}
	if len(id) == 0 {
		return classed(ra.ErrInvalid, "import certificate: empty ID; give the certificate its key's ID")
	}
	p, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.info.ReadOnly {
		return classed(ra.ErrConflict, "import certificate: token %s is write-protected; remove the write protection and try again", s.info)
	}
	hs, err := s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return err
	}
	for _, h := range hs {
		a, err := s.attrs(h, pkcs11.CKA_VALUE)
		if err != nil {
			return err
		}
		if bytes.Equal(a[pkcs11.CKA_VALUE], cert.Raw) {
			return nil
		}
	}
	if keys, err := s.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}); err != nil {
		return err
	} else if len(keys) > 0 {
		a, err := s.attrs(keys[0], pkcs11.CKA_KEY_TYPE)
		if err != nil {
			return err
		}
		if kt, ok := attrUint(a[pkcs11.CKA_KEY_TYPE]); ok {
			pub, err := s.readPublic(keys[0], kt)
			if err == nil {
				if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && !k.Equal(cert.PublicKey) {
					return classed(ra.ErrConflict, "import certificate: the certificate is not for the key with ID %X on token %s", id, s.info)
				}
			}
		}
	}

	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return fmt.Errorf("import certificate: encode serial number: %w", err)
	}
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	}
	if label != "" {
		template = append(template, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	if _, err := p.CreateObject(s.h, template); err != nil {
		return mapP11Error(err, "import certificate to token %s", s.info)
	}
	return nil
}

// DeleteObjects destroys every object with CKA_ID id: key pair and
// certificates. Deleting an ID that has no objects is not an error.
func (s *Session) DeleteObjects(ctx context.Context, id []byte) error {
	if len(id) == 0 {
		return classed(ra.ErrInvalid, "delete objects: empty ID; name the objects by their ID")
	}
	if _, err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.needWrite("delete objects"); err != nil {
		return err
	}
	return s.destroyAll(id)
}

var classNames = map[uint]string{
	pkcs11.CKO_PRIVATE_KEY: "private-key",
	pkcs11.CKO_PUBLIC_KEY:  "public-key",
	pkcs11.CKO_CERTIFICATE: "certificate",
	pkcs11.CKO_DATA:        "data",
	pkcs11.CKO_SECRET_KEY:  "secret-key",
}

var keyTypeNames = map[uint]string{
	pkcs11.CKK_EC:  "EC",
	pkcs11.CKK_RSA: "RSA",
	pkcs11.CKK_DSA: "DSA",
	pkcs11.CKK_AES: "AES",
	pkcs11.CKK_DH:  "DH",
}

// Objects lists the objects visible in the session (private objects only
// after logging in), sorted by ID and then class.
func (s *Session) Objects(ctx context.Context) ([]Object, error) {
	if _, err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	hs, err := s.findObjects(nil)
	if err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(hs))
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := s.attrs(h, pkcs11.CKA_CLASS, pkcs11.CKA_LABEL, pkcs11.CKA_ID)
		if err != nil {
			return nil, err
		}
		class, _ := attrUint(a[pkcs11.CKA_CLASS])
		o := Object{Class: classNames[class], Label: string(a[pkcs11.CKA_LABEL]), ID: a[pkcs11.CKA_ID]}
		if o.Class == "" {
			o.Class = "other"
		}
		switch class {
		case pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY:
			k, err := s.attrs(h, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE)
			if err != nil {
				return nil, err
			}
			if kt, ok := attrUint(k[pkcs11.CKA_KEY_TYPE]); ok {
				o.KeyType = keyTypeNames[kt]
				if o.KeyType == "" {
					o.KeyType = fmt.Sprintf("0x%X", kt)
				}
			}
			if class != pkcs11.CKO_PUBLIC_KEY {
				o.Extractable = attrBool(k[pkcs11.CKA_EXTRACTABLE])
				o.Sensitive = attrBool(k[pkcs11.CKA_SENSITIVE])
			}
		case pkcs11.CKO_CERTIFICATE:
			c, err := s.attrs(h, pkcs11.CKA_VALUE)
			if err != nil {
				return nil, err
			}
			if cert, err := x509.ParseCertificate(c[pkcs11.CKA_VALUE]); err == nil {
				o.Certificate = cert
			}
		}
		out = append(out, o)
	}
	order := map[string]int{"private-key": 0, "public-key": 1, "certificate": 2}
	slices.SortStableFunc(out, func(a, b Object) int {
		if c := bytes.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		oa, ok := order[a.Class]
		if !ok {
			oa = 3
		}
		ob, ok := order[b.Class]
		if !ok {
			ob = 3
		}
		return oa - ob
	})
	return out, nil
}

// attrUint decodes a CK_ULONG attribute, which tokens return in the
// host's byte order and size.
func attrUint(b []byte) (uint, bool) {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b)), true
	case 4:
		return uint(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

func attrBool(b []byte) *bool {
	if len(b) != 1 {
		return nil
	}
	v := b[0] != 0
	return &v
}

// p11Signer is a private key on a token.
type p11Signer struct {
	s    *Session
	priv pkcs11.ObjectHandle
	pub  crypto.PublicKey
}

func (k *p11Signer) Public() crypto.PublicKey { return k.pub }

var digestInfoOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

var pssHashes = map[crypto.Hash][2]uint{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// Sign signs digest with the key on the token. ECDSA signatures are
// returned ASN.1-encoded; RSA uses PKCS #1 v1.5, or PSS for *rsa.PSSOptions.
func (k *p11Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	hash := crypto.Hash(0)
	if opts != nil {
		hash = opts.HashFunc()
	}
	if hash != 0 && len(digest) != hash.Size() {
		return nil, classed(ra.ErrInvalid, "sign: digest is %d bytes, %s needs %d", len(digest), hash, hash.Size())
	}
	var (
		mech *pkcs11.Mechanism
		data = digest
	)
	switch k.pub.(type) {
	case *ecdsa.PublicKey:
		mech = pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			h, ok := pssHashes[hash]
			if !ok {
				return nil, classed(ra.ErrInvalid, "sign: RSA-PSS with %s is not supported; use SHA-256, SHA-384 or SHA-512", hash)
			}
			salt := pss.SaltLength
			if salt == rsa.PSSSaltLengthEqualsHash || salt == rsa.PSSSaltLengthAuto {
				salt = hash.Size()
			}
			if salt < 0 {
				return nil, classed(ra.ErrInvalid, "sign: RSA-PSS salt length %d is not supported", pss.SaltLength)
			}
			mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(h[0], h[1], uint(salt)))
			break
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
		if hash != 0 {
			oid, ok := digestInfoOIDs[hash]
			if !ok {
				return nil, classed(ra.ErrInvalid, "sign: RSA PKCS #1 v1.5 with %s is not supported; use SHA-256, SHA-384 or SHA-512", hash)
			}
			di, err := asn1.Marshal(struct {
				Algorithm pkix.AlgorithmIdentifier
				Digest    []byte
			}{pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}, digest})
			if err != nil {
				return nil, fmt.Errorf("sign: encode DigestInfo: %w", err)
			}
			data = di
		}
	default:
		return nil, classed(ra.ErrInvalid, "sign: key type %T is not supported", k.pub)
	}

	s := k.s
	p, err := s.begin(context.Background())
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if err := p.SignInit(s.h, []*pkcs11.Mechanism{mech}, k.priv); err != nil {
		return nil, mapP11Error(err, "sign with token %s", s.info)
	}
	sig, err := p.Sign(s.h, data)
	if err != nil {
		return nil, mapP11Error(err, "sign with token %s", s.info)
	}
	if _, ok := k.pub.(*ecdsa.PublicKey); ok {
		if len(sig) == 0 || len(sig)%2 != 0 {
			return nil, fmt.Errorf("sign: token %s returned a malformed ECDSA signature of %d bytes", s.info, len(sig))
		}
		n := len(sig) / 2
		return asn1.Marshal(struct{ R, S *big.Int }{
			new(big.Int).SetBytes(sig[:n]),
			new(big.Int).SetBytes(sig[n:]),
		})
	}
	return sig, nil
}

// isRV reports whether err is one of the PKCS#11 return values rvs.
func isRV(err error, rvs ...uint) bool {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return false
	}
	return slices.Contains(rvs, uint(e))
}

// tokenError is a PKCS#11 failure translated for users: it wraps one of the
// ra error classes and the original pkcs11.Error. The operation is a
// catalogue format and its arguments (internal/msg), so the whole message
// can be shown in the user's language.
type tokenError struct {
	opFormat string
	opArgs   []any
	msg      string
	class    error
	rv       pkcs11.Error
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("%s: %s (%v)", fmt.Sprintf(e.opFormat, e.opArgs...), e.msg, e.rv)
}

func (e *tokenError) Unwrap() []error { return []error{e.class, e.rv} }

// Translate is the message in p's language (msg.Translatable).
func (e *tokenError) Translate(p msg.Printer) string {
	return p.Sprintf("%s: %s (%v)", p.Sprintf(e.opFormat, e.opArgs...), p.T(e.msg), e.rv)
}

var rvClasses = map[uint]struct {
	class error
	msg   string
}{
	pkcs11.CKR_PIN_INCORRECT:            {ra.ErrAuth, "wrong PIN"},
	pkcs11.CKR_PIN_INVALID:              {ra.ErrAuth, "wrong PIN (it has characters the token does not accept)"},
	pkcs11.CKR_PIN_LEN_RANGE:            {ra.ErrAuth, "wrong PIN (its length is outside what the token accepts)"},
	pkcs11.CKR_PIN_LOCKED:               {ra.ErrAuth, "PIN is locked after too many wrong tries; ask the token's security officer to unblock it with the SO PIN"},
	pkcs11.CKR_PIN_EXPIRED:              {ra.ErrAuth, "PIN has expired; set a new one with the token's tools"},
	pkcs11.CKR_USER_NOT_LOGGED_IN:       {ra.ErrAuth, "not logged in; give the user PIN"},
	pkcs11.CKR_USER_PIN_NOT_INITIALIZED: {ra.ErrConflict, "token has no user PIN yet; set one with the SO PIN first"},
	pkcs11.CKR_TOKEN_WRITE_PROTECTED:    {ra.ErrConflict, "token is write-protected; remove the write protection and try again"},
	pkcs11.CKR_SESSION_READ_ONLY:        {ra.ErrConflict, "token is write-protected; remove the write protection and try again"},
	pkcs11.CKR_DEVICE_MEMORY:            {ra.ErrConflict, "token is full; delete unused keys or certificates from it"},
	pkcs11.CKR_DEVICE_REMOVED:           {ra.ErrNotFound, "token removed; plug it in and try again"},
	pkcs11.CKR_TOKEN_NOT_PRESENT:        {ra.ErrNotFound, "token removed; plug it in and try again"},
	pkcs11.CKR_MECHANISM_INVALID:        {ra.ErrInvalid, "the token does not support this algorithm; choose another key algorithm"},
	pkcs11.CKR_CURVE_NOT_SUPPORTED:      {ra.ErrInvalid, "the token does not support this curve; choose another key algorithm"},
	pkcs11.CKR_DOMAIN_PARAMS_INVALID:    {ra.ErrInvalid, "the token does not support this curve; choose another key algorithm"},
	pkcs11.CKR_KEY_SIZE_RANGE:           {ra.ErrInvalid, "the token does not support this key size; choose another key algorithm"},
	pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED: {
		ra.ErrPolicy, "the token does not allow this key to be used for signing"},
}

// mapP11Error translates a PKCS#11 error from the operation opFormat
// names (a catalogue format, with its arguments) into an error that wraps
// an ra error class and says what to do. Other errors are wrapped with the
// operation only.
func mapP11Error(err error, opFormat string, opArgs ...any) error {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(opFormat, opArgs...), err)
	}
	if c, ok := rvClasses[uint(rv)]; ok {
		return &tokenError{opFormat: opFormat, opArgs: opArgs, msg: c.msg, class: c.class, rv: rv}
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(opFormat, opArgs...), err)
}
