package lease

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian/internal/testenv"
)

// replicas is what the contract suite runs against: two Leases that stand
// for two gateway replicas sharing one backing store.
type replicas struct {
	a, b Lease
	// holdFor is how long a lease must stay held without Release for the
	// implementation's upkeep (renewals, pings) to have run a few times.
	holdFor time.Duration
	// crash makes the runner holding h (taken from a) die without
	// releasing it; nil when a crash cannot be told apart from the process
	// ending.
	crash func(t *testing.T, h Held)
	// takeAway removes h's lease from outside its runner, as an operator
	// or a failure would; nil when nothing can.
	takeAway func(t *testing.T, h Held)
	// freedWithin bounds how long after crash or takeAway the lease is
	// free for b.
	freedWithin time.Duration
}

// testContract runs the Lease contract against the replicas newReplicas
// returns. Lease names are unique per test run, because advisory locks and
// Redis keys are shared with whatever else uses the test servers.
func testContract(t *testing.T, newReplicas func(t *testing.T) replicas) {
	ctx := context.Background()
	unique := func() string { return testenv.UniquePrefix("lease-test") + "job" }

	t.Run("one holder at a time", func(t *testing.T) {
		r := newReplicas(t)
		name := unique()
		held := mustAcquire(t, r.a, name)
		defer held.Release(ctx)
		mustNotAcquire(t, r.b, name, "the other replica")
		mustNotAcquire(t, r.a, name, "the holder's own replica")
		other := mustAcquire(t, r.b, unique())
		if err := other.Release(ctx); err != nil {
			t.Errorf("Release(other name) = %v", err)
		}
	})

	t.Run("held beyond its upkeep period", func(t *testing.T) {
		r := newReplicas(t)
		name := unique()
		held := mustAcquire(t, r.a, name)
		defer held.Release(ctx)
		time.Sleep(r.holdFor)
		select {
		case <-held.Lost():
			t.Fatalf("Lost closed after holding for %s without trouble", r.holdFor)
		default:
		}
		mustNotAcquire(t, r.b, name, "the other replica")
	})

	t.Run("release frees it", func(t *testing.T) {
		r := newReplicas(t)
		name := unique()
		held := mustAcquire(t, r.a, name)
		if err := held.Release(ctx); err != nil {
			t.Fatalf("Release = %v", err)
		}
		select {
		case <-held.Lost():
		default:
			t.Error("Lost still open after Release")
		}
		next := mustAcquire(t, r.b, name)
		// A second Release of the first holder must not free the new
		// holder's lease.
		if err := held.Release(ctx); err != nil {
			t.Errorf("second Release = %v, want nil", err)
		}
		mustNotAcquire(t, r.a, name, "the first replica after a second Release")
		if err := next.Release(ctx); err != nil {
			t.Errorf("Release = %v", err)
		}
		again := mustAcquire(t, r.a, name)
		again.Release(ctx)
	})

	t.Run("exactly one of many concurrent tries wins", func(t *testing.T) {
		r := newReplicas(t)
		name := unique()
		var (
			wins atomic.Int32
			wg   sync.WaitGroup
			mu   sync.Mutex
			held []Held
		)
		for i := range 8 {
			l := r.a
			if i%2 == 1 {
				l = r.b
			}
			wg.Go(func() {
				h, ok, err := l.TryAcquire(ctx, name)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins.Add(1)
					mu.Lock()
					held = append(held, h)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, h := range held {
			h.Release(ctx)
		}
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d of 8 concurrent TryAcquires got the lease, want 1", n)
		}
	})

	t.Run("crashed runner's lease is freed", func(t *testing.T) {
		r := newReplicas(t)
		if r.crash == nil {
			t.Skip("a crash of this lease's runner is the end of the process")
		}
		name := unique()
		held := mustAcquire(t, r.a, name)
		r.crash(t, held)
		start := time.Now()
		waitAcquire(t, r.b, name, r.freedWithin).Release(ctx)
		t.Logf("free %s after the crash", time.Since(start).Round(time.Millisecond))
	})

	t.Run("lease taken away closes Lost", func(t *testing.T) {
		r := newReplicas(t)
		if r.takeAway == nil {
			t.Skip("nothing outside the runner can take this lease")
		}
		name := unique()
		held := mustAcquire(t, r.a, name)
		r.takeAway(t, held)
		select {
		case <-held.Lost():
		case <-time.After(r.freedWithin):
			t.Fatalf("Lost still open %s after the lease was taken away", r.freedWithin)
		}
		if err := held.Release(ctx); err != nil {
			t.Errorf("Release after loss = %v, want nil", err)
		}
		waitAcquire(t, r.b, name, r.freedWithin).Release(ctx)
	})

	t.Run("bad calls", func(t *testing.T) {
		r := newReplicas(t)
		if _, ok, err := r.a.TryAcquire(ctx, ""); err == nil || ok {
			t.Errorf("TryAcquire(empty name) = ok %v, err %v; want an error", ok, err)
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		name := unique()
		if _, ok, err := r.a.TryAcquire(done, name); err == nil || ok {
			t.Errorf("TryAcquire(done ctx) = ok %v, err %v; want an error", ok, err)
		}
		// The refused attempt left nothing behind.
		mustAcquire(t, r.b, name).Release(ctx)
	})
}

func mustAcquire(t *testing.T, l Lease, name string) Held {
	t.Helper()
	h, ok, err := l.TryAcquire(context.Background(), name)
	if err != nil {
		t.Fatalf("TryAcquire(%q) = %v", name, err)
	}
	if !ok || h == nil {
		t.Fatalf("TryAcquire(%q) = not acquired, want the lease", name)
	}
	return h
}

func mustNotAcquire(t *testing.T, l Lease, name, who string) {
	t.Helper()
	h, ok, err := l.TryAcquire(context.Background(), name)
	if err != nil {
		t.Fatalf("TryAcquire(%q) by %s = %v", name, who, err)
	}
	if ok || h != nil {
		h.Release(context.Background())
		t.Fatalf("TryAcquire(%q) by %s got the lease while it is held", name, who)
	}
}

// waitAcquire polls until l gets the lease or within has passed.
func waitAcquire(t *testing.T, l Lease, name string, within time.Duration) Held {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h, ok, err := l.TryAcquire(context.Background(), name)
		if err != nil {
			t.Fatalf("TryAcquire(%q) = %v", name, err)
		}
		if ok {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %q still held %s later", name, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalContract(t *testing.T) {
	testContract(t, func(t *testing.T) replicas {
		// One process, one Local: its runners are goroutines.
		l := NewLocal()
		return replicas{a: l, b: l}
	})
}
