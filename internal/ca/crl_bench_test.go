package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSource yields n entries the way a database cursor would: one reused
// *big.Int serial (16 random-looking octets), reasons on most entries and an
// invalidity date on every tenth.
func benchSource(n int) func(func(RevokedEntry) error) error {
	return func(yield func(RevokedEntry) error) error {
		serial := new(big.Int)
		var buf [16]byte
		reasons := [...]int{0, 1, 3, 4, 5, 9}
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint64(buf[0:], uint64(i)*0x9e3779b97f4a7c15|1<<62)
			binary.BigEndian.PutUint64(buf[8:], uint64(i))
			serial.SetBytes(buf[:])
			e := RevokedEntry{
				Serial:    serial,
				RevokedAt: testThisUpdate.Add(-time.Duration(i) * time.Second),
				Reason:    reasons[i%len(reasons)],
			}
			if i%10 == 0 {
				e.InvalidityDate = e.RevokedAt.Add(-time.Hour)
			}
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// benchStdlibList builds the equivalent x509.RevocationList (without the
// invalidity dates, which the stdlib has no field for).
func benchStdlibList(tb testing.TB, n int) *x509.RevocationList {
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: testThisUpdate, NextUpdate: testNextUpdate}
	rl.RevokedCertificateEntries = make([]x509.RevocationListEntry, 0, n)
	err := benchSource(n)(func(e RevokedEntry) error {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber:   new(big.Int).Set(e.Serial),
			RevocationTime: e.RevokedAt,
			ReasonCode:     e.Reason,
		})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rl
}

// peakHeap samples the live+unswept heap object bytes every 200µs until
// stopped, returning the peak.
type peakHeap struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
}

func startPeakHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > p.peak.Load() {
			p.peak.Store(v)
		}
	}
	read()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return p
}

// Stop returns the peak heap in bytes.
func (p *peakHeap) Stop() uint64 {
	close(p.stop)
	p.wg.Wait()
	return p.peak.Load()
}

func BenchmarkWriteCRL(b *testing.B) {
	iss := getTestIssuers(b)["P256"]
	tmpl := CRLTemplate{Number: big.NewInt(1), ThisUpdate: testThisUpdate, NextUpdate: testNextUpdate}
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			src := benchSource(n)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			ph := startPeakHeap()
			var cw countingWriter
			for b.Loop() {
				cw = 0
				if err := WriteCRL(&cw, tmpl, src, iss.cert, iss.signer); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(ph.Stop())/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(cw)/float64(n), "DER-bytes/entry")
		})
	}
}

func BenchmarkCreateRevocationList(b *testing.B) {
	iss := getTestIssuers(b)["P256"]
	sizes := []int{1_000, 100_000}
	if os.Getenv("CMCA_BENCH_STDLIB_1M") != "" {
		sizes = append(sizes, 1_000_000) // needs ~2 GB
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			rl := benchStdlibList(b, n)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			ph := startPeakHeap()
			for b.Loop() {
				der, err := x509.CreateRevocationList(rand.Reader, rl, iss.cert, iss.signer)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Discard.Write(der)
			}
			b.StopTimer()
			b.ReportMetric(float64(ph.Stop())/(1<<20), "peak-heap-MB")
		})
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// TestWriteCRLMillion checks the 1M-entry budget (<= 3 s, <= 300 MB peak
// heap). It is opt-in (CMCA_CRL_1M=1) to keep the default test run short:
//
//	CMCA_CRL_1M=1 go test -run TestWriteCRLMillion -v ./internal/ca
func TestWriteCRLMillion(t *testing.T) {
	if os.Getenv("CMCA_CRL_1M") == "" {
		t.Skip("set CMCA_CRL_1M=1 to run the 1,000,000-entry budget check")
	}
	const n = 1_000_000
	iss := getTestIssuers(t)["P256"]
	tmpl := CRLTemplate{Number: big.NewInt(1), ThisUpdate: testThisUpdate, NextUpdate: testNextUpdate}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ph := startPeakHeap()
	start := time.Now()
	var cw countingWriter
	if err := WriteCRL(&cw, tmpl, benchSource(n), iss.cert, iss.signer); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	peak := ph.Stop()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("1M entries: %v, %d DER bytes, peak heap %.1f MB (baseline %.1f MB), allocated %.1f MB, heap sys %.1f MB",
		elapsed.Round(time.Millisecond), int64(cw), float64(peak)/(1<<20), float64(before.HeapAlloc)/(1<<20),
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(after.HeapSys)/(1<<20))
	if elapsed > 3*time.Second {
		t.Errorf("took %v, budget 3s", elapsed)
	}
	if peak > 300<<20 {
		t.Errorf("peak heap %.1f MB, budget 300 MB", float64(peak)/(1<<20))
	}
}
