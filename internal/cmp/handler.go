package cmp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of CMP over HTTP (RFC 6712).
const ContentType = "application/pkixcmp"

// Path is where the handler is mounted (RFC 9483 §6.1).
const Path = "/.well-known/cmp"

// Exchange is what every request carries for replay protection: the
// backend records the transactionID (new transactions) and the
// senderNonce (every message) in the same transaction as its work.
type Exchange struct {
	TransactionID []byte
	SenderNonce   []byte
	MessageTime   time.Time
	// ImplicitConfirm is set when the client asked for it; the backend
	// says in Result.ImplicitConfirm whether it granted it.
	ImplicitConfirm bool
}

// EnrolRequest is an ir, cr or p10cr protected by a password-based MAC:
// senderKID names the request (the reference number), the secret is its
// passcode.
type EnrolRequest struct {
	Exchange
	Type BodyType
	Ref  string // senderKID
	// CheckMAC reports whether the message's MAC was made with secret.
	CheckMAC func(secret []byte) bool
	// Request is the certificate request; its POP has been verified. Only
	// its public key is to be used.
	Request *CertRequest
}

// UpdateRequest is a kur signed with the key of Signer, a certificate the
// backend must recognise as one it issued and that is still valid.
type UpdateRequest struct {
	Exchange
	Signer  *x509.Certificate // the message's signature verifies with it
	Request *CertRequest      // POP verified
}

// RevokeRequest is an rr signed with the key of the certificate to revoke.
type RevokeRequest struct {
	Exchange
	Signer *x509.Certificate
	Serial string // lower-case hex
	Reason int    // RFC 5280 CRLReason, -1 when not given
}

// ConfirmRequest is a certConf in a transaction that is waiting for one.
type ConfirmRequest struct {
	Exchange
	// CheckMAC is set for a MAC-protected certConf, Signer for a signed
	// one (its signature verified).
	CheckMAC func(secret []byte) bool
	Signer   *x509.Certificate
	Statuses []CertStatus
}

// Result is the backend's answer. On error, Secret (the passcode that
// verified the request's MAC) or Signed (the request was authenticated by
// signature) says how the error message may be protected.
type Result struct {
	Cert            []byte   // DER, the certificate issued
	CAPubs          [][]byte // trust anchors for the client
	ExtraCerts      [][]byte // chain for the client, issuer first
	Secret          []byte
	Signed          bool
	ImplicitConfirm bool   // granted
	Text            string // statusString for the client
}

// Backend is what the handler needs from the CA.
type Backend interface {
	Enrol(ctx context.Context, in *EnrolRequest) (*Result, error)
	Update(ctx context.Context, in *UpdateRequest) (*Result, error)
	Revoke(ctx context.Context, in *RevokeRequest) (*Result, error)
	Confirm(ctx context.Context, in *ConfirmRequest) (*Result, error)
	// ResponseSigner signs responses to signature-protected requests;
	// chain starts with the signer's certificate.
	ResponseSigner(ctx context.Context) (crypto.Signer, []*x509.Certificate, error)
}

