package guard

import (
	"context"
	"time"
)

// Policy says how old a copy may be when a caller prefers speed to
// liveness.
type Policy struct {
	// MaxAge: a copy younger than this is served as it is (default 30s).
	MaxAge time.Duration
	// StaleWhileRevalidate: a copy older than MaxAge but within this window
	// beyond it is served at once while one background refresh runs
	// (default 10m). Beyond the window the caller waits for the origin.
	StaleWhileRevalidate time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.MaxAge <= 0 {
		p.MaxAge = 30 * time.Second
	}
	if p.StaleWhileRevalidate <= 0 {
		p.StaleWhileRevalidate = 10 * time.Minute
	}
	return p
}

// Cached answers keys from their in-country copies when the policy allows,
// and from the origin (through Live, with its fallbacks) only for keys with
// no usable copy. Keys whose copy is past MaxAge but within the
// stale-while-revalidate window are refreshed in one background batch; a
// key already being refreshed is not refreshed twice.
//
// Copies served this way have Source CACHE, their original AsOf, and Stale
// false: they are within the freshness the caller asked for.
func Cached[V any](ctx context.Context, g *Guard, keys []string, p Policy, fetch Fetch[V]) (map[string]Item[V], error) {
	p = p.withDefaults()
	keys = dedupe(keys)
	now := time.Now()
	out := make(map[string]Item[V], len(keys))
	var wait, refresh []string
	for _, k := range keys {
		rec, ok := readCopy[V](ctx, g, k)
		age := now.Sub(rec.AsOf)
		switch {
		case ok && age <= p.MaxAge:
			out[k] = Item[V]{Value: rec.Value, Found: true, Source: SourceCache, AsOf: rec.AsOf}
		case ok && age <= p.MaxAge+p.StaleWhileRevalidate:
			out[k] = Item[V]{Value: rec.Value, Found: true, Source: SourceCache, AsOf: rec.AsOf}
			refresh = append(refresh, k)
		default:
			wait = append(wait, k)
		}
	}
	g.countCopies(len(keys)-len(wait)-len(refresh), len(refresh), len(wait))
	if len(refresh) > 0 {
		g.refreshInBackground(ctx, refresh, func(ctx context.Context, keys []string) {
			_, _ = Live(ctx, g, keys, fetch)
		})
	}
	if len(wait) > 0 {
		live, err := Live(ctx, g, wait, fetch)
		if err != nil {
			return nil, err
		}
		for k, it := range live {
			out[k] = it
		}
	}
	return out, nil
}

// refreshInBackground runs one refresh for the keys not already being
// refreshed. It outlives the request that triggered it, bounded by the
// guard's budget.
func (g *Guard) refreshInBackground(ctx context.Context, keys []string, run func(context.Context, []string)) {
	var mine []string
	for _, k := range keys {
		if _, busy := g.refreshing.LoadOrStore(k, struct{}{}); !busy {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return
	}
	detached := context.WithoutCancel(ctx)
	g.background.Add(1)
	go func() {
		defer g.background.Done()
		defer func() {
			for _, k := range mine {
				g.refreshing.Delete(k)
			}
		}()
		run(detached, mine)
	}()
}

// WaitForRefreshes blocks until background refreshes started so far have
// finished; for graceful shutdown and tests.
func (g *Guard) WaitForRefreshes() { g.background.Wait() }

func (g *Guard) countCopies(fresh, stale, miss int) {
	m := g.cfg.Metrics
	if m == nil {
		return
	}
	name := "lkg_" + g.cfg.Origin
	m.CacheLookups.WithLabelValues(name, "hit").Add(float64(fresh))
	m.CacheLookups.WithLabelValues(name, "stale").Add(float64(stale))
	m.CacheLookups.WithLabelValues(name, "miss").Add(float64(miss))
}
