package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/client"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/spf13/viper"
)

// API is what the commands need from the RA/CA. *service.Service implements
// it in-process; a remote client for `cmca serve` can implement it later
// without the commands changing. The caller travels in the context
// (principal.With), never as a parameter.
type API interface {
	Lookup(ctx context.Context, idType ra.IDType, idNumber string) (ra.Applicant, error)
	Validate(a service.Application) (service.Application, error)
	Apply(ctx context.Context, apps []service.Application, partial bool) ([]service.ApplyResult, error)
	Status(ctx context.Context, ref string) (*service.RequestDetail, error)
	Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error)
	Approve(ctx context.Context, ref string) (*service.Decision, error)
	Reject(ctx context.Context, ref, reason string) (*service.Decision, error)
	Issue(ctx context.Context, ref string, resend bool) (*service.Authorisation, error)
	Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error)
	CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error)
	Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error)
	Revoke(ctx context.Context, in service.RevokeInput) (*service.RevokeResult, error)
	Reissue(ctx context.Context, in service.ReissueInput) (*service.RevokeResult, error)
	CRL(ctx context.Context, o service.CRLOptions) (*service.CRLResult, error)
	CheckCRL(ctx context.Context, data []byte) (*service.CRLCheck, error)
	Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error)
	Certificate(ctx context.Context, serial string) (*service.CertificateDetail, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]ra.Event, error)
	VerifyAudit(ctx context.Context) (*service.AuditReport, error)
	CACertificate() ([]byte, error)
	Config() *service.Config
	Policy() service.Policy
	PolicySettings(ctx context.Context) ([]service.PolicySetting, error)
	PolicySet(ctx context.Context, key, value string) (*service.PolicyChange, error)
}

var (
	_ API = (*service.Service)(nil)
	_ API = (*client.Client)(nil)
)

// Factory hands out dependencies lazily, so `cmca version` never opens a
// database and `cmca apply` never asks for a CA PIN.
type Factory struct {
	IO      *IOStreams
	Version string

	v          *viper.Viper
	configFile string
	cfg        *Config
	svc        *service.Service
	closers    []func()
	caPINFile  string
	remote     *client.Client
	// clientTLS adds the client credential (--login) to the TLS
	// configuration of remote mode; nil presents none.
	clientTLS func(ctx context.Context, tc *tls.Config) error

	caller    *principal.Principal // resolved once by Caller
	callerErr error

	printer       *msg.Printer // the user's language, resolved once by P
	helpLocalized bool
}

// Config resolves the configuration once.
func (f *Factory) Config() (*Config, error) {
	if f.cfg == nil {
		c, err := loadConfig(f.v, f.configFile)
		if err != nil {
			return nil, err
		}
		f.cfg = c
	}
	return f.cfg, nil
}

// Local opens the home's service in-process (also for maintenance commands
// that only make sense next to the database).
func (f *Factory) Local(ctx context.Context) (*service.Service, error) {
	return f.local(ctx, service.Open)
}

// ReadLocal opens the home's service with its store read-only, for
// commands that only read (review, status, certs, cert, audit list, audit
// verify, doctor, backup): they work on a read-only home and cannot write
// by mistake.
func (f *Factory) ReadLocal(ctx context.Context) (*service.Service, error) {
	return f.local(ctx, service.OpenReadOnly)
}

// ReadAPI is API for commands that only read (see ReadLocal); against a
// server it is the same client as API.
func (f *Factory) ReadAPI(ctx context.Context) (API, error) {
	return f.api(ctx, func(ctx context.Context) (API, error) { return f.ReadLocal(ctx) })
}

// DiagnoseLocal opens the home for `cmca doctor`: read-only, and a store
// that does not match ca/ca.crt is opened anyway, for doctor to report it
// with everything else it finds.
func (f *Factory) DiagnoseLocal(ctx context.Context) (*service.Service, error) {
	return f.local(ctx, service.OpenToDiagnose)
}

func (f *Factory) local(ctx context.Context, open func(context.Context, string, service.Config, service.CALoader) (*service.Service, error)) (*service.Service, error) {
	if f.svc != nil {
		return f.svc, nil
	}
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if c.ServerURL != "" {
		return nil, usagef("this command works on the home on the CA's machine, not against a server: drop --server (CMCA_SERVER, server.url)")
	}
	if _, err := f.Caller(); err != nil && c.Operator != "" {
		return nil, err
	}
	svc, err := open(ctx, c.Home, c.Service, nil)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyOverrides(c, svc.Policy()); err != nil {
		svc.Close()
		return nil, err
	}
	svc.SetCALoader(func(ctx context.Context) (*ca.CA, error) { return f.loadCA(ctx, svc) })
	svc.Warn = func(msg string) { f.Warnf("warning: %s\n", msg) }
	f.svc = svc
	return svc, nil
}

// API is the RA/CA the commands talk to: the home's service in-process, or
// with --server / CMCA_SERVER / server.url the HTTP client of that server.
func (f *Factory) API(ctx context.Context) (API, error) {
	return f.api(ctx, func(ctx context.Context) (API, error) { return f.Local(ctx) })
}

