package service

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/pgtest"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/token"
)

// BenchmarkDownloadInstances is download throughput (passcode check, CSR
// check, signing, one commit) of 1, 2 and 3 service instances on one
// PostgreSQL database against one instance on SQLite, in the same run, with
// 8 clients spread over the instances. In-process: the HTTPS layer of
// `cmca serve` is not in it (docs/performance.md). Run:
//
//	go test ./internal/service -run '^$' -bench DownloadInstances -benchtime 400x -cpuprofile cpu.out
func BenchmarkDownloadInstances(b *testing.B) {
	for _, c := range []struct {
		name string
		pg   bool
		n    int
	}{{"sqlite-1", false, 1}, {"postgres-1", true, 1}, {"postgres-2", true, 2}, {"postgres-3", true, 3}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			home := b.TempDir()
			cfg := DefaultConfig()
			if c.pg {
				pgtest.Need(b)
				cl, err := pgtest.Shared()
				if err != nil {
					b.Fatal(err)
				}
				if cfg.StoreURL, err = cl.CreateDatabase(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := Init(ctx, home, InitOptions{CAName: "Bench CA", KeyAlgo: token.ECDSAP256, Validity: 10 * 365 * 24 * time.Hour, StoreURL: cfg.StoreURL}); err != nil {
				b.Fatalf("Init: %v", err)
			}
			inst := make([]*Service, c.n)
			for i := range inst {
				s, err := Open(ctx, home, cfg, nil)
				if err != nil {
					b.Fatalf("Open: %v", err)
				}
				b.Cleanup(func() { s.Close() })
				inst[i] = s
			}
			refs, codes := prepare(b, inst[0], b.N, ra.StateIssued)
			csrs := benchCSRs(b, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Int64
			b.ResetTimer()
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := inst[w%c.n]
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						if _, err := s.Download(ctx, DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}); err != nil {
							failed.Add(1)
							b.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "downloads/s")
		})
	}
}
