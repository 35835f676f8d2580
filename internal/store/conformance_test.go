package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// The conformance suite: what the service relies on the store for, run
// against every engine (engines()). Races run from several Store handles on
// one location, as several cmca processes or `cmca serve` instances would.

var confNow = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func confRequest(ref string) *ra.Request {
	return &ra.Request{Ref: ref, Kind: ra.KindNew, State: ra.StateSubmitted,
		Applicant: ra.Applicant{Name: "A", IDType: ra.IDPassport, IDNumber: "E1234567", Mobile: "13812345678", Email: "a@example.com"},
		UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, SubmittedBy: "clerk", CreatedAt: confNow, UpdatedAt: confNow}
}

// confInsert stores a request with its audit record (which binds the row:
// Tx.Request refuses a row no record binds).
// confCert is a certificate of request ref, valid for a year from confNow.
func confCert(ref, serial, spki string) *ra.Certificate {
	return &ra.Certificate{Serial: serial, RequestRef: ref, Subject: "CN=A", Name: "A", Email: "a@example.com", UsageType: "auth",
		Storage: ra.StorageSoft, KeyAlgo: "ECDSA P-256", NotBefore: confNow, NotAfter: confNow.AddDate(1, 0, 0), SPKISHA256: spki, DER: []byte{0x30, 0x00}}
}

func confInsert(t *testing.T, s *Store, r *ra.Request) {
	t.Helper()
	err := s.Tx(context.Background(), func(tx *Tx) error {
		id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
		if err != nil {
			return err
		}
		if err := tx.InsertRequest(r, id); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "clerk", Action: "apply", Ref: r.Ref, To: r.State})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// handles opens n Store handles on one location.
func handles(t *testing.T, loc string, n int) []*Store {
	out := make([]*Store, n)
	for i := range out {
		out[i] = openAt(t, loc)
	}
	return out
}

// race runs fn(i) for i in [0, n) at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, loc string)
	}{
		{"create request", confCreateRequest},
		{"reference clash keeps the transaction", confRefClash},
		{"transaction rolls back on error", confRollback},
		{"guarded transition racing", confGuardedRace},
		{"passcode attempts racing", confPasscodeRace},
		{"open request per certificate racing", confOpenRequestRace},
		{"audit chain racing", confAuditRace},
		{"audit tampering detected", confAuditTamper},
		{"broken foreign keys detected", confForeignKeys},
		{"CRL numbers racing", confCRLRace},
		{"certificates", confCertificates},
		{"revocation racing", confRevokeRace},
		{"revocation timed before a full CRL it is not on", confRevokeBeforeCRL},
		{"meta and policy", confMetaPolicy},
		{"meta set once racing", confMetaOnceRace},
		{"bulk item savepoint", confItem},
		{"audit tail reused within a transaction", confAuditTail},
		{"request with passcode in one read", confRequestWithPasscode},
		{"bindings from the writes themselves", confFreshBindings},
		{"transaction reads its own audit records", confAuditOwnReads},
		{"nested items roll back together", confNestedItems},
		{"CRL body kept when given", confCRLBody},
		{"audit checkpoint never moves back", confCheckpoint},
		{"OCSP answers for service certificates", confOCSPServiceCerts},
	}
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, e.newStore(t)) })
			}
		})
	}
}