// api is the client of the configured server, or local when there is none.
func (f *Factory) api(ctx context.Context, local func(context.Context) (API, error)) (API, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if c.ServerURL == "" {
		return local(ctx)
	}
	if f.remote != nil {
		return f.remote, nil
	}
	if c.ServerCA == "" {
		return nil, usagef("a server needs the CA certificate that authenticates it: pass --server-ca FILE or set CMCA_SERVER_CA (server.ca)")
	}
	caPEM, err := os.ReadFile(c.ServerCA)
	if err != nil {
		return nil, usagef("read the server CA: %v", err)
	}
	tc, err := client.TLSConfig(caPEM)
	if err != nil {
		return nil, err
	}
	if f.clientTLS != nil {
		if err := f.clientTLS(ctx, tc); err != nil {
			return nil, err
		}
	}
	login, err := f.Login(ctx)
	if err != nil {
		return nil, err
	}
	if login != nil {
		login.Configure(tc)
	}
	cl, err := client.New(c.ServerURL, tc)
	if err != nil {
		return nil, err
	}
	f.remote = cl
	return cl, nil
}

// Remote reports whether the commands talk to a server.
func (f *Factory) Remote() bool {
	c, err := f.Config()
	return err == nil && c.ServerURL != ""
}

// loadCA finds the CA key where `cmca init` recorded it.
func (f *Factory) loadCA(ctx context.Context, svc *service.Service) (*ca.CA, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	ref, err := svc.CAKeyRef(ctx)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(ref, "pkcs11:") {
		return f.tokenCA(ctx, svc, ref)
	}
	return service.LoadFileCA(c.Home, c.Insecure)
}

// Close releases what was opened.
func (f *Factory) Close() {
	if f.svc != nil {
		f.svc.Close()
	}
	for i := len(f.closers) - 1; i >= 0; i-- {
		f.closers[i]()
	}
}

// JSON reports whether output is JSON.
func (f *Factory) JSON() bool {
	c, err := f.Config()
	if err != nil { // a broken config file still gets its error as JSON
		return f.v.GetString("output") == "json"
	}
	return c.Output == "json"
}

// Quiet reports whether only identifiers should be printed.
func (f *Factory) Quiet() bool {
	c, err := f.Config()
	if err != nil {
		return f.v.GetBool("quiet")
	}
	return c.Quiet
}

// Caller is who runs this command: a Local principal holding every role,
// named by the one operator identity rule, resolved once: --operator >
// CMCA_OPERATOR > config key operator > the OS user (os/user, not $USER),
// validated by ra.ValidateOperator. On the CA's own machine the home's
// files are the trust boundary, so the local caller holds every role.
func (f *Factory) Caller() (principal.Principal, error) {
	if f.caller != nil || f.callerErr != nil {
		if f.callerErr != nil {
			return principal.Principal{}, f.callerErr
		}
		return *f.caller, nil
	}
	p, err := f.resolveCaller()
	if err != nil {
		f.callerErr = err
		return principal.Principal{}, err
	}
	f.caller = &p
	return p, nil
}

func (f *Factory) resolveCaller() (principal.Principal, error) {
	c, err := f.Config()
	if err != nil {
		return principal.Principal{}, err
	}
	name, from := c.Operator, "--operator, CMCA_OPERATOR or config key operator"
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return principal.Principal{}, usagef("cannot tell who you are (%v); pass --operator NAME or set CMCA_OPERATOR", err)
		}
		name, from = u.Username, "the OS user name"
	}
	v, err := ra.ValidateOperator(name)
	if err != nil {
		return principal.Principal{}, usagef("%v (the operator name comes from %s)", err, from)
	}
	return principal.LocalOperator(v), nil
}

// withCaller puts the caller in ctx for the service. When no operator name
// was given and the OS user cannot be found, the caller is anonymous: what
// needs a role is refused (exit 5, with the hint to pass --operator) and
// subscriber commands still work. An invalid name that was given is a usage
// error, reported by Local.
func (f *Factory) withCaller(ctx context.Context) context.Context {
	if p, err := f.Caller(); err == nil {
		return principal.With(ctx, p)
	}
	return principal.With(ctx, principal.Principal{Kind: principal.Anonymous})
}

// Operator is the caller's name, for messages.
func (f *Factory) Operator() string {
	p, err := f.Caller()
	if err != nil {
		return "operator"
	}
	return p.String()
}

// PrintJSON writes v as indented JSON on stdout.
func (f *Factory) PrintJSON(v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Printf writes human text on stdout, its format translated into the
// user's language (a message ID of internal/msg). Text arguments (strings,
// string types, errors) are sanitized: control and format characters from
// stored text are shown as escapes, never sent to the terminal.
func (f *Factory) Printf(format string, a ...any) {
	fmt.Fprintf(f.IO.Out, f.T(format), safeArgs(a)...)
}

// Warnf writes a notice on stderr, translated and sanitized as Printf's.
func (f *Factory) Warnf(format string, a ...any) {
	fmt.Fprintf(f.IO.ErrOut, f.T(format), safeArgs(a)...)
}
