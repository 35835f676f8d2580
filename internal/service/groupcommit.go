package service

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// maxGroup bounds how many downloads share one transaction.
const maxGroup = 128

// downloadGroup is the group commit of Download: concurrent calls (many
// subscribers downloading from `cmca serve` at once) share one write
// transaction and so one WAL sync, instead of queueing on the store's write
// lock one sync each. Each item runs exactly as in DownloadMany, under its
// own savepoint (a failing item changes nothing and fails only itself), and
// each caller gets its answer only after the transaction holding its item
// has committed and the audit checkpoint (checkpoint.go) covers it: one
// checkpoint signature per group. A lone caller runs alone, in its own
// goroutine, as before.
//
// The first caller to find no transaction running leads: it runs the
// queued items as one transaction, its own among them. Callers arriving
// meanwhile queue for the next one; the leader hands that one to a new
// goroutine as soon as its own answer is ready.
type downloadGroup struct {
	mu      sync.Mutex
	queue   []*groupItem
	running bool
	// for tests: calls queued, group transactions committed
	enqueued, commits int
}

type groupItem struct {
	in     DownloadInput
	csr    *x509.CertificateRequest
	spki   string
	signed *signJob // presign's certificate, or nil
	out    DownloadOutcome
	done   chan struct{}
}

// downloadGrouped queues one checked item and returns its outcome once it
// is committed (or its transaction failed).
func (s *Service) downloadGrouped(ctx context.Context, authority *ca.CA, it *groupItem) (*Issued, error) {
	it.done = make(chan struct{})
	g := &s.dl
	g.mu.Lock()
	g.queue = append(g.queue, it)
	g.enqueued++
	lead := !g.running
	if lead {
		g.running = true
	}
	g.mu.Unlock()
	if lead {
		// Its own item is the first in the queue. The transaction
		// outlives a caller that goes away: the others in it still want
		// their answers.
		s.runGroup(context.WithoutCancel(ctx), authority)
	}
	<-it.done
	return it.out.Issued, it.out.Err
}

// runGroup takes up to maxGroup queued items and runs them as one
// transaction. Once it has committed, items queued meanwhile go to the
// next group, in a goroutine of its own, so that group's transaction runs
// while this one's audit checkpoint is signed and published; with none
// queued, leadership is given up. The items of this group are answered
// after their checkpoint.
func (s *Service) runGroup(ctx context.Context, authority *ca.CA) {
	g := &s.dl
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	if n == 0 { // not reached: only the group running takes from the queue
		g.running = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if err := s.commitGroupSafely(ctx, authority, batch); err != nil && len(batch) > 1 {
		// Not one item's failure (those are inside the outcomes) but the
		// transaction's: run each item alone, so each gets its own answer.
		for _, it := range batch {
			if err := s.commitGroupSafely(ctx, authority, []*groupItem{it}); err != nil {
				it.out = DownloadOutcome{Ref: it.in.Ref, Err: err}
			}
		}
	} else if err != nil {
		batch[0].out = DownloadOutcome{Ref: batch[0].in.Ref, Err: err}
	}
	if s.moreGroups() {
		go s.runGroup(ctx, authority)
	}
	// One audit checkpoint per group, not one signature per certificate,
	// before anyone is answered: a certificate handed out is anchored.
	// (Checkpoints of consecutive groups run one at a time, and a later
	// group's may cover this one's records: writeCheckpoint.)
	for _, it := range batch {
		if it.out.Issued != nil && !it.out.Issued.Retrieved {
			s.checkpoint(ctx, authority)
			break
		}
	}
	for _, it := range batch {
		close(it.done)
	}
}

// moreGroups reports whether items are waiting; if none are, leadership is
// given up.
func (s *Service) moreGroups() bool {
	g := &s.dl
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.running = false
		return false
	}
	return true
}

// commitGroupSafely is commitGroup, with a panic (a bug) turned into the
// group's error: the transaction was rolled back (store.Tx does on a
// panic), the callers get an internal error, and the next group still
// runs. Without it a panic in a
// leader recovered by the HTTP server would leave its followers waiting
// for ever, and one in a handed-off goroutine would stop the process.
func (s *Service) commitGroupSafely(ctx context.Context, authority *ca.CA, items []*groupItem) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("download: internal error: %v", r)
		}
	}()
	return s.commitGroup(ctx, authority, items)
}

// commitGroup runs items in one transaction and sets each outcome when it
// commits.
func (s *Service) commitGroup(ctx context.Context, authority *ca.CA, items []*groupItem) error {
	ins := make([]DownloadInput, len(items))
	csrs := make([]*x509.CertificateRequest, len(items))
	spkis := make([]string, len(items))
	signed := make([]*signJob, len(items))
	for i, it := range items {
		ins[i], csrs[i], spkis[i], signed[i] = it.in, it.csr, it.spki, it.signed
	}
	var out []DownloadOutcome
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		out = make([]DownloadOutcome, len(items)) // afresh if the transaction is retried
		return s.downloadItems(tx, authority, ins, csrs, spkis, signed, out)
	})
	if err != nil {
		return err
	}
	for i, it := range items {
		it.out = out[i]
	}
	s.dl.mu.Lock()
	s.dl.commits++
	s.dl.mu.Unlock()
	return nil
}

