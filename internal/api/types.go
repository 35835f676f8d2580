// Package api is the cmca JSON API v1: one request and one response type
// per service operation, shared by the server (internal/server) and the
// client (internal/client), and errors as data (Error, with a stable code
// catalogue). The types know nothing of HTTP; docs/api.yaml describes how
// they travel.
//
// Domain values (ra.Request, ra.Event, ra.Applicant, service.Application
// and the service results) travel with their own JSON tags, which are also
// the CLI's documented -o json fields; what those hide (certificate DER,
// the CRL warning) is added back here, so a response is complete.
package api

import (
	"encoding/pem"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
)

// Certificate is the CA's record of a certificate with its DER and PEM.
type Certificate struct {
	ra.Certificate
	DER []byte `json:"der,omitempty"` // base64 in JSON
	PEM string `json:"pem,omitempty"`
}

// CertificateFrom converts a record.
func CertificateFrom(c *ra.Certificate) *Certificate {
	if c == nil {
		return nil
	}
	out := &Certificate{Certificate: *c, DER: c.DER}
	if len(c.DER) > 0 {
		out.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	}
	return out
}

// Record converts back.
func (c *Certificate) Record() *ra.Certificate {
	if c == nil {
		return nil
	}
	r := c.Certificate
	r.DER = c.DER
	return &r
}

func certificatesFrom(cs []*ra.Certificate) []*Certificate {
	out := make([]*Certificate, 0, len(cs))
	for _, c := range cs {
		out = append(out, CertificateFrom(c))
	}
	return out
}

func records(cs []*Certificate) []*ra.Certificate {
	if cs == nil {
		return nil
	}
	out := make([]*ra.Certificate, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Record())
	}
	return out
}

// Issued is a certificate returned by a download or renewal, with its
// chain (issuer first).
type Issued struct {
	service.Issued
	Certificate    []byte   `json:"certificate"` // DER
	Chain          [][]byte `json:"chain"`       // DER, issuer first
	CertificatePEM string   `json:"certificate_pem"`
}

// IssuedFrom converts a service result.
func IssuedFrom(i *service.Issued) *Issued {
	if i == nil {
		return nil
	}
	return &Issued{Issued: *i, Certificate: i.Certificate, Chain: i.Chain,
		CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Certificate}))}
}

// Result converts back.
func (i *Issued) Result() *service.Issued {
	if i == nil {
		return nil
	}
	r := i.Issued
	r.Certificate, r.Chain = i.Certificate, i.Chain
	return &r
}

// LookupRequest asks for the stored record of a person (POST, so the ID
// number stays out of URLs and access logs).
type LookupRequest struct {
	IDType   ra.IDType `json:"id_type"`
	IDNumber string    `json:"id_number"`
}

// ValidateRequest checks one application without storing it.
type ValidateRequest struct {
	Application service.Application `json:"application"`
}

// ValidateResponse is the normalised application.
type ValidateResponse struct {
	Application service.Application `json:"application"`
}

// ApplyRequest submits applications.
type ApplyRequest struct {
	Applications []service.Application `json:"applications"`
	Partial      bool                  `json:"partial,omitempty"`
}

// ApplyResponse is one result per application.
type ApplyResponse struct {
	Results []service.ApplyResult `json:"results"`
}

// RequestDetail is a request with its history and certificates.
type RequestDetail struct {
	Request      *ra.Request    `json:"request"`
	History      []ra.Event     `json:"history"`
	Certificates []*Certificate `json:"certificates,omitempty"`
	Target       *Certificate   `json:"target_certificate,omitempty"`
}

// RequestDetailFrom converts a service result.
func RequestDetailFrom(d *service.RequestDetail) *RequestDetail {
	return &RequestDetail{Request: d.Request, History: d.History, Certificates: certificatesFrom(d.Certificates), Target: CertificateFrom(d.Target)}
}

// Result converts back.
func (d *RequestDetail) Result() *service.RequestDetail {
	return &service.RequestDetail{Request: d.Request, History: d.History, Certificates: records(d.Certificates), Target: d.Target.Record()}
}

// RequestsResponse lists requests (GET /api/v1/requests?state=&kind=&serial=&limit=).
type RequestsResponse struct {
	Requests []*ra.Request `json:"requests"`
}

// RejectRequest carries the reason given to the applicant.
type RejectRequest struct {
	Reason string `json:"reason"`
}

// IssueRequest authorises issuance (a one-time download passcode).
type IssueRequest struct {
	Resend bool `json:"resend,omitempty"`
}

