package cli

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/cmp"
	"github.com/cmca/cmca/internal/server"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/spf13/cobra"
)

// ServeOptions are the flags of `cmca serve`.
type ServeOptions struct {
	Listen     string
	ListenHTTP string
	Names      []string
	AddrFile   string
	// TLSCert and TLSKey serve a given certificate instead of one the
	// home's CA issues and renews.
	TLSCert, TLSKey string
	CPUProfile      string // write a CPU profile of the whole run to this file (off by default)
}

// ServeAddrs are the bound addresses, written to --addr-file as JSON.
type ServeAddrs struct {
	HTTPS string `json:"https,omitempty"` // host:port of the API
	HTTP  string `json:"http,omitempty"`  // host:port of the public endpoints
}

// NewCmdServe is `cmca serve`.
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	o := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve (--listen ADDR | --listen-http ADDR)",
		Short: "Serve the API over HTTPS and the CA certificate and CRLs over HTTP",
		Long: `Serve the home: the JSON API v1 (docs/api.yaml) over HTTPS on --listen for
every role, and the public endpoints relying parties fetch without TLS (the CA
certificate at /ca.crt and /ca.pem, CRLs at /crl/ca.crl and /crl/ca-delta.crl
and at the paths of crl.distribution_points and aia.ca_issuers) on
--listen-http, with the OCSP responder at /ocsp (GET and POST; responses
signed ahead by a delegated signer in HOME/ocsp, issued at start if needed
and replaced when a third of its lifetime is left). Both listeners also
answer CMP at /.well-known/cmp, for stock clients such as openssl cmp; the
HTTPS listener also answers EST (RFC 7030) at /.well-known/est/ for curl
and EST clients (docs/protocols.md). Either or both may
be given; port 0 picks a free port, and --addr-file FILE receives the bound
addresses as JSON.

The server certificate is issued by the home's CA for --name (config
server.names; default localhost, 127.0.0.1 and ::1), kept in HOME/server
(key 0600) and renewed while serving when a third of its lifetime is left;
--tls-cert and --tls-key serve a given certificate instead. Clients may log
in with a certificate of the home's CA (--login): an operator credential
(cmca operator add) or, for renewal, the subscriber's own certificate.
One JSON log line per request goes to stderr. SIGTERM or SIGINT stops
accepting, lets in-flight requests finish (up to 30s) and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Config()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("listen") {
				o.Listen = c.Listen
			}
			if !cmd.Flags().Changed("listen-http") {
				o.ListenHTTP = c.ListenHTTP
			}
			if !cmd.Flags().Changed("name") {
				o.Names = c.Names
			}
			if runF != nil {
				return runF(o)
			}
			return runServe(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Listen, "listen", "", "serve the API over HTTPS on ADDR (host:port; config server.listen)")
	fl.StringVar(&o.ListenHTTP, "listen-http", "", "serve the CA certificate and CRLs over plain HTTP on ADDR (config server.listen_http)")
	fl.StringSliceVar(&o.Names, "name", nil, "DNS name or IP address of the server certificate, repeatable (config server.names)")
	fl.StringVar(&o.AddrFile, "addr-file", "", "write the bound addresses to FILE as JSON ({\"https\": ..., \"http\": ...})")
	fl.StringVar(&o.TLSCert, "tls-cert", "", "serve this PEM certificate (with its chain) instead of one issued by the home's CA; needs --tls-key")
	fl.StringVar(&o.TLSKey, "tls-key", "", "the PEM private key of --tls-cert")
	fl.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the server to FILE, from start until it stops; off by default")
	return cmd
}

func runServe(ctx context.Context, f *Factory, o *ServeOptions) error {
	if f.Remote() {
		return usagef("cmca serve serves the home; drop --server (CMCA_SERVER, server.url)")
	}
	if o.Listen == "" && o.ListenHTTP == "" {
		return usagef("nothing to serve: pass --listen ADDR (HTTPS API) and/or --listen-http ADDR (CA certificate and CRLs)")
	}
	svc, err := f.Local(ctx)
	if err != nil {
		return err
	}
	svc.Store().KeepStatements() // many small transactions: parse each statement once per connection
	serveGC()
	log := slog.New(slog.NewJSONHandler(f.IO.ErrOut, nil))
	// An instance whose ca/passcode.kek is not the key the store recorded
	// (or that has none while the store records one) could neither issue a
	// passcode nor check a CMP MAC, and a load balancer would send it
	// clients all the same: refuse to start, naming the file to copy. An
	// older home's key gets its check value recorded here.
	if _, err := svc.LoadPasscodeKEK(ctx, false); err != nil {
		log.Error("passcode key refused; not starting", "err", err.Error())
		return err
	}
	// One set of per-client buckets (policy ratelimit.apply and
	// ratelimit.passcode, read at every request) for the API, EST and CMP
	// on both listeners: a client spends one budget whichever way it comes.
	limits := server.NewLimits(
		func() server.Limit { return server.Limit(svc.Policy().ApplyLimit) },
		func() server.Limit { return server.Limit(svc.Policy().PasscodeLimit) }, svc.Now)
	var ls []server.Listener
	var addrs ServeAddrs
	defer func() {
		for _, l := range ls {
			l.Ln.Close()
		}
	}()
	if o.Listen != "" {
		tc, err := serverTLS(ctx, svc, o, log)
		if err != nil {
			return err
		}
		auth, err := serverAuth(svc)
		if err != nil {
			return err
		}
		h := server.NewServer(svc, server.Options{
			Logger: log, Auth: auth, Ready: func(ctx context.Context) error { return ready(ctx, svc) },
			Limits: limits,
		})
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return usagef("--listen: %v", err)
		}
		ls = append(ls, server.Listener{Server: server.NewHTTPServer(withCMP(h, svc, log, limits), tc, log), Ln: ln, TLS: true})
		addrs.HTTPS = ln.Addr().String()
	}
	if o.ListenHTTP != "" {
		po := server.PublicOptions{Home: svc.Home(), Config: svc.Config(), Logger: log}
		if svc.Store().Engine() == store.Postgres {
			// Instances on one database each have a home: the CRLs come
			// from the store, whichever instance signed them.
			po.CRLs = svc
		}
		h := server.NewPublicHandler(po)
		// OCSP at /ocsp (internal/ocsp, docs/protocols.md): the delegated
		// signer is issued now if needed (the CA key, a token PIN, is
		// asked for here, once), then kept rotated and the pre-signed
		// responses fresh while serving.
		oc, err := svc.NewOCSP(log)
		if err != nil {
			return err
		}
		// Answers signed on demand are limited per client address by the
		// policy key ratelimit.ocsp, read at every such request.
		oc.Responder.LimitSigning(server.NewAddressLimit(func() server.Limit { return server.Limit(svc.Policy().OCSPLimit) }, svc.Now))
		if err := oc.Start(ctx, ocspRefreshEvery); err != nil {
			return errorf("OCSP responder: %w", err)
		}
		ln, err := net.Listen("tcp", o.ListenHTTP)
		if err != nil {
			return usagef("--listen-http: %v", err)
		}
		ls = append(ls, server.Listener{Server: server.NewHTTPServer(oc.Responder.Wrap(withCMP(h, svc, log, limits)), nil, log), Ln: ln})
		addrs.HTTP = ln.Addr().String()
	}
	if o.AddrFile != "" {
		data, _ := json.Marshal(addrs)
		if err := writeFileAtomic(o.AddrFile, append(data, '\n')); err != nil {
			return err
		}
	}
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("serving", "https", addrs.HTTPS, "http", addrs.HTTP, "home", svc.Home())
	return server.Serve(ctx, log, ls...)
}

// ocspRefreshEvery is how often serve checks the OCSP signer's lifetime
// and signs the responses that are missing or past half their validity.
const ocspRefreshEvery = 5 * time.Minute

// withCMP serves CMP (internal/cmp, docs/protocols.md) at
// /.well-known/cmp on a listener beside h. CMP authenticates each message
// itself (passcode MAC or signature), so it sits outside the API's
// authentication; it counts against the API's per-client buckets
// (enrolments as passcode attempts, kur and rr as applications).
func withCMP(h http.Handler, svc *service.Service, log *slog.Logger, limits *server.Limits) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(cmp.Path, cmp.NewHandler(svc.CMP(), cmp.Options{Logger: log, Now: svc.Now, Limit: limits.CMP}))
	mux.Handle("/", h)
	return mux
}

// startCPUProfile profiles the process into path until stop is called
// (`cmca serve --cpuprofile`, for benchmarks: docs/performance.md). The
// profile is a file on the server's machine, never served over HTTP.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, usagef("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, usagef("--cpuprofile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeFileAtomic writes data to a temporary file and renames it, so a
// reader polling for path never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addr-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ready is /readyz: the store answers and the CA key signs.
func ready(ctx context.Context, svc *service.Service) error {
	if err := svc.Store().Read(ctx, func(*store.Tx) error { return nil }); err != nil {
		return errorf("store: %w", err)
	}
	authority, err := svc.CA(ctx)
	if err != nil {
		return errorf("CA key: %w", err)
	}
	digest := sha256.Sum256([]byte("cmca readyz"))
	if _, err := authority.Signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
		return errorf("CA key: %w", err)
	}
	return nil
}

// homeCA reads the home's CA certificate and any chain after it.
func homeCA(svc *service.Service) ([]*x509.Certificate, error) {
	data, err := svc.CACertificate()
	if err != nil {
		return nil, err
	}
	return ca.ParseCertificatesPEM(data)
}

// serverAuth says who calls the API: the TLS client certificate's operator
// (roles from the store) or subscriber, or anonymous without one
// (internal/server/auth.go).
func serverAuth(svc *service.Service) (server.AuthFunc, error) {
	cas, err := homeCA(svc)
	if err != nil {
		return nil, err
	}
	return server.CertAuthenticator(svc, cas, func() time.Time { return svc.Now() }), nil
}

// serverTLS is the HTTPS configuration (internal/server/tls.go): TLS 1.2+,
// client certificates requested, the server certificate from --tls-cert and
// --tls-key, or issued by the home's CA for names and renewed while serving.
func serverTLS(ctx context.Context, svc *service.Service, o *ServeOptions, log *slog.Logger) (*tls.Config, error) {
	cas, err := homeCA(svc)
	if err != nil {
		return nil, err
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together: the certificate and its key")
	}
	if o.TLSCert != "" {
		c, err := server.LoadCertificateFiles(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, &usageError{msg: err.Error()}
		}
		return server.TLSConfig(server.StaticCertificate(c), cas), nil
	}
	names := o.Names
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1", "::1"}
	}
	m, err := server.NewCertManager(ctx, svc, svc.Home(), names, func() time.Time { return svc.Now() }, log)
	if err != nil {
		return nil, err
	}
	return server.TLSConfig(m.GetCertificate, cas), nil
}

// serveGCPercent is the garbage collector's target for cmca serve: the
// heap may grow to five times what is live before a collection, instead of
// Go's twice. The server's live heap is small (a few MB: connections,
// statement caches, the CA) and every download allocates its request,
// certificate and answer afresh, so at the default the collector's mark
// workers took about 4% of the server's CPU under 64 clients; at 400, under
// 1% (docs/performance.md). GOGC in the environment overrides it.
const serveGCPercent = 400

func serveGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}