// presign signs the certificate of a download before its transaction,
// outside the store's write lock, so the many callers of a group sign at
// once on all cores while the group before them commits. It reads, in a
// read-only snapshot, what the check in the transaction will read, and
// signs only for the holder of the right passcode of a request waiting for
// download; anything else (a wrong passcode, whose attempt must be
// counted; a request in another state) returns nil and is left to the
// transaction. The transaction checks everything again (downloadItems):
// a certificate it does not ask for exactly is dropped, never recorded or
// returned.
//
// Concurrent callers share the snapshot (snapshotBatch): one read
// transaction reads the rows of all of them.
func (s *Service) presign(ctx context.Context, authority *ca.CA, in DownloadInput, csr *x509.CertificateRequest) *signJob {
	it := &snapItem{in: in, csr: csr, done: make(chan struct{})}
	b := &s.snaps
	b.mu.Lock()
	b.queue = append(b.queue, it)
	lead := !b.running
	if lead {
		b.running = true
	}
	b.mu.Unlock()
	if lead {
		// As in downloadGrouped: the leader reads one batch, its own
		// item first, and hands the next to a new goroutine.
		ctx = context.WithoutCancel(ctx)
		if !s.readSnapshots(ctx) {
			go func() {
				for !s.readSnapshots(ctx) {
				}
			}()
		}
	}
	<-it.done
	if it.job == nil {
		return nil
	}
	s.signers <- struct{}{}
	err := it.job.issue(authority, s.cfg.Extras())
	<-s.signers
	if err != nil {
		return nil
	}
	return it.job
}

// Signature work (verifying a CSR, signing and the standard library's
// check of its own signature) takes one of Service.signers' slots, one per
// CPU: 64 downloads at once otherwise keep 64 goroutines ready to run, and
// the group's transaction, the one serial part, waits its turn behind
// them at every preemption (measured: 25-50% more certificates per second
// and a lower p99 at 64 clients, docs/performance.md). Only the waiting
// order changes; as many signatures run as there are cores.

// snapshotBatch batches presign's reads: callers arriving while a batch is
// read queue for the next, and one read transaction serves each batch
// (a snapshot costs about as much as the row it reads).
type snapshotBatch struct {
	mu      sync.Mutex
	queue   []*snapItem
	running bool
	reads   int // read transactions, for tests
}

type snapItem struct {
	in   DownloadInput
	csr  *x509.CertificateRequest
	job  *signJob // ready to sign, or nil: left to the transaction
	done chan struct{}
}

// readSnapshots reads up to maxGroup queued items in one read transaction
// and releases their callers. It reports idle, giving up leadership, when
// no item is left queued after it.
func (s *Service) readSnapshots(ctx context.Context) (idle bool) {
	b := &s.snaps
	b.mu.Lock()
	n := min(len(b.queue), maxGroup)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.reads++
	b.mu.Unlock()
	defer func() {
		// Every caller is released, also after a panic (a bug): its
		// download is then checked and signed in the transaction.
		if r := recover(); r != nil {
			for _, it := range batch {
				it.job = nil
			}
		}
		for _, it := range batch {
			close(it.done)
		}
		b.mu.Lock()
		idle = len(b.queue) == 0
		if idle {
			b.running = false
		}
		b.mu.Unlock()
	}()
	_ = s.store.Read(ctx, func(tx *store.Tx) error {
		for _, it := range batch {
			it.job = s.snapshot(tx, it.in, it.csr)
		}
		return nil
	})
	return false // set by the deferred function
}

// snapshot is presign's check of one item in the shared snapshot: a job
// ready to sign, or nil.
func (s *Service) snapshot(tx *store.Tx, in DownloadInput, csr *x509.CertificateRequest) *signJob {
	// As stored, without proving the row against the audit log: the
	// transaction reads it again and proves it (tx.RequestWithPasscode),
	// and a certificate signed from a row it would not accept is dropped.
	r, pc, err := tx.RequestWithPasscodeAsStored(in.Ref)
	if err != nil || r.State != ra.StateIssued || pc.Locked || r.PasscodeAttempts >= s.Policy().MaxPasscodeAttempts ||
		tx.Now().After(r.PasscodeExpires) || (in.Storage != "" && in.Storage != r.Storage) || !ra.CheckPasscode(pc.Hash, in.Passcode) {
		return nil
	}
	job, err := s.prepareSign(tx, r, csr, true)
	if err != nil {
		return nil
	}
	return job
}

// sameAs reports whether j, signed before the transaction, is the
// certificate the transaction's own check (job) asks for: same request,
// CSR, profile, key and subject.
func (j *signJob) sameAs(job *signJob) bool {
	return j != nil && j.cert != nil && job != nil && j.r.Ref == job.r.Ref && j.r.UsageType == job.r.UsageType &&
		j.csr == job.csr && j.prof == job.prof && j.keyDesc == job.keyDesc && j.subj == job.subj
}
