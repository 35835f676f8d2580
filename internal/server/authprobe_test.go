package server

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/msg"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/service"
	"github.com/cmca/cmca/internal/store"
)

// tlsAPI is the API served like `cmca serve` serves it: the managed
// server certificate, client certificates requested, CertAuthenticator.
type tlsAPI struct {
	h    *testHome
	base string
}

func newTLSAPI(t *testing.T, h *testHome) *tlsAPI {
	t.Helper()
	// The server certificate's renewal runs on the real clock, so a test
	// that moves h.clk (the authenticator's clock) keeps one served
	// certificate the client's real clock accepts.
	m, err := NewCertManager(adminCtx(), h.svc, h.home, []string{"127.0.0.1"}, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	handler := NewServer(h.svc, Options{Auth: CertAuthenticator(h.svc, []*x509.Certificate{h.ca}, h.clk.Now), Now: h.clk.Now})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", TLSConfig(m.GetCertificate, []*x509.Certificate{h.ca}))
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(handler, nil, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &tlsAPI{h: h, base: "https://" + ln.Addr().String()}
}

// client presents cert (none when nil) over TLS up to maxVersion (0: any),
// with cache for session resumption (nil: none).
func (a *tlsAPI) client(cert *x509.Certificate, key crypto.Signer, maxVersion uint16, cache tls.ClientSessionCache) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(a.h.ca)
	cfg := &tls.Config{RootCAs: roots, MaxVersion: maxVersion, ClientSessionCache: cache}
	if cert != nil {
		c := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

type answer struct {
	status  int
	code    string
	body    string
	reused  bool // the request went over a connection already used
	resumed bool // the connection's TLS session was resumed
}

func (a *tlsAPI) do(t *testing.T, c *http.Client, method, path string, body any, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	var reused bool
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.Error
	_ = json.Unmarshal(b, &e)
	return answer{status: resp.StatusCode, code: e.Code, body: string(b), reused: reused, resumed: resp.TLS != nil && resp.TLS.DidResume}
}

// TestRevokedOperatorOnOpenConnection: roles are looked up at every
// request, not once per connection or TLS session. An operator revoked
// while its keep-alive connection is open, or who resumes a TLS session
// negotiated before the revocation (TLS 1.2 and 1.3), is refused at its
// next request.
func TestRevokedOperatorOnOpenConnection(t *testing.T) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.3", 0}, {"TLS 1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			h := newTestHome(t)
			a := newTLSAPI(t, h)
			cert, key := h.operator(t, "olga", principal.Auditor)
			cache := tls.NewLRUClientSessionCache(4)
			kept := a.client(cert, key, v.max, cache)
			if got := a.do(t, kept, "GET", "/api/v1/audit", nil); got.status != 200 {
				t.Fatalf("before the revocation: %d %s; want 200", got.status, got.body)
			}
			if got := a.do(t, a.client(cert, key, v.max, cache), "GET", "/api/v1/audit", nil); got.status != 200 || !got.resumed {
				t.Fatalf("resumed before the revocation: %d resumed=%v %s; want 200 over a resumed session", got.status, got.resumed, got.body)
			}
			if _, err := h.svc.RevokeOperator(adminCtx(), "olga", ""); err != nil {
				t.Fatal(err)
			}
			got := a.do(t, kept, "GET", "/api/v1/audit", nil)
			if !got.reused {
				t.Fatal("the kept connection was not reused; the test proves nothing")
			}
			if got.status != 401 || got.code != api.CodeAuthRequired || !strings.Contains(got.body, "operator olga was revoked") {
				t.Errorf("kept-alive connection after the revocation: %d %s; want 401 auth.required naming the revocation", got.status, got.body)
			}
			got = a.do(t, a.client(cert, key, v.max, cache), "GET", "/api/v1/audit", nil)
			if !got.resumed {
				t.Fatal("the session was not resumed; the test proves nothing")
			}
			if got.status != 401 || got.code != api.CodeAuthRequired {
				t.Errorf("resumed session after the revocation: %d %s; want 401 auth.required", got.status, got.body)
			}
		})
	}
}

