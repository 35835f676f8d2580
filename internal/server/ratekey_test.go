package server

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRateKey: the bucket a client address counts against. Every loopback
// address (127.0.0.0/8, ::1, their IPv4-mapped forms) is one caller, an
// IPv4-mapped IPv6 address is its IPv4 address, and IPv6 addresses count
// per /64 (one host or LAN picks freely inside its /64).
func TestRateKey(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"127.0.0.1:1", "127.0.0.2:2"},
		{"127.0.0.1:1", "127.1.2.3:2"},
		{"127.0.0.1:1", "[::1]:2"},
		{"127.0.0.1:1", "[::ffff:127.0.0.1]:2"},
		{"[::ffff:127.0.0.5]:1", "[::1]:1"},
		{"192.0.2.7:1", "[::ffff:192.0.2.7]:2"},
		{"192.0.2.7:1", "[::ffff:c000:207]:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"},
		{"[2001:db8:1:2::1%eth0]:1", "[2001:db8:1:2::9]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2%eth1]:2"},
	} {
		if ka, kb := rateKey(tt.a), rateKey(tt.b); ka != kb {
			t.Errorf("rateKey(%q) = %q, rateKey(%q) = %q; want one bucket", tt.a, ka, tt.b, kb)
		}
	}
	for _, tt := range []struct{ a, b string }{
		{"192.0.2.7:1", "192.0.2.8:1"},
		{"127.0.0.1:1", "192.0.2.7:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
		{"[::ffff:192.0.2.7]:1", "[2001:db8::c000:207]:1"},
	} {
		if ka, kb := rateKey(tt.a), rateKey(tt.b); ka == kb {
			t.Errorf("rateKey(%q) = rateKey(%q) = %q; want separate buckets", tt.a, tt.b, ka)
		}
	}
}

// TestRateLimitsAcrossAddressForms: a client that changes its loopback or
// IPv6 source address, or sends X-Forwarded-For, Forwarded or X-Real-IP,
// still counts against one bucket.
func TestRateLimitsAcrossAddressForms(t *testing.T) {
	ts := newTestServer(t, Options{ApplyLimit: Limit{Burst: 2, Every: time.Hour}})
	bad := `{"applications": [{"usage_type": "auth"}]}` // invalid: counts, stores nothing
	send := func(remote string, hdr ...string) int {
		req := httptest.NewRequest("POST", "/api/v1/requests", strings.NewReader(bad))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		ts.h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := send("127.0.0.1:1000"); c != 422 {
		t.Fatalf("first apply: %d; want 422", c)
	}
	if c := send("[::1]:1000"); c != 422 {
		t.Fatalf("second apply: %d; want 422", c)
	}
	for _, tt := range []struct {
		remote string
		hdr    []string
	}{
		{"127.0.0.2:1000", nil},
		{"127.45.6.7:1000", nil},
		{"[::ffff:127.0.0.1]:1000", nil},
		{"[::1]:1001", []string{"X-Forwarded-For", "198.51.100.1", "X-Real-IP", "198.51.100.2", "Forwarded", "for=198.51.100.3"}},
	} {
		if c := send(tt.remote, tt.hdr...); c != 429 {
			t.Errorf("apply from %s %v: %d; want 429 (one bucket for the loopback)", tt.remote, tt.hdr, c)
		}
	}
	if c := send("[2001:db8:7:7::1]:1"); c != 422 {
		t.Fatalf("IPv6 apply 1: %d; want 422", c)
	}
	if c := send("[2001:db8:7:7::2]:1"); c != 422 {
		t.Fatalf("IPv6 apply 2: %d; want 422", c)
	}
	if c := send("[2001:db8:7:7:abcd::3]:1"); c != 429 {
		t.Errorf("IPv6 apply from another address of the same /64: %d; want 429", c)
	}
	if c := send("[2001:db8:7:8::1]:1"); c != 422 {
		t.Errorf("IPv6 apply from another /64: %d; want 422", c)
	}
}

// TestAddressLimitBuckets: the OCSP responder's limit (host without a
// port) counts loopback and IPv6 addresses the same way.
func TestAddressLimitBuckets(t *testing.T) {
	allow := NewAddressLimit(func() Limit { return Limit{Burst: 1, Every: time.Hour} }, nil)
	for i, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", true}, {"127.0.0.2", false}, {"::1", false},
		{"2001:db8::1", true}, {"2001:db8::2", false}, {"2001:db8:0:1::1", true},
	} {
		if _, ok := allow(tt.addr); ok != tt.ok {
			t.Errorf("#%d allow(%q) = %v; want %v", i+1, tt.addr, ok, tt.ok)
		}
	}
}
