package ocsp

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestRevisionGateSeesEarlierCommits: in strict mode a request never uses a
// revision read that began before it arrived, so a revocation committed
// before the request is always seen, even while another read is under way.
func TestRevisionGateSeesEarlierCommits(t *testing.T) {
	var val atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{}, 16)
	g := &revisionGate{now: time.Now, read: func(context.Context) (int64, error) {
		v := val.Load()
		started <- struct{}{}
		<-release
		return v, nil
	}}
	ctx := context.Background()
	a := make(chan int64)
	go func() { r, _ := g.revision(ctx); a <- r }()
	<-started    // A's read began and saw revision 0
	val.Store(1) // a revocation commits
	b := make(chan int64)
	go func() { r, _ := g.revision(ctx); b <- r }()
	close(release)
	if got := <-a; got != 0 {
		t.Errorf("A = %d; want 0", got)
	}
	if got := <-b; got != 1 {
		t.Errorf("B (arrived after the commit) = %d; want 1", got)
	}
}

// TestRevisionGatePoll: with a poll interval a recent read is reused, and a
// read older than the interval is not.
func TestRevisionGatePoll(t *testing.T) {
	var val, reads atomic.Int64
	now := time.Unix(1_800_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	g := &revisionGate{every: time.Second, now: func() time.Time { return time.Unix(0, clock.Load()) },
		read: func(context.Context) (int64, error) { reads.Add(1); return val.Load(), nil }}
	ctx := context.Background()
	if r, _ := g.revision(ctx); r != 0 {
		t.Fatalf("first = %d", r)
	}
	val.Store(5)
	clock.Add(int64(500 * time.Millisecond))
	if r, _ := g.revision(ctx); r != 0 || reads.Load() != 1 {
		t.Fatalf("within the interval: %d after %d reads; want the cached 0 after 1", r, reads.Load())
	}
	clock.Add(int64(600 * time.Millisecond))
	if r, _ := g.revision(ctx); r != 5 || reads.Load() != 2 {
		t.Fatalf("after the interval: %d after %d reads; want 5 after 2", r, reads.Load())
	}
}
