// Package guard wraps every call to a global origin in the same protection:
// a deadline budget, a circuit breaker, a last-known-good copy of every
// successful answer, and one origin call for concurrent identical misses.
//
// A slow origin never makes a slow page: past the budget, on an origin error,
// or while the breaker is open, each key is answered from its last-known-good
// copy and marked stale with the reason. A key with no copy gets an
// ORIGIN_UNAVAILABLE error of its own; the other keys are unharmed.
//
// The same mechanism serves every origin and every key type; adapters
// supply only the fetch function.
package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"

	"meridian/internal/apierr"
	"meridian/internal/cache"
	"meridian/internal/metrics"
)

// CopyStore keeps last-known-good copies: the in-process cache, Redis, or
// both tiered.
type CopyStore interface {
	Get(ctx context.Context, key string) (cache.Entry, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Reason says why a value was served from a copy.
type Reason string

// The reasons a value can be degraded.
const (
	ReasonTimeout     Reason = "timeout"      // the origin did not answer within the budget
	ReasonError       Reason = "error"        // the origin failed (5xx, connection error)
	ReasonBreakerOpen Reason = "breaker_open" // the breaker refused the call: the origin failed recently
)

// Config configures one origin's guard.
type Config struct {
	// Origin names the origin in metrics, logs and degraded-field reports.
	Origin string
	// Budget is the deadline of one origin call (default 300ms).
	Budget time.Duration
	// WriteBudget is the deadline of one call through Call, the write path
	// (default 2s). Writes get longer than reads: nobody waits on them
	// interactively (they run behind an outbox), and giving up early on a
	// write that the origin is still processing only means sending it
	// again.
	WriteBudget time.Duration
	// FailuresToTrip opens the breaker after this many consecutive failures
	// (default 5).
	FailuresToTrip uint32
	// OpenFor is how long the breaker stays open before letting a probe
	// through (default 5s).
	OpenFor time.Duration
	// Copies stores last-known-good copies (required).
	Copies CopyStore
	// CopyTTL is how long a copy is kept after the last success (default 24h).
	CopyTTL time.Duration
	// Metrics, when set, receives origin, breaker and fallback metrics.
	Metrics *metrics.Metrics
	// Log receives breaker transitions; defaults to slog.Default().
	Log *slog.Logger
}

// Guard protects calls to one origin. It is safe for concurrent use.
type Guard struct {
	cfg        Config
	breaker    *gobreaker.CircuitBreaker[any]
	flights    singleflight.Group
	refreshing sync.Map // keys with a background refresh under way
	background sync.WaitGroup
	log        *slog.Logger
	// decoded remembers the last decoding of each copy (copy key ->
	// decodedCopy), so a hot key's copy is parsed once per write rather
	// than on every read of a list page; decodedCount bounds it.
	decoded      sync.Map
	decodedCount atomic.Int64
}

// maxDecodedCopies bounds Guard.decoded: well above the keys one origin
// serves (a catalog's SKUs); past it, copies are decoded on every read.
const maxDecodedCopies = 50_000

// decodedCopy is a copy's stored bytes and their decoding; it is used only
// while the store still holds exactly those bytes.
type decodedCopy struct {
	raw []byte
	rec any // a copyRecord[V]
}

// New returns a guard for one origin, refusing an unusable configuration.
func New(cfg Config) (*Guard, error) {
	if cfg.Origin == "" {
		return nil, errors.New("guard: Origin is required")
	}
	if cfg.Copies == nil {
		return nil, fmt.Errorf("guard %s: Copies is required", cfg.Origin)
	}
	if cfg.Budget == 0 {
		cfg.Budget = 300 * time.Millisecond
	}
	if cfg.WriteBudget == 0 {
		cfg.WriteBudget = DefaultWriteBudget
	}
	if cfg.FailuresToTrip == 0 {
		cfg.FailuresToTrip = 5
	}
	if cfg.OpenFor == 0 {
		cfg.OpenFor = 5 * time.Second
	}
	if cfg.CopyTTL == 0 {
		cfg.CopyTTL = 24 * time.Hour
	}
	if cfg.Budget < 0 || cfg.WriteBudget < 0 || cfg.OpenFor < 0 || cfg.CopyTTL < 0 {
		return nil, fmt.Errorf("guard %s: durations must be positive", cfg.Origin)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	g := &Guard{cfg: cfg, log: cfg.Log}
	g.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        cfg.Origin,
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.FailuresToTrip },
		IsSuccessful: func(err error) bool {
			return err == nil || !countsAsFailure(err)
		},
		// Only Call produces errCallerGone: a write its caller abandoned
		// says nothing about the origin's health.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			g.log.Warn("origin breaker changed state", "origin", name, "from", from.String(), "to", to.String())
			g.setBreakerGauge(to)
		},
	})
	g.setBreakerGauge(gobreaker.StateClosed)
	return g, nil
}

