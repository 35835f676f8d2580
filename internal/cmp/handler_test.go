package cmp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stubBackend records calls; every method fails the test unless allowed.
type stubBackend struct {
	calls  int
	secret []byte
}

func (b *stubBackend) Enrol(ctx context.Context, in *EnrolRequest) (*Result, error) {
	b.calls++
	if in.CheckMAC(b.secret) {
		return &Result{Secret: b.secret, Cert: nil}, Fail(BadCertTemplate, errors.New("stub refuses"))
	}
	return nil, Fail(BadMessageCheck, errors.New("wrong secret"))
}
func (b *stubBackend) Update(context.Context, *UpdateRequest) (*Result, error) {
	b.calls++
	return nil, errors.New("unexpected")
}
func (b *stubBackend) Revoke(context.Context, *RevokeRequest) (*Result, error) {
	b.calls++
	return nil, errors.New("unexpected")
}
func (b *stubBackend) Confirm(context.Context, *ConfirmRequest) (*Result, error) {
	b.calls++
	return nil, errors.New("unexpected")
}
func (b *stubBackend) ResponseSigner(context.Context) (crypto.Signer, []*x509.Certificate, error) {
	return nil, nil, errors.New("no signer")
}

func post(t *testing.T, h http.Handler, method, ctype string, body []byte) (*httptest.ResponseRecorder, *Message) {
	t.Helper()
	r := httptest.NewRequest(method, Path, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code == http.StatusMethodNotAllowed {
		return w, nil
	}
	if ct := w.Header().Get("Content-Type"); ct != ContentType {
		t.Fatalf("response content type %q; want %s", ct, ContentType)
	}
	m, err := ParseMessage(w.Body.Bytes())
	if err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	return w, m
}

func irMessage(t *testing.T, secret string, at time.Time, edit func(*Message)) []byte {
	t.Helper()
	body, err := CertReqBody(newECKey(t), pkix.Name{CommonName: "x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := NewRequest(BodyIR, body, []byte("REF"), at)
	if edit != nil {
		edit(m)
	}
	if secret != "" {
		if err := m.ProtectMAC([]byte(secret), nil); err != nil {
			t.Fatal(err)
		}
	}
	der, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Bad input gets a CMP error message with the right failure bit, and the
// backend is never called.
func TestHandlerRefusesBadInput(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	good := irMessage(t, "pw", now, nil)
	genm := irMessage(t, "pw", now, func(m *Message) { m.Type, m.Body = BodyGenM, []byte{0x30, 0} })
	tests := []struct {
		name   string
		method string
		ctype  string
		body   []byte
		code   int
		fail   FailureInfo
	}{
		{"GET", http.MethodGet, ContentType, good, http.StatusMethodNotAllowed, 0},
		{"wrong content type", http.MethodPost, "application/json", good, http.StatusUnsupportedMediaType, BadDataFormat},
		{"no content type", http.MethodPost, "", good, http.StatusUnsupportedMediaType, BadDataFormat},
		{"not DER", http.MethodPost, ContentType, []byte("hello"), http.StatusBadRequest, BadDataFormat},
		{"empty", http.MethodPost, ContentType, nil, http.StatusBadRequest, BadDataFormat},
		{"truncated", http.MethodPost, ContentType, good[:len(good)-5], http.StatusBadRequest, BadDataFormat},
		{"trailing bytes", http.MethodPost, ContentType, append(append([]byte(nil), good...), 0), http.StatusBadRequest, BadDataFormat},
		{"oversized", http.MethodPost, ContentType, bytes.Repeat([]byte{0x30}, MaxMessageSize+1), http.StatusRequestEntityTooLarge, BadDataFormat},
		{"unknown body", http.MethodPost, ContentType, genm, http.StatusOK, BadRequest},
		{"stale messageTime", http.MethodPost, ContentType, irMessage(t, "pw", now.Add(-time.Hour), nil), http.StatusOK, BadTime},
		{"future messageTime", http.MethodPost, ContentType, irMessage(t, "pw", now.Add(time.Hour), nil), http.StatusOK, BadTime},
		{"no messageTime", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Header.MessageTime = time.Time{} }), http.StatusOK, BadTime},
		{"short nonce", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Header.SenderNonce = []byte{1} }), http.StatusOK, BadSenderNonce},
		{"short transactionID", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Header.TransactionID = []byte{1} }), http.StatusOK, BadRequest},
		{"pvno 1", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Header.PVNO = 1 }), http.StatusOK, UnsupportedVersion},
		{"unprotected ir", http.MethodPost, ContentType, irMessage(t, "", now, nil), http.StatusOK, NotAuthorized},
		{"bad POP", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Body[len(m.Body)-1] ^= 1 }), http.StatusOK, BadPOP},
		{"kur with a MAC", http.MethodPost, ContentType, irMessage(t, "pw", now, func(m *Message) { m.Type = BodyKUR }), http.StatusOK, NotAuthorized},
		{"rr unsigned", http.MethodPost, ContentType, irMessage(t, "", now, func(m *Message) { m.Type = BodyRR }), http.StatusOK, SignerNotTrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &stubBackend{secret: []byte("pw")}
			h := NewHandler(b, Options{Now: func() time.Time { return now }})
			w, m := post(t, h, tt.method, tt.ctype, tt.body)
			if w.Code != tt.code {
				t.Fatalf("status %d; want %d", w.Code, tt.code)
			}
			if b.calls != 0 {
				t.Errorf("backend called %d times; want 0", b.calls)
			}
			if m == nil {
				return
			}
			if m.Type != BodyError || len(m.Protection) != 0 {
				t.Fatalf("response %v (protected %v); want an unprotected error", m.Type, len(m.Protection) != 0)
			}
			si, _, err := ParseError(m.Body)
			if err != nil || si.Status != StatusRejection || !si.Failure(tt.fail) || si.Text() == "" {
				t.Errorf("error = %+v %q, %v; want rejection with failure bit %d and a text", si, si.Text(), err, tt.fail)
			}
		})
	}
}

// The response echoes the transaction and the client's nonce; an error
// after the MAC verified is MAC-protected with the same secret, one before
// is not.
func TestHandlerProtectsErrorsWhenAuthenticated(t *testing.T) {
	now := time.Now()
	for _, secret := range []string{"pw", "wrong"} {
		b := &stubBackend{secret: []byte("pw")}
		h := NewHandler(b, Options{})
		der := irMessage(t, secret, now, nil)
		req, _ := ParseMessage(der)
		_, m := post(t, h, http.MethodPost, ContentType, der)
		if !bytes.Equal(m.Header.TransactionID, req.Header.TransactionID) || !bytes.Equal(m.Header.RecipNonce, req.Header.SenderNonce) || bytes.Equal(m.Header.SenderNonce, req.Header.SenderNonce) {
			t.Errorf("response header %+v does not answer the request", m.Header)
		}
		si, _, _ := ParseError(m.Body)
		text := si.Text()
		if secret == "pw" {
			c, err := NewMACChecker(m, 0)
			if err != nil || !c.Check([]byte("pw")) || !si.Failure(BadCertTemplate) || !strings.Contains(text, "stub refuses") {
				t.Errorf("authenticated error: %v %+v %q; want MAC-protected badCertTemplate", err, si, text)
			}
		} else if len(m.Protection) != 0 || !si.Failure(BadMessageCheck) {
			t.Errorf("error for a wrong secret: protected=%v %+v; want unprotected badMessageCheck", len(m.Protection) != 0, si)
		}
	}
}
