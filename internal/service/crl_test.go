package service

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
)

// downloaded takes a fresh application to a certificate and returns its serial.
func downloaded(t *testing.T, s *Service, name, id string) string {
	t.Helper()
	ctx := context.Background()
	app := testApplication()
	app.Applicant.Name, app.Applicant.IDNumber = name, id
	res, err := s.Apply(as(ctx, "clerk"), []Application{app}, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, err := s.Approve(as(ctx, "alice"), res[0].Ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a, err := s.Issue(as(ctx, "bob"), res[0].Ref, false)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	got, err := s.Download(ctx, DownloadInput{Ref: res[0].Ref, Passcode: a.Passcode, CSR: csrFor(t, newKey(t))})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	return got.Serial
}

// crlDER reads the body of a CRL the service signed or republished.
func crlDER(t *testing.T, res *CRLResult) []byte {
	t.Helper()
	der, err := os.ReadFile(res.File)
	if err != nil {
		t.Fatalf("read CRL %d: %v", res.Number, err)
	}
	return der
}

func lintCRL(t *testing.T, der []byte) {
	t.Helper()
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lint.SourceList{lint.RFC5280}})
	if err != nil {
		t.Fatal(err)
	}
	zc, err := zx509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("zcrypto ParseRevocationList: %v", err)
	}
	for name, r := range zlint.LintRevocationListEx(zc, reg).Results {
		if r.Status >= lint.Warn {
			t.Errorf("CRL lint %s: %s %s", name, r.Status, r.Details)
		}
	}
}

// TestCRLContents: what Go's x509 parser reads from full and delta CRLs
// made by the service: number, AKI, reasons, invalidity date only where
// known, delta indicator with the base number; and RFC 5280 lints pass.
func TestCRLContents(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	a := downloaded(t, s, "张三", "11010519491231002X")
	b := downloaded(t, s, "李四", "110105198001010016")
	c := downloaded(t, s, "王五", "11010519491231002X")
	reportedAt := clk.Now()
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: a, Reason: "keyCompromise", Direct: true, Comment: "lost laptop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: b, Reason: "affiliationChanged", Direct: true, Comment: "left"}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	full, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fullDER, deltaDER := crlDER(t, full), []byte(nil)
	crl, err := x509.ParseRevocationList(fullDER)
	if err != nil {
		t.Fatalf("ParseRevocationList(full): %v", err)
	}
	if err := crl.CheckSignatureFrom(authority.Cert); err != nil {
		t.Errorf("full CRL signature: %v", err)
	}
	if crl.Number.Int64() != full.Number || !bytes.Equal(crl.AuthorityKeyId, authority.Cert.SubjectKeyId) {
		t.Errorf("full CRL number %v AKI %X; want %d and %X", crl.Number, crl.AuthorityKeyId, full.Number, authority.Cert.SubjectKeyId)
	}
	if !crl.NextUpdate.Equal(crl.ThisUpdate.Add(DefaultConfig().CRLValidity)) {
		t.Errorf("nextUpdate %v, thisUpdate %v; want crl.validity apart", crl.NextUpdate, crl.ThisUpdate)
	}
	want := map[string]struct {
		reason     int
		invalidity bool
	}{a: {1, true}, b: {3, false}}
	if len(crl.RevokedCertificateEntries) != len(want) {
		t.Fatalf("full CRL has %d entries; want %d", len(crl.RevokedCertificateEntries), len(want))
	}
	for _, e := range crl.RevokedCertificateEntries {
		serial := ra.SerialString(e.SerialNumber)
		w, ok := want[serial]
		if !ok {
			t.Errorf("unexpected entry %s", serial)
			continue
		}
		if e.ReasonCode != w.reason {
			t.Errorf("entry %s reason %d; want %d", serial, e.ReasonCode, w.reason)
		}
		var inv time.Time
		for _, x := range e.Extensions {
			if x.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 24}) {
				if _, err := asn1.UnmarshalWithParams(x.Value, &inv, "generalized"); err != nil {
					t.Errorf("entry %s invalidity date: %v", serial, err)
				}
			}
		}
		if w.invalidity != !inv.IsZero() {
			t.Errorf("entry %s invalidity date %v; want present=%v", serial, inv, w.invalidity)
		}
		if w.invalidity && (inv.After(e.RevocationTime) || inv.Before(reportedAt.Add(-time.Second))) {
			t.Errorf("entry %s invalidity %v; want the report time %v, not after revocation %v", serial, inv, reportedAt, e.RevocationTime)
		}
	}
	lintCRL(t, fullDER)

	clk.Add(time.Hour)
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: c, Reason: "superseded", Direct: true, Comment: "new card"}); err != nil {
		t.Fatal(err)
	}
	delta, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	deltaDER = crlDER(t, delta)
	dcrl, err := x509.ParseRevocationList(deltaDER)
	if err != nil {
		t.Fatalf("ParseRevocationList(delta): %v", err)
	}
	if delta.Number != full.Number+1 || delta.BaseNumber != full.Number || len(dcrl.RevokedCertificateEntries) != 1 ||
		ra.SerialString(dcrl.RevokedCertificateEntries[0].SerialNumber) != c {
		t.Errorf("delta = number %d base %d, %d entries; want %d base %d listing only %s", delta.Number, delta.BaseNumber, len(dcrl.RevokedCertificateEntries), full.Number+1, full.Number, c)
	}
	var base *big.Int
	for _, x := range dcrl.Extensions {
		if x.Id.Equal(oidDeltaCRLIndicator) {
			if !x.Critical {
				t.Error("delta CRL indicator is not critical")
			}
			if _, err := asn1.Unmarshal(x.Value, &base); err != nil {
				t.Fatal(err)
			}
		}
	}
	if base == nil || base.Int64() != full.Number {
		t.Errorf("delta CRL indicator = %v; want %d", base, full.Number)
	}
	lintCRL(t, deltaDER)

	// --check reads both back.
	for _, der := range [][]byte{fullDER, deltaDER} {
		chk, err := s.CheckCRL(ctx, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
		if err != nil || !chk.Known {
			t.Errorf("CheckCRL(PEM) = %+v, %v", chk, err)
		}
	}
}

