package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/cmca/cmca/internal/ra"
)

// lintKeys are the subscriber key types every default profile is linted
// with; each key is generated once per test binary.
var (
	lintKeysOnce sync.Once
	lintKeys     map[string]crypto.Signer
)

func getLintKeys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	lintKeysOnce.Do(func() {
		lintKeys = map[string]crypto.Signer{}
		for _, k := range []struct {
			name string
			gen  func() (crypto.Signer, error)
		}{
			{"ecdsa-p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
			{"ecdsa-p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
			{"rsa-2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
			{"rsa-3072", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }},
		} {
			s, err := k.gen()
			if err != nil {
				t.Fatalf("generate %s: %v", k.name, err)
			}
			lintKeys[k.name] = s
		}
	})
	return lintKeys
}

// lintRegistry is zlint's registry restricted to sources.
func lintRegistry(t *testing.T, sources ...lint.LintSource) lint.Registry {
	t.Helper()
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: sources})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// lintProblems runs zlint over der and returns "name: status details" for
// every Warn, Error or Fatal result, sorted.
func lintProblems(t *testing.T, der []byte, reg lint.Registry) []string {
	t.Helper()
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("zcrypto cannot parse the certificate: %v", err)
	}
	rs := zlint.LintCertificateEx(zc, reg)
	var out []string
	for name, r := range rs.Results {
		if r.Status >= lint.Warn {
			out = append(out, name+": "+r.Status.String()+" "+r.Details)
		}
	}
	sort.Strings(out)
	return out
}