// TestIdentityComesOnlyFromTheHandshake: headers that name a caller, a
// role or a client certificate (as a TLS-terminating proxy would send
// them) are ignored: an anonymous caller stays anonymous, an auditor
// stays an auditor.
func TestIdentityComesOnlyFromTheHandshake(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	admin, _ := h.operator(t, "adam", principal.Admin)
	aud, audKey := h.operator(t, "bob", principal.Auditor)
	adminPEM := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: admin.Raw})), "\n", " ")
	spoof := []string{
		"X-Cmca-Operator", "adam", "X-Cmca-Roles", "admin", "X-Cmca-Principal", "adam:admin",
		"X-Forwarded-User", "adam", "X-Remote-User", "adam", "Remote-User", "adam",
		"X-Forwarded-For", "127.0.0.1", "X-Real-IP", "127.0.0.1", "Forwarded", "for=127.0.0.1",
		"X-SSL-Client-Cert", adminPEM, "X-Client-Cert", adminPEM, "X-Forwarded-Client-Cert", "Hash=00;Subject=\"CN=adam,OU=cmca operator\"",
		"X-SSL-Client-S-DN", "CN=adam,OU=cmca operator", "X-SSL-Client-Verify", "SUCCESS",
		"Authorization", "Basic YWRhbTphZGFt",
	}
	set := api.PolicySetRequest{Value: "false"}
	for _, tt := range []struct {
		name   string
		c      *http.Client
		status int
	}{
		{"anonymous", a.client(nil, nil, 0, nil), 403},
		{"auditor", a.client(aud, audKey, 0, nil), 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, rq := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/api/v1/policy/policy.four_eyes", set},
				{"POST", "/api/v1/requests/20260101-AAAAAAAA/approve", nil},
				{"POST", "/api/v1/crls", nil},
			} {
				got := a.do(t, tt.c, rq.method, rq.path, rq.body, spoof...)
				if got.status != tt.status || got.code != api.CodeRoleRequired {
					t.Errorf("%s %s as %s with identity headers: %d %s; want %d auth.role_required", rq.method, rq.path, tt.name, got.status, got.body, tt.status)
				}
			}
		})
	}
	evs, err := h.svc.Audit(adminCtx(), auditAll())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Action == "policy-set" {
			t.Errorf("policy changed: %+v", e)
		}
	}
}

// TestSubscriberNamedLikeAnOperator: a subscriber certificate whose
// subject carries an operator's name (issued under the subscriber
// profile: no operator OU) is that subscriber, named by its serial, with
// no role; the operator's roles stay with the operator's credential.
func TestSubscriberNamedLikeAnOperator(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	h.operator(t, "张三", principal.Reviewer, principal.Issuer, principal.Admin)
	sub, subKey := h.subscriber(t, 0) // CN=张三
	if sub.Subject.CommonName != "张三" {
		t.Fatalf("subscriber CN %q; want 张三", sub.Subject.CommonName)
	}
	p, err := CertAuthenticator(h.svc, []*x509.Certificate{h.ca}, h.clk.Now)(&http.Request{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{sub}}})
	if err != nil || p.Kind != principal.Subscriber || p.Name != ra.SerialString(sub.SerialNumber) || len(p.Roles) != 0 {
		t.Fatalf("principal of the subscriber certificate = %+v, %v; want the Subscriber %s with no roles", p, err, ra.SerialString(sub.SerialNumber))
	}
	c := a.client(sub, subKey, 0, nil)
	for _, path := range []string{"/api/v1/policy", "/api/v1/requests", "/api/v1/audit"} {
		if got := a.do(t, c, "GET", path, nil); got.status != 403 || got.code != api.CodeRoleRequired {
			t.Errorf("GET %s with the subscriber certificate: %d %s; want 403 auth.role_required", path, got.status, got.body)
		}
	}
	if got := a.do(t, c, "POST", "/api/v1/policy/policy.four_eyes", api.PolicySetRequest{Value: "false"}); got.status != 403 {
		t.Errorf("policy-set with the subscriber certificate: %d %s; want 403", got.status, got.body)
	}
}

