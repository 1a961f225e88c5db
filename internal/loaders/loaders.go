// Package loaders builds the per-request dataloaders that batch global
// lookups reachable from lists: a page of 50 products asks master data for
// inventory once, not 50 times, and a key asked twice in one request is
// fetched once.
//
// Loaders are created for each request by Middleware and read through For.
// They go through the guard (deadline, breaker, last-known-good), so a
// batch that the origin cannot answer in time is served from copies.
package loaders

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"meridian/adapters/catalog"
	"meridian/adapters/masterdata"
	"meridian/internal/apierr"
	"meridian/internal/guard"
)

// InventoryMirror is the synced in-country copy of inventory.
type InventoryMirror interface {
	InventoryBySKU(ctx context.Context, skus []string) (map[string]catalog.InventorySnapshot, error)
}

// InventorySource is the master-data call the inventory loaders batch.
type InventorySource interface {
	Inventory(ctx context.Context, skus []string) (map[string]masterdata.Inventory, error)
}

// Config configures the loaders of every request.
type Config struct {
	// Masterdata guards calls to the master-data origin (required).
	Masterdata *guard.Guard
	// Inventory answers inventory batches (required).
	Inventory InventorySource
	// Mirror, when set, is the sync job's inventory snapshots: a snapshot
	// younger than the policy's MaxAge answers CACHED reads without the
	// origin, and any snapshot answers (marked stale) when the origin is
	// down and no last-known-good copy exists.
	Mirror InventoryMirror
	// Policy is the freshness of CACHED inventory reads.
	Policy guard.Policy
	// Wait is how long a loader collects keys before it calls the batch
	// function. gqlgen resolves list items in goroutines started together,
	// so a short wait already gathers a whole page; every millisecond here
	// is added to every page that misses its copies. Default 1ms.
	Wait time.Duration
	// MaxBatch caps keys per batch (default 500, the origin's limit).
	MaxBatch int
	// Naive turns batching and the guard off: one origin call per key, no
	// deadline budget, breaker or copies. It exists only as the baseline the
	// benchmarks measure the real configuration against; never in serving.
	Naive bool
}

// Factory makes each request's loaders.
type Factory struct {
	cfg Config
}

