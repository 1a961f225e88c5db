package respcache

import (
	"context"
	"sync"
)

// flights collapses concurrent misses on one key into one execution.
type flights struct {
	mu sync.Mutex
	m  map[key]*flight
}

// flight is one execution that concurrent identical requests wait for.
//
// It runs on a context detached from the leader's cancellation: a leader
// whose client hangs up must not fail the requests waiting on it. The
// execution is cancelled only once the leader and every waiter have gone,
// when nobody would read its response (the cache may still store it if it
// completes first).
type flight struct {
	done chan struct{}
	// result is what waiters answer with once done is closed; nil when the
	// response may not be shared, and they run their own.
	result *entry
	ctx    context.Context

	mu         sync.Mutex
	waiters    int
	leaderGone bool
	cancel     context.CancelFunc
}

// join returns the flight for k and whether the caller leads it, creating
// it (with an execution context built from leaderCtx's values) when there
// is none.
func (g *flights) join(k key, leaderCtx context.Context) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		f.mu.Lock()
		f.waiters++
		f.mu.Unlock()
		return f, false
	}
	if g.m == nil {
		g.m = make(map[key]*flight)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(leaderCtx))
	f := &flight{done: make(chan struct{}), ctx: ctx, cancel: cancel}
	g.m[k] = f
	return f, true
}

// finish publishes the result and retires the flight, so later requests
// look the key up again (and find the entry, if it was stored).
func (g *flights) finish(k key, f *flight, result *entry) {
	g.mu.Lock()
	if g.m[k] == f {
		delete(g.m, k)
	}
	g.mu.Unlock()
	f.result = result
	close(f.done)
	f.cancel()
}

// leaderLeft is called when the leader's own request is cancelled.
func (f *flight) leaderLeft() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaderGone = true
	if f.waiters == 0 {
		f.cancel()
	}
}

// waiterLeft is called when a waiter's request is cancelled before the
// flight finished: it abandons its wait, nothing else.
func (f *flight) waiterLeft() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters--
	if f.leaderGone && f.waiters == 0 {
		f.cancel()
	}
}