// Origin returns the origin's name.
func (g *Guard) Origin() string { return g.cfg.Origin }

// State returns the breaker state: "closed", "half-open" or "open".
func (g *Guard) State() string { return g.breaker.State().String() }

// countsAsFailure decides what trips the breaker: timeouts and origin
// failures do; the origin refusing bad input (4xx kinds) does not, because
// the origin is healthy.
func countsAsFailure(err error) bool {
	switch apierr.KindOf(err) {
	case apierr.BadUserInput, apierr.NotFound, apierr.Conflict, apierr.Forbidden, apierr.Unauthenticated:
		return false
	}
	return true
}

func (g *Guard) setBreakerGauge(s gobreaker.State) {
	if g.cfg.Metrics == nil {
		return
	}
	v := map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[s]
	g.cfg.Metrics.BreakerState.WithLabelValues(g.cfg.Origin).Set(v)
}

// Source says where a guarded value came from.
type Source string

// The sources of a guarded value.
const (
	SourceLive  Source = "LIVE"  // fetched from the origin during this call
	SourceCache Source = "CACHE" // a last-known-good copy
	// SourceMirror is never set by the guard; callers that combine its
	// answers with a synced mirror (internal/loaders) mark mirror values.
	SourceMirror Source = "MIRROR"
)

// Item is the outcome for one key.
type Item[V any] struct {
	Value V
	// Found is false when the origin answered and does not know the key.
	Found  bool
	Source Source
	// AsOf is when the value was fetched from the origin.
	AsOf time.Time
	// Stale is true when the value is a copy served because the origin was
	// slow, failing or cut off by its breaker; Reason says which.
	Stale  bool
	Reason Reason
	// Err is set when the key could not be answered at all (no copy);
	// Reason then says why the origin could not answer.
	Err error
}

// Fetch asks the origin for a batch of keys. Keys the origin does not know
// are absent from the map. It must honour ctx's deadline.
type Fetch[V any] func(ctx context.Context, keys []string) (map[string]V, error)

// copyRecord is what a last-known-good copy holds.
type copyRecord[V any] struct {
	Value V         `json:"v"`
	AsOf  time.Time `json:"t"`
}