// Failure is an error the backend answers with a PKIFailureInfo.
type Failure struct {
	Info FailureInfo
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Fail wraps err with a failure bit.
func Fail(info FailureInfo, err error) error { return &Failure{Info: info, Err: err} }

// Options tune the handler.
type Options struct {
	// MaxIterations bounds a PBM iteration count (default MaxIterations).
	MaxIterations int
	// MaxClockSkew is how far messageTime may be from now (default 5m).
	MaxClockSkew time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Limit, when set, is asked for every message that parses, with its
	// body type, before anything else is checked: false refuses it with
	// 429, Retry-After and an unprotected systemUnavail error, and the
	// backend never sees it (cmca serve: per-client buckets shared with
	// the API, internal/server Limits).
	Limit func(r *http.Request, body BodyType) (retryAfter time.Duration, ok bool)
}

// Handler serves CMP over HTTP.
type Handler struct {
	b    Backend
	opts Options
}

// NewHandler returns the CMP handler; mount it at Path for POST.
func NewHandler(b Backend, opts Options) *Handler {
	if opts.MaxIterations <= 0 {
		opts.MaxIterations = MaxIterations
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{b: b, opts: opts}
}

// ServeHTTP answers one CMP request. Every answer to a POST is a
// PKIMessage; HTTP status 200 unless the request was not a CMP message at
// all.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "CMP requests are POSTed (RFC 6712)", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentType {
		h.write(w, http.StatusUnsupportedMediaType, h.plainError(nil, BadDataFormat, "the content type must be "+ContentType))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.write(w, http.StatusRequestEntityTooLarge, h.plainError(nil, BadDataFormat, fmt.Sprintf("the message is larger than %d bytes", MaxMessageSize)))
			return
		}
		h.write(w, http.StatusBadRequest, h.plainError(nil, BadDataFormat, "the message could not be read"))
		return
	}
	req, err := ParseMessage(body)
	if err != nil {
		h.write(w, http.StatusBadRequest, h.plainError(nil, BadDataFormat, err.Error()))
		return
	}
	if h.opts.Limit != nil {
		if wait, ok := h.opts.Limit(r, req.Type); !ok {
			secs := strconv.Itoa(int(wait.Round(time.Second)/time.Second) + 1)
			w.Header().Set("Retry-After", secs)
			resp := h.plainError(req, SystemUnavail, fmt.Sprintf("too many %s messages from this address; retry in %s seconds", req.Type, secs))
			h.logExchange(req, resp, h.opts.Now())
			h.write(w, http.StatusTooManyRequests, resp)
			return
		}
	}
	start := h.opts.Now()
	resp := h.handle(r.Context(), req)
	h.logExchange(req, resp, start)
	h.write(w, http.StatusOK, resp)
}

// logExchange writes one line per message: what came, what went back, and
// for an error its failure bits. Never a secret: senderKID is the
// reference number, which is not one.
func (h *Handler) logExchange(req, resp *Message, start time.Time) {
	ref := req.Header.SenderKID
	if len(ref) > 64 {
		ref = ref[:64]
	}
	attrs := []any{"body", req.Type.String(), "response", resp.Type.String(), "ref", string(ref),
		"protected", len(resp.Protection) != 0, "latency_ms", h.opts.Now().Sub(start).Milliseconds()}
	if resp.Type == BodyError {
		if si, _, err := ParseError(resp.Body); err == nil {
			var bits []int
			for i := range si.FailInfo.BitLength {
				if si.FailInfo.At(i) == 1 {
					bits = append(bits, i)
				}
			}
			attrs = append(attrs, "failure_bits", bits)
		}
	}
	h.opts.Logger.Info("cmp", attrs...)
}

