// Package cache is Meridian's small byte cache: the store behind the
// last-known-good copies of origin answers and the whole-response cache.
//
// Meridian serves its China region across a slow border link, so a slow or
// failing origin must never make a slow page: the gateway answers from a
// cached copy instead. Those copies live in a Store, which comes in three
// forms:
//
//   - Memory, a bounded in-process LRU. It is the embedded default and needs
//     nothing else running.
//   - Redis, shared by every gateway replica when REDIS_URL is set, so a copy
//     fetched by one replica serves them all. OpenRedis connects to it with
//     timeouts short enough that the cache is never slower than the origin
//     it protects.
//   - NewTiered, a Memory front over a Redis back: hot keys are answered in
//     process, and the shared copy fills the front on a miss.
//
// Every entry expires: Set refuses a ttl <= 0, because a cache that grows
// forever is a leak. A missing or expired key is a miss (ok=false) with a
// nil error; an error always comes with ok=false and means the store could
// not answer, which callers should treat as a miss as well.
//
// Values are shared, not copied, on the read path, because the cached values
// are whole responses read on every request: Entry.Value must be treated as
// read-only by every caller of every Store. Stores copy on Set, so a caller
// may reuse its buffer once Set returns.
//
// This package does not count hits or misses; the layer above does.
package cache

import (
	"context"
	"fmt"
	"time"
)

// Entry is one cached value and the time it was stored.
type Entry struct {
	// Value is the cached bytes. It may be shared with the store and with
	// other callers: read it, never modify it in place (appending is safe
	// only because stores hand out slices whose capacity ends at their
	// length). Copy it first if it must change.
	Value []byte
	// StoredAt is when Set stored the value, by the store's clock. It is
	// not refreshed by reads, so time since StoredAt is the age of the data.
	// Redis keeps it to the millisecond.
	StoredAt time.Time
}

// Store is a byte cache with per-entry expiry. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the entry stored under key. A missing or expired key
	// returns ok=false and a nil error. A non-nil error means the store
	// could not answer; ok is then false.
	Get(ctx context.Context, key string) (e Entry, ok bool, err error)
	// Set stores a copy of value under key for ttl, replacing any entry
	// already there. A ttl <= 0 is refused with an error and changes
	// nothing. The caller may reuse value once Set returns.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the entries stored under keys. Keys that are not
	// stored are ignored; no keys at all is a no-op.
	Delete(ctx context.Context, keys ...string) error
}

// checkTTL refuses the ttls that would make an entry live forever or never.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: ttl must be positive, got %v (every entry must expire)", ttl)
	}
	return nil
}
