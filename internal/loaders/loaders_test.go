package loaders

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"meridian/adapters/masterdata"
	"meridian/internal/cache"
	"meridian/internal/guard"
)

// countingSource is master data that answers every SKU with 7 units and
// records the batches it was asked.
type countingSource struct {
	mu      sync.Mutex
	batches [][]string
}

func (s *countingSource) Inventory(_ context.Context, skus []string) (map[string]masterdata.Inventory, error) {
	s.mu.Lock()
	s.batches = append(s.batches, append([]string(nil), skus...))
	s.mu.Unlock()
	out := make(map[string]masterdata.Inventory, len(skus))
	for _, k := range skus {
		out[k] = masterdata.Inventory{SKU: k, Available: 7, UpdatedAt: time.Now()}
	}
	return out, nil
}

func (s *countingSource) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

func newTestLoaders(t *testing.T) (*Loaders, *countingSource) {
	t.Helper()
	copies, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Origin: "masterdata", Copies: copies, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{}
	f, err := NewFactory(Config{Masterdata: g, Inventory: src})
	if err != nil {
		t.Fatal(err)
	}
	return f.New(), src
}

// TestPrefetchServesTheFieldsOfItsPage checks the one-call-per-page
// contract: a prefetch is one batch, the per-field reads of its SKUs make
// no call, a second prefetch of the same SKUs makes none either, a SKU
// outside it goes through the batching loader, and CACHED and LIVE are
// answered apart.
func TestPrefetchServesTheFieldsOfItsPage(t *testing.T) {
	l, src := newTestLoaders(t)
	ctx := t.Context()
	page := []string{"A", "B", "C"}
	if err := l.PrefetchInventory(ctx, page, true); err != nil {
		t.Fatal(err)
	}
	if err := l.PrefetchInventory(ctx, page, true); err != nil {
		t.Fatal(err)
	}
	for _, k := range page {
		item, err := l.Inventory(ctx, k, true)
		if err != nil || !item.Found || item.Value.Available != 7 || item.Source != guard.SourceLive {
			t.Fatalf("Inventory(%s, live) = %+v, %v; want 7 units, LIVE", k, item, err)
		}
	}
	if got := src.calls(); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("origin batches %v, want one of the page's three SKUs", got)
	}

	// Not prefetched: the loader batches it.
	item, err := l.Inventory(ctx, "D", true)
	if err != nil || !item.Found {
		t.Fatalf("Inventory(D, live) = %+v, %v", item, err)
	}
	if got := src.calls(); len(got) != 2 || len(got[1]) != 1 || got[1][0] != "D" {
		t.Fatalf("origin batches %v, want a second one for D alone", got)
	}

	// CACHED is its own answer: served from the copies LIVE just kept.
	if err := l.PrefetchInventory(ctx, page, false); err != nil {
		t.Fatal(err)
	}
	item, err = l.Inventory(ctx, "A", false)
	if err != nil || item.Source != guard.SourceCache {
		t.Fatalf("Inventory(A, cached) = %+v, %v; want the copy", item, err)
	}
	if got := src.calls(); len(got) != 2 {
		t.Fatalf("origin batches %v, want no call for CACHED reads of fresh copies", got)
	}
}
