package service

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/cmca/cmca/internal/ocsp"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// raceBound bounds every wait of TestCRLRevocationRace: a deadlock between
// the CRL transaction and the revocation fails the test instead of hanging.
const raceBound = 10 * time.Second

// TestCRLRevocationRace forces, through test hooks (no sleeps), the two
// orders in which a CRL and a revocation can overlap, for a subscriber
// certificate (Revoke) and an operator's certificate (RevokeOperator):
//
//   - revocation inside the CRL: the CRL transaction has begun (its clock
//     fixed), the clock moves on, a revocation runs and (PostgreSQL)
//     commits, then the CRL goes on. Before 771dafc the CRL took thisUpdate
//     from its transaction's clock and listed the later revocation:
//     signing failed ("revocation time is after the CRL's ThisUpdate").
//   - CRL inside the revocation: the revocation's transaction has begun
//     (its clock fixed), the clock moves on, a full CRL is signed and
//     (PostgreSQL) commits, then the revocation goes on. A revocation timed
//     before that CRL's thisUpdate but not on it was skipped by the next
//     delta CRL (which lists revocations from its base's thisUpdate on): it
//     was on no CRL a relying party using deltas reads until the next full
//     one.
//
// On SQLite neither can overlap (a write transaction holds the one write
// lock from BEGIN): the operation started inside waits for the outer one
// to commit. The test checks that too, then the same invariant on both
// engines: every CRL is signed and lists no revocation dated after its
// thisUpdate; a revocation a full CRL does not list is dated no earlier
// than its thisUpdate (so the next delta lists it); the next delta and
// the next full CRL list it; every CRL passes CheckCRL; the audit chain
// verifies.
func TestCRLRevocationRace(t *testing.T) {
	// One home for every case (a new one costs more than a case on
	// PostgreSQL): each case revokes a certificate of its own.
	s, clk := newTestService(t)
	askOCSP := ocspAsker(t, s)
	for i, tc := range []struct {
		name      string
		operator  bool // revoke an operator's certificate, not a subscriber's
		crlInside bool // the CRL runs inside the revocation, not the other way round
		delta     bool // the CRL inside which the revocation runs is a delta
	}{
		{name: "subscriber revoked inside full CRL"},
		{name: "subscriber revoked inside delta CRL", delta: true},
		{name: "full CRL inside subscriber revocation", crlInside: true},
		{name: "operator revoked inside full CRL", operator: true},
		{name: "operator revoked inside delta CRL", operator: true, delta: true},
		{name: "full CRL inside operator revocation", operator: true, crlInside: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), raceBound)
			defer cancel()
			admin := as(ctx, "alice")

			var serial string
			revoke := func() error {
				_, err := s.Revoke(admin, RevokeInput{Serial: serial, Reason: "keyCompromise", Direct: true, Comment: "race"})
				return err
			}
			revokedPoint := "revoke:recorded"
			if tc.operator {
				name := fmt.Sprint("olga", i)
				res, err := s.AddOperator(admin, OperatorInput{Name: name, Roles: []principal.Role{principal.Reviewer}, PublicKey: newKey(t).Public()})
				if err != nil {
					t.Fatalf("AddOperator: %v", err)
				}
				serial = res.Operator.Serial
				revoke = func() error {
					_, err := s.RevokeOperator(admin, name, "")
					return err
				}
				revokedPoint = "operator-revoke:disabled"
			} else {
				serial = downloaded(t, s, "张三", "11010519491231002X")
			}
			// OCSP: a responder whose cache holds "good" for the
			// certificate (a subscriber's or an operator's) before the
			// race must say revoked after it, with the CRLs' date.
			if r := askOCSP(t, serial); r.Status != xocsp.Good {
				t.Fatalf("OCSP before the race: status %d; want good", r.Status)
			}
			sign := func(delta bool) (*CRLResult, error) {
				return s.CRL(admin, CRLOptions{Delta: delta, Force: true})
			}
			// A full CRL first: the base of the deltas.
			if _, err := sign(false); err != nil {
				t.Fatalf("base CRL: %v", err)
			}
			clk.Add(time.Minute)

			type result struct {
				crl *CRLResult
				err error
			}
			revocation := func() result { return result{nil, revoke()} }
			crl := func(delta bool) func() result {
				return func() result { r, err := sign(delta); return result{r, err} }
			}
			outer, inner, point := crl(tc.delta), revocation, "crl:begun"
			if tc.crlInside {
				outer, inner, point = revocation, crl(false), revokedPoint
			}
			innerDone := make(chan result, 1)
			var (
				once        sync.Once
				innerRes    result
				innerWaited bool // the inner operation finished while the outer one waited
			)
			testhook.Fault = func(p string) {
				if p != point {
					return
				}
				once.Do(func() {
					clk.Add(2 * time.Second) // the outer transaction's clock is fixed already
					go func() { innerDone <- inner() }()
					if !onPostgres() {
						return // it cannot commit before the outer transaction does
					}
					select {
					case innerRes = <-innerDone:
						innerWaited = true
					case <-time.After(raceBound):
					}
				})
			}
			defer func() { testhook.Fault = nil }()
			outerDone := make(chan result, 1)
			go func() { outerDone <- outer() }()
			var outerRes result
			select {
			case outerRes = <-outerDone:
			case <-time.After(raceBound):
				t.Fatalf("outer operation not done after %v (deadlock?)", raceBound)
			}
			if !innerWaited {
				select {
				case innerRes = <-innerDone:
				case <-time.After(raceBound):
					t.Fatalf("inner operation not done after %v (deadlock?)", raceBound)
				}
			}
			testhook.Fault = nil
			for _, r := range []struct {
				what string
				res  result
			}{{"outer", outerRes}, {"inner", innerRes}} {
				if r.res.err != nil {
					t.Errorf("%s operation: %v", r.what, r.res.err)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			race := outerRes.crl
			if tc.crlInside {
				race = innerRes.crl
			}

			raceCRL, onRace := checkRaceCRL(t, s, race, serial)
			// Which transaction committed first shows that the order
			// was forced as meant.
			wantOnRace := onPostgres() != tc.crlInside
			if onRace != wantOnRace {
				t.Errorf("CRL %d lists %s: %v; want %v (PostgreSQL: the inner operation commits first; SQLite: it waits for the outer one)", race.Number, serial, onRace, wantOnRace)
			}

			clk.Add(2 * time.Second)
			delta, err := sign(true)
			if err != nil {
				t.Fatalf("delta CRL after the race: %v", err)
			}
			deltaCRL, onDelta := checkRaceCRL(t, s, delta, serial)
			clk.Add(2 * time.Second)
			full, err := sign(false)
			if err != nil {
				t.Fatalf("full CRL after the race: %v", err)
			}
			fullCRL, onFull := checkRaceCRL(t, s, full, serial)
			if !onFull {
				t.Fatalf("the next full CRL %d does not list %s", full.Number, serial)
			}
			revokedAt := revocationTime(fullCRL, serial)
			if race.BaseNumber == 0 && !onRace && revokedAt.Before(raceCRL.ThisUpdate) {
				t.Errorf("%s is not on full CRL %d (thisUpdate %v) but was revoked before it, at %v: the next delta skips it",
					serial, race.Number, raceCRL.ThisUpdate, revokedAt)
			}
			// The delta's base is the race CRL if that is a full one,
			// else the base CRL: base and delta together must list it.
			if !onDelta && !(race.BaseNumber == 0 && onRace) {
				t.Errorf("delta CRL %d (base %d, thisUpdate %v) does not list %s revoked at %v, nor does its base",
					delta.Number, delta.BaseNumber, deltaCRL.ThisUpdate, serial, revokedAt)
			}
			if r := askOCSP(t, serial); r.Status != xocsp.Revoked || !r.RevokedAt.Equal(revokedAt) {
				t.Errorf("OCSP after the race: status %d revoked at %v; want revoked at %v, as on the CRLs", r.Status, r.RevokedAt, revokedAt)
			}
			rep, err := s.VerifyAudit(admin)
			if err != nil || !rep.OK {
				t.Errorf("VerifyAudit = %+v, %v; want OK", rep, err)
			}
		})
	}
}