// TestFourEyesAcrossConnectionsAndCredentials: four-eyes compares the
// operator's identity (its name), not a connection or a certificate
// serial: the same operator approving over one connection and issuing
// over another, or with a second credential issued under the same name
// after the first was revoked, is refused; another operator may issue.
func TestFourEyesAcrossConnectionsAndCredentials(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	if _, err := h.svc.PolicySet(adminCtx(), "policy.four_eyes", "true"); err != nil {
		t.Fatal(err)
	}
	rita, ritaKey := h.operator(t, "rita", principal.Reviewer, principal.Issuer)
	ivan, ivanKey := h.operator(t, "ivan", principal.Reviewer, principal.Issuer)
	anon := a.client(nil, nil, 0, nil)

	apply := func(c *http.Client) string {
		t.Helper()
		app := service.Application{
			Applicant: ra.Applicant{Name: "张三", IDType: ra.IDResident, IDNumber: "11010519491231002X", Mobile: "13812345678", Email: "zhang@example.com"},
			UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
		}
		got := a.do(t, c, "POST", "/api/v1/requests", api.ApplyRequest{Applications: []service.Application{app}})
		var res api.ApplyResponse
		if err := json.Unmarshal([]byte(got.body), &res); got.status != 200 || err != nil || len(res.Results) != 1 {
			t.Fatalf("apply: %d %s", got.status, got.body)
		}
		return res.Results[0].Ref
	}

	// rita applies for someone (logged in), then tries to approve it over
	// a second connection: she submitted it.
	ref := apply(a.client(rita, ritaKey, 0, nil))
	if got := a.do(t, a.client(rita, ritaKey, 0, nil), "POST", "/api/v1/requests/"+ref+"/approve", nil); got.status != 403 || got.code != api.CodeFourEyes {
		t.Errorf("rita approving what she submitted: %d %s; want 403 policy.four_eyes", got.status, got.body)
	}

	// rita approves an anonymous application; issuing it herself over
	// another connection is refused.
	ref = apply(anon)
	if got := a.do(t, a.client(rita, ritaKey, 0, nil), "POST", "/api/v1/requests/"+ref+"/approve", nil); got.status != 200 {
		t.Fatalf("rita approves: %d %s", got.status, got.body)
	}
	if got := a.do(t, a.client(rita, ritaKey, 0, nil), "POST", "/api/v1/requests/"+ref+"/issue", nil); got.status != 403 || got.code != api.CodeFourEyes {
		t.Errorf("rita issuing what she approved, second connection: %d %s; want 403 policy.four_eyes", got.status, got.body)
	}

	// rita's credential is revoked and she gets a new one (new key, new
	// serial, same name): still rita.
	if _, err := h.svc.RevokeOperator(adminCtx(), "rita", ""); err != nil {
		t.Fatal(err)
	}
	rita2, rita2Key := h.operator(t, "rita", principal.Reviewer, principal.Issuer)
	if rita2.SerialNumber.Cmp(rita.SerialNumber) == 0 {
		t.Fatal("the second credential has the first one's serial")
	}
	if got := a.do(t, a.client(rita, ritaKey, 0, nil), "POST", "/api/v1/requests/"+ref+"/issue", nil); got.status != 401 {
		t.Errorf("rita's revoked credential: %d %s; want 401", got.status, got.body)
	}
	if got := a.do(t, a.client(rita2, rita2Key, 0, nil), "POST", "/api/v1/requests/"+ref+"/issue", nil); got.status != 403 || got.code != api.CodeFourEyes {
		t.Errorf("rita's second credential issuing what she approved with the first: %d %s; want 403 policy.four_eyes", got.status, got.body)
	}
	if got := a.do(t, a.client(ivan, ivanKey, 0, nil), "POST", "/api/v1/requests/"+ref+"/issue", nil); got.status != 200 {
		t.Errorf("ivan issues: %d %s; want 200", got.status, got.body)
	}
	evs, err := h.svc.Audit(adminCtx(), auditRef(ref))
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for _, e := range evs {
		who = append(who, e.Operator+":"+e.Action)
	}
	if got, want := strings.Join(who, " "), "anonymous:apply rita:approve ivan:issue"; got != want {
		t.Errorf("audit of %s: %s; want %s", ref, got, want)
	}
}

