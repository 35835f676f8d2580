package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
	"github.com/spf13/viper"
)

// API is what the commands need from the RA/CA. *service.Service implements
// it in-process; a remote client for `cmca serve` can implement it later
// without the commands changing.
type API interface {
	Lookup(ctx context.Context, idType ra.IDType, idNumber string) (ra.Applicant, error)
	Validate(a service.Application) (service.Application, error)
	Apply(ctx context.Context, operator string, apps []service.Application, partial bool) ([]service.ApplyResult, error)
	Status(ctx context.Context, ref string) (*service.RequestDetail, error)
	Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error)
	Approve(ctx context.Context, operator, ref string) (*service.Decision, error)
	Reject(ctx context.Context, operator, ref, reason string) (*service.Decision, error)
	Issue(ctx context.Context, operator, ref string, resend bool) (*service.Authorisation, error)
	Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error)
	CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error)
	Renew(ctx context.Context, operator string, in service.RenewInput) (*service.RenewResult, error)
	Revoke(ctx context.Context, operator string, in service.RevokeInput) (*service.RevokeResult, error)
	Reissue(ctx context.Context, operator string, in service.ReissueInput) (*service.RevokeResult, error)
	CRL(ctx context.Context, operator string, o service.CRLOptions) (*service.CRLResult, error)
	CheckCRL(ctx context.Context, data []byte) (*service.CRLCheck, error)
	Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error)
	Certificate(ctx context.Context, serial string) (*service.CertificateDetail, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]ra.Event, error)
	VerifyAudit(ctx context.Context, checkpoints ...string) (*service.AuditReport, error)
	CACertificate() ([]byte, error)
	Config() *service.Config
}

var _ API = (*service.Service)(nil)

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
	if f.svc != nil {
		return f.svc, nil
	}
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	svc, err := service.Open(ctx, c.Home, c.Service, nil)
	if err != nil {
		return nil, err
	}
	svc.SetCALoader(func(ctx context.Context) (*ca.CA, error) { return f.loadCA(ctx, svc) })
	svc.Warn = func(msg string) { f.Warnf("warning: %s\n", msg) }
	f.svc = svc
	return svc, nil
}

// API is the RA/CA the commands talk to.
func (f *Factory) API(ctx context.Context) (API, error) { return f.Local(ctx) }

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

// Operator is the name recorded on admin actions.
func (f *Factory) Operator() string {
	c, err := f.Config()
	if err != nil {
		return "operator"
	}
	return c.Operator
}

// PrintJSON writes v as indented JSON on stdout.
func (f *Factory) PrintJSON(v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Printf writes human text on stdout.
func (f *Factory) Printf(format string, a ...any) { fmt.Fprintf(f.IO.Out, format, a...) }

// Warnf writes a notice on stderr.
func (f *Factory) Warnf(format string, a ...any) { fmt.Fprintf(f.IO.ErrOut, format, a...) }

// caChain parses the DER chain returned by a download.
func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
