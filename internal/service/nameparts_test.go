package service

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// nameAttrs returns the subject's commonName, surname and givenName values.
func nameAttrs(t *testing.T, der []byte) (cn, sn, gn []string) {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cert.Subject.Names {
		v, _ := a.Value.(string)
		switch {
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}):
			cn = append(cn, v)
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 4}):
			sn = append(sn, v)
		case a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 42}):
			gn = append(gn, v)
		}
	}
	return cn, sn, gn
}

// TestNameParts: an application's surname and given name are stored,
// checked against the name, reused with a returning applicant's name, and
// carried into S/MIME certificates, renewals included; without them the
// S/MIME subject carries the whole name in surname as before.
func TestNameParts(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if _, err := Init(ctx, home, InitOptions{CAName: "Test CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CRLDistributionPoint = []string{"http://crl.example.com/ca.crl"} // S/MIME needs one
	s, err := Open(ctx, home, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = clk.Now
	t.Cleanup(func() { s.Close() })

	app := testApplication()
	app.UsageType = "email"
	app.Applicant.Surname, app.Applicant.GivenName = "张", "三"

	// Refused: nothing is stored.
	for _, tt := range []struct {
		surname, given, field string
	}{{"张", "", "given_name"}, {"", "三", "surname"}, {"李", "四", "surname"}} {
		bad := app
		bad.Applicant.Surname, bad.Applicant.GivenName = tt.surname, tt.given
		_, err := s.Apply(as(ctx, "clerk"), []Application{bad}, false)
		var fe *ra.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Apply(surname %q, given name %q) = %v; want a %s field error", tt.surname, tt.given, err, tt.field)
		}
	}
	if rs, err := s.Requests(as(ctx, "alice"), store.RequestFilter{}); err != nil || len(rs) != 0 {
		t.Fatalf("refused applications stored %d requests, %v", len(rs), err)
	}

	download := func(app Application) (*Issued, crypto.Signer) {
		t.Helper()
		res, err := s.Apply(as(ctx, "clerk"), []Application{app}, false)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if _, err := s.Approve(as(ctx, "alice"), res[0].Ref); err != nil {
			t.Fatal(err)
		}
		a, err := s.Issue(as(ctx, "bob"), res[0].Ref, false)
		if err != nil {
			t.Fatal(err)
		}
		key := newKey(t)
		got, err := s.Download(ctx, DownloadInput{Ref: res[0].Ref, Passcode: a.Passcode, CSR: csrFor(t, key)})
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
		return got, key
	}
	got, key := download(app)
	if cn, sn, gn := nameAttrs(t, got.Certificate); !slices.Equal(cn, []string{"张三"}) || !slices.Equal(sn, []string{"张"}) || !slices.Equal(gn, []string{"三"}) {
		t.Errorf("S/MIME subject CN %q SN %q GN %q; want 张三, 张, 三", cn, sn, gn)
	}
	if want := "SN=张,GN=三,SERIALNUMBER="; len(got.Subject) < len(want) || got.Subject[:len(want)] != want {
		t.Errorf("subject = %q; want it to start %q", got.Subject, want)
	}

	// A returning applicant: the stored name brings the stored parts.
	again := app
	again.Applicant.Name, again.Applicant.Surname, again.Applicant.GivenName = "", "", ""
	again.Reuse = []string{"name"}
	res, err := s.Apply(as(ctx, "clerk"), []Application{again}, false)
	if err != nil {
		t.Fatalf("Apply reusing the name: %v", err)
	}
	d, err := s.Status(ctx, res[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	if a := d.Request.Applicant; a.Name != "张三" || a.Surname != "张" || a.GivenName != "三" {
		t.Errorf("reused applicant = %q, %q, %q; want 张三, 张, 三", a.Name, a.Surname, a.GivenName)
	}
	masked, err := s.Lookup(ctx, ra.IDResident, "11010519491231002X")
	if err != nil || masked.Surname != "张" || masked.GivenName != "*" {
		t.Errorf("Lookup = %+v, %v; want the parts masked (张, *)", masked, err)
	}

	// Renewal inside the window: the new certificate names the person the
	// same way.
	clk.Add(340 * 24 * time.Hour)
	csr, at := csrFor(t, newKey(t)), clk.Now()
	proof, err := ca.SignPossession(key, "renew", got.Serial, at, csr)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := s.Renew(as(ctx, "subscriber"), RenewInput{Serial: got.Serial, CSR: csr, SignedAt: at, Proof: proof})
	if err != nil || rn.Issued == nil {
		t.Fatalf("Renew inside the window = %+v, %v; want a new certificate", rn, err)
	}
	if cn, sn, gn := nameAttrs(t, rn.Issued.Certificate); !slices.Equal(cn, []string{"张三"}) || !slices.Equal(sn, []string{"张"}) || !slices.Equal(gn, []string{"三"}) {
		t.Errorf("renewed S/MIME subject CN %q SN %q GN %q; want 张三, 张, 三", cn, sn, gn)
	}

	// Without the parts, the S/MIME subject carries the whole name in SN.
	whole := app
	whole.Applicant = ra.Applicant{Name: "欧阳娜娜", IDType: ra.IDPassport, IDNumber: "E1234567", Mobile: "13812345670", Email: "ouyang@example.com"}
	got, _ = download(whole)
	if cn, sn, gn := nameAttrs(t, got.Certificate); !slices.Equal(cn, []string{"欧阳娜娜"}) || !slices.Equal(sn, []string{"欧阳娜娜"}) || len(gn) != 0 {
		t.Errorf("S/MIME subject without parts: CN %q SN %q GN %q; want the whole name in CN and SN", cn, sn, gn)
	}
}
