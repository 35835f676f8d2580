package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// PublicOptions configure the plain-HTTP handler.
type PublicOptions struct {
	Home   string // the CA certificate and (without CRLs) the published CRLs are read from here on every request
	Config *service.Config
	Logger *slog.Logger
	// CRLMaxAge is how long caches may keep a CRL (default 5 minutes; CRLs
	// are replaced by `cmca crl` at any time, so keep it short).
	CRLMaxAge time.Duration
	// CRLs, when set, is where the full and delta CRLs are served from
	// instead of the files in Home (PostgreSQL: the store, which every
	// instance shares; `cmca serve` sets it).
	CRLs CRLSource
}

// CRLSource hands out the newest CRL (service.Service.CurrentCRL).
type CRLSource interface {
	CurrentCRL(ctx context.Context, delta bool) (*service.CurrentCRL, error)
}

// Default public paths, used besides the paths of the URLs configured for
// certificates (crl.distribution_points, aia.ca_issuers).
const (
	PathCACert     = "/ca.crt"
	PathCAPEM      = "/ca.pem"
	PathCRL        = "/crl/ca.crl"
	PathCRLPEM     = "/crl/ca.crl.pem"
	PathDeltaCRL   = "/crl/ca-delta.crl"
	PathDeltaCRLPE = "/crl/ca-delta.crl.pem"
)

// NewPublicHandler serves what relying parties fetch without TLS: the CA
// certificate (DER and PEM) and the full and delta CRLs, at the default
// paths and at the paths of the configured URLs: crl.distribution_points
// (and ca-delta.crl beside each), crl.delta_distribution_points (the
// freshest CRL URLs certificates carry) and aia.ca_issuers; with cache
// headers. /healthz answers too.
func NewPublicHandler(o PublicOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CRLMaxAge <= 0 {
		o.CRLMaxAge = 5 * time.Minute
	}
	crlDir := filepath.Join(o.Home, service.CRLDir)
	cache := &fileCache{files: map[string]cachedFile{}}
	files := map[string]publicFile{
		PathCRL:        {filepath.Join(crlDir, "ca.crl"), "application/pkix-crl", o.CRLMaxAge, false, kindCRL, cache, filepath.Join(crlDir, "ca-[0-9]*.crl")},
		PathCRLPEM:     {filepath.Join(crlDir, "ca.crl.pem"), "application/x-pem-file", o.CRLMaxAge, false, kindCRLPEM, cache, filepath.Join(crlDir, "ca-[0-9]*.crl")},
		PathDeltaCRL:   {filepath.Join(crlDir, "ca-delta.crl"), "application/pkix-crl", o.CRLMaxAge, false, kindCRL, cache, filepath.Join(crlDir, "ca-delta-[0-9]*.crl")},
		PathDeltaCRLPE: {filepath.Join(crlDir, "ca-delta.crl.pem"), "application/x-pem-file", o.CRLMaxAge, false, kindCRLPEM, cache, filepath.Join(crlDir, "ca-delta-[0-9]*.crl")},
		PathCACert:     {filepath.Join(o.Home, service.CACertFile), "application/pkix-cert", 24 * time.Hour, true, kindCACert, cache, ""},
		PathCAPEM:      {filepath.Join(o.Home, service.CACertFile), "application/x-pem-file", 24 * time.Hour, false, kindCACert, cache, ""},
	}
	if o.Config != nil {
		for _, u := range o.Config.CRLDistributionPoint {
			if p := urlPath(u); p != "" {
				files[p] = files[PathCRL]
				files[path.Join(path.Dir(p), "ca-delta.crl")] = files[PathDeltaCRL]
			}
		}
		for _, u := range o.Config.DeltaCRLDistributionPoint {
			if p := urlPath(u); p != "" {
				files[p] = files[PathDeltaCRL]
			}
		}
		for _, u := range o.Config.CAIssuersURL {
			if p := urlPath(u); p != "" {
				files[p] = files[PathCACert]
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).op, infoFrom(r.Context()).code = "healthz", "ok"
		writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
	})
	for p, f := range files {
		var h http.Handler = f
		if o.CRLs != nil {
			switch f.path {
			case files[PathCRL].path, files[PathCRLPEM].path, files[PathDeltaCRL].path, files[PathDeltaCRLPE].path:
				h = storedCRL{src: o.CRLs, file: f, delta: f.path == files[PathDeltaCRL].path || f.path == files[PathDeltaCRLPE].path,
					pem: f.contentType == "application/x-pem-file"}
			}
		}
		mux.Handle("GET "+p, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		probe := r.Clone(r.Context())
		probe.Method = http.MethodGet
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			// A public path asked with another method: 405, not 404.
			infoFrom(r.Context()).code = api.CodeMethod
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("%s is not allowed on %s; use GET", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
			return
		}
		infoFrom(r.Context()).code = api.CodeRouteNotFound
		http.NotFound(w, r)
	})
	var h http.Handler = mux
	h = logRequests(o.Logger)(h)
	h = recoverPanics(o.Logger)(h)
	return requestID(h)
}

func urlPath(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Path == "" || p.Path == "/" {
		return ""
	}
	return p.Path
}

type publicFile struct {
	path        string
	contentType string
	maxAge      time.Duration
	der         bool // the DER of the first PEM block of the file
	kind        fileKind
	cache       *fileCache
	// signed matches the numbered files `cmca crl` keeps of this kind of
	// CRL: one there means a CRL was signed, so the published file
	// missing is damage, not "not published yet".
	signed string
}

