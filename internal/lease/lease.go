// Package lease lets one runner at a time, across every gateway replica, do
// a job that must not run twice at once: a sync from the global systems, the
// dispatch of a queue.
//
// A runner calls TryAcquire each round. It never waits: ok=false means
// another runner holds the lease, and the caller skips this round and tries
// again on the next. With ok=true the runner does the job, watching
// Held.Lost, and calls Held.Release when done:
//
//	held, ok, err := l.TryAcquire(ctx, "catalog-sync")
//	if err != nil || !ok {
//		return err // nil when another replica is syncing
//	}
//	defer held.Release(context.WithoutCancel(ctx))
//	ctx, cancel := context.WithCancel(ctx)
//	defer cancel()
//	go func() {
//		select {
//		case <-held.Lost():
//			cancel()
//		case <-ctx.Done():
//		}
//	}()
//	return sync(ctx)
//
// Three implementations share that contract:
//
//   - Postgres, a PostgreSQL advisory lock held by a session, for replicas
//     sharing a PostgreSQL database. A crashed runner's session ends with
//     its connection and PostgreSQL frees the lock.
//   - Redis, a key with a random token and a ttl renewed while held, for
//     replicas sharing a Redis server. A crashed runner's key expires after
//     the ttl.
//   - Local, in process memory, for the SQLite deployment, where a single
//     gateway process owns the database file.
//
// A lease is advisory and has no fencing token: a runner that stalls (a long
// GC pause, a frozen VM) can go on working for a moment after its lease was
// lost and taken by another. Lost narrows that moment but cannot close it,
// so jobs run under a lease must be safe to run twice (idempotent writes,
// upserts keyed by the source's ids), and the lease only keeps that from
// being the normal case.
//
// Lease names are short constant identifiers ("catalog-sync"); the same
// name means the same lease on every replica. Errors are wrapped with a
// "lease:" context and may carry driver detail.
package lease

import (
	"context"
	"errors"
	"sync"
)

// Lease hands out named leases.
type Lease interface {
	// TryAcquire takes the lease called name if no runner, in this
	// process or another, holds it, and returns at once either way.
	//
	// ok=false with a nil error means another runner holds it: skip this
	// round. ok=true returns the Held, which the caller must Release. An
	// error means the lease could not be checked (its store is
	// unreachable, ctx is done, name is empty); the caller does not hold
	// it. ctx bounds only the acquisition: a held lease lives until
	// Release or loss, whatever happens to ctx.
	TryAcquire(ctx context.Context, name string) (held Held, ok bool, err error)
}

// Held is a lease this runner holds. It is safe for concurrent use.
type Held interface {
	// Release gives the lease up so another runner can take it. It is
	// safe to call more than once and after the lease was lost; only the
	// first call does anything, and later calls return nil. An error is
	// worth logging: each implementation documents what it means for the
	// lease, which is given up whatever Release returns.
	Release(ctx context.Context) error
	// Lost returns a channel that is closed once this runner no longer
	// holds the lease: when it is found lost while held (its connection
	// died, its key expired or was taken), and also when Release is
	// called, so that a goroutine watching it never outlives the lease.
	// A runner whose Lost is closed must stop the job.
	Lost() <-chan struct{}
}

// errEmptyName is returned (wrapped) for an empty lease name: it would be
// one lease shared by every caller that forgot to pass one.
var errEmptyName = errors.New("lease: empty lease name")

func checkAcquire(ctx context.Context, name string) error {
	if name == "" {
		return errEmptyName
	}
	// Do not take a lease for a caller that has already given up: it
	// would hold it without knowing.
	return ctx.Err()
}

// signal is a channel closed at most once, from any goroutine.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) close() { s.once.Do(func() { close(s.ch) }) }