// DownloadRequest exchanges the passcode and a CSR for the certificate.
type DownloadRequest struct {
	Passcode string     `json:"passcode"`
	CSR      []byte     `json:"csr"` // DER, base64 in JSON
	Storage  ra.Storage `json:"storage"`
}

// CertificateForKeyRequest finds the certificate issued for a public key
// (crash recovery of download and renew).
type CertificateForKeyRequest struct {
	SPKI []byte `json:"spki"` // DER SubjectPublicKeyInfo
}

// RenewRequest renews the certificate named in the path.
type RenewRequest struct {
	CSR      []byte    `json:"csr"`
	SignedAt time.Time `json:"signed_at"`
	Proof    []byte    `json:"proof"`
	Comment  string    `json:"comment,omitempty"`
}

// RenewResult is the renewal request and, when approved at once, the new
// certificate.
type RenewResult struct {
	service.RenewResult
	Issued *Issued `json:"certificate,omitempty"`
}

// RenewResultFrom converts a service result.
func RenewResultFrom(r *service.RenewResult) *RenewResult {
	return &RenewResult{RenewResult: *r, Issued: IssuedFrom(r.Issued)}
}

// Result converts back.
func (r *RenewResult) Result() *service.RenewResult {
	out := r.RenewResult
	out.Issued = r.Issued.Result()
	return &out
}

// RevokeRequest asks to revoke the certificate named in the path.
type RevokeRequest struct {
	Reason   string    `json:"reason"`
	Comment  string    `json:"comment,omitempty"`
	Proof    []byte    `json:"proof,omitempty"`
	SignedAt time.Time `json:"signed_at,omitzero"`
	Direct   bool      `json:"direct,omitempty"`
}

// ReissueRequest asks for a replacement (lost or damaged key).
type ReissueRequest struct {
	Serial  string `json:"serial,omitempty"`
	Ref     string `json:"ref,omitempty"`
	Reason  string `json:"reason"`
	Comment string `json:"comment,omitempty"`
}

// CRLRequest signs (or reuses) a CRL.
type CRLRequest struct {
	Delta bool `json:"delta,omitempty"`
	Force bool `json:"force,omitempty"`
}

