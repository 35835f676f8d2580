// Package client is the cmca API v1 over HTTPS: the same Go methods as
// *service.Service (the CLI's API interface), so commands run unchanged
// against `cmca serve`. A failure comes back as an *api.Error, which
// unwraps to the same ra error classes as in local mode, so exit codes are
// the same.
//
// The caller is the principal of the TLS client credential; a principal
// in the context is not sent.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// maxResponse bounds what the client reads from the server.
const maxResponse = 64 << 20

// Client talks to one server.
type Client struct {
	base *url.URL
	hc   *http.Client

	cfgOnce sync.Once
	cfg     *service.Config
	cfgErr  error
}

// TLSConfig trusts the CA certificates in caPEM (the home's CA) and only
// them; TLS 1.2 at least.
func TLSConfig(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, msg.Errorf("the server CA file holds no PEM certificate: %w", ra.ErrInvalid)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// New is a client of the server at baseURL (https://host:port). tlsConfig
// carries the trusted CA and, once logged in, the client credential.
func New(baseURL string, tlsConfig *tls.Config) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, ra.Fieldf("server", "%q is not a server URL; give https://HOST:PORT", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 16
	return &Client{base: u, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

// NewWithHTTPClient uses hc as is (tests: httptest's client).
func NewWithHTTPClient(baseURL string, hc *http.Client) (*Client, error) {
	c, err := New(baseURL, nil)
	if err != nil {
		return nil, err
	}
	c.hc = hc
	return c, nil
}

// do sends in (when not nil) as JSON and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) {
			return msg.Errorf("the server %s is not the one --server-ca names: its certificate does not verify (%w); check --server-ca (CMCA_SERVER_CA) and the server's address", c.base.Host, verify)
		}
		return msg.Errorf("cannot reach the server %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", c.base.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return fmt.Errorf("the server %s answered %s", c.base.Host, resp.Status)
		}
		return &e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the server %s sent a malformed answer: %v", c.base.Host, err)
	}
	return nil
}

func pathEscape(s string) string { return url.PathEscape(s) }

// Lookup finds a person's stored record.
func (c *Client) Lookup(ctx context.Context, idType ra.IDType, idNumber string) (ra.Applicant, error) {
	var out ra.Applicant
	err := c.do(ctx, http.MethodPost, "/api/v1/applicants/lookup", nil, api.LookupRequest{IDType: idType, IDNumber: idNumber}, &out)
	return out, err
}

// Validate checks an application on the server.
func (c *Client) Validate(a service.Application) (service.Application, error) {
	var out api.ValidateResponse
	if err := c.do(context.Background(), http.MethodPost, "/api/v1/applications/validate", nil, api.ValidateRequest{Application: a}, &out); err != nil {
		return a, err
	}
	return out.Application, nil
}

