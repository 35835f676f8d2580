package server

import (
	"bytes"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/service"
)

// PublicOptions configure the plain-HTTP handler.
type PublicOptions struct {
	Home   string // the CA certificate and published CRLs are read from here on every request
	Config *service.Config
	Logger *slog.Logger
	// CRLMaxAge is how long caches may keep a CRL (default 5 minutes; CRLs
	// are replaced by `cmca crl` at any time, so keep it short).
	CRLMaxAge time.Duration
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
	files := map[string]publicFile{
		PathCRL:        {filepath.Join(crlDir, "ca.crl"), "application/pkix-crl", o.CRLMaxAge, false},
		PathCRLPEM:     {filepath.Join(crlDir, "ca.crl.pem"), "application/x-pem-file", o.CRLMaxAge, false},
		PathDeltaCRL:   {filepath.Join(crlDir, "ca-delta.crl"), "application/pkix-crl", o.CRLMaxAge, false},
		PathDeltaCRLPE: {filepath.Join(crlDir, "ca-delta.crl.pem"), "application/x-pem-file", o.CRLMaxAge, false},
		PathCACert:     {filepath.Join(o.Home, service.CACertFile), "application/pkix-cert", 24 * time.Hour, true},
		PathCAPEM:      {filepath.Join(o.Home, service.CACertFile), "application/x-pem-file", 24 * time.Hour, false},
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
		mux.Handle("GET "+p, f)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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
}

func (f publicFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	info.op = "public"
	fh, err := os.Open(f.path)
	if err != nil {
		info.code = api.CodeNotFound
		http.Error(w, "not published yet", http.StatusNotFound)
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		info.code, info.err = api.CodeInternal, err.Error()
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(f.maxAge/time.Second)))
	info.code = "ok"
	if f.der {
		data, err := os.ReadFile(f.path)
		b, _ := pem.Decode(data)
		if err != nil || b == nil {
			info.code, info.err = api.CodeInternal, "CA certificate file is not PEM"
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, "", st.ModTime(), bytes.NewReader(b.Bytes))
		return
	}
	http.ServeContent(w, r, "", st.ModTime(), fh)
}