func (h *Handler) write(w http.ResponseWriter, status int, m *Message) {
	der, err := m.Marshal()
	if err != nil {
		h.opts.Logger.Error("cmp: marshal response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(der)
}

// plainError is an unprotected error message: the request could not be
// authenticated, so nothing can protect the answer.
func (h *Handler) plainError(req *Message, info FailureInfo, text string) *Message {
	body, _ := ErrorBody(newStatus(StatusRejection, text, info), "")
	return NewResponse(req, BodyError, body, nil, h.opts.Now())
}

// reply carries how a response is protected.
type reply struct {
	req    *Message
	secret []byte // MAC with this passcode
	signed bool   // sign with the response signer
}

func (h *Handler) handle(ctx context.Context, req *Message) *Message {
	if req.Header.PVNO != 2 && req.Header.PVNO != 3 {
		return h.plainError(req, UnsupportedVersion, fmt.Sprintf("pvno %d is not supported (2 or 3)", req.Header.PVNO))
	}
	if n := len(req.Header.TransactionID); n < 16 || n > 64 {
		return h.plainError(req, BadRequest, "transactionID must have 16 to 64 bytes")
	}
	if n := len(req.Header.SenderNonce); n < 16 || n > 64 {
		return h.plainError(req, BadSenderNonce, "senderNonce must have 16 to 64 bytes")
	}
	now := h.opts.Now()
	if req.Header.MessageTime.IsZero() {
		return h.plainError(req, BadTime, "messageTime is required")
	}
	if d := now.Sub(req.Header.MessageTime); d > h.opts.MaxClockSkew || d < -h.opts.MaxClockSkew {
		return h.plainError(req, BadTime, fmt.Sprintf("messageTime %s is more than %s from the server's time %s; check the clock",
			req.Header.MessageTime.UTC().Format(time.RFC3339), h.opts.MaxClockSkew, now.UTC().Format(time.RFC3339)))
	}
	ex := Exchange{TransactionID: req.Header.TransactionID, SenderNonce: req.Header.SenderNonce,
		MessageTime: req.Header.MessageTime, ImplicitConfirm: req.Header.ImplicitConfirm()}
	switch req.Type {
	case BodyIR, BodyCR, BodyP10CR:
		return h.enrol(ctx, req, ex)
	case BodyKUR:
		return h.update(ctx, req, ex)
	case BodyRR:
		return h.revoke(ctx, req, ex)
	case BodyCertConf:
		return h.confirm(ctx, req, ex)
	}
	return h.plainError(req, BadRequest, fmt.Sprintf("%s messages are not supported here (ir, cr, p10cr, kur, rr, certConf are)", req.Type))
}

func (h *Handler) enrol(ctx context.Context, req *Message, ex Exchange) *Message {
	if !req.MACProtected() || len(req.Header.SenderKID) == 0 {
		return h.plainError(req, NotAuthorized, "an enrolment must be protected with a password-based MAC: the reference number as senderKID (-ref) and the passcode as secret (-secret pass:...)")
	}
	checker, err := NewMACChecker(req, h.opts.MaxIterations)
	if err != nil {
		return h.plainError(req, failureOf(err, BadAlg), err.Error())
	}
	cr, bad := h.oneCertRequest(req)
	if bad != nil {
		return bad
	}
	res, err := h.b.Enrol(ctx, &EnrolRequest{Exchange: ex, Type: req.Type, Ref: string(req.Header.SenderKID), CheckMAC: checker.Check, Request: cr})
	rt := BodyCP
	if req.Type == BodyIR {
		rt = BodyIP
	}
	return h.certRep(ctx, reply{req: req}, rt, cr.ID, res, err)
}

// oneCertRequest is the one certificate request of req, its proof of
// possession verified, or the error message to answer with.
func (h *Handler) oneCertRequest(req *Message) (*CertRequest, *Message) {
	reqs, err := ParseCertRequests(req.Type, req.Body)
	if err != nil {
		return nil, h.plainError(req, BadDataFormat, err.Error())
	}
	if len(reqs) != 1 {
		return nil, h.plainError(req, BadRequest, "exactly one certificate request per message")
	}
	if err := reqs[0].VerifyPOP(); err != nil {
		return nil, h.plainError(req, BadPOP, "proof of possession: "+err.Error())
	}
	return reqs[0], nil
}

// signedBy checks a signature-protected request: the signer's certificate
// is the first of extraCerts.
func (h *Handler) signedBy(req *Message) (*x509.Certificate, *Message) {
	if req.MACProtected() {
		return nil, h.plainError(req, NotAuthorized, fmt.Sprintf("a %s must be signed with the current certificate's key (-cert and -key), not protected by a MAC", req.Type))
	}
	if len(req.ExtraCerts) == 0 {
		return nil, h.plainError(req, SignerNotTrusted, "the signer's certificate must be the first of extraCerts")
	}
	if err := req.VerifySignature(req.ExtraCerts[0]); err != nil {
		return nil, h.plainError(req, failureOf(err, BadMessageCheck), err.Error())
	}
	return req.ExtraCerts[0], nil
}

func (h *Handler) update(ctx context.Context, req *Message, ex Exchange) *Message {
	signer, bad := h.signedBy(req)
	if bad != nil {
		return bad
	}
	cr, bad := h.oneCertRequest(req)
	if bad != nil {
		return bad
	}
	res, err := h.b.Update(ctx, &UpdateRequest{Exchange: ex, Signer: signer, Request: cr})
	return h.certRep(ctx, reply{req: req}, BodyKUP, cr.ID, res, err)
}

func (h *Handler) revoke(ctx context.Context, req *Message, ex Exchange) *Message {
	signer, bad := h.signedBy(req)
	if bad != nil {
		return bad
	}
	details, err := ParseRevocationRequests(req.Body)
	if err != nil {
		return h.plainError(req, BadDataFormat, err.Error())
	}
	if len(details) != 1 {
		return h.plainError(req, BadRequest, "exactly one revocation request per message")
	}
	res, err := h.b.Revoke(ctx, &RevokeRequest{Exchange: ex, Signer: signer, Serial: SerialHex(details[0].Serial), Reason: details[0].Reason})
	rp := reply{req: req}
	if res != nil {
		rp.secret, rp.signed = res.Secret, res.Signed
	}
	if err != nil {
		return h.failure(ctx, rp, err)
	}
	body, err := RevRepBody(newStatus(StatusAccepted, res.Text))
	if err != nil {
		return h.failure(ctx, rp, err)
	}
	return h.protect(ctx, rp, NewResponse(req, BodyRP, body, nil, h.opts.Now()))
}

func (h *Handler) confirm(ctx context.Context, req *Message, ex Exchange) *Message {
	in := &ConfirmRequest{Exchange: ex}
	if req.MACProtected() {
		checker, err := NewMACChecker(req, h.opts.MaxIterations)
		if err != nil {
			return h.plainError(req, failureOf(err, BadAlg), err.Error())
		}
		in.CheckMAC = checker.Check
	} else {
		signer, bad := h.signedBy(req)
		if bad != nil {
			return bad
		}
		in.Signer = signer
	}
	st, err := ParseCertConf(req.Body)
	if err != nil {
		return h.plainError(req, BadDataFormat, err.Error())
	}
	in.Statuses = st
	res, err := h.b.Confirm(ctx, in)
	rp := reply{req: req}
	if res != nil {
		rp.secret, rp.signed = res.Secret, res.Signed
	}
	if err != nil {
		return h.failure(ctx, rp, err)
	}
	return h.protect(ctx, rp, NewResponse(req, BodyPKIConf, PKIConfBody(), nil, h.opts.Now()))
}

func (h *Handler) certRep(ctx context.Context, rp reply, t BodyType, id int64, res *Result, err error) *Message {
	if res != nil {
		rp.secret, rp.signed = res.Secret, res.Signed
	}
	if err != nil {
		return h.failure(ctx, rp, err)
	}
	body, err := CertRepBody(res.CAPubs, id, newStatus(StatusAccepted, res.Text), res.Cert)
	if err != nil {
		return h.failure(ctx, rp, err)
	}
	m := NewResponse(rp.req, t, body, nil, h.opts.Now())
	if res.ImplicitConfirm {
		m.GrantImplicitConfirm()
	}
	for _, c := range res.ExtraCerts {
		if cert, err := x509.ParseCertificate(c); err == nil {
			m.ExtraCerts = append(m.ExtraCerts, cert)
		}
	}
	return h.protect(ctx, rp, m)
}

// failure answers err as an error message, protected the way the request
// was authenticated (or not at all).
func (h *Handler) failure(ctx context.Context, rp reply, err error) *Message {
	info := failureOf(err, SystemFailure)
	text := err.Error()
	if info == SystemFailure {
		h.opts.Logger.Error("cmp", "body", rp.req.Type.String(), "err", err)
		text = "internal error; the CA's log has the details"
	}
	body, _ := ErrorBody(newStatus(StatusRejection, text, info), "")
	return h.protect(ctx, rp, NewResponse(rp.req, BodyError, body, nil, h.opts.Now()))
}

// protect MACs or signs a response; if that fails, the answer is an
// unprotected error.
func (h *Handler) protect(ctx context.Context, rp reply, m *Message) *Message {
	switch {
	case rp.secret != nil:
		like := rp.req.Header.ProtectionAlg
		if err := m.ProtectMAC(rp.secret, &like); err != nil {
			h.opts.Logger.Error("cmp: MAC response", "err", err)
			return h.plainError(rp.req, SystemFailure, "the response could not be protected")
		}
	case rp.signed:
		signer, chain, err := h.b.ResponseSigner(ctx)
		if err == nil {
			m.Header.Sender = directoryName(chain[0].RawSubject)
			m.rawHeader = nil
			m.ExtraCerts = append(append([]*x509.Certificate(nil), chain...), m.ExtraCerts...)
			err = m.ProtectSignature(signer)
		}
		if err != nil {
			h.opts.Logger.Error("cmp: sign response", "err", err)
			return h.plainError(rp.req, SystemUnavail, "the response could not be signed")
		}
	}
	return m
}

func failureOf(err error, dflt FailureInfo) FailureInfo {
	var f *Failure
	switch {
	case errors.As(err, &f):
		return f.Info
	case errors.Is(err, errBadAlg):
		return BadAlg
	case errors.Is(err, ErrMalformed):
		return BadDataFormat
	case errors.Is(err, ErrProtection):
		return BadMessageCheck
	}
	return dflt
}
