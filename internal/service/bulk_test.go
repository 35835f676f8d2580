package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// TestCRLFromLargeStoreMatchesStdlib signs a CRL of 20,000 revoked
// certificates through the store's index walk and the streaming encoder,
// and compares it entry by entry with x509.CreateRevocationList over the
// same records.
func TestCRLFromLargeStoreMatchesStdlib(t *testing.T) {
	sqliteOnly(t) // store.Fill
	s := benchService(t)
	ctx := context.Background()
	const total, revoked = 25_000, 20_000
	if err := s.store.Fill(ctx, store.FillOptions{Completed: total, Revoked: revoked, DER: []byte{0x30, 0}, At: time.Now().Add(-time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.CRL(as(ctx, "op"), CRLOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := x509.ParseRevocationList(crlDER(t, res))
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := got.CheckSignatureFrom(authority.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	var certs []*ra.Certificate
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		certs, err = tx.Certificates(store.CertFilter{Status: ra.CertRevoked})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	entries := make([]x509.RevocationListEntry, len(certs))
	for i, c := range certs {
		n, ok := new(big.Int).SetString(c.Serial, 16)
		if !ok {
			t.Fatalf("certificate serial %q is not hex", c.Serial)
		}
		entries[i] = x509.RevocationListEntry{SerialNumber: n, RevocationTime: c.RevokedAt, ReasonCode: ra.RevocationReason(c.RevocationReason).Code()}
	}
	refDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(res.Number), ThisUpdate: res.ThisUpdate,
		NextUpdate: res.NextUpdate, RevokedCertificateEntries: entries}, authority.Cert, authority.Signer)
	if err != nil {
		t.Fatal(err)
	}
	want, err := x509.ParseRevocationList(refDER)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RevokedCertificateEntries) != revoked || len(want.RevokedCertificateEntries) != revoked {
		t.Fatalf("entries: got %d, reference %d; want %d", len(got.RevokedCertificateEntries), len(want.RevokedCertificateEntries), revoked)
	}
	if got.Number.Cmp(want.Number) != 0 || !got.ThisUpdate.Equal(want.ThisUpdate) || !got.NextUpdate.Equal(want.NextUpdate) || !bytes.Equal(got.RawIssuer, want.RawIssuer) {
		t.Fatalf("header: got %v %v %v, want %v %v %v", got.Number, got.ThisUpdate, got.NextUpdate, want.Number, want.ThisUpdate, want.NextUpdate)
	}
	byserial := map[string]x509.RevocationListEntry{}
	for _, e := range want.RevokedCertificateEntries {
		byserial[e.SerialNumber.Text(16)] = e
	}
	var prev *big.Int
	for i, e := range got.RevokedCertificateEntries {
		w, ok := byserial[e.SerialNumber.Text(16)]
		if !ok {
			t.Fatalf("entry %d: serial %x is not in the reference", i, e.SerialNumber)
		}
		if !e.RevocationTime.Equal(w.RevocationTime) || e.ReasonCode != w.ReasonCode {
			t.Fatalf("entry %x: got %v reason %d, want %v reason %d", e.SerialNumber, e.RevocationTime, e.ReasonCode, w.RevocationTime, w.ReasonCode)
		}
		if prev != nil && prev.Cmp(e.SerialNumber) >= 0 {
			t.Fatalf("entry %d: serials out of order (%x after %x)", i, e.SerialNumber, prev)
		}
		prev = e.SerialNumber
	}
}

// TestBulkItemsFailAlone checks that a failing item of a batch changes
// nothing and the others still go through, in one transaction.
func TestBulkItemsFailAlone(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	res, err := s.Apply(as(ctx, "clerk"), benchApps(3), false)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := res[0].Ref, res[1].Ref, res[2].Ref
	if _, err := s.Approve(as(ctx, "reviewer"), b); err != nil {
		t.Fatal(err)
	}
	done, failed, err := s.ApproveMany(as(ctx, "reviewer"), []string{a, b, "20260101-NOSUCHRF", c}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || done[0].Ref != a || done[1].Ref != c {
		t.Fatalf("ApproveMany done = %+v; want %s and %s", done, a, c)
	}
	if len(failed) != 2 || !errors.Is(failed[0].Err, ra.ErrConflict) || !errors.Is(failed[1].Err, ra.ErrNotFound) {
		t.Fatalf("ApproveMany failed = %+v; want conflict for %s, not found", failed, b)
	}
	auths, failed, err := s.IssueMany(as(ctx, "issuer"), nil, true, false)
	if err != nil || len(failed) != 0 || len(auths) != 3 {
		t.Fatalf("IssueMany(all approved) = %d, %v, %v; want 3 passcodes", len(auths), failed, err)
	}
	csrs := benchCSRs(t, 3)
	ins := []DownloadInput{
		{Ref: auths[0].Ref, Passcode: auths[0].Passcode, CSR: csrs[0]},
		{Ref: auths[1].Ref, Passcode: "AAAA-AAAA-AAAA-AAAA", CSR: csrs[1]},
		{Ref: auths[2].Ref, Passcode: auths[2].Passcode, CSR: []byte("not a CSR")},
	}
	out, err := s.DownloadMany(as(ctx, "clerk"), ins)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[0].Issued == nil {
		t.Fatalf("item 1: %v; want a certificate", out[0].Err)
	}
	if !errors.Is(out[1].Err, ra.ErrAuth) && !errors.Is(out[1].Err, ra.ErrInvalid) {
		t.Fatalf("item 2 (wrong passcode): %v; want an auth or format error", out[1].Err)
	}
	if !errors.Is(out[2].Err, ra.ErrInvalid) {
		t.Fatalf("item 3 (bad CSR): %v; want ErrInvalid", out[2].Err)
	}
	for i, ref := range []string{auths[1].Ref, auths[2].Ref} {
		d, err := s.Status(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if d.Request.State != ra.StateIssued || len(d.Certificates) != 0 {
			t.Errorf("item %d: %s is %s with %d certificates; want issued, none", i+2, ref, d.Request.State, len(d.Certificates))
		}
	}
}

// TestDownloadManyOrderAndRepeats checks the parallel parts of
// DownloadMany: every outcome belongs to its own input (the certificate
// carries that input's key), a CSR whose signature does not verify is
// refused without costing a passcode attempt, and a reference given twice
// is handled after the first as Download would (same key: the recorded
// certificate again; another key: the passcode is used).
func TestDownloadManyOrderAndRepeats(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	const n = 40
	if _, err := s.Apply(as(ctx, "clerk"), benchApps(n), false); err != nil {
		t.Fatal(err)
	}
	if _, failed, err := s.ApproveMany(as(ctx, "reviewer"), nil, true); err != nil || len(failed) > 0 {
		t.Fatal(err, failed)
	}
	auths, failed, err := s.IssueMany(as(ctx, "issuer"), nil, true, false)
	if err != nil || len(failed) > 0 || len(auths) != n {
		t.Fatal(err, failed, len(auths))
	}
	csrs := benchCSRs(t, n+1)
	badSig := append([]byte(nil), csrs[1]...)
	badSig[len(badSig)-1] ^= 0x55
	var ins []DownloadInput
	for i, a := range auths {
		ins = append(ins, DownloadInput{Ref: a.Ref, Passcode: a.Passcode, CSR: csrs[i]})
	}
	ins[1].CSR = badSig
	ins[1].Passcode = auths[3].Passcode // wrong too: must not cost an attempt
	ins = append(ins,
		DownloadInput{Ref: auths[0].Ref, Passcode: auths[0].Passcode, CSR: csrs[0]}, // same key again
		DownloadInput{Ref: auths[2].Ref, Passcode: auths[2].Passcode, CSR: csrs[n]}, // another key
	)
	out, err := s.DownloadMany(as(ctx, "clerk"), ins)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		i         int
		wantErr   error
		retrieved bool
	}{
		{i: 0},
		{i: 1, wantErr: ra.ErrInvalid},
		{i: 2},
		{i: n, retrieved: true},
		{i: n + 1, wantErr: ra.ErrConflict},
	}
	for _, tt := range tests {
		o := out[tt.i]
		if o.Ref != ins[tt.i].Ref {
			t.Errorf("outcome %d is for %s, want %s", tt.i, o.Ref, ins[tt.i].Ref)
		}
		if tt.wantErr != nil {
			if !errors.Is(o.Err, tt.wantErr) || o.Issued != nil {
				t.Errorf("outcome %d: %v, %v; want %v", tt.i, o.Issued, o.Err, tt.wantErr)
			}
			continue
		}
		if o.Err != nil || o.Issued == nil || o.Issued.Retrieved != tt.retrieved {
			t.Errorf("outcome %d: %+v, %v; want a certificate (retrieved=%v)", tt.i, o.Issued, o.Err, tt.retrieved)
		}
	}
	if out[n].Issued != nil && out[0].Issued != nil && out[n].Issued.Serial != out[0].Issued.Serial {
		t.Errorf("the repeated same-key download got %s, want the recorded %s", out[n].Issued.Serial, out[0].Issued.Serial)
	}
	for i := range n {
		if i == 1 {
			continue
		}
		o := out[i]
		if o.Err != nil {
			t.Fatalf("outcome %d: %v", i, o.Err)
		}
		csr, err := x509.ParseCertificateRequest(csrs[i])
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(o.Issued.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
			t.Errorf("outcome %d (%s): the certificate is not for that input's key", i, o.Ref)
		}
		if o.Issued.Ref != ins[i].Ref {
			t.Errorf("outcome %d: certificate for %s, want %s", i, o.Issued.Ref, ins[i].Ref)
		}
	}
	d, err := s.Status(ctx, auths[1].Ref)
	if err != nil {
		t.Fatal(err)
	}
	if d.Request.State != ra.StateIssued || d.Request.PasscodeAttempts != 0 {
		t.Errorf("bad-signature item: %s is %s with %d attempts; want issued, 0", auths[1].Ref, d.Request.State, d.Request.PasscodeAttempts)
	}
}