func auditAll() store.AuditFilter           { return store.AuditFilter{} }
func auditRef(ref string) store.AuditFilter { return store.AuditFilter{Ref: ref} }

// TestOneOpenRequestPerCertificate: requests filed without proof about one
// certificate are bounded per certificate: one open revocation and one
// open reissue, however the serial is written and whether the certificate
// is named by serial or by reference.
func TestOneOpenRequestPerCertificate(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	sub, _ := h.subscriber(t, 0)
	other, otherKey := h.subscriber(t, 1)
	serial := ra.SerialString(sub.SerialNumber)
	anon := a.client(nil, nil, 0, nil)
	holderOfAnother := a.client(other, otherKey, 0, nil)
	revoke := api.RevokeRequest{Reason: "keyCompromise"}
	if got := a.do(t, anon, "POST", "/api/v1/certificates/"+serial+"/revoke", revoke); got.status != 200 || !strings.Contains(got.body, `"revoked":false`) {
		t.Fatalf("first revocation request: %d %s; want 200, filed for review", got.status, got.body)
	}
	colons := strings.TrimSuffix(regexpPairs.ReplaceAllString(serial, "$0:"), ":")
	for _, form := range []string{serial, strings.ToUpper(serial), "00" + serial, colons} {
		for name, c := range map[string]*http.Client{"anonymous": anon, "holder of another": holderOfAnother} {
			if got := a.do(t, c, "POST", "/api/v1/certificates/"+form+"/revoke", revoke); got.status != 409 {
				t.Errorf("second revocation request for %s as %s: %d %s; want 409", form, name, got.status, got.body)
			}
		}
	}
	rs, err := h.svc.Requests(adminCtx(), store.RequestFilter{Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	ref := ""
	for _, r := range rs {
		if r.Kind == ra.KindNew {
			ref = r.Ref
		}
	}
	if got := a.do(t, anon, "POST", "/api/v1/reissues", api.ReissueRequest{Serial: strings.ToUpper(serial), Reason: "lost"}); got.status != 200 {
		t.Fatalf("first reissue request: %d %s", got.status, got.body)
	}
	if got := a.do(t, anon, "POST", "/api/v1/reissues", api.ReissueRequest{Ref: ref, Reason: "lost"}); got.status != 409 {
		t.Errorf("second reissue request by reference %q: %d %s; want 409", ref, got.status, got.body)
	}
}

var regexpPairs = regexp.MustCompile("..")

// TestRefusedCredentialSaysWhyInTheClientsLanguage: a credential that does
// not authenticate (revoked, expired, another CA's, unknown) is answered
// 401 with the reason as a catalogue format and its arguments, so a
// client shows it in its own language, and with the role the operation
// needs in the parameters.
func TestRefusedCredentialSaysWhyInTheClientsLanguage(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	revoked, revokedKey := h.operator(t, "olga", principal.Auditor)
	if _, err := h.svc.RevokeOperator(adminCtx(), "olga", ""); err != nil {
		t.Fatal(err)
	}
	expired, expiredKey := h.operator(t, "emil", principal.Reviewer)
	otherKey := newKey(t)
	otherCert, _ := ca.SelfSigned(ca.RootOptions{CommonName: "Other CA", Validity: 24 * time.Hour, Now: h.clk.Now()}, otherKey)
	other, _ := ca.New(otherCert, otherKey, nil)
	foreignKey := newKey(t)
	foreign, _ := other.IssueOperator(foreignKey.Public(), "emil", ca.OperatorValidity, ca.Extras{}, h.clk.Now())

	for _, tt := range []struct {
		name      string
		cert      *x509.Certificate
		key       crypto.Signer
		path      string
		at        time.Time
		role, say string
	}{
		{"revoked", revoked, revokedKey, "/api/v1/audit", time.Time{}, "auditor", "operator olga was revoked"},
		{"expired", expired, expiredKey, "/api/v1/requests/20260101-AAAAAAAA/approve", expired.NotAfter.Add(time.Hour), "reviewer or revoker", "expired on"},
		{"other CA", foreign, foreignKey, "/api/v1/requests/20260101-AAAAAAAA/approve", time.Time{}, "reviewer or revoker", "was not issued by this CA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.at.IsZero() {
				now := h.clk.Now()
				h.clk.t = tt.at
				defer func() { h.clk.t = now }()
			}
			method := "POST"
			if strings.HasSuffix(tt.path, "audit") {
				method = "GET"
			}
			got := a.do(t, a.client(tt.cert, tt.key, tls.VersionTLS12, nil), method, tt.path, nil)
			var e api.Error
			if err := json.Unmarshal([]byte(got.body), &e); err != nil || got.status != 401 || e.Code != api.CodeAuthRequired {
				t.Fatalf("%d %s; want 401 auth.required", got.status, got.body)
			}
			if !strings.Contains(e.Message, tt.say) {
				t.Errorf("message %q; want it to say %q", e.Message, tt.say)
			}
			if e.Format == "" || !msg.Has(e.Format) || len(e.Args) == 0 {
				t.Errorf("format %q args %q: want the reason's catalogue format and arguments", e.Format, e.Args)
			}
			zh, ok := msg.For(msg.Chinese).Render(e.Format, e.Args, e.Message, nil)
			if !ok || strings.Contains(zh, tt.say) {
				t.Errorf("in Chinese: %q, %v; want it rendered without the English reason", zh, ok)
			}
			if e.Params["required_role"] != tt.role {
				t.Errorf("params %v; want required_role %q", e.Params, tt.role)
			}
		})
	}
}

