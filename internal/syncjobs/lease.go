package syncjobs

import (
	"context"
	"errors"
	"sync"
)

// Lease grants one holder at a time the right to run a job. The Runner
// acquires "syncjobs/<job>" before each run and releases it after, so with a
// lease shared by the replicas (a PostgreSQL advisory lock, a Redis key)
// only one replica syncs a given job at a time, while different jobs may run
// on different replicas.
type Lease interface {
	// TryAcquire takes the lease called name without waiting. ok is false,
	// with a nil error, when another holder has it. On success release
	// gives it back; release must be called exactly once, and tolerates a
	// context that is already done as far as the implementation can. A
	// lease that can expire must outlive a run (see Config.RunTimeout).
	TryAcquire(ctx context.Context, name string) (release func(context.Context) error, ok bool, err error)
}

// LeaseWithLoss is implemented by a Lease whose grants can be lost while
// held: a lock's connection dies, a key expires or is taken. The Runner
// prefers TryAcquireWithLoss when Config.Lease implements it, and when lost
// is closed during a run it cancels the run and does not record it, since
// another replica may already be running the job and writing its state.
// An adapter of a lease that reports loss (such as a Held with a Lost
// channel) implements both methods.
type LeaseWithLoss interface {
	Lease
	// TryAcquireWithLoss is TryAcquire, with lost closed once the grant
	// is no longer held (also after release). lost may be nil for a grant
	// that cannot be lost.
	TryAcquireWithLoss(ctx context.Context, name string) (release func(context.Context) error, lost <-chan struct{}, ok bool, err error)
}

// LocalLease is a Lease held in process memory: it excludes runs within one
// process only, which is right for a single replica (SQLite) and for tests.
// The zero value is not usable; call NewLocalLease.
type LocalLease struct {
	mu   sync.Mutex
	held map[string]bool
}

var _ Lease = (*LocalLease)(nil)

// NewLocalLease returns a LocalLease with nothing held.
func NewLocalLease() *LocalLease { return &LocalLease{held: map[string]bool{}} }

// TryAcquire implements Lease. It fails only when ctx is already done.
func (l *LocalLease) TryAcquire(ctx context.Context, name string) (func(context.Context) error, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	var once sync.Once
	release := func(context.Context) error {
		err := errors.New("syncjobs: local lease " + name + " released twice")
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, name)
			l.mu.Unlock()
			err = nil
		})
		return err
	}
	return release, true, nil
}