// Live fetches keys from the origin through the guard and falls back to the
// last-known-good copy of each key when the origin is slow or down. The
// returned map has an item for every key. Only ctx's cancellation by the
// caller makes Live return an error.
func Live[V any](ctx context.Context, g *Guard, keys []string, fetch Fetch[V]) (map[string]Item[V], error) {
	if len(keys) == 0 {
		return map[string]Item[V]{}, nil
	}
	keys = dedupe(keys)
	flightKey := strings.Join(keys, "\x00")
	// Identical concurrent batches share one origin call, and its copies
	// are written once. The call runs on a context detached from any one
	// caller, bounded by the budget, so one client going away does not fail
	// the others waiting on it.
	ch := g.flights.DoChan(flightKey, func() (any, error) {
		detached := context.WithoutCancel(ctx)
		v, err := g.call(detached, func(ctx context.Context) (any, error) { return fetch(ctx, keys) })
		if err != nil {
			return nil, err
		}
		f := fetched[V]{values: v.(map[string]V), at: time.Now()}
		storeCopies(detached, g, f.values, f.at)
		return f, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.Err == nil {
		f := res.Val.(fetched[V])
		out := make(map[string]Item[V], len(keys))
		for _, k := range keys {
			v, ok := f.values[k]
			out[k] = Item[V]{Value: v, Found: ok, Source: SourceLive, AsOf: f.at}
		}
		return out, nil
	}
	reason := reasonOf(res.Err)
	g.log.Debug("origin call failed; serving copies", "origin", g.cfg.Origin, "reason", reason, "err", res.Err)
	return fallback[V](ctx, g, keys, reason, res.Err), nil
}

// fetched is one successful origin answer, shared by every caller that
// waited on it.
type fetched[V any] struct {
	values map[string]V
	at     time.Time
}

// call runs one origin call under the breaker and the budget, recording
// metrics.
func (g *Guard) call(ctx context.Context, fetch func(context.Context) (any, error)) (any, error) {
	start := time.Now()
	v, err := g.breaker.Execute(func() (any, error) {
		ctx, cancel := context.WithTimeout(ctx, g.cfg.Budget)
		defer cancel()
		v, err := fetch(ctx)
		if err != nil && ctx.Err() == context.DeadlineExceeded {
			// Whatever the transport said, the budget ran out.
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return v, err
	})
	if m := g.cfg.Metrics; m != nil {
		outcome := "ok"
		if err != nil {
			outcome = string(reasonOf(err))
			if !countsAsFailure(err) {
				outcome = "rejected"
			}
		}
		m.OriginRequests.WithLabelValues(g.cfg.Origin, outcome).Inc()
		if outcome != string(ReasonBreakerOpen) {
			m.OriginRequestDuration.WithLabelValues(g.cfg.Origin, outcome).Observe(time.Since(start).Seconds())
		}
	}
	return v, err
}

func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return ReasonBreakerOpen
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	default:
		return ReasonError
	}
}

// fallback answers every key from its copy, or with ORIGIN_UNAVAILABLE.
// When the origin refused the request itself (a 4xx kind), that error is
// passed on instead: a copy would hide a client mistake.
func fallback[V any](ctx context.Context, g *Guard, keys []string, reason Reason, cause error) map[string]Item[V] {
	out := make(map[string]Item[V], len(keys))
	if !countsAsFailure(cause) {
		for _, k := range keys {
			out[k] = Item[V]{Err: cause}
		}
		return out
	}
	for _, k := range keys {
		rec, ok := readCopy[V](ctx, g, k)
		if !ok {
			out[k] = Item[V]{Reason: reason, Err: apierr.Wrap(apierr.OriginUnavailable, cause,
				"%s is unavailable (%s) and no earlier copy exists", g.cfg.Origin, reason)}
			continue
		}
		out[k] = Item[V]{Value: rec.Value, Found: true, Source: SourceCache, AsOf: rec.AsOf, Stale: true, Reason: reason}
		if m := g.cfg.Metrics; m != nil {
			m.Fallbacks.WithLabelValues(g.cfg.Origin, string(reason)).Inc()
		}
	}
	return out
}

func (g *Guard) copyKey(key string) string { return "lkg:" + g.cfg.Origin + ":" + key }

func readCopy[V any](ctx context.Context, g *Guard, key string) (copyRecord[V], bool) {
	var rec copyRecord[V]
	e, ok, err := g.cfg.Copies.Get(ctx, g.copyKey(key))
	if err != nil {
		g.log.Warn("last-known-good read failed", "origin", g.cfg.Origin, "err", err)
		return rec, false
	}
	if !ok {
		return rec, false
	}
	if d, ok := g.decoded.Load(key); ok {
		if d := d.(decodedCopy); bytes.Equal(d.raw, e.Value) {
			if rec, ok := d.rec.(copyRecord[V]); ok {
				return rec, true
			}
		}
	}
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		g.log.Warn("last-known-good copy unreadable", "origin", g.cfg.Origin, "err", err)
		return rec, false
	}
	// The store's bytes are cloned: a store may reuse its buffers, and
	// the comparison above must see what was decoded.
	if _, loaded := g.decoded.Swap(key, decodedCopy{raw: bytes.Clone(e.Value), rec: rec}); !loaded {
		if g.decodedCount.Add(1) > maxDecodedCopies {
			g.decoded.Delete(key)
			g.decodedCount.Add(-1)
		}
	}
	return rec, true
}

// storeCopies writes a copy of every value the origin returned. A failed
// write is logged, never surfaced: the live answer is already in hand.
func storeCopies[V any](ctx context.Context, g *Guard, found map[string]V, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	for k, v := range found {
		b, err := json.Marshal(copyRecord[V]{Value: v, AsOf: now})
		if err == nil {
			err = g.cfg.Copies.Set(ctx, g.copyKey(k), b, g.cfg.CopyTTL)
		}
		if err != nil {
			g.log.Warn("last-known-good write failed", "origin", g.cfg.Origin, "err", err)
			return
		}
	}
}

func dedupe(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out)
	return slices.Compact(out)
}
