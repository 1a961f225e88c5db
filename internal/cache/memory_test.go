package cache

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// recency returns m's keys from most to least recently used, and checks
// that the map, the list and the byte count agree.
func recency(t *testing.T, m *Memory) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	var total int64
	for e := m.head.next; e != &m.head; e = e.next {
		if e.next.prev != e {
			t.Fatalf("recency list broken at %q", e.key)
		}
		if m.items[e.key] != e {
			t.Fatalf("list entry %q is not the map's", e.key)
		}
		keys = append(keys, e.key)
		total += e.size()
	}
	if len(keys) != len(m.items) {
		t.Fatalf("list holds %d entries, map %d", len(keys), len(m.items))
	}
	if total != m.bytes {
		t.Fatalf("byte count %d; entries add up to %d", m.bytes, total)
	}
	return keys
}

func wantRecency(t *testing.T, m *Memory, want ...string) {
	t.Helper()
	if got := recency(t, m); !slices.Equal(got, want) {
		t.Fatalf("keys by recency = %q; want %q", got, want)
	}
}

func TestNewMemoryRejectsNonPositiveBounds(t *testing.T) {
	for _, cfg := range []MemoryConfig{
		{MaxEntries: 0, MaxBytes: 1},
		{MaxEntries: -1, MaxBytes: 1},
		{MaxEntries: 1, MaxBytes: 0},
		{MaxEntries: 1, MaxBytes: -1},
	} {
		if _, err := NewMemory(cfg); err == nil {
			t.Errorf("NewMemory(%+v) = nil error", cfg)
		}
	}
	// Now is optional.
	m, err := NewMemory(MemoryConfig{MaxEntries: 1, MaxBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := time.Now()
	if err := m.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := m.Get(ctx, "k"); !ok || e.StoredAt.Before(before) {
		t.Errorf("Get with the default clock = %+v, %v", e, ok)
	}
}

func TestMemoryEvictsLeastRecentlyUsedByEntries(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryConfig{MaxEntries: 3, MaxBytes: 1 << 20, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Set(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	wantRecency(t, m, "c", "b", "a")
	if _, ok, _ := m.Get(ctx, "a"); !ok { // a read is a use
		t.Fatal("a missing")
	}
	wantRecency(t, m, "a", "c", "b")
	if err := m.Set(ctx, "d", []byte("d"), time.Hour); err != nil {
		t.Fatal(err)
	}
	wantRecency(t, m, "d", "a", "c") // b was least recently used
	// An overwrite is a use too.
	if err := m.Set(ctx, "c", []byte("c2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "e", []byte("e"), time.Hour); err != nil {
		t.Fatal(err)
	}
	wantRecency(t, m, "e", "c", "d")
}

func TestMemoryEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryConfig{MaxEntries: 100, MaxBytes: 30, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	set := func(key string, size int) { // size counts the one-byte key
		t.Helper()
		if err := m.Set(ctx, key, bytes.Repeat([]byte{'x'}, size-len(key)), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	set("a", 10)
	set("b", 10)
	set("c", 10)
	wantRecency(t, m, "c", "b", "a") // exactly at the bound: nothing evicted
	if _, ok, _ := m.Get(ctx, "a"); !ok {
		t.Fatal("a missing")
	}
	set("d", 10)
	wantRecency(t, m, "d", "a", "c")
	set("e", 20) // needs two entries' room
	wantRecency(t, m, "e", "d")
	set("d", 5) // a smaller overwrite frees bytes
	set("f", 5)
	wantRecency(t, m, "f", "d", "e")
	if m.bytes != 30 {
		t.Errorf("bytes = %d; want 30", m.bytes)
	}
}

func TestMemoryOversizeValueNotStored(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryConfig{MaxEntries: 10, MaxBytes: 16, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "small", []byte("fits"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "k", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// key + value = 17 bytes > 16: not stored, not an error, and the older
	// value under the key is not served in its place.
	if err := m.Set(ctx, "k", []byte(strings.Repeat("n", 16)), time.Hour); err != nil {
		t.Fatalf("oversize Set = %v; want nil", err)
	}
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Error("oversize value (or the value it replaced) is served")
	}
	// Other entries stay.
	wantRecency(t, m, "small")
	// Exactly MaxBytes fits (after evicting everything else).
	if err := m.Set(ctx, "k", []byte(strings.Repeat("n", 15)), time.Hour); err != nil {
		t.Fatal(err)
	}
	wantRecency(t, m, "k")
}

func TestMemoryValuesAreNotAliased(t *testing.T) {
	ctx := context.Background()
	m := newTestMemory(t, newFakeClock().Now)
	buf := []byte("original")
	if err := m.Set(ctx, "k", buf, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The caller may reuse its buffer once Set returns.
	copy(buf, "CHANGED!")
	e, _, _ := m.Get(ctx, "k")
	if string(e.Value) != "original" {
		t.Fatalf("stored value followed the caller's buffer: %q", e.Value)
	}
	// Appending to a returned value (allowed; in-place writes are not)
	// must not reach the store's memory.
	grown := append(e.Value, " and more"...)
	grown[0] = 'X'
	e2, _, _ := m.Get(ctx, "k")
	if string(e2.Value) != "original" {
		t.Fatalf("append to a returned value changed the store: %q", e2.Value)
	}
	// Get shares rather than copies: two reads return the same bytes.
	if &e.Value[0] != &e2.Value[0] {
		t.Error("Get copied the value; it is meant to share it")
	}
}

func TestMemoryExpiryBoundary(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	m := newTestMemory(t, c.Now)
	if err := m.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(10*time.Second - time.Nanosecond)
	if _, ok, _ := m.Get(ctx, "k"); !ok {
		t.Fatal("entry gone before its ttl")
	}
	c.Advance(time.Nanosecond)
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("entry served at its expiry instant")
	}
	// The expired entry's room is given back.
	wantRecency(t, m)
}

func BenchmarkMemoryGetParallel(b *testing.B) {
	const keys = 10_000
	m, err := NewMemory(MemoryConfig{MaxEntries: keys, MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	names := make([]string, keys)
	value := bytes.Repeat([]byte("v"), 4<<10) // a typical cached response
	for i := range names {
		names[i] = fmt.Sprintf("query:%08x", i*2654435761)
		if err := m.Set(ctx, names[i], value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			// A cheap stride keeps goroutines on different keys without a
			// shared random source.
			i = (i + 7919) % keys
			if _, ok, _ := m.Get(ctx, names[i]); !ok {
				b.Error("miss")
				return
			}
		}
	})
}
