package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	xocsp "golang.org/x/crypto/ocsp"
)

// Store is what the responder needs of the store (store.Store and a
// transaction for writes; the service adapts them).
type Store interface {
	// OCSPRevision grows with every revocation.
	OCSPRevision(ctx context.Context) (int64, error)
	// OCSPCertificate is a certificate's status and its stored response
	// for a CertID hash, or nil when no certificate has the serial.
	OCSPCertificate(ctx context.Context, serial, hash string) (*store.OCSPCertificate, error)
	// PutOCSPResponse stores a pre-signed response.
	PutOCSPResponse(ctx context.Context, r *store.OCSPResponse) error
	// OCSPStale lists certificates whose responses need signing.
	OCSPStale(ctx context.Context, hash string, now, due time.Time, limit int) ([]store.OCSPCertificate, error)
	// LocalRevocations counts revocations committed by this process.
	LocalRevocations() int64
	// EachOCSPResponse streams the current stored responses for hash.
	EachOCSPResponse(ctx context.Context, hash string, now time.Time, fn func(store.OCSPResponse) error) error
}

// Options configure a Responder.
type Options struct {
	Issuer *x509.Certificate // the CA whose certificates are answered for
	Store  Store
	// Validity is nextUpdate - thisUpdate of every response (default 24h).
	// A pre-signed response is signed again when half of it has passed.
	Validity time.Duration
	// MaxAge is the most an HTTP cache may keep a response (Cache-Control
	// max-age; default 5 minutes, never beyond nextUpdate).
	MaxAge time.Duration
	// CacheEntries bounds the responses kept in memory (default 100000).
	CacheEntries int
	// RevisionPoll: how often the store's revocation revision is read.
	// Zero reads it for every request (requests arriving together share
	// one read), so a revocation by any process shows at once. Above zero,
	// revocations by this process still show at once (LocalRevocations);
	// those by other processes within RevisionPoll.
	RevisionPoll time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// Responder answers OCSP requests for one CA.
type Responder struct {
	o       Options
	hashes  map[crypto.Hash]issuerID
	signer  atomic.Pointer[Signer]
	gate    revisionGate
	cacheMu sync.RWMutex
	cache   map[cacheKey]*entry
	cacheAt revision // the revision the cache holds responses of
	// allowSign takes a token from the client address's bucket before an
	// answer that costs a signature (LimitSigning); nil: no limit.
	allowSign func(addr string) (time.Duration, bool)
}

// revision is the revocation state a cached response was read at: the
// store's revision and this process's count of revocations.
type revision struct{ db, local int64 }

func (a revision) before(b revision) bool { return a.db < b.db || (a.db == b.db && a.local < b.local) }

type issuerID struct{ name, key []byte }

type cacheKey struct {
	serial string
	hash   crypto.Hash
}

// entry is a response ready to send.
type entry struct {
	der        []byte
	thisUpdate time.Time
	nextUpdate time.Time
	refreshAt  time.Time // after this, look in the store for a newer one
	etag       string
	// header values, formatted once
	etagHeader, lastModified, expires []string
}

// hashNames are the CertID hashes accepted, by their store names.
var hashNames = map[crypto.Hash]string{crypto.SHA1: "sha1", crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}

// New makes a responder. It answers tryLater until a signer is set
// (SetSigner, or EnsureSigner).
func New(o Options) (*Responder, error) {
	if o.Issuer == nil || o.Store == nil {
		return nil, errors.New("ocsp: an issuer and a store are needed")
	}
	if o.Validity <= 0 {
		o.Validity = 24 * time.Hour
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * time.Minute
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(o.Issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocsp: issuer public key: %w", err)
	}
	r := &Responder{o: o, hashes: map[crypto.Hash]issuerID{}, cache: map[cacheKey]*entry{}, cacheAt: revision{-1, -1}}
	for h := range hashNames {
		hn := h.New()
		hn.Write(o.Issuer.RawSubject)
		name := hn.Sum(nil)
		hn = h.New()
		hn.Write(spki.PublicKey.RightAlign())
		r.hashes[h] = issuerID{name: name, key: hn.Sum(nil)}
	}
	r.gate.read, r.gate.every, r.gate.now = o.Store.OCSPRevision, o.RevisionPoll, o.Now
	return r, nil
}

// LimitSigning limits, per client address, the answers that cost a
// signature: a nonce, an unknown serial, several certificates in one
// request. allow takes a token for addr, or says how long until there is
// one. Call it before serving; nil removes the limit.
func (r *Responder) LimitSigning(allow func(addr string) (retryAfter time.Duration, ok bool)) {
	r.allowSign = allow
}

// limitedError is an answer refused by the signing limit: tryLater.
type limitedError struct{ wait time.Duration }

func (e *limitedError) Error() string {
	return "too many requests that need a signature from this address; retry in " + e.wait.Round(time.Second).String()
}

func (e *limitedError) Unwrap() error { return errTryLater }

// mayCostSignature takes a token from addr's bucket, or refuses.
func (r *Responder) mayCostSignature(addr string) error {
	if r.allowSign == nil {
		return nil
	}
	if wait, ok := r.allowSign(addr); !ok {
		return &limitedError{wait: wait}
	}
	return nil
}

// SetSigner makes s the signer of new responses.
func (r *Responder) SetSigner(s *Signer) { r.signer.Store(s) }

// Signer is the signer in use (nil before one is set).
func (r *Responder) Signer() *Signer { return r.signer.Load() }

// answer is the outcome of one request.
type answer struct {
	der   []byte
	e     *entry // set for a cacheable response
	fresh bool   // signed for this request (nonce, unknown)
}

var (
	errMalformed    = errors.New("malformed request")
	errUnauthorized = errors.New("unauthorized")
	errTryLater     = errors.New("try later")
)

// respond answers one DER request from the client address addr. Its error
// says which OCSP error response to send (errMalformed, errUnauthorized,
// errTryLater, or any other: internalError).
func (r *Responder) respond(ctx context.Context, der []byte, addr string) (answer, error) {
	req, err := xocsp.ParseRequest(der)
	if err != nil {
		return answer{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	var nonce []byte
	if hasNonceOID(der) {
		if nonce, err = requestNonce(der); err != nil {
			return answer{}, fmt.Errorf("%w: %v", errMalformed, err)
		}
	}
	if n := certIDCount(der); n > 1 {
		return r.respondMany(ctx, der, n, nonce, addr)
	}
	id, ok := r.hashes[req.HashAlgorithm]
	if !ok || !equal(id.name, req.IssuerNameHash) || !equal(id.key, req.IssuerKeyHash) {
		return answer{}, fmt.Errorf("%w: the request names another issuer", errUnauthorized)
	}
	if req.SerialNumber == nil || req.SerialNumber.Sign() <= 0 {
		return answer{}, fmt.Errorf("%w: serial number is not positive", errMalformed)
	}
	serial, hashName := ra.SerialString(req.SerialNumber), hashNames[req.HashAlgorithm]
	now := r.o.Now()
	if nonce != nil {
		c, err := r.o.Store.OCSPCertificate(ctx, serial, hashName)
		if err != nil {
			return answer{}, err
		}
		if err := r.mayCostSignature(addr); err != nil {
			return answer{}, err
		}
		der, _, err := r.sign(req.SerialNumber, req.HashAlgorithm, c, now, nonce)
		return answer{der: der, fresh: true}, err
	}
	local := r.o.Store.LocalRevocations() // before the store read: never newer than what it sees
	db, err := r.gate.revision(ctx)
	if err != nil {
		return answer{}, err
	}
	rev := revision{db, local}
	key := cacheKey{serial, req.HashAlgorithm}
	r.cacheMu.RLock()
	e, hit := r.cache[key]
	stale := r.cacheAt != rev
	r.cacheMu.RUnlock()
	if hit && !stale && now.Before(e.refreshAt) && now.Before(e.nextUpdate) {
		return answer{der: e.der, e: e}, nil
	}
	c, err := r.o.Store.OCSPCertificate(ctx, serial, hashName)
	if err != nil {
		return answer{}, err
	}
	if c == nil {
		if err := r.mayCostSignature(addr); err != nil {
			return answer{}, err
		}
		der, _, err := r.sign(req.SerialNumber, req.HashAlgorithm, nil, now, nil)
		return answer{der: der, fresh: true}, err
	}
	if s := c.Response; s != nil && s.Status == statusWord(c.Status) && now.Before(s.NextUpdate) && now.Before(r.refreshAt(s.ThisUpdate, s.NextUpdate)) {
		e = newEntry(s.DER, s.ThisUpdate, s.NextUpdate, r.refreshAt(s.ThisUpdate, s.NextUpdate))
	} else {
		der, st, err := r.sign(req.SerialNumber, req.HashAlgorithm, c, now, nil)
		if err != nil {
			return answer{}, err
		}
		if err := r.o.Store.PutOCSPResponse(ctx, storeResponse(serial, hashName, c.Status, st, der)); err != nil {
			r.o.Logger.Warn("ocsp: store response", "serial", serial, "err", err)
		}
		e = newEntry(der, st.thisUpdate, st.nextUpdate, r.refreshAt(st.thisUpdate, st.nextUpdate))
	}
	r.put(key, e, rev)
	return answer{der: e.der, e: e}, nil
}

// respondMany answers a request for n (more than one) certificates: one
// response signed now with a status for each, in the request's order. It
// costs a signature, so it counts against the signing limit. Every CertID
// must name this CA.
func (r *Responder) respondMany(ctx context.Context, der []byte, n int, nonce []byte, addr string) (answer, error) {
	if n > MaxCertIDs {
		return answer{}, fmt.Errorf("%w: %d certificates in one request; at most %d", errMalformed, n, MaxCertIDs)
	}
	ids, err := certIDs(der)
	if err != nil {
		return answer{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for i, c := range ids {
		id := r.hashes[c.hash]
		if !equal(id.name, c.nameHash) || !equal(id.key, c.keyHash) {
			return answer{}, fmt.Errorf("%w: request %d names another issuer", errUnauthorized, i+1)
		}
		if c.serial == nil || c.serial.Sign() <= 0 {
			return answer{}, fmt.Errorf("%w: request %d: serial number is not positive", errMalformed, i+1)
		}
	}
	if err := r.mayCostSignature(addr); err != nil {
		return answer{}, err
	}
	s := r.signer.Load()
	if s == nil {
		return answer{}, fmt.Errorf("%w: no OCSP signer yet", errTryLater)
	}
	now := r.o.Now()
	sts := make([]status, len(ids))
	for i, c := range ids {
		cert, err := r.o.Store.OCSPCertificate(ctx, ra.SerialString(c.serial), hashNames[c.hash])
		if err != nil {
			return answer{}, err
		}
		sts[i] = r.status(s, c.serial, c.hash, cert, now)
	}
	out, err := createResponse(r.o.Issuer, s, sts, nonce)
	if err != nil {
		return answer{}, fmt.Errorf("sign OCSP response: %w", err)
	}
	return answer{der: out, fresh: true}, nil
}

// refreshAt is when half of a response's validity has passed.
func (r *Responder) refreshAt(thisUpdate, nextUpdate time.Time) time.Time {
	return thisUpdate.Add(nextUpdate.Sub(thisUpdate) / 2)
}

func newEntry(der []byte, thisUpdate, nextUpdate, refreshAt time.Time) *entry {
	sum := sha256.Sum256(der)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &entry{der: der, thisUpdate: thisUpdate, nextUpdate: nextUpdate, refreshAt: refreshAt, etag: etag,
		etagHeader:   []string{etag},
		lastModified: []string{thisUpdate.UTC().Format(http.TimeFormat)},
		expires:      []string{nextUpdate.UTC().Format(http.TimeFormat)}}
}

// put caches e if the cache still holds revision rev (a revocation
// meanwhile empties it instead).
func (r *Responder) put(key cacheKey, e *entry, rev revision) {
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	if r.cacheAt != rev {
		if rev.before(r.cacheAt) {
			return
		}
		clear(r.cache)
		r.cacheAt = rev
	}
	if len(r.cache) >= r.o.CacheEntries {
		for k := range r.cache { // drop any one
			delete(r.cache, k)
			break
		}
	}
	r.cache[key] = e
}

// statusWord is the response status stored for a certificate status.
func statusWord(certStatus string) string {
	if certStatus == string(ra.CertRevoked) {
		return "revoked"
	}
	return "good"
}

// sign signs a response for serial (c nil: unknown) with the current
// signer. nextUpdate never passes the signer certificate's notAfter.
func (r *Responder) sign(serial *big.Int, hash crypto.Hash, c *store.OCSPCertificate, now time.Time, nonce []byte) ([]byte, status, error) {
	s := r.signer.Load()
	if s == nil {
		return nil, status{}, fmt.Errorf("%w: no OCSP signer yet", errTryLater)
	}
	st := r.status(s, serial, hash, c, now)
	der, err := createResponse(r.o.Issuer, s, []status{st}, nonce)
	if err != nil {
		return nil, status{}, fmt.Errorf("sign OCSP response: %w", err)
	}
	return der, st, nil
}

// status is what a response signed by s now says of serial (c nil:
// unknown). nextUpdate never passes the signer certificate's notAfter.
func (r *Responder) status(s *Signer, serial *big.Int, hash crypto.Hash, c *store.OCSPCertificate, now time.Time) status {
	thisUpdate := now.UTC().Truncate(time.Second)
	st := status{serial: serial, hash: hash, thisUpdate: thisUpdate, nextUpdate: thisUpdate.Add(r.o.Validity)}
	if st.nextUpdate.After(s.Cert.NotAfter) {
		st.nextUpdate = s.Cert.NotAfter
	}
	if c != nil {
		st.good = c.Status != string(ra.CertRevoked)
		st.revoked = !st.good
		st.revokedAt, st.reason = c.RevokedAt, c.Reason
	}
	return st
}

func equal(a, b []byte) bool { return string(a) == string(b) }

// nonceOID is the DER of id-pkix-ocsp-nonce: a request without these bytes
// has no nonce, and needs no second parse.
var nonceOID = []byte{0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}

func hasNonceOID(der []byte) bool { return bytes.Contains(der, nonceOID) }

// revisionGate reads the store's revocation revision for many concurrent
// requests at once. Each caller waits for a read that began after it
// arrived, so a revocation committed before a request arrived is always
// seen, while under load one read serves every request that queued
// during the previous one.
type revisionGate struct {
	read   func(context.Context) (int64, error)
	every  time.Duration // above zero: reuse a read this recent
	now    func() time.Time
	mu     sync.Mutex
	readAt time.Time
	// the last good read, for the lock-free path when every > 0
	lastRev  atomic.Int64
	lastAt   atomic.Int64 // UnixNano; 0: none
	running  bool
	started  uint64
	finished uint64
	wake     chan struct{}
	rev      int64
	err      error
}

func (g *revisionGate) revision(ctx context.Context) (int64, error) {
	if g.every > 0 {
		if at := g.lastAt.Load(); at != 0 && g.now().UnixNano()-at < int64(g.every) {
			return g.lastRev.Load(), nil
		}
	}
	g.mu.Lock()
	if g.wake == nil {
		g.wake = make(chan struct{})
	}
	if g.every > 0 && g.finished > 0 && g.err == nil && g.now().Sub(g.readAt) < g.every {
		rev := g.rev
		g.mu.Unlock()
		return rev, nil
	}
	need := g.started + 1
	for {
		if g.finished >= need {
			rev, err := g.rev, g.err
			g.mu.Unlock()
			return rev, err
		}
		if !g.running {
			g.running = true
			g.started++
			mine := g.started
			g.mu.Unlock()
			at := g.now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			rev, err := g.read(rctx)
			cancel()
			g.mu.Lock()
			g.rev, g.err, g.finished, g.running, g.readAt = rev, err, mine, false, at
			if err == nil {
				g.lastAt.Store(0) // never a new revision with an old time
				g.lastRev.Store(rev)
				g.lastAt.Store(at.UnixNano())
			} else {
				g.lastAt.Store(0)
			}
			close(g.wake)
			g.wake = make(chan struct{})
			continue
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		g.mu.Lock()
	}
}

func hashByName(name string) crypto.Hash {
	for h, n := range hashNames {
		if n == name {
			return h
		}
	}
	return 0
}

func parseSerial(s string) (*big.Int, bool) {
	n, ok := new(big.Int).SetString(s, 16)
	return n, ok && n.Sign() > 0
}

func storeResponse(serial, hash, certStatus string, st status, der []byte) *store.OCSPResponse {
	return &store.OCSPResponse{Serial: serial, Hash: hash, Status: statusWord(certStatus), ThisUpdate: st.thisUpdate, NextUpdate: st.nextUpdate, DER: der}
}

// Warm fills the cache with the stored SHA-1 responses (what clients ask
// for by default), up to its size, so that the first request for each
// certificate needs no store read. It reports how many it loaded.
func (r *Responder) Warm(ctx context.Context) (int, error) {
	local := r.o.Store.LocalRevocations()
	db, err := r.gate.revision(ctx)
	if err != nil {
		return 0, err
	}
	rev, now, n := revision{db, local}, r.o.Now(), 0
	errFull := errors.New("cache full")
	err = r.o.Store.EachOCSPResponse(ctx, "sha1", now, func(s store.OCSPResponse) error {
		if n >= r.o.CacheEntries {
			return errFull
		}
		at := r.refreshAt(s.ThisUpdate, s.NextUpdate)
		if !now.Before(at) {
			return nil // due: the next request fetches a fresh one
		}
		serial, ok := parseSerial(s.Serial)
		if !ok {
			return nil
		}
		r.put(cacheKey{ra.SerialString(serial), crypto.SHA1}, newEntry(s.DER, s.ThisUpdate, s.NextUpdate, at), rev)
		n++
		return nil
	})
	if errors.Is(err, errFull) {
		err = nil
	}
	return n, err
}
