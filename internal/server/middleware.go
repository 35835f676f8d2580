package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/principal"
)

// reqInfo is what the log line of a request says; the handlers fill it in.
// It never holds a body, so never a passcode, PIN, password or key.
type reqInfo struct {
	id        string
	op        string
	principal string
	code      string // "ok" or the error code
	err       string // an internal error's text (log only)
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// newRequestID is 16 random hex digits.
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestID gives every request an ID, returned in X-Request-ID and named in
// its log line and any error.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqInfo{id: newRequestID()}
		w.Header().Set("X-Request-ID", info.id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// logRequests writes one structured line per request: request ID,
// principal, operation, outcome, status and latency.
func (s *server) logRequests(next http.Handler) http.Handler {
	return logRequests(s.log)(next)
}

func logRequests(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			info := infoFrom(r.Context())
			attrs := []slog.Attr{
				slog.String("request_id", info.id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("remote", clientAddr(r)),
				slog.String("principal", info.principal),
				slog.String("operation", info.op),
				slog.String("outcome", info.code),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			}
			level := slog.LevelInfo
			if info.err != "" {
				attrs = append(attrs, slog.String("error", info.err))
				level = slog.LevelError
			}
			log.LogAttrs(r.Context(), level, "request", attrs...)
		})
	}
}

// recoverPanics turns a panic into a logged 500 structured error. A panic
// is a bug; the stack goes to the log, never to the client.
func recoverPanics(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil || v == http.ErrAbortHandler {
					if v != nil {
						panic(v)
					}
					return
				}
				info := infoFrom(r.Context())
				info.code = api.CodeInternal
				info.err = "panic"
				log.Error("panic", "request_id", info.id, "panic", v, "stack", string(debug.Stack()))
				e := api.New(api.CodeInternal, "internal server error; the server's log has the details")
				e.RequestID = info.id
				writeJSON(w, e.Status(), e)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// authenticate puts the caller in the context; a credential that does not
// authenticate is refused here, whatever the route: 401 with the reason
// (translatable: its catalogue format and arguments) and, for a route that
// needs a role, the role.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth(r)
		if err != nil {
			var e *api.Error
			if rt, ok := s.routeOf(r); ok && len(rt.roles) > 0 {
				names := rt.roleNames()
				if len(names) == 0 {
					names = []string{string(principal.AnyRole)}
				}
				e = api.CredentialRefused(err, rt.op, names...)
			} else {
				e = api.CredentialRefused(err, "")
			}
			s.writeError(w, r, e)
			return
		}
		if p.Kind == "" {
			p.Kind = principal.Anonymous
		}
		infoFrom(r.Context()).principal = p.String()
		next.ServeHTTP(w, r.WithContext(principal.With(r.Context(), p)))
	})
}

// clientAddr is the peer's IP address (no port; proxies' headers are not
// trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// routeOf is the API route r is for, if any.
func (s *server) routeOf(r *http.Request) (route, bool) {
	if s.mux == nil {
		return route{}, false
	}
	_, pattern := s.mux.Handler(r)
	for _, rt := range routes {
		if rt.pattern == pattern {
			return rt, true
		}
	}
	return route{}, false
}