// CRLResult is the CRL in force; the paths are on the server.
type CRLResult struct {
	service.CRLResult
	File    string `json:"file,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// CRLResultFrom converts a service result.
func CRLResultFrom(r *service.CRLResult) *CRLResult {
	return &CRLResult{CRLResult: *r, File: r.File, Warning: r.Warning}
}

// Result converts back.
func (r *CRLResult) Result() *service.CRLResult {
	out := r.CRLResult
	out.File, out.Warning = r.File, r.Warning
	return &out
}

// CheckCRLRequest checks a CRL file against the CA and its records.
type CheckCRLRequest struct {
	CRL []byte `json:"crl"` // DER or PEM
}

// CertificatesResponse lists certificates (GET /api/v1/certificates?status=&limit=).
type CertificatesResponse struct {
	Certificates []*Certificate `json:"certificates"`
}

// CertificateDetail is one certificate with its requests.
type CertificateDetail struct {
	Certificate *Certificate  `json:"certificate"`
	Status      ra.CertStatus `json:"status"`
	Requests    []*ra.Request `json:"requests"`
}

// CertificateDetailFrom converts a service result.
func CertificateDetailFrom(d *service.CertificateDetail) *CertificateDetail {
	return &CertificateDetail{Certificate: CertificateFrom(d.Certificate), Status: d.Status, Requests: d.Requests}
}

// Result converts back.
func (d *CertificateDetail) Result() *service.CertificateDetail {
	return &service.CertificateDetail{Certificate: d.Certificate.Record(), Status: d.Status, Requests: d.Requests}
}

// AuditResponse lists audit records (GET /api/v1/audit?ref=&serial=&operator=&since=&until=&limit=).
type AuditResponse struct {
	Events []ra.Event `json:"events"`
}

// CACertificate is the CA certificate (and any chain above it).
type CACertificate struct {
	PEM string `json:"pem"`
	DER []byte `json:"der"` // the CA's own certificate
}

// Config is the configuration and the home's policy in force, as a client
// needs them (usage types, acceptance points, agreement, four-eyes).
// Policy durations are nanoseconds (service.Policy's JSON).
type Config struct {
	Policy               service.Policy            `json:"policy"`
	CRLValidity          string                    `json:"crl_validity"` // Go duration
	CRLDistributionPoint []string                  `json:"crl_distribution_points,omitempty"`
	OCSPServers          []string                  `json:"ocsp_servers,omitempty"`
	CAIssuersURL         []string                  `json:"ca_issuers,omitempty"`
	PolicyOID            string                    `json:"policy_oid,omitempty"`
	Profiles             []ca.Profile              `json:"profiles"`
	AcceptancePoints     []service.AcceptancePoint `json:"acceptance_points"`
	Agreement            service.Agreement         `json:"agreement"`
}

// ConfigFrom converts the service's configuration and policy.
func ConfigFrom(c *service.Config, p service.Policy) *Config {
	return &Config{
		Policy: p, CRLValidity: c.CRLValidity.String(), CRLDistributionPoint: c.CRLDistributionPoint,
		OCSPServers: c.OCSPServers, CAIssuersURL: c.CAIssuersURL, PolicyOID: c.PolicyOID, Profiles: c.Profiles,
		AcceptancePoints: c.AcceptancePoints, Agreement: c.Agreement,
	}
}

// ServiceConfig converts back; a malformed duration is an error.
func (c *Config) ServiceConfig() (*service.Config, error) {
	v, err := time.ParseDuration(c.CRLValidity)
	if err != nil {
		return nil, New(CodeInternal, "the server sent a malformed configuration: "+err.Error())
	}
	return &service.Config{
		Policy: c.Policy, CRLValidity: v, CRLDistributionPoint: c.CRLDistributionPoint, OCSPServers: c.OCSPServers,
		CAIssuersURL: c.CAIssuersURL, PolicyOID: c.PolicyOID, Profiles: c.Profiles, AcceptancePoints: c.AcceptancePoints,
		Agreement: c.Agreement,
	}, nil
}

// PolicyResponse lists every policy key with its stored value
// (GET /api/v1/policy).
type PolicyResponse struct {
	Settings []service.PolicySetting `json:"settings"`
}

// PolicySetRequest changes one policy key (POST /api/v1/policy/{key}).
type PolicySetRequest struct {
	Value string `json:"value"`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string            `json:"status"` // ok or unavailable
	Checks map[string]string `json:"checks,omitempty"`
}

// ApproveBatchRequest approves several requests in one transaction (or
// every submitted one).
type ApproveBatchRequest struct {
	Refs         []string `json:"refs,omitempty"`
	AllSubmitted bool     `json:"all_submitted,omitempty"`
}

// IssueBatchRequest authorises several requests in one transaction (or
// every approved one).
type IssueBatchRequest struct {
	Refs        []string `json:"refs,omitempty"`
	AllApproved bool     `json:"all_approved,omitempty"`
	Resend      bool     `json:"resend,omitempty"`
}

// RefError is one failed item of a batch.
type RefError struct {
	Ref   string `json:"ref"`
	Error *Error `json:"error"`
}

// RefErrorsFrom converts the failed items of a batch.
func RefErrorsFrom(fs []service.RefError) []RefError {
	out := make([]RefError, 0, len(fs))
	for _, f := range fs {
		out = append(out, RefError{Ref: f.Ref, Error: FromError(f.Err)})
	}
	return out
}

// RefErrors converts back.
func RefErrors(fs []RefError) []service.RefError {
	var out []service.RefError
	for _, f := range fs {
		out = append(out, service.RefError{Ref: f.Ref, Err: f.Error})
	}
	return out
}

// ApproveBatchResponse is what was approved and what failed.
type ApproveBatchResponse struct {
	Done   []*service.Decision `json:"done"`
	Failed []RefError          `json:"failed"`
}

// IssueBatchResponse is what was authorised (each passcode shown once) and
// what failed.
type IssueBatchResponse struct {
	Done   []*service.Authorisation `json:"done"`
	Failed []RefError               `json:"failed"`
}

// DownloadBatchRequest collects many certificates in one transaction.
type DownloadBatchRequest struct {
	Items []DownloadBatchItem `json:"items"`
}

// DownloadBatchItem is one download of a batch.
type DownloadBatchItem struct {
	Ref      string     `json:"ref"`
	Passcode string     `json:"passcode"`
	CSR      []byte     `json:"csr"`
	Storage  ra.Storage `json:"storage,omitempty"`
}

// DownloadOutcome is one item's certificate or error.
type DownloadOutcome struct {
	Ref    string  `json:"ref"`
	Issued *Issued `json:"issued,omitempty"`
	Error  *Error  `json:"error,omitempty"`
}

// DownloadBatchResponse is one outcome per item, in order.
type DownloadBatchResponse struct {
	Outcomes []DownloadOutcome `json:"outcomes"`
}
