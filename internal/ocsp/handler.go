package ocsp

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Path is where the responder is served on the public HTTP listener; the
// AIA OCSP URL of certificates defaults to the server's public URL + Path.
const Path = "/ocsp"

// MaxRequestSize bounds a request body (and a GET path): an OCSP request
// for one certificate is about 100 bytes, a signed one a few kilobytes.
const MaxRequestSize = 8 << 10

// ServeHTTP answers POST /ocsp (body application/ocsp-request) and GET
// /ocsp/{base64 request} (RFC 6960 appendix A.1, RFC 5019 §5).
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	switch req.Method {
	case http.MethodPost:
		ct := req.Header.Get("Content-Type")
		if ct != "application/ocsp-request" {
			ct, _, _ = mime.ParseMediaType(ct)
		}
		if ct != "application/ocsp-request" {
			r.fail(w, req, http.StatusUnsupportedMediaType, xocsp.MalformedRequestErrorResponse, "content type is not application/ocsp-request")
			return
		}
		var err error
		der, err = io.ReadAll(io.LimitReader(req.Body, MaxRequestSize+1))
		if err != nil {
			r.fail(w, req, http.StatusBadRequest, xocsp.MalformedRequestErrorResponse, "read body: "+err.Error())
			return
		}
		if len(der) > MaxRequestSize {
			r.fail(w, req, http.StatusRequestEntityTooLarge, xocsp.MalformedRequestErrorResponse, "request larger than "+strconv.Itoa(MaxRequestSize)+" bytes")
			return
		}
	case http.MethodGet, http.MethodHead:
		enc := strings.TrimPrefix(strings.TrimPrefix(req.URL.EscapedPath(), Path), "/")
		if len(enc) > 2*MaxRequestSize {
			r.fail(w, req, http.StatusRequestURITooLong, xocsp.MalformedRequestErrorResponse, "request path too long")
			return
		}
		var err error
		if der, err = decodeGET(enc); err != nil {
			r.fail(w, req, http.StatusOK, xocsp.MalformedRequestErrorResponse, "GET path is not a base64 OCSP request")
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "OCSP takes GET or POST", http.StatusMethodNotAllowed)
		return
	}
	a, err := r.respond(req.Context(), der, clientAddr(req))
	if err != nil {
		body := xocsp.InternalErrorErrorResponse
		var limited *limitedError
		if errors.As(err, &limited) {
			w.Header().Set("Retry-After", strconv.Itoa(int(limited.wait.Round(time.Second)/time.Second)+1))
		}
		switch {
		case errors.Is(err, errMalformed):
			body = xocsp.MalformedRequestErrorResponse
		case errors.Is(err, errUnauthorized):
			body = xocsp.UnauthorizedErrorResponse
		case errors.Is(err, errTryLater):
			body = xocsp.TryLaterErrorResponse
		default:
			r.o.Logger.Error("ocsp: internal error", "err", err)
		}
		r.fail(w, req, http.StatusOK, body, err.Error())
		return
	}
	// Header values are set directly in canonical form (no per-request
	// canonicalisation); the entry's are formatted once when cached.
	h := w.Header()
	h["Content-Type"] = ctResponse
	if a.e == nil { // a nonce or an unknown serial: signed for this request only
		h["Cache-Control"] = noStore
	} else {
		maxAge := min(r.o.MaxAge, a.e.nextUpdate.Sub(r.o.Now()))
		h["Cache-Control"] = []string{"max-age=" + strconv.Itoa(max(0, int(maxAge/time.Second))) + ", public, no-transform, must-revalidate"}
		h["Last-Modified"] = a.e.lastModified
		h["Expires"] = a.e.expires
		h["Etag"] = a.e.etagHeader
		if req.Method != http.MethodPost && req.Header.Get("If-None-Match") == a.e.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(a.der))}
	if req.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.der)
}

var (
	ctResponse = []string{"application/ocsp-response"}
	noStore    = []string{"no-store"}
)

// fail sends an OCSP error response (unsigned, RFC 6960 §2.3).
func (r *Responder) fail(w http.ResponseWriter, req *http.Request, code int, body []byte, why string) {
	r.o.Logger.Debug("ocsp: refused", "method", req.Method, "why", why)
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// clientAddr is the client's IP address: the key of the signing limit.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decodeGET reads the base64 request of a GET path: URL-encoded standard
// base64 (RFC 6960 appendix A.1), tolerating missing padding and the
// URL-safe alphabet, which some clients send.
func decodeGET(enc string) ([]byte, error) {
	s, err := url.PathUnescape(enc)
	if err != nil {
		return nil, err
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Wrap serves Path and everything under it with r and all else with next.
// Mount the responder this way rather than on a ServeMux: a ServeMux
// redirects paths holding "//", which base64 GET requests may.
func (r *Responder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p := req.URL.EscapedPath()
		if p == Path || strings.HasPrefix(p, Path+"/") {
			r.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}
