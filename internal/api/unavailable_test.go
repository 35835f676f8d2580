package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/store"
)

// TestStoreUnavailable: a store that cannot be reached (PostgreSQL
// restarting) is a retryable 503 whose class brings the client back to
// store.ErrUnavailable (exit 7), without the driver's text on the wire.
func TestStoreUnavailable(t *testing.T) {
	err := fmt.Errorf("approve: dial tcp 10.0.0.5:5432: connection refused (%w)", store.ErrUnavailable)
	e := FromError(err)
	if e.Code != CodeStoreUnavailable || e.Class != ClassUnavailable || e.Status() != http.StatusServiceUnavailable {
		t.Fatalf("FromError(unavailable) = %s/%s/%d; want store.unavailable/unavailable/503", e.Code, e.Class, e.Status())
	}
	if strings.Contains(e.Message, "10.0.0.5") {
		t.Errorf("message %q shows the database's address", e.Message)
	}
	if !errors.Is(e, store.ErrUnavailable) {
		t.Errorf("errors.Is(%v, store.ErrUnavailable) = false; want true on the client", e)
	}
}
