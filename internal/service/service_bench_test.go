package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/token"
)

// Benchmarks of the hot paths, on a real SQLite file in b.TempDir() with
// the production settings (WAL, synchronous=FULL). Run:
//
//	go test ./internal/service -run '^$' -bench . -benchtime 2000x
//
// Per-operation paths (Apply, Approve, Issue, Download) pay one commit
// (one WAL fsync) each; the *Many paths pay one for the whole batch.

func benchService(b testing.TB) *Service {
	b.Helper()
	ctx := context.Background()
	home := b.TempDir()
	if _, err := Init(ctx, home, InitOptions{CAName: "Bench CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour}); err != nil {
		b.Fatalf("Init: %v", err)
	}
	s, err := Open(ctx, home, DefaultConfig(), nil)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchApps(n int) []Application {
	apps := make([]Application, n)
	for i := range apps {
		apps[i] = Application{
			Applicant: ra.Applicant{IDType: ra.IDPassport, IDNumber: fmt.Sprintf("E%08d", i), Name: "Subscriber " + letters(i),
				Mobile: "13812345678", Email: fmt.Sprintf("s%d@example.com", i)},
			UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, AgreementAccepted: true,
		}
	}
	return apps
}

// letters spells i in the letters a-z, for names (which may not hold digits).
func letters(i int) string {
	b := []byte{'A'}
	for ; i > 0; i /= 26 {
		b = append(b, byte('a'+i%26))
	}
	return string(b)
}

// prepare takes n requests to state `to` (submitted, approved or issued)
// through the service, outside the timer, and returns their references and
// (for issued) passcodes.
func prepare(b testing.TB, s *Service, n int, to ra.State) (refs, codes []string) {
	b.Helper()
	ctx := context.Background()
	res, err := s.Apply(as(ctx, "clerk"), benchApps(n), false)
	if err != nil {
		b.Fatalf("Apply: %v", err)
	}
	for _, r := range res {
		refs = append(refs, r.Ref)
	}
	if to == ra.StateSubmitted {
		return refs, nil
	}
	if _, failed, err := s.ApproveMany(as(ctx, "reviewer"), refs, false); err != nil || len(failed) > 0 {
		b.Fatalf("ApproveMany: %v %v", err, failed)
	}
	if to == ra.StateApproved {
		return refs, nil
	}
	auths, failed, err := s.IssueMany(as(ctx, "issuer"), refs, false, false)
	if err != nil || len(failed) > 0 {
		b.Fatalf("IssueMany: %v %v", err, failed)
	}
	for _, a := range auths {
		codes = append(codes, a.Passcode)
	}
	return refs, codes
}

func benchCSRs(b testing.TB, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if out[i], err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cmca"}}, key); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkCAIssueP256 is the signing itself: CSR checks (including its
// signature) and ca.Issue of a P-256 certificate under a P-256 CA.
func BenchmarkCAIssueP256(b *testing.B) {
	s := benchService(b)
	authority, err := s.CA(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	prof, err := s.cfg.Profile("auth")
	if err != nil {
		b.Fatal(err)
	}
	der := benchCSRs(b, 1)[0]
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ca.CheckCSR(csr, prof); err != nil {
			b.Fatal(err)
		}
		if _, err := authority.Issue(csr, ca.Subject{Name: "Subscriber", Email: "s@example.com", Pseudonym: "CMCA-0123"}, prof, ca.Extras{}, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	s := benchService(b)
	ctx := context.Background()
	apps := benchApps(b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Apply(as(ctx, "clerk"), apps[i:i+1], false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyBatch is `cmca apply --from-file` with b.N applications:
// one transaction. ns/op is per application.
func BenchmarkApplyBatch(b *testing.B) {
	s := benchService(b)
	apps := benchApps(b.N)
	b.ResetTimer()
	if _, err := s.Apply(as(context.Background(), "clerk"), apps, false); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkApprove(b *testing.B) {
	s := benchService(b)
	refs, _ := prepare(b, s, b.N, ra.StateSubmitted)
	b.ResetTimer()
	for _, ref := range refs {
		if _, err := s.Approve(as(context.Background(), "reviewer"), ref); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApproveMany: b.N requests in one transaction; ns/op per request.
func BenchmarkApproveMany(b *testing.B) {
	s := benchService(b)
	refs, _ := prepare(b, s, b.N, ra.StateSubmitted)
	b.ResetTimer()
	if _, failed, err := s.ApproveMany(as(context.Background(), "reviewer"), refs, false); err != nil || len(failed) > 0 {
		b.Fatal(err, failed)
	}
}

func BenchmarkIssue(b *testing.B) {
	s := benchService(b)
	refs, _ := prepare(b, s, b.N, ra.StateApproved)
	b.ResetTimer()
	for _, ref := range refs {
		if _, err := s.Issue(as(context.Background(), "issuer"), ref, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueMany: b.N passcodes in one transaction; ns/op per request.
func BenchmarkIssueMany(b *testing.B) {
	s := benchService(b)
	refs, _ := prepare(b, s, b.N, ra.StateApproved)
	b.ResetTimer()
	if _, failed, err := s.IssueMany(as(context.Background(), "issuer"), refs, false, false); err != nil || len(failed) > 0 {
		b.Fatal(err, failed)
	}
}

// BenchmarkDownload is the CA side of `cmca download`: parse the CSR,
// check and consume the passcode, sign, record the certificate, audit; one
// transaction each.
func BenchmarkDownload(b *testing.B) {
	s := benchService(b)
	refs, codes := prepare(b, s, b.N, ra.StateIssued)
	csrs := benchCSRs(b, b.N)
	if _, err := s.CA(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range refs {
		if _, err := s.Download(context.Background(), DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDownloadMany: b.N certificates from b.N CSRs in one
// transaction; ns/op per certificate.
func BenchmarkDownloadMany(b *testing.B) {
	s := benchService(b)
	refs, codes := prepare(b, s, b.N, ra.StateIssued)
	csrs := benchCSRs(b, b.N)
	ins := make([]DownloadInput, b.N)
	for i := range ins {
		ins[i] = DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}
	}
	if _, err := s.CA(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	out, err := s.DownloadMany(context.Background(), ins)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for _, o := range out {
		if o.Err != nil {
			b.Fatalf("%s: %v", o.Ref, o.Err)
		}
	}
}

// BenchmarkAuditAppend is one audit record in its own transaction, on a
// log that already holds 100,000 records: the append reads the last record
// by primary key, so its cost does not grow with the log.
func BenchmarkAuditAppend(b *testing.B) {
	s := benchService(b)
	ctx := context.Background()
	if err := s.store.Fill(ctx, store.FillOptions{Completed: 100_000, DER: []byte{0x30, 0}, At: time.Now()}, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		err := s.store.Tx(ctx, func(tx *store.Tx) error {
			return tx.Audit(ra.Event{Operator: "bench", Action: "note", Ref: "BENCH-0000000001", Detail: "benchmark"})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRL signs a full CRL through service.CRL (store query in serial
// order, streaming encoder, insert of the signed CRL, publication) with N
// revoked certificates in the store. 1,000,000 is measured by bench/run.sh
// on the whole process.
func BenchmarkCRL(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			s := benchService(b)
			ctx := context.Background()
			if err := s.store.Fill(ctx, store.FillOptions{Completed: n, Revoked: n, DER: []byte{0x30, 0}, At: time.Now().Add(-time.Hour)}, nil); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CA(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				res, err := s.CRL(as(ctx, "bench"), CRLOptions{Force: true})
				if err != nil {
					b.Fatal(err)
				}
				if res.Entries != n {
					b.Fatalf("CRL has %d entries; want %d", res.Entries, n)
				}
			}
		})
	}
}
