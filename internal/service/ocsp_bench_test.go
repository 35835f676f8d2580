package service

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"
)

// BenchmarkOCSPServeHTTP: one pre-signed answer, in process (no network),
// requests in parallel: the responder's own cost per request.
func BenchmarkOCSPServeHTTP(b *testing.B) {
	h := newOCSPHome(b)
	got, _ := enrolledWithKey(b, h.s)
	cert, err := x509.ParseCertificate(got.Certificate)
	if err != nil {
		b.Fatal(err)
	}
	req, err := xocsp.CreateRequest(cert, h.issuer, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(32) // 64 clients on 2 cores, as bench/ocsp.sh
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(req))
			r.Header.Set("Content-Type", "application/ocsp-request")
			h.o.Responder.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}