// NewFactory validates cfg and returns a factory.
func NewFactory(cfg Config) (*Factory, error) {
	if cfg.Inventory == nil || (cfg.Masterdata == nil && !cfg.Naive) {
		return nil, errors.New("loaders: Masterdata and Inventory are required")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	return &Factory{cfg: cfg}, nil
}

// InventoryItem is one SKU's inventory as the guard answered it: live, a
// copy, or an error.
type InventoryItem = guard.Item[masterdata.Inventory]

// Loaders are one request's loaders.
type Loaders struct {
	// InventoryCached serves the freshest in-country copy within the
	// policy, refreshing old copies in the background.
	InventoryCached *dataloader.Loader[string, InventoryItem]
	// InventoryLive asks master data now, falling back to copies.
	InventoryLive *dataloader.Loader[string, InventoryItem]

	cached, live lookup // the batch lookups behind the two loaders
	naive        bool

	// prefetched holds what PrefetchInventory answered, by consistency
	// (0 CACHED, 1 LIVE): Inventory reads it without the dataloader's
	// per-key thunks, which a page would otherwise allocate 50 times.
	mu         sync.RWMutex
	prefetched [2]map[string]InventoryItem
}

// Inventory returns one SKU's inventory, CACHED or live: from a prefetch
// of this request when one answered it, otherwise through the batching
// loader.
func (l *Loaders) Inventory(ctx context.Context, sku string, live bool) (InventoryItem, error) {
	l.mu.RLock()
	item, ok := l.prefetched[consistencyIndex(live)][sku]
	l.mu.RUnlock()
	if ok {
		return item, nil
	}
	loader := l.InventoryCached
	if live {
		loader = l.InventoryLive
	}
	return loader.Load(ctx, sku)()
}

func consistencyIndex(live bool) int {
	if live {
		return 1
	}
	return 0
}

type lookup func(context.Context, []string) (map[string]InventoryItem, error)

// PrefetchInventory answers skus in one batch and keeps the results, so
// the per-field reads that follow (Inventory) are served from them.
// List resolvers call it: gqlgen resolves a list's fields in goroutines,
// and a batch window, however chosen, can split a page in two when the
// machine is busy; a prefetch makes one call per page by construction.
// Keys already loaded are not fetched again. It does nothing in the naive
// baseline.
func (l *Loaders) PrefetchInventory(ctx context.Context, skus []string, live bool) error {
	if l.naive || len(skus) == 0 {
		return nil
	}
	fn := l.cached
	if live {
		fn = l.live
	}
	i := consistencyIndex(live)
	l.mu.RLock()
	missing := make([]string, 0, len(skus))
	for _, k := range skus {
		if _, ok := l.prefetched[i][k]; !ok {
			missing = append(missing, k)
		}
	}
	l.mu.RUnlock()
	if len(missing) == 0 {
		return nil
	}
	items, err := fn(ctx, missing)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prefetched[i] == nil {
		l.prefetched[i] = items
		return nil
	}
	maps.Copy(l.prefetched[i], items)
	return nil
}

// New returns fresh loaders for one request.
func (f *Factory) New() *Loaders {
	fetch := func(ctx context.Context, skus []string) (map[string]masterdata.Inventory, error) {
		return f.cfg.Inventory.Inventory(ctx, skus)
	}
	opts := []dataloader.Option[string, InventoryItem]{
		dataloader.WithWait[string, InventoryItem](f.cfg.Wait),
		dataloader.WithBatchCapacity[string, InventoryItem](f.cfg.MaxBatch),
	}
	cached := func(ctx context.Context, skus []string) (map[string]InventoryItem, error) {
		return f.withMirror(ctx, skus, true, func(ctx context.Context, skus []string) (map[string]InventoryItem, error) {
			return guard.Cached(ctx, f.cfg.Masterdata, skus, f.cfg.Policy, fetch)
		})
	}
	live := func(ctx context.Context, skus []string) (map[string]InventoryItem, error) {
		return f.withMirror(ctx, skus, false, func(ctx context.Context, skus []string) (map[string]InventoryItem, error) {
			return guard.Live(ctx, f.cfg.Masterdata, skus, fetch)
		})
	}
	if f.cfg.Naive {
		direct := func(ctx context.Context, skus []string) (map[string]InventoryItem, error) {
			found, err := fetch(ctx, skus)
			if err != nil {
				return nil, err
			}
			out := make(map[string]InventoryItem, len(skus))
			for _, k := range skus {
				v, ok := found[k]
				out[k] = InventoryItem{Value: v, Found: ok, Source: guard.SourceLive, AsOf: time.Now()}
			}
			return out, nil
		}
		cached, live = direct, direct
		opts = []dataloader.Option[string, InventoryItem]{
			dataloader.WithBatchCapacity[string, InventoryItem](1),
			dataloader.WithCache[string, InventoryItem](&dataloader.NoCache[string, InventoryItem]{}),
		}
	}
	return &Loaders{
		InventoryCached: dataloader.NewBatchedLoader(batch(cached), opts...),
		InventoryLive:   dataloader.NewBatchedLoader(batch(live), opts...),
		cached:          cached,
		live:            live,
		naive:           f.cfg.Naive,
	}
}

// withMirror combines the guarded lookup with the synced mirror. For CACHED
// reads (preferMirror) a young enough snapshot answers at once; for every
// read, a key the guard could not answer at all falls back to its snapshot,
// marked stale. Without a mirror it is the guarded lookup alone.
func (f *Factory) withMirror(ctx context.Context, skus []string, preferMirror bool,
	guarded func(context.Context, []string) (map[string]InventoryItem, error)) (map[string]InventoryItem, error) {
	if f.cfg.Mirror == nil {
		return guarded(ctx, skus)
	}
	snaps, err := f.cfg.Mirror.InventoryBySKU(ctx, skus)
	if err != nil {
		snaps = nil // the mirror only helps; the guarded path still answers
	}
	out := make(map[string]InventoryItem, len(skus))
	rest := skus
	if preferMirror {
		maxAge := f.cfg.Policy.MaxAge
		if maxAge <= 0 {
			maxAge = 30 * time.Second
		}
		now := time.Now()
		rest = rest[:0:0]
		for _, k := range skus {
			if s, ok := snaps[k]; ok && now.Sub(s.MirroredAt) <= maxAge {
				out[k] = mirrorItem(s, false, "")
				continue
			}
			rest = append(rest, k)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	items, err := guarded(ctx, rest)
	if err != nil {
		return nil, err
	}
	for k, it := range items {
		if s, ok := snaps[k]; ok && it.Err != nil && apierr.KindOf(it.Err) == apierr.OriginUnavailable {
			it = mirrorItem(s, true, it.Reason)
		}
		out[k] = it
	}
	return out, nil
}

func mirrorItem(s catalog.InventorySnapshot, stale bool, reason guard.Reason) InventoryItem {
	return InventoryItem{
		Value:  masterdata.Inventory{SKU: s.SKU, Available: s.Available, UpdatedAt: s.SourceUpdatedAt},
		Found:  true,
		Source: guard.SourceMirror,
		AsOf:   s.MirroredAt,
		Stale:  stale,
		Reason: reason,
	}
}

// batch adapts a guarded map lookup to dataloader's ordered results.
func batch(lookup lookup) dataloader.BatchFunc[string, InventoryItem] {
	return func(ctx context.Context, keys []string) []*dataloader.Result[InventoryItem] {
		out := make([]*dataloader.Result[InventoryItem], len(keys))
		items, err := lookup(ctx, keys)
		for i, k := range keys {
			if err != nil {
				out[i] = &dataloader.Result[InventoryItem]{Error: err}
				continue
			}
			it := items[k]
			out[i] = &dataloader.Result[InventoryItem]{Data: it, Error: it.Err}
		}
		return out
	}
}

type loadersKey struct{}

// Middleware gives every request its own loaders.
func (f *Factory) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), loadersKey{}, f.New())))
	})
}

// For returns the request's loaders, or nil outside a request that went
// through Middleware.
func For(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}
