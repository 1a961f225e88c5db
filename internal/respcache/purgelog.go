package respcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// purgeLog remembers when each tag was last purged on this replica, so an
// entry computed before a purge of one of its tags is refused even when it
// reaches a store after the purge ran: an execution that read the old
// mirror, a background refresh, a copy filled from the shared tier that
// another replica wrote just before the purge. Without it a purge racing
// an in-flight execution would leave the old page cached for its whole
// max-age.
//
// Times are this replica's clock: a purge announced by another replica is
// recorded when it arrives, which can only void more entries, never fewer.
type purgeLog struct {
	// last is the newest purge time in unix ns: entries started after it
	// need no lookup, which keeps the hit path free of the lock.
	last atomic.Int64

	mu sync.Mutex
	at map[string]time.Time
	// all voids every entry started at or before it: set when purges may
	// have been missed (the subscription was lost).
	all time.Time
	// horizon is how long a record must be kept: the longest lifetime
	// of any entry stored so far, plus slack for executions in flight.
	horizon   time.Duration
	nextPrune int
}

const (
	// executionSlack covers executions that started before a record's
	// horizon began; the gateway's execution timeout is far below it.
	executionSlack = time.Minute
	minPruneSize   = 1024
)

func newPurgeLog() *purgeLog {
	return &purgeLog{at: make(map[string]time.Time), nextPrune: minPruneSize}
}

// record notes that tags were purged at now.
func (p *purgeLog) record(tags []string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range tags {
		if now.After(p.at[t]) {
			p.at[t] = now
		}
	}
	p.bump(now)
	if len(p.at) >= p.nextPrune {
		p.prune(now)
	}
}

// recordAll voids every entry started at or before now.
func (p *purgeLog) recordAll(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.After(p.all) {
		p.all = now
	}
	p.bump(now)
}

func (p *purgeLog) bump(now time.Time) {
	if n := now.UnixNano(); n > p.last.Load() {
		p.last.Store(n)
	}
}

// keep extends the horizon to cover an entry living for lifetime.
func (p *purgeLog) keep(lifetime time.Duration) {
	p.mu.Lock()
	if lifetime > p.horizon {
		p.horizon = lifetime
	}
	p.mu.Unlock()
}

// void reports whether an entry started at startedAt and tagged tags was
// computed before a purge that concerns it. A purge at the very instant
// the execution started voids it: the safe side of a tie.
func (p *purgeLog) void(startedAt time.Time, tags []string) bool {
	if startedAt.UnixNano() > p.last.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !startedAt.After(p.all) {
		return true
	}
	for _, t := range tags {
		if at, ok := p.at[t]; ok && !startedAt.After(at) {
			return true
		}
	}
	return false
}

// prune forgets records older than any entry they could void. p.mu is
// held.
func (p *purgeLog) prune(now time.Time) {
	cutoff := now.Add(-(p.horizon + executionSlack))
	for t, at := range p.at {
		if at.Before(cutoff) {
			delete(p.at, t)
		}
	}
	p.nextPrune = max(minPruneSize, 2*len(p.at))
}
