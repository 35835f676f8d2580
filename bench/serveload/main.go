// Command serveload drives `cmca serve` the way 64 (-c) subscribers'
// clients would: each worker keeps one HTTPS connection (keep-alive, TLS
// session resumption) and downloads certificates with a reference number,
// a passcode and a pre-made P-256 CSR (POST /api/v1/requests/REF/download,
// the body `cmca download --server` sends). It prints one line in the
// format of the step-ca load generator (../shared/anchors/stepca):
//
//	c=64 ok=3000 bad=0 rate=1234/s p50=... p99=... wall=2.50s cpu=1.20s first_err=<nil>
//
// with, beyond that format, the run's wall time and the load generator's
// own CPU time while it ran (user and system, getrusage), so a benchmark
// can say how much of the machine the clients took.
//
// -addr may name several servers (repeat it, or separate them with
// commas): client i talks to server i mod len (bench/pg.sh, several `cmca
// serve` instances on one PostgreSQL database).
//
// The jobs are the batch.jsonl that `bench/gen -csrs DIR` writes ({"ref",
// "passcode", "csr": file name in DIR}); -skip and -n pick a slice of it, so
// one prepared home serves several runs. See bench/serve.sh.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cmca/cmca/internal/api"
)

type job struct {
	ref  string
	body []byte
}

func main() {
	var addrs addrList
	flag.Var(&addrs, "addr", "host:port of cmca serve --listen; repeat it or separate with commas for several servers (clients spread over them)")
	caFile := flag.String("ca", "", "CA certificate (PEM) that authenticates the server")
	batch := flag.String("jobs", "", "batch.jsonl written by bench/gen -csrs")
	skip := flag.Int("skip", 0, "skip the first jobs of the file")
	n := flag.Int("n", 1000, "downloads")
	conc := flag.Int("c", 64, "concurrent clients")
	flag.Parse()
	if len(addrs) == 0 {
		fmt.Fprintln(os.Stderr, "serveload: -addr is required")
		os.Exit(2)
	}
	if err := run(addrs, *caFile, *batch, *skip, *n, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "serveload:", err)
		os.Exit(1)
	}
}

// addrList is a repeatable -addr flag; each value may hold several
// comma-separated addresses.
type addrList []string

func (a *addrList) String() string { return strings.Join(*a, ",") }

func (a *addrList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return fmt.Errorf("empty address in %q", v)
		}
		*a = append(*a, s)
	}
	return nil
}

func run(addrs []string, caFile, batch string, skip, n, conc int) error {
	jobs, err := readJobs(batch, skip, n)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s: no certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(conc)},
		MaxIdleConnsPerHost: conc,
		ForceAttemptHTTP2:   false,
	}
	cl := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	bases := make([]string, len(addrs))
	for i, a := range addrs {
		bases[i] = "https://" + a + "/api/v1/requests/"
	}
	var next, ok, bad atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	fail := func(s string) {
		bad.Add(1)
		firstErr.CompareAndSwap(nil, s)
	}
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		base := bases[w%len(bases)]
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					break
				}
				t0 := time.Now()
				res, err := cl.Post(base+jobs[i].ref+"/download", "application/json", bytes.NewReader(jobs[i].body))
				if err != nil {
					fail(err.Error())
					continue
				}
				// As the step-ca load generator checks its answers: the
				// status and the certificate's presence, no full decode.
				rb, err := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || err != nil || !bytes.Contains(rb, []byte(`"certificate_pem":"-----BEGIN CERTIFICATE`)) {
					fail(fmt.Sprintf("%s: %d %v %.200s", jobs[i].ref, res.StatusCode, err, rb))
					continue
				}
				mine = append(mine, time.Since(t0))
				ok.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))].Round(10 * time.Microsecond)
	}
	cpu := cpuTime() - cpu0
	fmt.Printf("c=%d ok=%d bad=%d rate=%.0f/s p50=%v p99=%v wall=%.2fs cpu=%.2fs first_err=%v\n", conc, ok.Load(), bad.Load(), float64(ok.Load())/el.Seconds(), p(0.5), p(0.99), el.Seconds(), cpu.Seconds(), firstErr.Load())
	return nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readJobs reads jobs skip .. skip+n-1 of batch.jsonl and encodes each
// request body once, before the clock starts.
func readJobs(batch string, skip, n int) ([]job, error) {
	f, err := os.Open(batch)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir := filepath.Dir(batch)
	var jobs []job
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan() && len(jobs) < n; line++ {
		if line < skip {
			continue
		}
		var it struct{ Ref, Passcode, CSR string }
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", batch, line+1, err)
		}
		data, err := os.ReadFile(filepath.Join(dir, it.CSR))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(data)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM", it.CSR)
		}
		body, err := json.Marshal(api.DownloadRequest{Passcode: it.Passcode, CSR: blk.Bytes})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job{ref: it.Ref, body: body})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(jobs) < n {
		return nil, fmt.Errorf("%s has %d jobs after skipping %d; %d wanted", batch, len(jobs), skip, n)
	}
	return jobs, nil
}
