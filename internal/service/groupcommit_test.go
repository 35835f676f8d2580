package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
	"github.com/cmca/cmca/internal/testhook"
)

// TestDownloadGroupCommit starts 24 concurrent Downloads while another
// writer holds the store's write lock, so they queue and share a
// transaction: each good one gets its own certificate for its own key,
// each bad one (wrong passcode, request not issued, a second key on a used
// passcode) fails alone without failing the others, and the wrong passcode
// still counts its attempt.
func TestDownloadGroupCommit(t *testing.T) {
	sqliteOnly(t) // holds SQLite's one write lock with an empty transaction; PostgreSQL has none to hold
	s := benchService(t)
	ctx := context.Background()
	const good = 20
	refs, codes := prepare(t, s, good+2, ra.StateIssued)
	subm := prepareSubmitted(t, s)
	csrs := benchCSRs(t, good+4)
	type call struct {
		in      DownloadInput
		wantErr error
	}
	var calls []call
	for i := range good {
		calls = append(calls, call{in: DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}})
	}
	calls = append(calls,
		call{in: DownloadInput{Ref: refs[good], Passcode: codes[good+1], CSR: csrs[good]}, wantErr: ra.ErrAuth},                    // wrong passcode
		call{in: DownloadInput{Ref: subm, Passcode: codes[good+1], CSR: csrs[good+1]}, wantErr: ra.ErrConflict},                    // not issued
		call{in: DownloadInput{Ref: refs[0], Passcode: codes[0], CSR: csrs[good+2]}, wantErr: ra.ErrConflict},                      // used passcode, another key
		call{in: DownloadInput{Ref: refs[good+1], Passcode: "AAAA-AAAA-AAAA-AAAA-AAAA", CSR: []byte("x")}, wantErr: ra.ErrInvalid}, // bad CSR: before the queue
	)

	// Hold the write lock until every call but the first (which leads and
	// waits for the lock) is queued.
	locked, release := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.store.Tx(ctx, func(*store.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	type result struct {
		got *Issued
		err error
	}
	results := make([]result, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls[:len(calls)-1] {
		if i == good+2 {
			continue // the second key on refs[0] goes after the first committed
		}
		wg.Go(func() {
			got, err := s.Download(ctx, c.in)
			results[i] = result{got, err}
		})
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s.dl.mu.Lock()
		queued := s.dl.enqueued
		s.dl.mu.Unlock()
		if queued == len(calls)-2 { // all but the bad CSR and the later one
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d downloads queued after a minute; want %d", queued, len(calls)-2)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// The leader took what was queued when it began (at least its own
	// item) and waited for the lock; everything else queued behind it.
	s.dl.mu.Lock()
	commits := s.dl.commits
	s.dl.mu.Unlock()
	if commits > 2 {
		t.Errorf("%d group transactions for %d concurrent downloads; want at most 2", commits, len(calls)-2)
	}
	last := len(calls) - 1
	for _, i := range []int{good + 2, last} {
		got, err := s.Download(ctx, calls[i].in)
		results[i] = result{got, err}
	}

	serials := map[string]bool{}
	for i, c := range calls {
		r := results[i]
		if c.wantErr != nil {
			if !errors.Is(r.err, c.wantErr) || r.got != nil {
				t.Errorf("Download(%s) call %d = %v, %v; want %v", c.in.Ref, i, r.got, r.err, c.wantErr)
			}
			continue
		}
		if r.err != nil {
			t.Errorf("Download(%s) call %d: %v; want a certificate", c.in.Ref, i, r.err)
			continue
		}
		cert, err := x509.ParseCertificate(r.got.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		csr, _ := x509.ParseCertificateRequest(c.in.CSR)
		if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) || r.got.Ref != c.in.Ref {
			t.Errorf("Download(%s) call %d: a certificate for %s or another key", c.in.Ref, i, r.got.Ref)
		}
		if serials[r.got.Serial] {
			t.Errorf("serial %s handed out twice", r.got.Serial)
		}
		serials[r.got.Serial] = true
		d, err := s.Status(ctx, c.in.Ref)
		if err != nil || d.Request.State != ra.StateCompleted || len(d.Certificates) != 1 {
			t.Errorf("after Download(%s): %v; want completed with one certificate", c.in.Ref, err)
		}
	}
	d, err := s.Status(ctx, refs[good])
	if err != nil || d.Request.State != ra.StateIssued || d.Request.PasscodeAttempts != 1 {
		t.Errorf("wrong passcode for %s: %+v, %v; want still issued, 1 attempt counted", refs[good], d, err)
	}
	if n := len(s.signers); n != 0 || cap(s.signers) != runtime.GOMAXPROCS(0) {
		t.Errorf("after the downloads %d of %d signing slots are held; want 0 of GOMAXPROCS (%d)", n, cap(s.signers), runtime.GOMAXPROCS(0))
	}
}

func prepareSubmitted(t *testing.T, s *Service) string {
	t.Helper()
	app := benchApps(1000)[999]
	res, err := s.Apply(as(context.Background(), "clerk"), []Application{app}, false)
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Ref
}

// TestPresignedCertificateRechecked: a certificate signed before the
// transaction is recorded and returned only if the transaction's own check
// still asks for it. Here the passcode is replaced (issue --resend) between
// presign and commit: the old passcode is wrong, an attempt is counted and
// the presigned certificate is dropped, never recorded. So is one signed
// from a row edited behind cmca's back.
func TestPresignedCertificateRechecked(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	refs, codes := prepare(t, s, 3, ra.StateIssued)
	csrs := benchCSRs(t, 3)
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	item := func(i int) *groupItem {
		csr, err := x509.ParseCertificateRequest(csrs[i])
		if err != nil {
			t.Fatal(err)
		}
		in := DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}
		it := &groupItem{in: in, csr: csr, spki: spkiHash(csr.RawSubjectPublicKeyInfo), signed: s.presign(ctx, authority, in, csr)}
		if it.signed == nil || it.signed.cert == nil {
			t.Fatalf("presign(%s) signed nothing", refs[i])
		}
		return it
	}

	used := item(0)
	got, err := s.downloadGrouped(ctx, authority, used)
	if err != nil || got.Serial != ra.SerialString(used.signed.cert.SerialNumber) {
		t.Fatalf("download with a presigned certificate = %+v, %v; want that certificate", got, err)
	}

	stale := item(1)
	if _, err := s.Issue(as(ctx, "issuer"), refs[1], true); err != nil {
		t.Fatal(err)
	}
	if got, err := s.downloadGrouped(ctx, authority, stale); !errors.Is(err, ra.ErrAuth) || got != nil {
		t.Fatalf("download after --resend with the old passcode = %+v, %v; want ErrAuth", got, err)
	}
	d, err := s.Status(ctx, refs[1])
	if err != nil {
		t.Fatal(err)
	}
	if d.Request.State != ra.StateIssued || len(d.Certificates) != 0 || d.Request.PasscodeAttempts != 1 {
		t.Errorf("after the stale download: %s, %d certificates, %d attempts; want issued, none, 1", d.Request.State, len(d.Certificates), d.Request.PasscodeAttempts)
	}

	// presign reads the row as stored; the transaction proves it against
	// the audit log. A name edited behind cmca's back gets a presigned
	// certificate for "Mallory", which the transaction refuses.
	if _, err := s.store.Raw().Exec(`UPDATE requests SET name = 'Mallory' WHERE ref = ?`, refs[2]); err != nil {
		t.Fatal(err)
	}
	edited := item(2)
	if got, err := s.downloadGrouped(ctx, authority, edited); !errors.Is(err, ra.ErrIntegrity) || got != nil {
		t.Fatalf("download of an edited request = %+v, %v; want ErrIntegrity", got, err)
	}
	var n int
	if err := s.store.Raw().QueryRow(`SELECT COUNT(*) FROM certificates c JOIN requests r ON r.id = c.request_id WHERE r.ref = ?`, refs[2]).Scan(&n); err != nil || n != 0 {
		t.Errorf("edited request has %d certificates (%v); want none", n, err)
	}
}

// TestDownloadGroupSurvivesPanic: a panic inside a group's transaction (a
// bug, simulated at the test hook after the record is written) fails that
// download with an error instead of leaving it, or the next caller,
// waiting; nothing of it is committed, and the next download succeeds.
func TestDownloadGroupSurvivesPanic(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	refs, codes := prepare(t, s, 2, ra.StateIssued)
	csrs := benchCSRs(t, 2)
	testhook.Fault = func(point string) {
		if point == "download:signed" {
			panic("injected")
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Download(ctx, DownloadInput{Ref: refs[0], Passcode: codes[0], CSR: csrs[0]})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "injected") {
			t.Errorf("Download with a panic inside = %v; want an internal error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Download still waiting a minute after a panic in its group")
	}
	testhook.Fault = nil
	d, err := s.Status(ctx, refs[0])
	if err != nil || d.Request.State != ra.StateIssued || len(d.Certificates) != 0 {
		t.Errorf("after the panic: %+v, %v; want still issued, no certificate", d, err)
	}
	for i := range 2 {
		if _, err := s.Download(ctx, DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}); err != nil {
			t.Errorf("Download(%s) after the panic: %v", refs[i], err)
		}
	}
}

// TestPresignSharesSnapshot: presigns queued while a batch is being read
// are read together in one snapshot, and each caller gets a job for its own
// request and key only when its passcode is right and the request is
// issued; a wrong passcode, a request not issued and an unknown reference
// get nothing (left to the transaction). It runs on both engines.
func TestPresignSharesSnapshot(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	const good = 12
	refs, codes := prepare(t, s, good+1, ra.StateIssued)
	subm := prepareSubmitted(t, s)
	csrs := benchCSRs(t, good+3)
	authority, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		in   DownloadInput
		sign bool
	}
	var calls []call
	for i := range good {
		calls = append(calls, call{DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]}, true})
	}
	calls = append(calls,
		call{DownloadInput{Ref: refs[good], Passcode: codes[0], CSR: csrs[good]}, false},            // wrong passcode
		call{DownloadInput{Ref: subm, Passcode: codes[0], CSR: csrs[good+1]}, false},                // not issued
		call{DownloadInput{Ref: "20261127-NONE0001", Passcode: codes[0], CSR: csrs[good+2]}, false}, // no such request
	)
	// A batch is being read: every call queues behind it.
	s.snaps.mu.Lock()
	s.snaps.running = true
	s.snaps.mu.Unlock()
	jobs := make([]*signJob, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		csr, err := x509.ParseCertificateRequest(c.in.CSR)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { jobs[i] = s.presign(ctx, authority, c.in, csr) })
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s.snaps.mu.Lock()
		queued := len(s.snaps.queue)
		s.snaps.mu.Unlock()
		if queued == len(calls) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d presigns queued after a minute; want %d", queued, len(calls))
		}
		time.Sleep(time.Millisecond)
	}
	// The running batch ends; its leader reads the next.
	for !s.readSnapshots(ctx) {
	}
	wg.Wait()
	s.snaps.mu.Lock()
	reads, running := s.snaps.reads, s.snaps.running
	s.snaps.mu.Unlock()
	if reads != 1 || running {
		t.Errorf("%d snapshots for %d queued presigns, leader running %v; want 1, not running", reads, len(calls), running)
	}
	for i, c := range calls {
		j := jobs[i]
		if !c.sign {
			if j != nil {
				t.Errorf("presign(%s) call %d signed; want nothing", c.in.Ref, i)
			}
			continue
		}
		if j == nil || j.cert == nil {
			t.Errorf("presign(%s) call %d signed nothing; want a certificate", c.in.Ref, i)
			continue
		}
		if j.r.Ref != c.in.Ref || !bytes.Equal(j.cert.RawSubjectPublicKeyInfo, j.csr.RawSubjectPublicKeyInfo) || !bytes.Equal(j.csr.Raw, c.in.CSR) {
			t.Errorf("presign(%s) call %d: a job for %s or another key", c.in.Ref, i, j.r.Ref)
		}
	}
	// Alone again: a presign leads its own snapshot and gives leadership up.
	csr, _ := x509.ParseCertificateRequest(csrs[good])
	if j := s.presign(ctx, authority, DownloadInput{Ref: refs[good], Passcode: codes[good], CSR: csrs[good]}, csr); j == nil || j.r.Ref != refs[good] {
		t.Errorf("a lone presign = %v; want a job for %s", j, refs[good])
	}
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	if s.snaps.running || len(s.snaps.queue) != 0 {
		t.Errorf("after a lone presign: running %v, %d queued; want idle", s.snaps.running, len(s.snaps.queue))
	}
}