// checkRaceCRL parses the CRL res, checks it as `cmca crl --check` does and
// that no entry is dated after its thisUpdate, and reports whether it lists
// serial.
func checkRaceCRL(t *testing.T, s *Service, res *CRLResult, serial string) (*x509.RevocationList, bool) {
	t.Helper()
	der := crlDER(t, res)
	if _, err := s.CheckCRL(context.Background(), der); err != nil {
		t.Errorf("CheckCRL(CRL %d): %v", res.Number, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList(CRL %d): %v", res.Number, err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		if e.RevocationTime.After(crl.ThisUpdate) {
			t.Errorf("CRL %d lists %s revoked at %v, after its thisUpdate %v", res.Number, ra.SerialString(e.SerialNumber), e.RevocationTime, crl.ThisUpdate)
		}
		listed = listed || ra.SerialString(e.SerialNumber) == serial
	}
	return crl, listed
}

// revocationTime is the revocation date crl gives serial.
func revocationTime(crl *x509.RevocationList, serial string) time.Time {
	for _, e := range crl.RevokedCertificateEntries {
		if ra.SerialString(e.SerialNumber) == serial {
			return e.RevocationTime
		}
	}
	return time.Time{}
}

// issuedCertificate is the certificate the CA issued with serial: a
// subscriber's or one cmca issued for its own use (an operator credential,
// the server's TLS certificate).
func issuedCertificate(t *testing.T, s *Service, serial string) *x509.Certificate {
	t.Helper()
	var der []byte
	if d, err := s.Certificate(as(context.Background(), "auditor"), serial); err == nil {
		der = d.Certificate.DER
	} else if err := s.Store().Read(context.Background(), func(tx *store.Tx) error {
		sc, err := tx.ServiceCert(serial)
		if err == nil {
			der = sc.DER
		}
		return err
	}); err != nil {
		t.Fatalf("certificate %s: %v", serial, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// ocspAsker starts the home's OCSP responder and returns a function that
// asks it (POST, as a relying party) about a certificate the CA issued.
func ocspAsker(t *testing.T, s *Service) func(t *testing.T, serial string) *xocsp.Response {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	o, err := s.NewOCSP(nil)
	if err != nil {
		t.Fatalf("NewOCSP: %v", err)
	}
	if err := o.Start(ctx, time.Hour); err != nil {
		t.Fatalf("OCSP Start: %v", err)
	}
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, serial string) *xocsp.Response {
		t.Helper()
		cert := issuedCertificate(t, s, serial)
		req, err := xocsp.CreateRequest(cert, authority.Cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		hr := httptest.NewRequest(http.MethodPost, ocsp.Path, bytes.NewReader(req))
		hr.Header.Set("Content-Type", "application/ocsp-request")
		w := httptest.NewRecorder()
		o.Responder.ServeHTTP(w, hr)
		r, err := xocsp.ParseResponseForCert(w.Body.Bytes(), cert, authority.Cert)
		if err != nil {
			t.Fatalf("OCSP answer (HTTP %d): %v", w.Code, err)
		}
		return r
	}
}