func TestCheckCRL(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	res, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resDER := crlDER(t, res)
	good, err := s.CheckCRL(ctx, resDER)
	if err != nil || good.Number != 1 || good.Entries != 0 || !good.Known || !good.Latest || good.Expired {
		t.Fatalf("CheckCRL(fresh) = %+v, %v", good, err)
	}

	// Another CRL with number 1, signed by the CA key outside the store.
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var forged bytes.Buffer
	now := clk.Now().UTC().Truncate(time.Second)
	if err := ca.WriteCRL(&forged, ca.CRLTemplate{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour)},
		func(func(ca.RevokedEntry) error) error { return nil }, authority.Cert, authority.Signer); err != nil {
		t.Fatal(err)
	}
	unknown := append([]byte(nil), forged.Bytes()...)
	forged.Reset()
	if err := ca.WriteCRL(&forged, ca.CRLTemplate{Number: big.NewInt(99), ThisUpdate: now, NextUpdate: now.Add(time.Hour)},
		func(func(ca.RevokedEntry) error) error { return nil }, authority.Cert, authority.Signer); err != nil {
		t.Fatal(err)
	}
	notRecorded := forged.Bytes()
	tampered := append([]byte(nil), resDER...)
	tampered[len(tampered)-3] ^= 0xff

	cases := []struct {
		name    string
		data    []byte
		advance time.Duration
		want    error
		msg     string
	}{
		{"garbage", []byte("hello"), 0, ra.ErrInvalid, "not a CRL"},
		{"certificate PEM", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: authority.Cert.Raw}), 0, ra.ErrInvalid, "not an X509 CRL"},
		{"tampered", tampered, 0, ra.ErrInvalid, "signature does not verify"},
		{"number signed twice", unknown, 0, ra.ErrInvalid, "must never be signed twice"},
		{"expired", resDER, 8 * 24 * time.Hour, ra.ErrConflict, "expired at its nextUpdate"},
		{"not yet valid", resDER, -time.Hour, ra.ErrInvalid, "in the future"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.advance)
			defer clk.Add(-tc.advance)
			_, err := s.CheckCRL(ctx, tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("CheckCRL(%s) = %v; want %v containing %q", tc.name, err, tc.want, tc.msg)
			}
		})
	}
	nr, err := s.CheckCRL(ctx, notRecorded)
	if err != nil || nr.Known || nr.Number != 99 {
		t.Errorf("CheckCRL(unrecorded number) = %+v, %v; want valid, not known", nr, err)
	}
}

// TestRevokeRefusals: unknown, expired and revoked certificates cannot be
// revoked, directly or by approving an earlier request.
func TestRevokeRefusals(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	a := downloaded(t, s, "张三", "11010519491231002X")
	b := downloaded(t, s, "李四", "110105198001010016")
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: "abcdef0123", Reason: "keyCompromise"}); !errors.Is(err, ra.ErrNotFound) {
		t.Errorf("revoke unknown serial: %v; want ErrNotFound", err)
	}
	pending, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: a, Reason: "cessationOfOperation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: b, Reason: "keyCompromise", Direct: true, Comment: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: b, Reason: "superseded", Direct: true, Comment: "again"}); !errors.Is(err, ra.ErrConflict) {
		t.Errorf("revoke revoked: %v; want ErrConflict", err)
	}
	clk.Add(400 * 24 * time.Hour)
	if _, err := s.Approve(as(ctx, "bob"), pending.Ref); !errors.Is(err, ra.ErrConflict) || !strings.Contains(err.Error(), "can no longer be revoked") {
		t.Errorf("approve revocation of expired certificate: %v; want ErrConflict", err)
	}
	if _, err := s.Revoke(as(ctx, "alice"), RevokeInput{Serial: a, Reason: "keyCompromise", Direct: true, Comment: "late"}); !errors.Is(err, ra.ErrConflict) {
		t.Errorf("direct revoke of expired certificate: %v; want ErrConflict", err)
	}
	d, err := s.Certificate(as(ctx, "alice"), a)
	if err != nil || d.Certificate.Status != ra.CertValid {
		t.Errorf("expired certificate after refused revocations: %+v, %v; want status unchanged", d, err)
	}
}