// newLintCA makes a self-signed CA the way `cmca init` does.
func newLintCA(t *testing.T, key crypto.Signer) *CA {
	t.Helper()
	cert, err := SelfSigned(RootOptions{CommonName: "cmca Lint Personal CA", Organization: "cmca", Country: "CN",
		Validity: 10 * 365 * 24 * time.Hour, Now: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func csrFor(t *testing.T, key crypto.Signer) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// TestSelfSignedLint: the CA certificate of `cmca init` is clean for the
// RFC 5280 lints and the CA/B Forum Baseline Requirements ones that apply
// to a root (organisation, country, no path length constraint).
func TestSelfSignedLint(t *testing.T) {
	reg := lintRegistry(t, lint.RFC5280, lint.RFC5480, lint.RFC3279, lint.CABFBaselineRequirements)
	for name, key := range map[string]crypto.Signer{"ecdsa-p256": mustP256(t), "ecdsa-p384": getLintKeys(t)["ecdsa-p384"], "rsa-3072": getLintKeys(t)["rsa-3072"]} {
		t.Run(name, func(t *testing.T) {
			c := newLintCA(t, key)
			if p := lintProblems(t, c.Cert.Raw, reg); len(p) > 0 {
				t.Errorf("SelfSigned(%s) lint problems:\n  %s", name, strings.Join(p, "\n  "))
			}
		})
	}
}

func mustP256(t *testing.T) crypto.Signer {
	t.Helper()
	return mustECKey(t, elliptic.P256())
}

// mustECKey and mustRSAKey generate a test key or fail the test.
func mustECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestProfilesLint issues a certificate for every default profile and key
// type, with and without CRL distribution point and AIA URLs, and lints it
// with zlint: RFC 5280 (and the RFCs it builds on) for every profile, the
// CA/B Forum S/MIME Baseline Requirements too for the email profile. Any
// warning, error or fatal result fails the test.
func TestProfilesLint(t *testing.T) {
	rfc := lintRegistry(t, lint.RFC5280, lint.RFC5480, lint.RFC3279)
	smime := lintRegistry(t, lint.RFC5280, lint.RFC5480, lint.RFC3279, lint.CABFSMIMEBaselineRequirements)
	if n := len(smime.Names()); n <= len(rfc.Names()) {
		t.Fatalf("S/MIME registry has %d lints, RFC one %d: S/MIME lints not registered", n, len(rfc.Names()))
	}
	issuers := map[string]*CA{"ca-p256": newLintCA(t, mustP256(t)), "ca-rsa": newLintCA(t, getLintKeys(t)["rsa-2048"])}
	extras := map[string]Extras{
		"bare": {},
		"cdp":  {CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}},
		"cdp+aia": {CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"},
			OCSPServers: []string{"http://ocsp.example.com"}, IssuingCertificateURL: []string{"http://pki.example.com/ca.crt"},
			PolicyOIDs: []string{"1.3.6.1.4.1.55555.1.1"}},
	}
	// The name whole (surname = the whole name in S/MIME) and in parts
	// (surname and givenName).
	subjects := map[string]Subject{
		"whole": {Name: "张三", Email: "zhang@example.com", Pseudonym: "CMCA-0123456789ABCDEF01234567"},
		"parts": {Name: "张三", Surname: "张", GivenName: "三", Email: "zhang@example.com", Pseudonym: "CMCA-0123456789ABCDEF01234567"},
	}
	now := time.Now()
	checked := 0
	for caName, authority := range issuers {
		for _, p := range DefaultProfiles() {
			for exName, ex := range extras {
				for keyName, key := range getLintKeys(t) {
					for subjName, subj := range subjects {
						if subjName == "parts" && (!p.SMIME() || caName != "ca-p256") {
							continue // parts matter to S/MIME only; one issuer is enough
						}
						t.Run(strings.Join([]string{caName, p.Name, exName, keyName, subjName}, "/"), func(t *testing.T) {
							csr := csrFor(t, key)
							if _, err := CheckCSR(csr, &p); err != nil {
								t.Fatalf("CheckCSR: %v", err)
							}
							cert, err := authority.Issue(csr, subj, &p, ex, now)
							if p.SMIME() && len(ex.CRLDistributionPoints) == 0 {
								// The S/MIME BRs require an http CRL distribution
								// point: issuing without one is refused.
								if !errors.Is(err, ra.ErrPolicy) || !strings.Contains(err.Error(), "crl.distribution_points") {
									t.Fatalf("Issue(%s without CDP) = %v; want a policy error naming crl.distribution_points", p.Name, err)
								}
								return
							}
							if err != nil {
								t.Fatalf("Issue: %v", err)
							}
							reg := rfc
							if p.SMIME() {
								reg = smime
							}
							if probs := lintProblems(t, cert.Raw, reg); len(probs) > 0 {
								t.Errorf("lint problems:\n  %s", strings.Join(probs, "\n  "))
							}
							checked++
						})
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no certificate was linted")
	}
}

// TestProfilesLintCatches is the control for TestProfilesLint: a profile
// that breaks an S/MIME rule (dataEncipherment in a strict certificate)
// must show up, so a clean result above means something.
func TestProfilesLintCatches(t *testing.T) {
	p := DefaultProfiles()[1]
	if !p.SMIME() {
		t.Fatalf("default profile %s is not S/MIME", p.Name)
	}
	p.KeyUsage = append(p.KeyUsage, "dataEncipherment")
	authority := newLintCA(t, mustP256(t))
	cert, err := authority.Issue(csrFor(t, getLintKeys(t)["rsa-2048"]), Subject{Name: "张三", Email: "zhang@example.com"}, &p,
		Extras{CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	probs := lintProblems(t, cert.Raw, lintRegistry(t, lint.RFC5280, lint.CABFSMIMEBaselineRequirements))
	if !slices.ContainsFunc(probs, func(s string) bool { return strings.HasPrefix(s, "e_rsa_key_usage_strict:") }) {
		t.Errorf("lint problems = %q; want e_rsa_key_usage_strict", probs)
	}
}

func TestCheckCSRKeys(t *testing.T) {
	p := DefaultProfiles()[0]
	p224, p521, rsa1024 := mustECKey(t, elliptic.P224()), mustECKey(t, elliptic.P521()), mustRSAKey(t, 1024)
	cases := []struct {
		name string
		key  crypto.Signer
		want string // "" for accepted
	}{
		{"p256", getLintKeys(t)["ecdsa-p256"], ""},
		{"rsa2048", getLintKeys(t)["rsa-2048"], ""},
		{"p224", p224, "curve P-224 is not supported"},
		{"p521-not-in-profile", p521, "does not accept ecdsa-p521 keys"},
		{"rsa1024", rsa1024, "at least 2048 bits, got 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckCSR(csrFor(t, tc.key), &p)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckCSR(%s) = %v; want accepted", tc.name, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ra.ErrPolicy)):
				t.Errorf("CheckCSR(%s) = %v; want policy error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestCheckCSRWeakSignature(t *testing.T) {
	p := DefaultProfiles()[0]
	csr := csrFor(t, getLintKeys(t)["rsa-2048"])
	csr.SignatureAlgorithm = x509.SHA1WithRSA // as parsed from a SHA-1 CSR
	_, err := CheckCSR(csr, &p)
	if err == nil || !strings.Contains(err.Error(), "too weak") || !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("CheckCSR(SHA-1 CSR) = %v; want invalid, too weak", err)
	}
}

func TestProfileValidate(t *testing.T) {
	base := DefaultProfiles()[1]
	cases := []struct {
		name   string
		modify func(p *Profile)
		want   string
	}{
		{"default email", func(p *Profile) {}, ""},
		{"rsa-1024", func(p *Profile) { p.KeyAlgos = []string{"rsa-1024"} }, `"rsa-1024" is not allowed`},
		{"p224", func(p *Profile) { p.KeyAlgos = []string{"ecdsa-p224"} }, `"ecdsa-p224" is not allowed`},
		{"two smime", func(p *Profile) { p.Policies = []string{SMIMEIndividualStrict, SMIMEIndividualMultipurpose} }, "exactly one"},
		{"legacy", func(p *Profile) { p.Policies = []string{"2.23.140.1.5.4.1"} }, "legacy is deprecated"},
		{"strict with clientAuth", func(p *Profile) { p.ExtKeyUsage = []string{"emailProtection", "clientAuth"} }, "allows only the emailProtection"},
		{"smime without emailProtection", func(p *Profile) { p.ExtKeyUsage = []string{"clientAuth"} }, "needs ext_key_usage emailProtection"},
		{"ec with only keyEncipherment", func(p *Profile) { p.KeyUsage = []string{"keyEncipherment"} }, "leaves no usage for ecdsa-p256"},
		{"bad policy", func(p *Profile) { p.Policies = []string{"1.99.3"} }, "not a dotted OID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.KeyAlgos = slices.Clone(base.KeyAlgos)
			tc.modify(&p)
			err := p.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate(%s) = %v; want %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestCheckExtras(t *testing.T) {
	email, auth := DefaultProfiles()[1], DefaultProfiles()[0]
	cases := []struct {
		name string
		p    *Profile
		ex   Extras
		want string
	}{
		{"auth bare", &auth, Extras{}, ""},
		{"auth ldap cdp", &auth, Extras{CRLDistributionPoints: []string{"ldap://dir.example.com/cn=CA"}}, ""},
		{"auth ldap cdp without host", &auth, Extras{CRLDistributionPoints: []string{"ldap:///cn=CA,o=Example?certificateRevocationList"}}, ""},
		{"auth relative url", &auth, Extras{OCSPServers: []string{"/ocsp"}}, "not an absolute"},
		{"email bare", &email, Extras{}, "crl.distribution_points"},
		{"email https cdp", &email, Extras{CRLDistributionPoints: []string{"https://crl.example.com/ca.crl"}}, "must be http"},
		{"email https ocsp", &email, Extras{CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}, OCSPServers: []string{"https://ocsp.example.com"}}, "must be http"},
		{"email ok", &email, Extras{CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}}, ""},
		{"smime ca policy", &auth, Extras{PolicyOIDs: []string{SMIMEIndividualStrict}}, "S/MIME BR policy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.CheckExtras(tc.ex)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckExtras(%s) = %v; want %q", tc.name, err, tc.want)
			}
		})
	}
}

// TestIssueSubjectAndPolicies checks the fields the lints cannot judge:
// the subject carries the approved name (whole, in surname, for S/MIME),
// policies are the CA's then the profile's, and EC keys get keyAgreement
// rather than keyEncipherment.
func TestIssueSubjectAndPolicies(t *testing.T) {
	authority := newLintCA(t, mustP256(t))
	email := DefaultProfiles()[1]
	ex := Extras{CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}, PolicyOIDs: []string{"1.3.6.1.4.1.55555.1.1"}}
	for _, keyName := range []string{"ecdsa-p256", "rsa-2048"} {
		cert, err := authority.Issue(csrFor(t, getLintKeys(t)[keyName]), Subject{Name: "欧阳娜娜", Email: "ouyang@example.com", Pseudonym: "CMCA-X"}, &email, ex, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := cert.Subject.CommonName; got != "欧阳娜娜" {
			t.Errorf("%s: CN = %q", keyName, got)
		}
		var surname string
		for _, a := range cert.Subject.Names {
			if a.Type.Equal(oidSurname) {
				surname, _ = a.Value.(string)
			}
		}
		if surname != "欧阳娜娜" {
			t.Errorf("%s: surname = %q; want the whole name", keyName, surname)
		}
		var pols []string
		for _, o := range cert.Policies {
			pols = append(pols, o.String())
		}
		if want := []string{"1.3.6.1.4.1.55555.1.1", SMIMEIndividualStrict}; !slices.Equal(pols, want) {
			t.Errorf("%s: policies = %v; want %v", keyName, pols, want)
		}
		wantKU := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
		if keyName == "rsa-2048" {
			wantKU = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}
		if cert.KeyUsage != wantKU {
			t.Errorf("%s: key usage = %b; want %b", keyName, cert.KeyUsage, wantKU)
		}
	}
	// Given the parts, an S/MIME certificate carries them as SN and GN.
	for _, tt := range []struct{ name, surname, given string }{{"张三", "张", "三"}, {"欧阳娜娜", "欧阳", "娜娜"}, {"Anna Schmidt", "Schmidt", "Anna"}} {
		cert, err := authority.Issue(csrFor(t, getLintKeys(t)["ecdsa-p256"]), Subject{Name: tt.name, Surname: tt.surname, GivenName: tt.given, Email: "a@example.com"}, &email, ex, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, a := range cert.Subject.Names {
			v, _ := a.Value.(string)
			got[a.Type.String()] = append(got[a.Type.String()], v)
		}
		want := map[string][]string{"2.5.4.3": {tt.name}, "2.5.4.4": {tt.surname}, "2.5.4.42": {tt.given}}
		for oid, w := range want {
			if !slices.Equal(got[oid], w) {
				t.Errorf("Issue(%s = %s + %s): subject %s = %q; want %q", tt.name, tt.surname, tt.given, oid, got[oid], w)
			}
		}
	}
	auth := DefaultProfiles()[0]
	cert, err := authority.Issue(csrFor(t, getLintKeys(t)["ecdsa-p256"]), Subject{Name: "张三", Surname: "张", GivenName: "三"}, &auth, Extras{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cert.Subject.Names {
		if a.Type.Equal(oidSurname) || a.Type.Equal(oidGivenName) {
			t.Errorf("auth certificate has %v in its subject; only S/MIME ones carry name parts", a.Type)
		}
	}
}

// TestServiceCertsLint: the operator credential and the server TLS
// certificate lint clean for RFC 5280, with every key type and with and
// without CA-wide URLs.
func TestServiceCertsLint(t *testing.T) {
	reg := lintRegistry(t, lint.RFC5280, lint.RFC5480, lint.RFC3279)
	authority := newLintCA(t, mustP256(t))
	exs := map[string]Extras{"bare": {}, "cdp+aia": {CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"},
		IssuingCertificateURL: []string{"http://pki.example.com/ca.crt"}, PolicyOIDs: []string{"1.3.6.1.4.1.55555.1.1"}}}
	for exName, ex := range exs {
		for keyName, key := range getLintKeys(t) {
			t.Run("operator/"+exName+"/"+keyName, func(t *testing.T) {
				cert, err := authority.IssueOperator(key.Public(), "张三", OperatorValidity, ex, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if !IsOperatorCert(cert) || cert.KeyUsage != x509.KeyUsageDigitalSignature || len(cert.ExtKeyUsage) != 1 {
					t.Errorf("IssueOperator: OU %v, keyUsage %v, EKU %v; want an operator credential, digitalSignature, clientAuth",
						cert.Subject.OrganizationalUnit, cert.KeyUsage, cert.ExtKeyUsage)
				}
				if p := lintProblems(t, cert.Raw, reg); len(p) > 0 {
					t.Errorf("lint problems:\n  %s", strings.Join(p, "\n  "))
				}
			})
			t.Run("server/"+exName+"/"+keyName, func(t *testing.T) {
				cert, err := authority.IssueServer(key.Public(), []string{"ca.example.com", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, ServerValidity, ex, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if IsOperatorCert(cert) {
					t.Error("a server certificate is taken for an operator credential")
				}
				if err := cert.VerifyHostname("127.0.0.1"); err != nil {
					t.Errorf("VerifyHostname(127.0.0.1) = %v; want nil", err)
				}
				if p := lintProblems(t, cert.Raw, reg); len(p) > 0 {
					t.Errorf("lint problems:\n  %s", strings.Join(p, "\n  "))
				}
			})
		}
	}
	if _, err := authority.IssueServer(mustP256(t).Public(), nil, nil, ServerValidity, Extras{}, time.Now()); !errors.Is(err, ra.ErrInvalid) {
		t.Errorf("IssueServer(no names) = %v; want ErrInvalid", err)
	}
}
