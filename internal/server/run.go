package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of both listeners: slow clients are cut off.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	// ShutdownTimeout is how long in-flight requests get to finish after
	// SIGTERM or SIGINT.
	ShutdownTimeout = 30 * time.Second
)

// NewHTTPServer is an http.Server with cmca's timeouts; tlsConfig nil means
// plain HTTP.
func NewHTTPServer(h http.Handler, tlsConfig *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listener is one server on one bound address.
type Listener struct {
	Server *http.Server
	Ln     net.Listener
	TLS    bool
}

// Serve runs the listeners until ctx is cancelled (SIGTERM, SIGINT), then
// stops accepting, lets in-flight requests finish (up to ShutdownTimeout)
// and returns. A listener failing stops all.
func Serve(ctx context.Context, log *slog.Logger, ls ...Listener) error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() {
			var err error
			if l.TLS {
				err = l.Server.ServeTLS(l.Ln, "", "")
			} else {
				err = l.Server.Serve(l.Ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", ShutdownTimeout.String())
	case first = <-errc:
		if first != nil {
			first = fmt.Errorf("serve: %w", first)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	for _, l := range ls {
		if err := l.Server.Shutdown(sctx); err != nil && first == nil {
			first = fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info("stopped")
	return first
}
