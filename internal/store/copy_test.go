package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
)

// fillForCopy gives a SQLite store one of everything: identity, policy,
// meta, requests, a certificate (revoked), CRLs and audit records.
func fillForCopy(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	confInsert(t, s, confRequest("20261125-COPY0001"))
	confInsert(t, s, confRequest("20261125-COPY0002"))
	err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.SetIdentity(Identity{StoreID: strings.Repeat("1", 32), CACertSHA256: strings.Repeat("a", 64), CreatedAt: confNow}); err != nil {
			return err
		}
		if err := tx.SetPolicy("renew.window", "720h", "admin"); err != nil {
			return err
		}
		if err := tx.SetMeta("pseudonym_key", strings.Repeat("ab", 32)); err != nil {
			return err
		}
		if err := tx.InsertCertificate(&ra.Certificate{Serial: "0c", RequestRef: "20261125-COPY0001", Subject: "CN=A", Name: "A", Email: "a@example.com",
			UsageType: "auth", Storage: ra.StorageSoft, KeyAlgo: "ECDSA P-256", NotBefore: confNow, NotAfter: confNow.AddDate(1, 0, 0), SPKISHA256: "k", DER: []byte{0x30, 0x02, 0x05, 0x00}}); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "bob", Action: "download", Ref: "20261125-COPY0001", Serial: "0c"}); err != nil {
			return err
		}
		if err := tx.RevokeCertificate("0c", confNow, 1, time.Time{}); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "carol", Action: "revoke", Serial: "0c"}); err != nil {
			return err
		}
		for i := range 3 {
			n, err := tx.NextCRLNumber()
			if err != nil {
				return err
			}
			if err := tx.InsertCRL(CRL{Number: n, ThisUpdate: confNow, NextUpdate: confNow.Add(time.Hour), Entries: i, Operator: "op", SHA256: strings.Repeat("cd", 32), Size: 10}); err != nil {
				return err
			}
			if err := tx.Audit(ra.Event{Operator: "op", Action: "crl", Detail: "n"}); err != nil {
				return err
			}
		}
		if err := tx.InsertServiceCert(&ServiceCert{Serial: "0d", Purpose: "operator", Subject: "CN=alice", NotBefore: confNow, NotAfter: confNow.AddDate(1, 0, 0),
			SPKISHA256: "k2", DER: []byte{0x30, 0x00}}); err != nil {
			return err
		}
		if err := tx.InsertOperator(&Operator{Name: "alice", Roles: []principal.Role{principal.Reviewer}, Serial: "0d", CreatedAt: confNow, CreatedBy: "admin"}); err != nil {
			return err
		}
		return tx.SetCRLNumberFloor(7)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCopyTo: cmca store migrate's copy: everything arrives, verified;
// numbering goes on where it stopped; a non-empty target is refused; a
// failed copy leaves the database empty, so running it again works.
func TestCopyTo(t *testing.T) {
	ctx := context.Background()
	src := openAt(t, createAt(t, filepath.Join(t.TempDir(), "ra.db")))
	fillForCopy(t, src)
	u := pgtest.NewDatabase(t)

	// A source whose audit chain is broken does not verify: nothing stays.
	bad := openAt(t, createAt(t, filepath.Join(t.TempDir(), "ra.db")))
	fillForCopy(t, bad)
	if _, err := bad.DB().ExecContext(ctx, `UPDATE audit SET detail = 'forged' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CopyTo(ctx, u, ra.Event{}); !errors.Is(err, ra.ErrConflict) || !strings.Contains(err.Error(), "audit chain") {
		t.Fatalf("CopyTo of a broken chain = %v; want refused at verification", err)
	}
	if n := tableCount(t, u); n != 0 {
		t.Fatalf("%d tables after a failed copy; want 0 (one transaction)", n)
	}

	rep, err := src.CopyTo(ctx, u, ra.Event{Operator: "admin", Action: "store-migrate", Detail: "from test"})
	if err != nil {
		t.Fatalf("CopyTo: %v", err)
	}
	if rep.Rows["operators"] != 1 || rep.Rows["service_certificates"] != 1 {
		t.Errorf("report = %+v; want the operator and its certificate", rep)
	}
	if rep.Rows["requests"] != 2 || rep.Rows["certificates"] != 1 || rep.Rows["crls"] != 3 || rep.Rows["audit"] != 7 || rep.NextCRLNumber != 8 {
		t.Errorf("report = %+v; want 2 requests, 1 certificate, 3 CRLs, 7 audit records, next CRL 8", rep)
	}
	if strings.Contains(rep.To, pgtest.Password) {
		t.Errorf("report shows the password: %s", rep.To)
	}
	if _, err := src.CopyTo(ctx, u, ra.Event{}); !errors.Is(err, ErrNotStore) {
		t.Errorf("second CopyTo into the same database = %v; want refused (not empty)", err)
	}

	pg := openAt(t, u)
	err = pg.Tx(ctx, func(tx *Tx) error {
		id, err := tx.Identity()
		if err != nil || id == nil || id.StoreID != strings.Repeat("1", 32) {
			t.Errorf("Identity = %+v, %v; want the source's", id, err)
		}
		c, err := tx.Certificate("0c")
		if err != nil {
			return err
		}
		if string(c.DER) != "\x30\x02\x05\x00" || c.Status != ra.CertRevoked || c.RequestRef != "20261125-COPY0001" {
			t.Errorf("certificate 0c = %+v", c)
		}
		n, err := tx.NextCRLNumber()
		if err != nil || n != 8 {
			t.Errorf("NextCRLNumber = %d, %v; want 8 (floor 7 kept)", n, err)
		}
		// New rows get new ids: the identity sequences continue.
		id2, err := tx.EnsureApplicant(ra.IDPassport, "E7654321")
		if err != nil {
			return err
		}
		return tx.InsertRequest(confRequest("20261125-COPY0003"), id2)
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAudit(t, pg, 8) // the seven copied and the migration's own
}
