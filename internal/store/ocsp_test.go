package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// TestRevocationInvalidatesOCSP: revoking a certificate drops its
// pre-signed responses in the same transaction and counts the revision up
// (in the store and for this process); a "good" response is not stored for
// a revoked certificate.
func TestRevocationInvalidatesOCSP(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	r := insertTestRequest(t, s)
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	put := func(status string) error {
		return s.Tx(ctx, func(tx *Tx) error {
			return tx.PutOCSPResponse(&OCSPResponse{Serial: "abc1", Hash: "sha1", Status: status, ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour), DER: []byte{1}})
		})
	}
	if err := s.Tx(ctx, func(tx *Tx) error {
		return tx.InsertCertificate(&ra.Certificate{Serial: "abc1", RequestRef: r.Ref, Subject: "CN=A", Name: "A", UsageType: "auth",
			Storage: ra.StorageSoft, KeyAlgo: "ecdsa-p256", NotBefore: now, NotAfter: now.Add(365 * 24 * time.Hour), SPKISHA256: "00", DER: []byte{0}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := put("good"); err != nil {
		t.Fatal(err)
	}
	c, err := s.OCSPCertificate(ctx, "abc1", "sha1")
	if err != nil || c == nil || c.Response == nil || c.Response.Status != "good" {
		t.Fatalf("OCSPCertificate = %+v, %v; want the stored good response", c, err)
	}
	rev0, err := s.OCSPRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error { return tx.RevokeCertificate("abc1", now, 1, time.Time{}) }); err != nil {
		t.Fatal(err)
	}
	if rev, err := s.OCSPRevision(ctx); err != nil || rev != rev0+1 {
		t.Errorf("revision after a revocation = %d, %v; want %d", rev, err, rev0+1)
	}
	if n := s.LocalRevocations(); n != 1 {
		t.Errorf("LocalRevocations = %d; want 1", n)
	}
	c, err = s.OCSPCertificate(ctx, "abc1", "sha1")
	if err != nil || c.Status != "revoked" || c.Response != nil || c.Reason != 1 {
		t.Fatalf("after revocation: %+v, %v; want revoked with no stored response", c, err)
	}
	if err := put("good"); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.OCSPCertificate(ctx, "abc1", "sha1"); c.Response != nil {
		t.Errorf("a good response was stored for a revoked certificate")
	}
	if err := put("revoked"); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.OCSPCertificate(ctx, "abc1", "sha1"); c.Response == nil || c.Response.Status != "revoked" {
		t.Errorf("revoked response not stored: %+v", c.Response)
	}
	if c, err := s.OCSPCertificate(ctx, "ffff", "sha1"); c != nil || err != nil {
		t.Errorf("unknown serial = %+v, %v; want nil, nil", c, err)
	}
}

// confOCSPServiceCerts: OCSP covers the certificates cmca issued for its
// own use (service_certificates: operator credentials, the server's TLS
// certificate) as it covers subscribers': their status is read, a
// response is stored for them (and only for their status), they are
// signed ahead while unexpired and warmed up, and revoking one drops its
// stored responses and counts the revision up, with the reason and time
// the CRL lists.
func confOCSPServiceCerts(t *testing.T, loc string) {
	s := openAt(t, loc)
	ctx := context.Background()
	now := confNow
	if err := s.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertServiceCert(&ServiceCert{Serial: "0d", Purpose: PurposeOperator, Subject: "CN=alice", NotBefore: now, NotAfter: now.AddDate(1, 0, 0),
			SPKISHA256: "k1", DER: []byte{0x30, 0x00}}); err != nil {
			return err
		}
		return tx.InsertServiceCert(&ServiceCert{Serial: "0e", Purpose: PurposeServer, Subject: "CN=old server", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.Add(-time.Hour),
			SPKISHA256: "k2", DER: []byte{0x30, 0x00}})
	}); err != nil {
		t.Fatal(err)
	}
	put := func(serial, status string) {
		t.Helper()
		if err := s.Tx(ctx, func(tx *Tx) error {
			return tx.PutOCSPResponse(&OCSPResponse{Serial: serial, Hash: "sha1", Status: status, ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour), DER: []byte(serial + status)})
		}); err != nil {
			t.Fatalf("PutOCSPResponse(%s, %s): %v", serial, status, err)
		}
	}
	c, err := s.OCSPCertificate(ctx, "0d", "sha1")
	if err != nil || c == nil || c.Status != "valid" || c.Response != nil || !c.NotAfter.Equal(now.AddDate(1, 0, 0)) {
		t.Fatalf("OCSPCertificate(0d) = %+v, %v; want the valid operator certificate, no response yet", c, err)
	}
	stale := func(hash string) []string {
		t.Helper()
		var out []string
		if err := s.Read(ctx, func(tx *Tx) error {
			cs, err := tx.OCSPStale(hash, now, now.Add(12*time.Hour), 100)
			for _, c := range cs {
				out = append(out, c.Serial+"/"+c.Status+"/"+c.Response.Hash)
			}
			return err
		}); err != nil {
			t.Fatalf("OCSPStale: %v", err)
		}
		return out
	}
	if got := stale("sha1"); len(got) != 1 || got[0] != "0d/valid/sha1" {
		t.Errorf("OCSPStale(sha1) = %q; want the unexpired operator certificate only", got)
	}
	put("0d", "good")
	put("ff", "good") // no such certificate: nothing stored
	c, err = s.OCSPCertificate(ctx, "0d", "sha1")
	if err != nil || c.Response == nil || c.Response.Status != "good" || string(c.Response.DER) != "0dgood" {
		t.Fatalf("after PutOCSPResponse: %+v, %v; want the stored good response", c, err)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM ocsp_responses WHERE serial = 'ff'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("responses stored for an unknown serial = %d, %v; want 0", n, err)
	}
	if got := stale("sha1"); len(got) != 0 {
		t.Errorf("OCSPStale(sha1) with a fresh response = %q; want none", got)
	}
	var warmed []string
	if err := s.EachOCSPResponse(ctx, "sha1", now, func(r OCSPResponse) error {
		warmed = append(warmed, r.Serial+"/"+r.Status)
		return nil
	}); err != nil || len(warmed) != 1 || warmed[0] != "0d/good" {
		t.Errorf("EachOCSPResponse = %q, %v; want 0d/good", warmed, err)
	}

	rev0, err := s.OCSPRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local0 := s.LocalRevocations()
	at := now.Add(time.Minute)
	if err := s.Tx(ctx, func(tx *Tx) error { return tx.RevokeServiceCert("0d", at, 1) }); err != nil {
		t.Fatal(err)
	}
	if rev, err := s.OCSPRevision(ctx); err != nil || rev != rev0+1 {
		t.Errorf("revision after revoking a service certificate = %d, %v; want %d", rev, err, rev0+1)
	}
	if l := s.LocalRevocations(); l != local0+1 {
		t.Errorf("LocalRevocations = %d; want %d", l, local0+1)
	}
	c, err = s.OCSPCertificate(ctx, "0d", "sha1")
	if err != nil || c.Status != "revoked" || c.Reason != 1 || !c.RevokedAt.Equal(at) || c.Response != nil {
		t.Fatalf("after revocation: %+v, %v; want revoked (1) at %s, no stored response", c, err, at)
	}
	var crl []Revoked
	if err := s.Read(ctx, func(tx *Tx) error {
		return tx.EachRevoked(now, func(r Revoked) error { crl = append(crl, r); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if len(crl) != 1 || crl[0].Serial != "0d" || !crl[0].RevokedAt.Equal(c.RevokedAt) || crl[0].Reason != c.Reason {
		t.Errorf("CRL entries %+v; want 0d with OCSP's time %s and reason %d", crl, c.RevokedAt, c.Reason)
	}
	if got := stale("sha1"); len(got) != 1 || got[0] != "0d/revoked/sha1" {
		t.Errorf("OCSPStale(sha1) after revocation = %q; want 0d to be signed again", got)
	}
	put("0d", "good") // signed just before the revocation committed: refused
	if c, _ = s.OCSPCertificate(ctx, "0d", "sha1"); c.Response != nil {
		t.Errorf("a good response was stored for a revoked service certificate")
	}
	put("0d", "revoked")
	if c, _ = s.OCSPCertificate(ctx, "0d", "sha1"); c.Response == nil || c.Response.Status != "revoked" {
		t.Errorf("revoked response not stored: %+v", c.Response)
	}
	if c, err := s.OCSPCertificate(ctx, "0e", "sha1"); err != nil || c == nil || c.Status != "valid" {
		t.Errorf("OCSPCertificate(expired 0e) = %+v, %v; want it read (answered like an expired subscriber certificate)", c, err)
	}
}

// TestUpgradeKeepsOCSPResponses: migration 12 makes ocsp_responses again
// without its foreign key to certificates (SQLite cannot drop one): the
// pre-signed responses of a version 11 store are kept, with their index,
// and responses for service certificates can be stored from then on.
func TestUpgradeKeepsOCSPResponses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	stmts := append(schemaUpTo(t, 11),
		`INSERT INTO applicants (id, id_type, id_number, name, mobile, email, created_at, updated_at) VALUES (1, 'passport', 'E1234567', '张三', '13812345678', 'a@example.com', 1000, 1000)`,
		`INSERT INTO requests (id, ref, kind, state, applicant_id, name, id_type, id_number, mobile, email, usage_type, acceptance_point, storage, submitted_by, created_at, updated_at)
VALUES (1, '20261125-OLD00013', 'new', 'issued', 1, '张三', 'passport', 'E1234567', '13812345678', 'a@example.com', 'auth', 'online', 'soft', 'clerk', 1000, 1000)`,
		`INSERT INTO certificates (serial, request_id, applicant_id, subject, name, email, usage_type, storage, key_algo, not_before, not_after, spki_sha256, der)
VALUES ('0a', 1, 1, 'CN=A', 'A', 'a@example.com', 'auth', 'soft', 'ecdsa-p256', 1000, 4000000000, 'k0', x'3000')`,
		`INSERT INTO ocsp_responses (serial, hash, status, this_update, next_update, der) VALUES ('0a', 'sha1', 'good', 1000, 4000000000, x'0102')`,
		`INSERT INTO service_certificates (serial, purpose, subject, not_before, not_after, spki_sha256, der)
VALUES ('0d', 'operator', 'CN=alice', 1000, 4000000000, 'k1', x'3000')`,
		`PRAGMA journal_mode = WAL`)
	rawExec(t, path, stmts...)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 11 store: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	now := time.Unix(2000, 0).UTC()
	c, err := s.OCSPCertificate(ctx, "0a", "sha1")
	if err != nil || c == nil || c.Response == nil || string(c.Response.DER) != "\x01\x02" {
		t.Fatalf("OCSPCertificate(0a) after the upgrade = %+v, %v; want the response kept", c, err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error {
		return tx.PutOCSPResponse(&OCSPResponse{Serial: "0d", Hash: "sha1", Status: "good", ThisUpdate: now, NextUpdate: now.Add(time.Hour), DER: []byte{3}})
	}); err != nil {
		t.Fatalf("PutOCSPResponse for a service certificate after the upgrade: %v", err)
	}
	if c, err := s.OCSPCertificate(ctx, "0d", "sha1"); err != nil || c == nil || c.Response == nil {
		t.Errorf("OCSPCertificate(0d) = %+v, %v; want its stored response", c, err)
	}
	var idx int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'ocsp_responses_next' AND tbl_name = 'ocsp_responses'`).Scan(&idx); err != nil || idx != 1 {
		t.Errorf("index ocsp_responses_next after the upgrade: %d, %v; want it", idx, err)
	}
	if err := s.Read(ctx, func(tx *Tx) error {
		problems, err := tx.IntegrityCheck()
		if len(problems) > 0 {
			t.Errorf("IntegrityCheck after the upgrade = %q; want none", problems)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