func TestParseSerialInto(t *testing.T) {
	var raw [20]byte
	n := new(big.Int)
	for _, s := range []string{"1", "ab", "abc", "7fec9dca1fb503a8d884f4be3f7901e7", "4" + strings.Repeat("f", 39)} {
		if err := parseSerialInto(n, raw[:], s); err != nil {
			t.Fatalf("parseSerialInto(%q) = %v", s, err)
		}
		want, ok := new(big.Int).SetString(s, 16)
		if !ok {
			t.Fatalf("bad test serial %q", s)
		}
		if n.Cmp(want) != 0 {
			t.Errorf("parseSerialInto(%q) = %x; want %x", s, n, want)
		}
	}
	for _, bad := range []string{"", "xz", strings.Repeat("f", 41)} {
		if err := parseSerialInto(n, raw[:], bad); err == nil {
			t.Errorf("parseSerialInto(%q) accepted", bad)
		}
	}
}

// TestCRLRelyingPartyExtensions (issue 11 item 11): with a CRL distribution
// point configured, neither the full nor the delta CRL carries an issuing
// distribution point (NSS refuses a CRL with a critical one it does not
// handle, and cmca's CRLs cover every certificate of the CA, so none is
// needed); the only critical extension is a delta's indicator. Both pass
// the RFC 5280 lints.
func TestCRLRelyingPartyExtensions(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestService(t)
	s.cfg.CRLDistributionPoint = []string{"http://pki.example.com/crl/ca.crl"}
	a := downloaded(t, s, "张三", "11010519491231002X")
	revokeDirect(t, s, a, "keyCompromise")
	full, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	revokeDirect(t, s, downloaded(t, s, "李四", "110105198001010016"), "superseded")
	delta, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	idp := asn1.ObjectIdentifier{2, 5, 29, 28}
	for _, res := range []*CRLResult{full, delta} {
		der := crlDER(t, res)
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range crl.Extensions {
			if x.Id.Equal(idp) {
				t.Errorf("CRL %d has an issuing distribution point (critical=%v)", res.Number, x.Critical)
			}
			if x.Critical && !x.Id.Equal(oidDeltaCRLIndicator) {
				t.Errorf("CRL %d has critical extension %v", res.Number, x.Id)
			}
		}
		lintCRL(t, der)
	}
}

// TestDeltaThisUpdateAfterBase (issue 11 item 12): a delta CRL signed in
// the same second as its base gets a thisUpdate strictly after the base's,
// so that relying parties (openssl -use_deltas) take the base as the full
// CRL and the delta as newer; it lists a revocation made in that second.
func TestDeltaThisUpdateAfterBase(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t) // the clock stands still: everything in one second
	a := downloaded(t, s, "张三", "11010519491231002X")
	b := downloaded(t, s, "李四", "110105198001010016")
	revokeDirect(t, s, a, "keyCompromise")
	full, err := s.CRL(as(ctx, "alice"), CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revokeDirect(t, s, b, "superseded")
	delta, err := s.CRL(as(ctx, "alice"), CRLOptions{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	if !delta.ThisUpdate.After(full.ThisUpdate) {
		t.Errorf("delta thisUpdate %v, base thisUpdate %v; want the delta strictly later", delta.ThisUpdate, full.ThisUpdate)
	}
	crl, err := x509.ParseRevocationList(crlDER(t, delta))
	if err != nil {
		t.Fatal(err)
	}
	if !crl.ThisUpdate.Equal(delta.ThisUpdate) || !crl.NextUpdate.Equal(delta.NextUpdate) {
		t.Errorf("delta CRL says %v..%v; its record %v..%v", crl.ThisUpdate, crl.NextUpdate, delta.ThisUpdate, delta.NextUpdate)
	}
	listed := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[ra.SerialString(e.SerialNumber)] = true
	}
	if !listed[b] {
		t.Errorf("delta lists %v; want %s, revoked in the base's second", listed, b)
	}
}
