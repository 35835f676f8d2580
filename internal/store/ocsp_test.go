package store

import (
	"context"
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
