package cmp

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestHandlerRateLimit: a message over its client's limit is answered
// 429 with Retry-After and an unprotected systemUnavail error, before the
// backend sees it (no passcode attempt counted, nothing filed). The limit
// is asked with the message's body type, so enrolments (passcode
// attempts) and kur/rr (filings) can count against different buckets.
func TestHandlerRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	var asked []BodyType
	var addrs []string
	tokens := 1
	limit := func(r *http.Request, body BodyType) (time.Duration, bool) {
		asked = append(asked, body)
		addrs = append(addrs, r.RemoteAddr)
		if tokens == 0 {
			return 90 * time.Second, false
		}
		tokens--
		return 0, true
	}
	b := &stubBackend{secret: []byte("pw")}
	h := NewHandler(b, Options{Now: func() time.Time { return now }, Limit: limit})
	if w, _ := post(t, h, http.MethodPost, ContentType, irMessage(t, "wrong", now, nil)); w.Code != http.StatusOK || b.calls != 1 {
		t.Fatalf("first ir: status %d, backend calls %d; want 200, 1", w.Code, b.calls)
	}
	w, m := post(t, h, http.MethodPost, ContentType, irMessage(t, "pw", now, nil))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != strconv.Itoa(91) {
		t.Errorf("ir over the limit: status %d, Retry-After %q; want 429, 91", w.Code, w.Header().Get("Retry-After"))
	}
	if b.calls != 1 {
		t.Errorf("backend called %d times; want 1 (the limited message never reaches it)", b.calls)
	}
	if m.Type != BodyError || len(m.Protection) != 0 {
		t.Fatalf("response %v (protected %v); want an unprotected error", m.Type, len(m.Protection) != 0)
	}
	si, _, err := ParseError(m.Body)
	if err != nil || !si.Failure(SystemUnavail) || si.Text() == "" {
		t.Errorf("error = %+v %q, %v; want systemUnavail with a text", si, si.Text(), err)
	}
	if len(asked) != 2 || asked[0] != BodyIR || addrs[0] == "" {
		t.Errorf("limit asked for %v from %v; want ir twice with the client address", asked, addrs)
	}
	// Malformed messages are refused before the limit is asked.
	asked = nil
	post(t, h, http.MethodPost, ContentType, []byte("junk"))
	if len(asked) != 0 {
		t.Errorf("limit asked for a message that does not parse: %v", asked)
	}
}