// fileKind is what a public file must hold; a file that does not is
// answered 503 publish.damaged, never served.
type fileKind int

const (
	kindCRL    fileKind = iota // a DER CRL
	kindCRLPEM                 // a PEM CRL
	kindCACert                 // a PEM certificate (ca/ca.crt), its chain after it
)

func (k fileKind) what() (what, repair string) {
	if k == kindCACert {
		return "the CA certificate", "`cmca doctor` names the problem; restore ca/ca.crt from a backup"
	}
	return "the CRL", "`cmca crl --force` signs and publishes a new one"
}

// check reports whether data is what a file of kind k holds.
func (k fileKind) check(data []byte) error {
	switch k {
	case kindCRL:
		_, err := x509.ParseRevocationList(data)
		return err
	case kindCRLPEM:
		b, _ := pem.Decode(data)
		if b == nil || b.Type != "X509 CRL" {
			return errors.New("no X509 CRL PEM block")
		}
		_, err := x509.ParseRevocationList(b.Bytes)
		return err
	default:
		b, _ := pem.Decode(data)
		if b == nil || b.Type != "CERTIFICATE" {
			return errors.New("no CERTIFICATE PEM block")
		}
		_, err := x509.ParseCertificate(b.Bytes)
		return err
	}
}

// fileCache keeps each public file's bytes, checked, by its size and
// modification time: a file is read and parsed once per change (`cmca crl`
// replaces it by a rename), and a request costs one stat.
type fileCache struct {
	mu    sync.Mutex
	files map[string]cachedFile
}

type cachedFile struct {
	size int64
	mod  time.Time
	data []byte // nil when err is set
	err  error  // what the check found
}

// load returns the bytes of the file at path, checked as kind, and its
// modification time.
func (c *fileCache) load(path string, k fileKind) ([]byte, time.Time, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !st.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("%s is not a regular file", path)
	}
	c.mu.Lock()
	cf, ok := c.files[path]
	c.mu.Unlock()
	if ok && cf.size == st.Size() && cf.mod.Equal(st.ModTime()) {
		return cf.data, cf.mod, cf.err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer fh.Close()
	if st, err = fh.Stat(); err != nil {
		return nil, time.Time{}, err
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return nil, time.Time{}, err
	}
	cf = cachedFile{size: st.Size(), mod: st.ModTime(), err: k.check(data)}
	if cf.err == nil {
		cf.data = data
	}
	c.mu.Lock()
	c.files[path] = cf
	c.mu.Unlock()
	return cf.data, cf.mod, cf.err
}

// publishDamaged answers for a public file that is damaged: 503, a text
// naming what and the repair, the problem itself in the log only.
func publishDamaged(w http.ResponseWriter, info *reqInfo, k fileKind, problem error) {
	what, repair := k.what()
	info.code, info.err = api.CodePublishDamaged, what+": "+problem.Error()
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, fmt.Sprintf("%s this server publishes is missing, damaged or unreadable in the CA's home; the CA's operator must repair it: %s (%s)", what, repair, api.CodePublishDamaged), http.StatusServiceUnavailable)
}

// wasSigned reports whether `cmca crl` kept a numbered file of this kind.
func (f publicFile) wasSigned() bool {
	m, _ := filepath.Glob(f.signed)
	return f.signed != "" && len(m) > 0
}

func (f publicFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "public"
	data, mod, err := f.cache.load(f.path, f.kind)
	if errors.Is(err, fs.ErrNotExist) && f.kind != kindCACert && !f.wasSigned() {
		info.code = api.CodeNotFound
		http.Error(w, "not published yet", http.StatusNotFound)
		return
	}
	if err != nil {
		publishDamaged(w, info, f.kind, err)
		return
	}
	if f.der {
		b, _ := pem.Decode(data) // checked by load
		data = b.Bytes
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(f.maxAge/time.Second)))
	info.code = "ok"
	http.ServeContent(w, r, "", mod, bytes.NewReader(data))
}

// storedCRL serves the newest full or delta CRL from a CRLSource.
type storedCRL struct {
	src   CRLSource
	file  publicFile // content type and cache lifetime
	delta bool
	pem   bool
}

func (c storedCRL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "public"
	cur, err := c.src.CurrentCRL(r.Context(), c.delta)
	switch {
	case errors.Is(err, ra.ErrNotFound):
		info.code = api.CodeNotFound
		http.Error(w, "not published yet", http.StatusNotFound)
		return
	case errors.Is(err, service.ErrCRLDamaged):
		kind := kindCRL
		if c.pem {
			kind = kindCRLPEM
		}
		publishDamaged(w, info, kind, err)
		return
	case errors.Is(err, store.ErrUnavailable):
		info.code, info.err = api.CodeStoreUnavailable, err.Error()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the store cannot be reached now; retry", http.StatusServiceUnavailable)
		return
	case err != nil:
		info.code, info.err = api.CodeInternal, err.Error()
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	body := cur.DER
	if c.pem {
		body = cur.PEM
	}
	w.Header().Set("Content-Type", c.file.contentType)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(c.file.maxAge/time.Second)))
	kind := "crl"
	if c.delta {
		kind = "delta"
	}
	if c.pem {
		kind += "-pem"
	}
	w.Header().Set("ETag", `"`+kind+"-"+strconv.FormatInt(cur.Number, 10)+`"`)
	info.code = "ok"
	http.ServeContent(w, r, "", cur.ThisUpdate, bytes.NewReader(body))
}