// Apply submits applications.
func (c *Client) Apply(ctx context.Context, apps []service.Application, partial bool) ([]service.ApplyResult, error) {
	var out api.ApplyResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/requests", nil, api.ApplyRequest{Applications: apps, Partial: partial}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Status is one request with its history.
func (c *Client) Status(ctx context.Context, ref string) (*service.RequestDetail, error) {
	var out api.RequestDetail
	if err := c.do(ctx, http.MethodGet, "/api/v1/requests/"+pathEscape(ref), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Result(), nil
}

// Requests lists requests.
func (c *Client) Requests(ctx context.Context, f store.RequestFilter) ([]*ra.Request, error) {
	q := url.Values{}
	for _, s := range f.States {
		q.Add("state", string(s))
	}
	for _, k := range f.Kinds {
		q.Add("kind", string(k))
	}
	if f.Serial != "" {
		q.Set("serial", f.Serial)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out api.RequestsResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/requests", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Requests, nil
}

// Approve approves a request.
func (c *Client) Approve(ctx context.Context, ref string) (*service.Decision, error) {
	var out service.Decision
	if err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+pathEscape(ref)+"/approve", nil, struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Reject rejects a request.
func (c *Client) Reject(ctx context.Context, ref, reason string) (*service.Decision, error) {
	var out service.Decision
	if err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+pathEscape(ref)+"/reject", nil, api.RejectRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Issue authorises issuance: a download passcode.
func (c *Client) Issue(ctx context.Context, ref string, resend bool) (*service.Authorisation, error) {
	var out service.Authorisation
	if err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+pathEscape(ref)+"/issue", nil, api.IssueRequest{Resend: resend}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Download exchanges the passcode and a CSR for the certificate.
func (c *Client) Download(ctx context.Context, in service.DownloadInput) (*service.Issued, error) {
	var out api.Issued
	if err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+pathEscape(in.Ref)+"/download", nil, api.DownloadRequest{Passcode: in.Passcode, CSR: in.CSR, Storage: in.Storage}, &out); err != nil {
		return nil, err
	}
	return out.Result(), nil
}

// CertificateForKey finds the certificate issued for a public key.
func (c *Client) CertificateForKey(ctx context.Context, spki []byte) (*ra.Certificate, error) {
	var out api.Certificate
	if err := c.do(ctx, http.MethodPost, "/api/v1/certificates/by-key", nil, api.CertificateForKeyRequest{SPKI: spki}, &out); err != nil {
		return nil, err
	}
	return out.Record(), nil
}

// Renew renews a certificate.
func (c *Client) Renew(ctx context.Context, in service.RenewInput) (*service.RenewResult, error) {
	var out api.RenewResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/certificates/"+pathEscape(in.Serial)+"/renew", nil, api.RenewRequest{CSR: in.CSR, SignedAt: in.SignedAt, Proof: in.Proof, Comment: in.Comment}, &out); err != nil {
		return nil, err
	}
	return out.Result(), nil
}

// Revoke asks to revoke a certificate.
func (c *Client) Revoke(ctx context.Context, in service.RevokeInput) (*service.RevokeResult, error) {
	var out service.RevokeResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/certificates/"+pathEscape(in.Serial)+"/revoke", nil, api.RevokeRequest{Reason: in.Reason, Comment: in.Comment, Proof: in.Proof, SignedAt: in.SignedAt, Direct: in.Direct}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Reissue asks for a replacement certificate.
func (c *Client) Reissue(ctx context.Context, in service.ReissueInput) (*service.RevokeResult, error) {
	var out service.RevokeResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/reissues", nil, api.ReissueRequest{Serial: in.Serial, Ref: in.Ref, Reason: in.Reason, Comment: in.Comment}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CRL signs or reuses a CRL on the server.
func (c *Client) CRL(ctx context.Context, o service.CRLOptions) (*service.CRLResult, error) {
	var out api.CRLResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/crls", nil, api.CRLRequest{Delta: o.Delta, Force: o.Force}, &out); err != nil {
		return nil, err
	}
	return out.Result(), nil
}

// CheckCRL checks a CRL against the server's CA and records; an expired CRL
// returns its check and an error, as locally.
func (c *Client) CheckCRL(ctx context.Context, data []byte) (*service.CRLCheck, error) {
	var out service.CRLCheck
	err := c.do(ctx, http.MethodPost, "/api/v1/crls/check", nil, api.CheckCRLRequest{CRL: data}, &out)
	var ae *api.Error
	if errors.As(err, &ae) && len(ae.Result) > 0 {
		var chk service.CRLCheck
		if json.Unmarshal(ae.Result, &chk) == nil {
			return &chk, err
		}
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Certificates lists certificates.
func (c *Client) Certificates(ctx context.Context, status ra.CertStatus, limit int) ([]*ra.Certificate, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", string(status))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.CertificatesResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/certificates", q, nil, &out); err != nil {
		return nil, err
	}
	cs := make([]*ra.Certificate, 0, len(out.Certificates))
	for _, x := range out.Certificates {
		cs = append(cs, x.Record())
	}
	return cs, nil
}

// Certificate is one certificate with its requests.
func (c *Client) Certificate(ctx context.Context, serial string) (*service.CertificateDetail, error) {
	var out api.CertificateDetail
	if err := c.do(ctx, http.MethodGet, "/api/v1/certificates/"+pathEscape(serial), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Result(), nil
}

// Audit lists audit records.
func (c *Client) Audit(ctx context.Context, f store.AuditFilter) ([]ra.Event, error) {
	q := url.Values{}
	for k, v := range map[string]string{"ref": f.Ref, "serial": f.Serial, "operator": f.Operator} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out api.AuditResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// VerifyAudit verifies the audit chain on the server.
func (c *Client) VerifyAudit(ctx context.Context) (*service.AuditReport, error) {
	var out service.AuditReport
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CACertificate is the CA certificate (PEM, with any chain).
func (c *Client) CACertificate() ([]byte, error) {
	var out api.CACertificate
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/ca", nil, nil, &out); err != nil {
		return nil, err
	}
	return []byte(out.PEM), nil
}

// Config is the server's configuration and policy, fetched once. If the
// server cannot be asked, it is the default and ConfigErr says why;
// operations that depend on it fail on the server anyway.
func (c *Client) Config() *service.Config {
	c.cfgOnce.Do(func() {
		var out api.Config
		if c.cfgErr = c.do(context.Background(), http.MethodGet, "/api/v1/config", nil, nil, &out); c.cfgErr == nil {
			c.cfg, c.cfgErr = out.ServiceConfig()
		}
		if c.cfgErr != nil {
			d := service.DefaultConfig()
			c.cfg = &d
		}
	})
	return c.cfg
}

// ConfigErr is why Config fell back to the default.
func (c *Client) ConfigErr() error {
	c.Config()
	return c.cfgErr
}

// Policy is the server home's policy in force (fetched with Config).
func (c *Client) Policy() service.Policy { return c.Config().Policy }

// PolicySettings lists every policy key with its stored value.
func (c *Client) PolicySettings(ctx context.Context) ([]service.PolicySetting, error) {
	var out api.PolicyResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/policy", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Settings, nil
}

// PolicySet changes one policy key (admin role).
func (c *Client) PolicySet(ctx context.Context, key, value string) (*service.PolicyChange, error) {
	var out service.PolicyChange
	if err := c.do(ctx, http.MethodPost, "/api/v1/policy/"+pathEscape(key), nil, api.PolicySetRequest{Value: value}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApproveMany approves several requests (or every submitted one) in one
// transaction on the server.
func (c *Client) ApproveMany(ctx context.Context, refs []string, allSubmitted bool) ([]*service.Decision, []service.RefError, error) {
	var out api.ApproveBatchResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/batches/approve", nil, api.ApproveBatchRequest{Refs: refs, AllSubmitted: allSubmitted}, &out); err != nil {
		return nil, nil, err
	}
	return out.Done, api.RefErrors(out.Failed), nil
}

// IssueMany authorises several requests (or every approved one) in one
// transaction on the server.
func (c *Client) IssueMany(ctx context.Context, refs []string, allApproved, resend bool) ([]*service.Authorisation, []service.RefError, error) {
	var out api.IssueBatchResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/batches/issue", nil, api.IssueBatchRequest{Refs: refs, AllApproved: allApproved, Resend: resend}, &out); err != nil {
		return nil, nil, err
	}
	return out.Done, api.RefErrors(out.Failed), nil
}

// DownloadMany collects many certificates in one transaction on the server.
func (c *Client) DownloadMany(ctx context.Context, ins []service.DownloadInput) ([]service.DownloadOutcome, error) {
	req := api.DownloadBatchRequest{Items: make([]api.DownloadBatchItem, len(ins))}
	for i, in := range ins {
		req.Items[i] = api.DownloadBatchItem{Ref: in.Ref, Passcode: in.Passcode, CSR: in.CSR, Storage: in.Storage}
	}
	var out api.DownloadBatchResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/batches/download", nil, req, &out); err != nil {
		return nil, err
	}
	res := make([]service.DownloadOutcome, len(out.Outcomes))
	for i, o := range out.Outcomes {
		res[i] = service.DownloadOutcome{Ref: o.Ref, Issued: o.Issued.Result()}
		if o.Error != nil {
			res[i].Err = o.Error
		}
	}
	return res, nil
}