// TestEveryOperatorRouteRefusesOverTLS walks the route table: every route
// that needs a role refuses, over a real handshake, a caller without a
// certificate, a subscriber's certificate, and an operator holding only
// roles the route does not accept (403 auth.role_required naming the
// operation), and the audit log does not grow.
func TestEveryOperatorRouteRefusesOverTLS(t *testing.T) {
	h := newTestHome(t)
	a := newTLSAPI(t, h)
	sub, subKey := h.subscriber(t, 0)
	callers := map[string]*http.Client{
		"no certificate": a.client(nil, nil, 0, nil),
		"subscriber":     a.client(sub, subKey, 0, nil),
	}
	// One operator per role, each holding only that role.
	ops := map[principal.Role]*http.Client{}
	for _, r := range principal.AllRoles {
		cert, key := h.operator(t, "only-"+string(r), r)
		ops[r] = a.client(cert, key, 0, nil)
	}
	before, err := h.svc.Audit(adminCtx(), auditAll())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.NewReplacer("{ref}", "20260101-AAAAAAAA", "{serial}", ra.SerialString(sub.SerialNumber), "{key}", "policy.four_eyes")
	n := 0
	for _, rt := range routes {
		if len(rt.roles) == 0 {
			continue
		}
		method, p, _ := strings.Cut(rt.pattern, " ")
		p = path.Replace(p)
		try := func(who string, c *http.Client) {
			t.Helper()
			n++
			got := a.do(t, c, method, p, map[string]string{"value": "false"})
			if got.status != 403 || got.code != api.CodeRoleRequired || !strings.Contains(got.body, rt.op+" needs an operator credential") {
				t.Errorf("%s as %s: %d %s; want 403 auth.role_required for %s", rt.pattern, who, got.status, got.body, rt.op)
			}
		}
		for who, c := range callers {
			try(who, c)
		}
		for r, c := range ops {
			if !slices.Contains(rt.roles, r) {
				try("an operator with only the "+string(r)+" role", c)
			}
		}
	}
	after, err := h.svc.Audit(adminCtx(), auditAll())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the audit log grew from %d to %d records after %d refused calls", len(before), len(after), n)
	}
	if n < 40 {
		t.Errorf("only %d refusals tried; the route table shrank?", n)
	}
}
