package server

import (
	"context"
	"testing"

	"github.com/cmca/cmca/internal/api"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
)

// TestRateLimitsFromPolicy: with LimitsFromPolicy (cmca serve), the
// per-address passcode limit is the home's policy key ratelimit.passcode,
// read at every request: a policy change applies at once, and "off" lifts
// the per-address limit.
func TestRateLimitsFromPolicy(t *testing.T) {
	ts := newTestServer(t, Options{LimitsFromPolicy: true})
	admin := principal.With(context.Background(), principal.LocalOperator("root"))
	if _, err := ts.svc.PolicySet(admin, "ratelimit.passcode", "1/1h"); err != nil {
		t.Fatal(err)
	}
	dl := api.DownloadRequest{Passcode: "AAAA-BBBB-CCCC-DDDD-EEEE", CSR: csr(t), Storage: ra.StorageSoft}
	download := func() int {
		res, _ := ts.do("POST", "/api/v1/requests/20260101-AAAAAAAA/download", "", dl)
		return res.StatusCode
	}
	for i, want := range []int{404, 429, 429} {
		if got := download(); got != want {
			t.Fatalf("download #%d with ratelimit.passcode 1/1h: %d; want %d", i+1, got, want)
		}
	}
	if _, err := ts.svc.PolicySet(admin, "ratelimit.passcode", "off"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got := download(); got != 404 {
			t.Fatalf("download #%d with ratelimit.passcode off: %d; want 404", i+1, got)
		}
	}
}
