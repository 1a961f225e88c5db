package respcache

import (
	"crypto/sha256"
	"sync"
	"time"
)

type key = [sha256.Size]byte

// front is the in-process tier: a byte-accounted LRU of decoded entries
// with an index from tag to keys.
//
// It is not internal/cache.Memory because the response cache needs three
// things Memory does not offer: the index must follow evictions (an
// evicted entry leaves no dangling key behind), a purge must delete this
// replica's copies without touching the shared tier once per replica, and
// the byte count is exported as a gauge. Entries are kept decoded, so a hit
// does not parse anything.
type front struct {
	maxEntries int
	maxBytes   int64
	onBytes    func(int64) // called under mu with the new byte count; may be nil

	mu    sync.Mutex
	items map[key]*item
	// head is the sentinel of a circular recency list: head.next is the
	// most recently used item.
	head  item
	bytes int64
	tags  map[string]map[key]struct{}
	// stores counts puts, so a lost purge subscription knows whether
	// anything may be out of date.
	stores uint64
}

type item struct {
	key        key
	e          *entry
	expiresAt  time.Time // end of the stale-while-revalidate window
	prev, next *item
}

func newFront(maxEntries int, maxBytes int64, onBytes func(int64)) *front {
	f := &front{
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		onBytes:    onBytes,
		items:      make(map[key]*item),
		tags:       make(map[string]map[key]struct{}),
	}
	f.head.next, f.head.prev = &f.head, &f.head
	return f
}

// get returns the entry under k unless it is past its window (then it is
// dropped), and marks it recently used.
func (f *front) get(k key, now time.Time) *entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[k]
	if !ok {
		return nil
	}
	if !now.Before(it.expiresAt) {
		f.remove(it)
		f.reportBytes()
		return nil
	}
	if f.head.next != it {
		f.unlink(it)
		f.pushFront(it)
	}
	return it.e
}

// put stores e under k until expiresAt, replacing any entry there and
// evicting least recently used ones until both bounds hold. An entry larger
// than the whole store is not kept.
func (f *front) put(k key, e *entry, expiresAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores++
	if old, ok := f.items[k]; ok {
		f.remove(old)
	}
	if e.size > f.maxBytes {
		f.reportBytes()
		return
	}
	it := &item{key: k, e: e, expiresAt: expiresAt}
	f.items[k] = it
	f.pushFront(it)
	f.bytes += e.size
	for _, t := range e.tags {
		keys := f.tags[t]
		if keys == nil {
			keys = make(map[key]struct{}, 1)
			f.tags[t] = keys
		}
		keys[k] = struct{}{}
	}
	for len(f.items) > f.maxEntries || f.bytes > f.maxBytes {
		f.remove(f.head.prev) // never it: it fits on its own and is at the front
	}
	f.reportBytes()
}

// deleteKey drops the entry under k if it is e (not a newer one stored
// since).
func (f *front) deleteKey(k key, e *entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if it, ok := f.items[k]; ok && it.e == e {
		f.remove(it)
		f.reportBytes()
	}
}

// purge drops every entry carrying one of tags and returns their keys.
func (f *front) purge(tags []string) []key {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []key
	for _, t := range tags {
		for k := range f.tags[t] {
			if it, ok := f.items[k]; ok {
				out = append(out, k)
				f.remove(it)
			}
		}
	}
	f.reportBytes()
	return out
}

// clear drops everything.
func (f *front) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.items)
	clear(f.tags)
	f.head.next, f.head.prev = &f.head, &f.head
	f.bytes = 0
	f.reportBytes()
}

// everStored reports whether anything was ever put, even if it is gone.
func (f *front) everStored() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stores > 0
}

// len returns the number of entries held, for tests.
func (f *front) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.items)
}

// remove unlinks it and drops it from the map, the index and the byte
// count. f.mu is held.
func (f *front) remove(it *item) {
	f.unlink(it)
	delete(f.items, it.key)
	f.bytes -= it.e.size
	for _, t := range it.e.tags {
		if keys := f.tags[t]; keys != nil {
			delete(keys, it.key)
			if len(keys) == 0 {
				delete(f.tags, t)
			}
		}
	}
}

func (f *front) unlink(it *item) {
	it.prev.next, it.next.prev = it.next, it.prev
	it.prev, it.next = nil, nil
}

func (f *front) pushFront(it *item) {
	it.prev, it.next = &f.head, f.head.next
	f.head.next.prev = it
	f.head.next = it
}

func (f *front) reportBytes() {
	if f.onBytes != nil {
		f.onBytes(f.bytes)
	}
}