// checkpointGate holds the CA key's checkpoint signatures (called from
// signCheckpoint) until released; certificate signatures pass.
type checkpointGate struct {
	crypto.Signer
	held    chan struct{} // receives once per checkpoint signature waiting
	release chan struct{}
}

func (g *checkpointGate) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for f, more := frames.Next(); more; f, more = frames.Next() {
		if strings.HasSuffix(f.Function, ".signCheckpoint") {
			select {
			case <-g.release:
			default:
				g.held <- struct{}{}
				<-g.release
			}
			break
		}
	}
	return g.Signer.Sign(r, d, o)
}

// TestGroupCommitsWhileCheckpointSigns: once a download group has
// committed, the next group's transaction runs while the first group's
// audit checkpoint is still being signed, and no download is answered
// before a published checkpoint covers its record.
func TestGroupCommitsWhileCheckpointSigns(t *testing.T) {
	s := benchService(t)
	ctx := context.Background()
	refs, codes := prepare(t, s, 2, ra.StateIssued)
	csrs := benchCSRs(t, 2)
	gate := &checkpointGate{held: make(chan struct{}), release: make(chan struct{})}
	s.SetCALoader(func(ctx context.Context) (*ca.CA, error) {
		c, err := s.FileCA(ctx)
		if err != nil {
			return nil, err
		}
		gate.Signer, c.Signer = c.Signer, gate
		return c, nil
	})
	type result struct {
		got *Issued
		err error
	}
	done := [2]chan result{make(chan result, 1), make(chan result, 1)}
	download := func(i int) {
		got, err := s.Download(ctx, DownloadInput{Ref: refs[i], Passcode: codes[i], CSR: csrs[i]})
		done[i] <- result{got, err}
	}
	go download(0)
	<-gate.held // group 1 committed; its checkpoint is being signed
	go download(1)
	deadline := time.Now().Add(time.Minute)
	for {
		s.dl.mu.Lock()
		commits := s.dl.commits
		s.dl.mu.Unlock()
		if commits == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second group did not commit while the first one's checkpoint was signed (%d commits)", commits)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-done[0]:
		t.Fatalf("download 1 answered before its checkpoint was signed: %+v", r)
	case r := <-done[1]:
		t.Fatalf("download 2 answered before any checkpoint covering it was signed: %+v", r)
	default:
	}
	close(gate.release) // let every checkpoint signature through
	for i, d := range done {
		r := <-d
		if r.err != nil {
			t.Fatalf("download %d: %v", i+1, r.err)
		}
		c, head := publishedCheckpoint(t, s)
		var seq int64
		if err := s.store.Read(ctx, func(tx *store.Tx) error {
			evs, err := tx.AuditRecords(store.AuditFilter{Ref: refs[i]})
			for _, e := range evs {
				if e.Action == "download" {
					seq = e.Seq
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if seq == 0 || c.Seq < seq {
			t.Errorf("download %d answered with its record at %d, the published checkpoint at %d (head %d)", i+1, seq, c.Seq, head)
		}
	}
	if c, head := publishedCheckpoint(t, s); c.Seq != head {
		t.Errorf("final checkpoint at %d, head %d", c.Seq, head)
	}
}
