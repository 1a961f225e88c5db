package content

import (
	"context"
	"testing"
	"time"

	"meridian/internal/cache"
)

type countingStore struct {
	pages map[string]Page
	reads int
}

func (s *countingStore) Page(_ context.Context, slug string) (Page, bool, error) {
	s.reads++
	p, ok := s.pages[slug]
	return p, ok, nil
}

func TestCachedReaderReadsThroughAndPurges(t *testing.T) {
	ctx := context.Background()
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 10, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{pages: map[string]Page{"about-us": {Slug: "about-us", Title: LocalizedText{"en": "About"}}}}
	r, err := NewCachedReader(store, mem, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p, ok, err := r.Page(ctx, "about-us")
		if err != nil || !ok || p.Title["en"] != "About" {
			t.Fatalf("Page = %+v, %v, %v", p, ok, err)
		}
	}
	if _, ok, _ := r.Page(ctx, "nope"); ok {
		t.Error("unknown slug found")
	}
	r.Page(ctx, "nope")
	if store.reads != 2 {
		t.Errorf("mirror reads = %d, want 2 (one per slug, misses cached too)", store.reads)
	}
	store.pages["about-us"] = Page{Slug: "about-us", Title: LocalizedText{"en": "About Us"}}
	if err := r.Purge(ctx, []string{"about-us"}); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := r.Page(ctx, "about-us"); p.Title["en"] != "About Us" {
		t.Errorf("after purge: %q, want the new title", p.Title["en"])
	}
}
