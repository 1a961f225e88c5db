package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"meridian/internal/cache"
)

// PageReader is what readers of content need.
type PageReader interface {
	Page(ctx context.Context, slug string) (Page, bool, error)
}

// CachedReader serves pages from a hot cache (Redis when configured, the
// in-process cache otherwise) in front of the mirror. The sync job purges
// changed slugs, so a cached page is never older than the mirror beyond
// the moment of its change; TTL bounds it even if a purge is lost.
type CachedReader struct {
	store PageReader
	cache cache.Store
	ttl   time.Duration
}

var _ PageReader = (*CachedReader)(nil)

// NewCachedReader returns a cache-aside reader over store.
func NewCachedReader(store PageReader, c cache.Store, ttl time.Duration) (*CachedReader, error) {
	if store == nil || c == nil || ttl <= 0 {
		return nil, errors.New("content: a store, a cache and a positive TTL are required")
	}
	return &CachedReader{store: store, cache: c, ttl: ttl}, nil
}

func cacheKey(slug string) string { return "content:page:" + slug }

// cachedPage is a page as the cache holds it; Found=false remembers a
// missing slug so repeated misses do not reach the database.
type cachedPage struct {
	Found bool `json:"found"`
	Page  Page `json:"page"`
}

// Page reads through the cache. A cache failure falls back to the mirror:
// the cache only makes reads faster, never unavailable.
func (r *CachedReader) Page(ctx context.Context, slug string) (Page, bool, error) {
	if e, ok, err := r.cache.Get(ctx, cacheKey(slug)); err == nil && ok {
		var c cachedPage
		if json.Unmarshal(e.Value, &c) == nil {
			return c.Page, c.Found, nil
		}
	}
	p, found, err := r.store.Page(ctx, slug)
	if err != nil {
		return Page{}, false, fmt.Errorf("content: page %q: %w", slug, err)
	}
	if b, err := json.Marshal(cachedPage{Found: found, Page: p}); err == nil {
		_ = r.cache.Set(ctx, cacheKey(slug), b, r.ttl)
	}
	return p, found, nil
}

// Purge drops slugs from the cache; the sync job calls it after it changes
// them.
func (r *CachedReader) Purge(ctx context.Context, slugs []string) error {
	keys := make([]string, len(slugs))
	for i, s := range slugs {
		keys[i] = cacheKey(s)
	}
	return r.cache.Delete(ctx, keys...)
}
