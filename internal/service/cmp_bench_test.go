package service

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cmca/cmca/internal/cmp"
	"github.com/cmca/cmca/internal/ra"
)

// BenchmarkCMPIR is CMP initial registration in-process: one ir -> ip round
// trip through the handler and the service per op (PBM check with the
// decrypted passcode, POP, signing, recording), implicitConfirm granted so
// each op completes an enrolment. Client messages are built outside the
// timer. docs/performance.md has the figure.
func BenchmarkCMPIR(b *testing.B) {
	s := benchService(b)
	refs, codes := prepare(b, s, b.N, ra.StateIssued)
	h := cmp.NewHandler(s.CMP(), cmp.Options{Now: s.Now})
	msgs := make([][]byte, b.N)
	for i := range msgs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		body, err := cmp.CertReqBody(key, pkix.Name{CommonName: "x"}, 0)
		if err != nil {
			b.Fatal(err)
		}
		m := cmp.NewRequest(cmp.BodyIR, body, []byte(refs[i]), s.Now())
		m.RequestImplicitConfirm()
		if err := m.ProtectMAC([]byte(codes[i]), nil); err != nil {
			b.Fatal(err)
		}
		if msgs[i], err = m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest(http.MethodPost, cmp.Path, bytes.NewReader(msgs[i]))
		r.Header.Set("Content-Type", cmp.ContentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if resp, err := cmp.ParseMessage(w.Body.Bytes()); err != nil || resp.Type != cmp.BodyIP {
			b.Fatalf("op %d: %v %v", i, resp.Type, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ir/s")
}
