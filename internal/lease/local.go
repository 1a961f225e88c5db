package lease

import (
	"context"
	"sync"
)

// Local is a Lease in process memory: one runner at a time among the
// goroutines sharing this Local. It protects nothing across processes, so it
// is only for a deployment where one gateway process owns the data, such as
// the SQLite one; every runner in that process must share the same Local.
// Use NewLocal. It is safe for concurrent use.
//
// A Local lease is never lost while held: its Lost closes only on Release.
// It dies with the process, which frees it.
type Local struct {
	mu sync.Mutex
	// held maps a held lease's name to its holder. A name is removed on
	// Release, so the map only ever holds the leases held right now.
	held map[string]*localHeld
}

var _ Lease = (*Local)(nil)

// NewLocal returns a Local with no lease held.
func NewLocal() *Local {
	return &Local{held: make(map[string]*localHeld)}
}

// TryAcquire implements Lease. It fails only for an empty name or a done
// ctx.
func (l *Local) TryAcquire(ctx context.Context, name string) (Held, bool, error) {
	if err := checkAcquire(ctx, name); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, taken := l.held[name]; taken {
		return nil, false, nil
	}
	h := &localHeld{l: l, name: name, lost: newSignal()}
	l.held[name] = h
	return h, true, nil
}

type localHeld struct {
	l    *Local
	name string
	lost *signal
}

// Release implements Held; it never fails.
func (h *localHeld) Release(context.Context) error {
	h.l.mu.Lock()
	// Only this holder's own entry: after a first Release the name may
	// already belong to the next runner.
	if h.l.held[h.name] == h {
		delete(h.l.held, h.name)
	}
	h.l.mu.Unlock()
	h.lost.close()
	return nil
}

func (h *localHeld) Lost() <-chan struct{} { return h.lost.ch }
