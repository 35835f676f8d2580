// Package testhook holds the seams the end-to-end tests use to move the
// clock and to kill cmca at chosen points. Production binaries never set
// them: only the test harness (cmd/cmca/e2e_test.go) does, from the
// environment variables CMCA_TEST_NOW and CMCA_TEST_FAULT.
package testhook

import "time"

var (
	// Now, when set, replaces time.Now for the store and service.
	Now func() time.Time
	// Fault, when set, is called at named points of risky operations; the
	// harness kills the process there to test crash safety.
	Fault func(point string)
	// StoreURL, when set, gives the PostgreSQL store of a home whose
	// configuration names none: the switch CMCA_TEST_STORE=postgres of
	// the service tests (internal/service) runs them against PostgreSQL.
	StoreURL func(home string) string
)

// StoreURLFor is the store URL to use for a home: url, or the test seam's.
func StoreURLFor(home, url string) string {
	if url == "" && StoreURL != nil {
		return StoreURL(home)
	}
	return url
}

// Point marks a place where a crash is tested, e.g. "download:signed".
func Point(name string) {
	if Fault != nil {
		Fault(name)
	}
}

// Clock returns the clock to use.
func Clock() func() time.Time {
	if Now != nil {
		return Now
	}
	return time.Now
}