func confCreateRequest(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	r := confRequest("20261125-CONF0001")
	r.Agent = &ra.Agent{Name: "Agent", IDType: ra.IDPassport, IDNumber: "E7654321"}
	r.TargetSerial = "0a1b"
	r.Applicant.Name, r.Applicant.Surname, r.Applicant.GivenName = "Anna Schmidt", "Schmidt", "Anna" // schema 11
	confInsert(t, s, r)
	confInsert(t, s, confRequest("20261125-CONF0002"))
	// The stored profile keeps the parts too.
	if err := s.Tx(ctx, func(tx *Tx) error { return tx.SetApplicantProfile(r.Applicant) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(ctx, func(tx *Tx) error {
		p, err := tx.LookupApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
		if err == nil && p != r.Applicant {
			t.Errorf("LookupApplicant = %+v; want %+v", p, r.Applicant)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := s.Read(ctx, func(tx *Tx) error {
		got, err := tx.Request(r.Ref)
		if err != nil {
			return err
		}
		if got.Ref != r.Ref || got.State != ra.StateSubmitted || got.Applicant != r.Applicant || got.Agent == nil || *got.Agent != *r.Agent ||
			got.TargetSerial != "0a1b" || !got.CreatedAt.Equal(confNow) || got.PasscodeUsed {
			t.Errorf("Request(%q) = %+v; want what was inserted %+v", r.Ref, got, r)
		}
		if _, err := tx.Request("20261125-NONE0000"); !errors.Is(err, ra.ErrNotFound) {
			t.Errorf("Request(missing) = %v; want ErrNotFound", err)
		}
		rs, err := tx.Requests(RequestFilter{States: []ra.State{ra.StateSubmitted}, Kinds: []ra.Kind{ra.KindNew}})
		if err != nil || len(rs) != 2 || rs[0].Ref != r.Ref {
			t.Errorf("Requests = %d, %v; want 2, oldest first", len(rs), err)
		}
		refs, err := tx.RequestRefs(string(ra.StateSubmitted), 1)
		if err != nil || len(refs) != 1 || refs[0] != r.Ref {
			t.Errorf("RequestRefs(submitted, 1) = %v, %v; want [%s]", refs, err, r.Ref)
		}
		counts, err := tx.RequestCounts()
		if err != nil || counts[ra.StateSubmitted] != 2 {
			t.Errorf("RequestCounts = %v, %v; want 2 submitted", counts, err)
		}
		open, err := tx.OpenRequestFor("0a1b", ra.KindNew)
		if err != nil || open == nil || open.Ref != r.Ref {
			t.Errorf("OpenRequestFor(0a1b) = %v, %v; want %s", open, err, r.Ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func confRefClash(t *testing.T, loc string) {
	s := openAt(t, loc)
	confInsert(t, s, confRequest("20261125-CONF0001"))
	err := s.Tx(context.Background(), func(tx *Tx) error {
		id, err := tx.EnsureApplicant(ra.IDPassport, "E1234567")
		if err != nil {
			return err
		}
		if err := tx.InsertRequest(confRequest("20261125-CONF0001"), id); !errors.Is(err, ErrRefTaken) {
			return fmt.Errorf("InsertRequest(taken ref) = %v; want ErrRefTaken", err)
		}
		// The service draws another reference in the same transaction.
		return tx.InsertRequest(confRequest("20261125-CONF0002"), id)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func confRollback(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.Audit(ra.Event{Operator: "x", Action: "y"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v; want boom", err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{})
		if len(evs) != 0 {
			t.Errorf("%d audit records after rollback; want 0", len(evs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confGuardedRace: several writers move one request from submitted at
// once; exactly one wins, the others get ErrConflict.
func confGuardedRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	confInsert(t, hs[0], confRequest("20261125-CONF0001"))
	const n = 12
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(context.Background(), func(tx *Tx) error {
			r, err := tx.Request("20261125-CONF0001")
			if err != nil {
				return err
			}
			if r.State != ra.StateSubmitted {
				return fmt.Errorf("already %s: %w", r.State, ra.ErrConflict)
			}
			r.State, r.DecidedBy = ra.StateApproved, fmt.Sprint("op", i)
			if err := tx.UpdateRequest(r, ra.StateSubmitted); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: r.DecidedBy, Action: "approve", Ref: r.Ref})
		})
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ra.ErrConflict):
			t.Errorf("racing approval: %v; want success or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing approvals won; want exactly 1", wins, n)
	}
	// A stale writer that read "submitted" before loses too.
	stale := confRequest("20261125-CONF0001")
	stale.State = ra.StateRejected
	err := hs[0].Tx(context.Background(), func(tx *Tx) error { return tx.UpdateRequest(stale, ra.StateSubmitted) })
	if !errors.Is(err, ra.ErrConflict) {
		t.Fatalf("stale update = %v; want ErrConflict", err)
	}
}

// confPasscodeRace: wrong passcodes entered at once on several instances
// are each counted: no attempt is lost (read-modify-write of the count).
func confPasscodeRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	r := confRequest("20261125-CONF0001")
	confInsert(t, hs[0], r)
	ctx := context.Background()
	err := hs[0].Tx(ctx, func(tx *Tx) error {
		r.State, r.PasscodeExpires = ra.StateIssued, confNow.Add(time.Hour)
		if err := tx.UpdateRequest(r, ra.StateSubmitted); err != nil {
			return err
		}
		if err := tx.SetPasscodeHash(r.Ref, "hash"); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "bob", Action: "issue", Ref: r.Ref, To: r.State})
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(ctx, func(tx *Tx) error {
			r, err := tx.Request("20261125-CONF0001")
			if err != nil {
				return err
			}
			r.PasscodeAttempts++
			if err := tx.UpdateRequest(r, r.State); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "subscriber", Action: "passcode-failed", Ref: r.Ref, Detail: fmt.Sprint(r.PasscodeAttempts)})
		})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("wrong passcode attempt: %v", err)
		}
	}
	err = hs[0].Tx(ctx, func(tx *Tx) error { return tx.LockPasscode(r.Ref) })
	if err != nil {
		t.Fatal(err)
	}
	err = hs[1].Read(ctx, func(tx *Tx) error {
		got, err := tx.Request(r.Ref)
		if err != nil {
			return err
		}
		if got.PasscodeAttempts != n {
			t.Errorf("passcode attempts = %d after %d racing wrong passcodes; want %d (attempts lost)", got.PasscodeAttempts, n, n)
		}
		locked, err := tx.PasscodeLocked(r.Ref)
		if err != nil || !locked {
			t.Errorf("PasscodeLocked = %v, %v; want locked", locked, err)
		}
		h, err := tx.PasscodeHash(r.Ref)
		if err != nil || h != "hash" {
			t.Errorf("PasscodeHash = %q, %v; want hash", h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, hs[2], n+2) // and apply, issue
}

// confOpenRequestRace: several revocation requests for one certificate
// filed at once (check for an open one, then insert): exactly one is
// stored.
func confOpenRequestRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	ctx := context.Background()
	const n = 8
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(ctx, func(tx *Tx) error {
			open, err := tx.OpenRequestFor("0abc", ra.KindRevoke)
			if err != nil {
				return err
			}
			if open != nil {
				return fmt.Errorf("%s is open: %w", open.Ref, ra.ErrConflict)
			}
			r := confRequest(fmt.Sprintf("20261125-REVOKE%02d", i))
			r.Kind, r.TargetSerial = ra.KindRevoke, "0abc"
			id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
			if err != nil {
				return err
			}
			if err := tx.InsertRequest(r, id); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "clerk", Action: "revoke-request", Ref: r.Ref, Serial: "0abc"})
		})
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, ra.ErrConflict) {
			t.Errorf("racing revocation request: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing revocation requests stored; want exactly 1", wins, n)
	}
}

func checkAudit(t *testing.T, s *Store, want int) {
	t.Helper()
	err := s.Read(context.Background(), func(tx *Tx) error {
		checked, problems, err := tx.VerifyAudit()
		if err != nil {
			return err
		}
		if checked != want || len(problems) != 0 {
			t.Errorf("VerifyAudit = %d records, problems %v; want %d records, none", checked, problems, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confAuditRace: records appended at once from several instances form one
// linear chain, every record kept.
func confAuditRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	const n = 40
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(context.Background(), func(tx *Tx) error {
			return tx.Audit(ra.Event{Operator: fmt.Sprint("op", i), Action: "test", Detail: fmt.Sprint(i)})
		})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("racing audit append: %v", err)
		}
	}
	checkAudit(t, hs[0], n)
	err := hs[1].Read(context.Background(), func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{Operator: "op7"})
		if err != nil || len(evs) != 1 || evs[0].Detail != "7" {
			t.Errorf("AuditRecords(op7) = %+v, %v; want one record", evs, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func confAuditTamper(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	for i := range 3 {
		if err := s.Tx(ctx, func(tx *Tx) error {
			return tx.Audit(ra.Event{Operator: "alice", Action: "approve", Detail: fmt.Sprint(i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE audit SET detail = 'forged' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	err := s.Read(ctx, func(tx *Tx) error {
		_, problems, err := tx.VerifyAudit()
		if len(problems) == 0 || problems[0].Seq != 2 {
			t.Errorf("VerifyAudit after an edit = %v; want a problem at record 2", problems)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confForeignKeys: a request deleted under a certificate with the
// foreign keys turned off (sqlite3 with foreign_keys off, a PostgreSQL
// superuser with session_replication_role = replica) is reported by
// IntegrityCheck, on either engine.
func confForeignKeys(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	err := s.Tx(ctx, func(tx *Tx) error {
		return tx.InsertCertificate(confCert("20261125-CONF0001", "0b", "k1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	off := `PRAGMA foreign_keys = OFF; DELETE FROM requests; PRAGMA foreign_keys = ON`
	if IsURL(loc) {
		off = `SET session_replication_role = replica; DELETE FROM requests; SET session_replication_role = DEFAULT`
	}
	if _, err := s.DB().ExecContext(ctx, off); err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		problems, err := tx.IntegrityCheck()
		found := false
		for _, p := range problems {
			found = found || (strings.HasPrefix(p, "certificates row ") && strings.HasSuffix(p, "refers to a missing requests row"))
		}
		if !found {
			t.Errorf("IntegrityCheck after deleting a certificate's request = %q; want certificates ... refers to a missing requests row", problems)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confCRLRace: CRLs signed at once on several instances get unique,
// contiguous numbers, in commit order.
func confCRLRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	ctx := context.Background()
	const n = 20
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(ctx, func(tx *Tx) error {
			num, err := tx.NextCRLNumber()
			if err != nil {
				return err
			}
			if err := tx.InsertCRL(CRL{Number: num, ThisUpdate: confNow, NextUpdate: confNow.Add(time.Hour), Operator: "op",
				SHA256: strings.Repeat("ab", 32), Size: 1}); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "op", Action: "crl", Detail: fmt.Sprint("number=", num)})
		})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("racing CRL: %v", err)
		}
	}
	var nums []int64
	err := hs[0].Read(ctx, func(tx *Tx) error {
		return tx.EachCRL(func(c CRL) error { nums = append(nums, c.Number); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range nums {
		if got != int64(i+1) {
			t.Fatalf("CRL numbers %v; want 1..%d, contiguous and unique", nums, n)
		}
	}
	if len(nums) != n {
		t.Fatalf("%d CRLs stored; want %d", len(nums), n)
	}
	// A number used once is refused, and the floor lifts the next one.
	err = hs[1].Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertCRL(CRL{Number: 2, ThisUpdate: confNow, NextUpdate: confNow, Operator: "op", SHA256: strings.Repeat("ab", 32), Size: 1}); err == nil {
			return errors.New("CRL number 2 accepted twice")
		}
		if err := tx.SetCRLNumberFloor(100); err != nil {
			return err
		}
		next, err := tx.NextCRLNumber()
		if err != nil || next != 101 {
			return fmt.Errorf("NextCRLNumber above floor 100 = %d, %v; want 101", next, err)
		}
		latest, err := tx.LatestCRL(false)
		if err != nil || latest == nil || latest.Number != n {
			return fmt.Errorf("LatestCRL = %+v, %v; want %d", latest, err, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, hs[2], n)
}

func confCertificates(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	confInsert(t, s, confRequest("20261125-CONF0002"))
	certs := []*ra.Certificate{
		confCert("20261125-CONF0001", "0b", "k1"),
		{Serial: "0a", RequestRef: "20261125-CONF0002", Subject: "CN=A", Name: "A", Email: "a@example.com", UsageType: "auth", Storage: ra.StorageSoft,
			KeyAlgo: "ECDSA P-256", NotBefore: confNow.Add(time.Hour), NotAfter: confNow.AddDate(1, 0, 0), SPKISHA256: "k1", DER: []byte{0x30, 0x01, 0xff}},
	}
	err := s.Tx(ctx, func(tx *Tx) error {
		for _, c := range certs {
			if err := tx.InsertCertificate(c); err != nil {
				return err
			}
			if err := tx.Audit(ra.Event{Operator: "bob", Action: "download", Ref: c.RequestRef, Serial: c.Serial}); err != nil {
				return err
			}
		}
		if err := tx.InsertCertificate(certs[0]); !errors.Is(err, ra.ErrConflict) {
			return fmt.Errorf("InsertCertificate(same serial) = %v; want ErrConflict", err)
		}
		if err := tx.RevokeCertificate("0a", confNow.Add(2*time.Hour), 1, confNow); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "carol", Action: "revoke", Serial: "0a"}); err != nil {
			return err
		}
		if err := tx.RevokeCertificate("0a", confNow.Add(3*time.Hour), 1, time.Time{}); !errors.Is(err, ra.ErrConflict) {
			return fmt.Errorf("second revocation = %v; want ErrConflict", err)
		}
		if err := tx.RevokeCertificate("ff", confNow, 1, time.Time{}); !errors.Is(err, ra.ErrNotFound) {
			return fmt.Errorf("revoking a missing certificate = %v; want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		c, err := tx.Certificate("0a")
		if err != nil {
			return err
		}
		if c.RequestRef != "20261125-CONF0002" || c.Status != ra.CertRevoked || !c.RevokedAt.Equal(confNow.Add(2*time.Hour)) ||
			!c.InvalidityDate.Equal(confNow) || string(c.DER) != "\x30\x01\xff" || c.RevocationReason == "" {
			t.Errorf("Certificate(0a) = %+v", c)
		}
		byKey, err := tx.CertificateByKey("k1")
		if err != nil || byKey.Serial != "0a" {
			t.Errorf("CertificateByKey = %+v, %v; want the newest, 0a", byKey, err)
		}
		valid, err := tx.Certificates(CertFilter{Status: ra.CertValid, At: confNow})
		if err != nil || len(valid) != 1 || valid[0].Serial != "0b" {
			t.Errorf("Certificates(valid) = %v, %v; want [0b]", valid, err)
		}
		n, err := tx.RevokedCount()
		if err != nil || n != 1 {
			t.Errorf("RevokedCount = %d, %v; want 1", n, err)
		}
		var revoked []Revoked
		if err := tx.EachRevoked(confNow, func(r Revoked) error { revoked = append(revoked, r); return nil }); err != nil {
			return err
		}
		if len(revoked) != 1 || revoked[0].Serial != "0a" || revoked[0].Reason != 1 {
			t.Errorf("EachRevoked = %+v; want 0a, reason 1", revoked)
		}
		st, found, err := tx.CertStatus("0b")
		if err != nil || !found || st != ra.CertValid {
			t.Errorf("CertStatus(0b) = %s, %v, %v", st, found, err)
		}
		var facts []CertFacts
		if err := tx.EachCertFacts(func(f CertFacts) error { facts = append(facts, f); return nil }); err != nil {
			return err
		}
		if len(facts) != 2 || facts[0].Serial != "0a" || !facts[0].Revoked {
			t.Errorf("EachCertFacts = %+v", facts)
		}
		sum, err := tx.Summary()
		if err != nil || sum.Requests != 2 || sum.Certificates != 2 {
			t.Errorf("Summary = %+v, %v", sum, err)
		}
		problems, err := tx.IntegrityCheck()
		if err != nil || len(problems) != 0 {
			t.Errorf("IntegrityCheck = %v, %v; want none", problems, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confRevokeRace: one certificate revoked from several instances at once,
// each reading it (checked against the audit record that binds it) first:
// one wins, the others see it revoked, and none finds the row and its
// audit record at different versions.
func confRevokeRace(t *testing.T, loc string) {
	hs := handles(t, loc, 4)
	ctx := context.Background()
	confInsert(t, hs[0], confRequest("20261125-CONF0001"))
	err := hs[0].Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertCertificate(confCert("20261125-CONF0001", "0e", "k")); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "bob", Action: "download", Ref: "20261125-CONF0001", Serial: "0e"})
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	errs := race(n, func(i int) error {
		return hs[i%len(hs)].Tx(ctx, func(tx *Tx) error {
			c, err := tx.Certificate("0e")
			if err != nil {
				return err
			}
			if c.Status == ra.CertRevoked {
				return fmt.Errorf("already revoked: %w", ra.ErrConflict)
			}
			if err := tx.RevokeCertificate("0e", confNow, 1, time.Time{}); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: fmt.Sprint("op", i), Action: "revoke", Serial: "0e"})
		})
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, ra.ErrConflict) {
			t.Errorf("racing revocation: %v; want success or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing revocations won; want exactly 1", wins, n)
	}
	checkAudit(t, hs[1], 3)
}

// confRevokeBeforeCRL: on PostgreSQL a revocation timed before the
// thisUpdate of the newest full CRL (signed and committed after the
// revocation's transaction read its clock: it does not list it, and the
// next delta would skip it) is refused with errStaleClock, which Store.Tx
// retries, and nothing of it is kept; a delta's thisUpdate (bumped past its
// base's) does not count. On SQLite the write lock held from BEGIN makes
// that order impossible, and the time is taken as given. A clock that,
// read again, is still behind that thisUpdate is not refused: retrying
// would not help, and a revocation must always be possible.
// TestCRLRevocationRace (internal/service) forces the real race.
func confRevokeBeforeCRL(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	crl := func(number, base int64, at time.Time) error {
		return s.Tx(ctx, func(tx *Tx) error {
			return tx.InsertCRL(CRL{Number: number, BaseNumber: base, ThisUpdate: at, NextUpdate: at.Add(time.Hour), Operator: "op", SHA256: strings.Repeat("ab", 32), Size: 1})
		})
	}
	if err := crl(1, 0, confNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := crl(2, 1, confNow.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	issue := func(serial string) {
		t.Helper()
		err := s.Tx(ctx, func(tx *Tx) error {
			if err := tx.InsertCertificate(confCert("20261125-CONF0001", serial, "k"+serial)); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "bob", Action: "download", Ref: "20261125-CONF0001", Serial: serial})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	issue("0e")
	runs := 0
	serial := "0e"
	revoke := func(at time.Time) error {
		runs = 0
		return s.Tx(ctx, func(tx *Tx) error {
			runs++
			if err := tx.RevokeCertificate(serial, at, 1, time.Time{}); err != nil {
				return err
			}
			return tx.Audit(ra.Event{Operator: "carol", Action: "revoke", Serial: serial})
		})
	}
	status := func() ra.CertStatus {
		t.Helper()
		var c *ra.Certificate
		if err := s.Read(ctx, func(tx *Tx) error {
			var err error
			c, err = tx.Certificate(serial)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c.Status
	}
	var err error
	err = revoke(confNow.Add(time.Hour - time.Second))
	if s.Engine() == Postgres {
		if !errors.Is(err, errStaleClock) || runs != maxTxAttempts {
			t.Fatalf("revocation timed a second before CRL 1 = %v after %d runs; want errStaleClock after %d", err, runs, maxTxAttempts)
		}
		if st := status(); st != ra.CertValid {
			t.Fatalf("certificate after the refused revocation: %s; want valid", st)
		}
		checkAudit(t, s, 2)
		// In the very second of CRL 1's thisUpdate: the next delta
		// (from that second on) lists it. The later delta does not count.
		err = revoke(confNow.Add(time.Hour))
	}
	if err != nil || runs != 1 {
		t.Fatalf("revocation = %v after %d runs; want success at once", err, runs)
	}
	if st := status(); st != ra.CertRevoked {
		t.Fatalf("certificate after the revocation: %s; want revoked", st)
	}
	checkAudit(t, s, 3)

	// A clock still behind CRL 1 (late, or set back after CRL 1 was
	// signed) would be behind on every run: the revocation is not
	// refused, and is dated by that clock, as given.
	issue("0f")
	serial = "0f"
	s.Now = func() time.Time { return confNow }
	if err := revoke(confNow.Add(time.Hour - time.Second)); err != nil || runs != 1 {
		t.Fatalf("revocation with the clock behind CRL 1 = %v after %d runs; want success at once", err, runs)
	}
	if st := status(); st != ra.CertRevoked {
		t.Fatalf("certificate after the revocation with the clock behind: %s; want revoked", st)
	}
	checkAudit(t, s, 5)
}

func confMetaPolicy(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	s.Now = func() time.Time { return confNow }
	err := s.Tx(ctx, func(tx *Tx) error {
		for _, v := range []string{"one", "two"} {
			if err := tx.SetMeta("k", v); err != nil {
				return err
			}
			if err := tx.SetPolicy("renew.window", v, "admin"); err != nil {
				return err
			}
		}
		return tx.SetPolicy("passcode.max_attempts", "5", "admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		if v, err := tx.Meta("k"); err != nil || v != "two" {
			t.Errorf("Meta(k) = %q, %v; want two", v, err)
		}
		if v, err := tx.Meta("absent"); err != nil || v != "" {
			t.Errorf("Meta(absent) = %q, %v; want empty", v, err)
		}
		rows, err := tx.Policy()
		if err != nil || len(rows) != 2 || rows[1].Key != "renew.window" || rows[1].Value != "two" || !rows[1].UpdatedAt.Equal(confNow) {
			t.Errorf("Policy = %+v, %v", rows, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confMetaOnceRace: several handles record a value under one meta key at
// once (the passcode key check of several instances, service/passcode_kek.go);
// exactly one wins and every one is told the winner's value.
func confMetaOnceRace(t *testing.T, loc string) {
	const n = 6
	hs := handles(t, loc, n)
	got := make([]string, n)
	errs := race(n, func(i int) error {
		return hs[i].Tx(context.Background(), func(tx *Tx) error {
			v, err := tx.SetMetaOnce("once", fmt.Sprint("v", i))
			got[i] = v
			return err
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SetMetaOnce %d: %v", i, err)
		}
	}
	winners := 0
	for i, v := range got {
		if v != got[0] {
			t.Errorf("SetMetaOnce %d = %q; want %q like handle 0", i, v, got[0])
		}
		if v == fmt.Sprint("v", i) {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d winners (%q); want exactly 1", winners, got)
	}
	err := hs[0].Tx(context.Background(), func(tx *Tx) error {
		v, err := tx.SetMetaOnce("once", "later")
		if err == nil && v != got[0] {
			t.Errorf("SetMetaOnce after the race = %q; want %q", v, got[0])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func confItem(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	err := s.Tx(ctx, func(tx *Tx) error {
		bad := tx.Item(func() error {
			if err := tx.Audit(ra.Event{Operator: "op", Action: "undone"}); err != nil {
				return err
			}
			// a failed statement inside the item (PostgreSQL would abort
			// the transaction without the savepoint)
			id, err := tx.EnsureApplicant(ra.IDPassport, "E1234567")
			if err != nil {
				return err
			}
			return tx.InsertRequest(confRequest("20261125-CONF0001"), id)
		})
		if !errors.Is(bad, ErrRefTaken) {
			return fmt.Errorf("failing item = %v; want ErrRefTaken", bad)
		}
		return tx.Item(func() error { return tx.Audit(ra.Event{Operator: "op", Action: "kept"}) })
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{})
		if err != nil || len(evs) != 2 || evs[1].Action != "kept" {
			t.Errorf("audit after a failed item = %+v, %v; want apply and the kept record only", evs, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, s, 2) // the kept record chains to apply, not to the undone one
}

// confAuditTail: many records appended in one transaction (a group
// commit), some in items rolled back, some in a failed transaction, form
// one chain with no gap.
func confAuditTail(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	undo := errors.New("undo")
	err := s.Tx(ctx, func(tx *Tx) error {
		for i := range 6 {
			err := tx.Item(func() error {
				if err := tx.Audit(ra.Event{Operator: "op", Action: "item", Detail: fmt.Sprint(i)}); err != nil {
					return err
				}
				if i%3 == 1 {
					return undo
				}
				return nil
			})
			if err != nil && !errors.Is(err, undo) {
				return err
			}
		}
		return tx.Audit(ra.Event{Operator: "op", Action: "last"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.Audit(ra.Event{Operator: "op", Action: "lost"}); err != nil {
			return err
		}
		return undo
	}); !errors.Is(err, undo) {
		t.Fatalf("failing transaction = %v; want undo", err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error { return tx.Audit(ra.Event{Operator: "op", Action: "after"}) }); err != nil {
		t.Fatal(err)
	}
	checkAudit(t, s, 1+4+1+1) // apply, items 0 2 3 5, last, after
}

// confRequestWithPasscode: RequestWithPasscode reads what Request,
// PasscodeHash and PasscodeLocked read, and refuses an edited row as
// Request does.
func confRequestWithPasscode(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	r := confRequest("20261125-CONF0001")
	r.Agent = &ra.Agent{Name: "Agent", IDType: ra.IDPassport, IDNumber: "E7654321"}
	r.TargetSerial = "0a1b"
	r.Applicant.Surname, r.Applicant.GivenName = "A", "B" // columns a later schema added to the binding
	confInsert(t, s, r)
	confInsert(t, s, confRequest("20261125-CONF0002"))
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.SetPasscodeHash(r.Ref, "hash-1"); err != nil {
			return err
		}
		if err := tx.LockPasscode(r.Ref); err != nil {
			return err
		}
		r.State, r.PasscodeExpires, r.PasscodeAttempts = ra.StateIssued, confNow.Add(time.Hour), 2
		if err := tx.UpdateRequest(r, ra.StateSubmitted); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "op", Action: "issue", Ref: r.Ref, From: ra.StateSubmitted, To: r.State})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{r.Ref, "20261125-CONF0002"} {
		err := s.Tx(ctx, func(tx *Tx) error {
			want, err := tx.Request(ref)
			if err != nil {
				return err
			}
			hash, err := tx.PasscodeHash(ref)
			if err != nil {
				return err
			}
			locked, err := tx.PasscodeLocked(ref)
			if err != nil {
				return err
			}
			for _, read := range []func(string) (*ra.Request, Passcode, error){tx.RequestWithPasscode, tx.RequestWithPasscodeAsStored} {
				got, pc, err := read(ref)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, want) || pc != (Passcode{Hash: hash, Locked: locked}) {
					t.Errorf("RequestWithPasscode(%s) = %+v, %+v; want %+v, {%q %v}", ref, got, pc, want, hash, locked)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Raw().Exec(`UPDATE requests SET email = 'mallory@example.com' WHERE ref = ?`, r.Ref); err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		if _, _, err := tx.RequestWithPasscode(r.Ref); !errors.Is(err, ra.ErrIntegrity) {
			t.Errorf("RequestWithPasscode of an edited row = %v; want ErrIntegrity", err)
		}
		if got, _, err := tx.RequestWithPasscodeAsStored(r.Ref); err != nil || got.Applicant.Email != "mallory@example.com" {
			t.Errorf("RequestWithPasscodeAsStored of an edited row = %+v, %v; want the row as stored", got, err)
		}
		if _, _, err := tx.RequestWithPasscode("20261125-NONE0001"); !errors.Is(err, ra.ErrNotFound) {
			t.Errorf("RequestWithPasscode of no request = %v; want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confAuditOwnReads: a transaction reads the audit records it appended
// (PostgreSQL keeps them until commit, audit_defer.go, and appends them
// before any read of the log), a row it bound proves against them, and an
// item rolled back after its records were read takes back its own records
// only.
func confAuditOwnReads(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-CONF0001"))
	errItem := errors.New("item fails")
	err := s.Tx(ctx, func(tx *Tx) error {
		r := confRequest("20261125-CONF0002")
		id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
		if err != nil {
			return err
		}
		if err := tx.InsertRequest(r, id); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "clerk", Action: "apply", Ref: r.Ref, To: r.State}); err != nil {
			return err
		}
		// proved against the record just appended
		if got, err := tx.Request(r.Ref); err != nil || got.Ref != r.Ref {
			return fmt.Errorf("Request(%s) after its audit record = %v, %v; want the request", r.Ref, got, err)
		}
		if err := tx.Audit(ra.Event{Operator: "op", Action: "before"}); err != nil {
			return err
		}
		ierr := tx.Item(func() error {
			if err := tx.Audit(ra.Event{Operator: "op", Action: "undone"}); err != nil {
				return err
			}
			if seq, _, err := tx.AuditHead(); err != nil || seq != 4 {
				return fmt.Errorf("AuditHead in the item = %d, %v; want 4", seq, err)
			}
			return errItem
		})
		if !errors.Is(ierr, errItem) {
			return fmt.Errorf("failing item = %v; want %v", ierr, errItem)
		}
		if seq, _, err := tx.AuditHead(); err != nil || seq != 3 {
			return fmt.Errorf("AuditHead after the item rolled back = %d, %v; want 3", seq, err)
		}
		return tx.Audit(ra.Event{Operator: "op", Action: "after"})
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, s, 4)
	err = s.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{})
		var got []string
		for _, e := range evs {
			got = append(got, fmt.Sprint(e.Seq, e.Action))
		}
		if want := "[1apply 2apply 3before 4after]"; fmt.Sprint(got) != want {
			t.Errorf("audit records = %v; want %s", got, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confNestedItems: an item that fails after an item inside it succeeded
// rolls back both (PostgreSQL releases finished savepoints late,
// pgSubtransaction); the items around it keep theirs, and the transaction
// commits.
func confNestedItems(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	errItem := errors.New("item fails")
	audit := func(tx *Tx, action string) error { return tx.Audit(ra.Event{Operator: "op", Action: action}) }
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.Item(func() error { return audit(tx, "first") }); err != nil {
			return err
		}
		err := tx.Item(func() error {
			if err := audit(tx, "outer"); err != nil {
				return err
			}
			if err := tx.Item(func() error { return audit(tx, "inner") }); err != nil {
				return err
			}
			return errItem
		})
		if !errors.Is(err, errItem) {
			return fmt.Errorf("failing outer item = %v; want %v", err, errItem)
		}
		err = tx.Item(func() error {
			if err := tx.Item(func() error { return audit(tx, "inner kept") }); err != nil {
				return err
			}
			if err := tx.Item(func() error { audit(tx, "inner undone"); return errItem }); !errors.Is(err, errItem) {
				return fmt.Errorf("failing inner item = %v; want %v", err, errItem)
			}
			return audit(tx, "outer kept")
		})
		if err != nil {
			return err
		}
		return tx.Item(func() error { return audit(tx, "last") })
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, s, 4)
	err = s.Read(ctx, func(tx *Tx) error {
		evs, err := tx.AuditRecords(AuditFilter{})
		var got []string
		for _, e := range evs {
			got = append(got, e.Action)
		}
		if want := "[first inner kept outer kept last]"; fmt.Sprint(got) != want {
			t.Errorf("audit records = %v; want %s", got, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrationsSameVersions: both engines have a migration of every
// number, so a schema version means the same on both.
func TestMigrationsSameVersions(t *testing.T) {
	versions := func(e Engine) []int {
		names, err := fs.Glob(migrations, e.migrationGlob())
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, n := range names {
			v, err := migrationVersion(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		sort.Ints(out)
		return out
	}
	sq, pg := versions(SQLite), versions(Postgres)
	if fmt.Sprint(sq) != fmt.Sprint(pg) {
		t.Fatalf("migration versions: SQLite %v, PostgreSQL %v; want the same", sq, pg)
	}
}

// confCRLBody: a CRL inserted with its body keeps it (PostgreSQL: every
// instance serves it from the store); without, the row holds none (SQLite:
// the file is the body); a body of another size than recorded is refused.
func confCRLBody(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	body := []byte("a signed CRL, as far as the store can tell")
	digest := strings.Repeat("ab", 32)
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertCRL(CRL{Number: 1, ThisUpdate: confNow, NextUpdate: confNow, Operator: "op", SHA256: digest, Size: int64(len(body)), DER: body}); err != nil {
			return err
		}
		if err := tx.InsertCRL(CRL{Number: 2, ThisUpdate: confNow, NextUpdate: confNow, Operator: "op", SHA256: digest, Size: 10}); err != nil {
			return err
		}
		if err := tx.InsertCRL(CRL{Number: 3, ThisUpdate: confNow, NextUpdate: confNow, Operator: "op", SHA256: digest, Size: 10, DER: body}); err == nil || !strings.Contains(err.Error(), "not the 10 recorded") {
			t.Errorf("InsertCRL with a body of the wrong size = %v; want refused", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		c1, err := tx.CRLByNumber(1)
		if err != nil {
			return err
		}
		if string(c1.DER) != string(body) || c1.Legacy() {
			t.Errorf("CRL 1 = %+v; want its body and digest", c1)
		}
		c2, err := tx.CRLByNumber(2)
		if err != nil {
			return err
		}
		if c2.DER != nil {
			t.Errorf("CRL 2 holds a body %q; want none", c2.DER)
		}
		if _, err := tx.CRLByNumber(3); !errors.Is(err, ra.ErrNotFound) {
			t.Errorf("CRL 3 = %v; want not stored", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confCheckpoint: the stored audit checkpoint is replaced only by one of a
// later record, whichever of several writers commits last.
func confCheckpoint(t *testing.T, loc string) {
	ctx := context.Background()
	stores := []*Store{openAt(t, loc), openAt(t, loc), openAt(t, loc)}
	cp := func(seq int64) Checkpoint {
		return Checkpoint{Version: 1, Seq: seq, Hash: fmt.Sprintf("h%d", seq), Time: confNow, CASHA256: strings.Repeat("cd", 32), Signature: []byte{byte(seq)}}
	}
	var kept atomic.Int64
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := stores[i%3].Tx(ctx, func(tx *Tx) error {
				ok, err := tx.PutAuditCheckpoint(cp(int64(1 + i%6)))
				if ok {
					kept.Add(1)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	err := stores[0].Read(ctx, func(tx *Tx) error {
		c, err := tx.AuditCheckpoint()
		if err != nil {
			return err
		}
		if c == nil || c.Seq != 6 || c.Hash != "h6" || c.Signature[0] != 6 || !c.Time.Equal(confNow) {
			t.Errorf("AuditCheckpoint = %+v; want the one of record 6", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := kept.Load(); n < 1 || n > 6 {
		t.Errorf("%d of 12 writes kept; want 1 to 6 (each a later record than the last kept)", n)
	}
	if err := stores[0].Tx(ctx, func(tx *Tx) error {
		_, err := tx.PutAuditCheckpoint(Checkpoint{Seq: 7})
		return err
	}); err == nil {
		t.Error("PutAuditCheckpoint of an unsigned checkpoint: no error")
	}
}

// confFreshBindings: an audit record binds the request and certificate
// rows as the writes of its transaction left them (UpdateRequest and
// InsertCertificate return the digested columns), and a later change to
// the row in the same transaction, or a rollback to a savepoint, is bound
// as it stands: every row checks against its last record afterwards.
func confFreshBindings(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	refs := []string{"20261125-CONF0001", "20261125-CONF0002", "20261125-CONF0003"}
	for _, ref := range refs {
		confInsert(t, s, confRequest(ref))
	}
	cert := func(ref, serial string) *ra.Certificate {
		return &ra.Certificate{Serial: serial, RequestRef: ref, Subject: "CN=A", Name: "A", Email: "a@example.com", UsageType: "auth",
			Storage: ra.StorageSoft, KeyAlgo: "ECDSA P-256", NotBefore: confNow, NotAfter: confNow.Add(time.Hour), SPKISHA256: "00", DER: []byte{0x30, 0}}
	}
	err := s.Tx(ctx, func(tx *Tx) error {
		// 1: as a download writes it: certificate, request, one record.
		r, err := tx.Request(refs[0])
		if err != nil {
			return err
		}
		if err := tx.InsertCertificate(cert(refs[0], "0a01")); err != nil {
			return err
		}
		r.State, r.CertSerial, r.PasscodeUsed = ra.StateCompleted, "0a01", true
		if err := tx.UpdateRequest(r, ra.StateSubmitted); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "op", Action: "download", Ref: r.Ref, Serial: "0a01", From: ra.StateSubmitted, To: r.State}); err != nil {
			return err
		}
		// 2: the row changed again after the update, before the record.
		r2, err := tx.Request(refs[1])
		if err != nil {
			return err
		}
		r2.State = ra.StateApproved
		if err := tx.UpdateRequest(r2, ra.StateSubmitted); err != nil {
			return err
		}
		if err := tx.SetPasscodeHash(r2.Ref, "changed after the update"); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "op", Action: "approve", Ref: r2.Ref, From: ra.StateSubmitted, To: r2.State}); err != nil {
			return err
		}
		// 3: an update rolled back with its item, then the record.
		undo := errors.New("undo")
		if err := tx.Item(func() error {
			r3, err := tx.Request(refs[2])
			if err != nil {
				return err
			}
			r3.State = ra.StateRejected
			if err := tx.UpdateRequest(r3, ra.StateSubmitted); err != nil {
				return err
			}
			return undo
		}); !errors.Is(err, undo) {
			return fmt.Errorf("item = %v; want undo", err)
		}
		return tx.Audit(ra.Event{Operator: "op", Action: "note", Ref: refs[2]})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error {
		for _, ref := range refs {
			if err := tx.CheckRequest(ref); err != nil {
				t.Errorf("CheckRequest(%s) = %v; want the row its last record bound", ref, err)
			}
		}
		if err := tx.CheckCertificate("0a01"); err != nil {
			t.Errorf("CheckCertificate(0a01) = %v; want the row its record bound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, s, len(refs)+3)
}
