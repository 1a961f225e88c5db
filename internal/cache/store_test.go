package cache

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/internal/testenv"
)

// newFakeClock returns a settable clock that starts on a whole
// millisecond, so that StoredAt survives Redis's millisecond resolution
// unchanged.
func newFakeClock() *testenv.Clock {
	return testenv.NewClock(time.UnixMilli(1_767_225_600_000)) // 2026-01-01T00:00:00Z
}

// runStoreContract checks the behaviour every Store promises. newStore
// returns an empty store whose clock (for StoredAt, and for expiry where the
// store keeps its own) is now.
//
// Expiry is checked without assuming whose clock expires entries: the test
// advances the fake clock past the ttl and also waits in real time, polling
// until the entry is gone. An in-process store misses at once; Redis misses
// once its own clock passes the (short) ttl.
func runStoreContract(t *testing.T, newStore func(t *testing.T, now func() time.Time) Store) {
	t.Helper()
	ctx := context.Background()

	setup := func(t *testing.T) (Store, *testenv.Clock) {
		t.Helper()
		c := newFakeClock()
		return newStore(t, c.Now), c
	}
	mustSet := func(t *testing.T, s Store, key string, value []byte, ttl time.Duration) {
		t.Helper()
		if err := s.Set(ctx, key, value, ttl); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
	}
	wantHit := func(t *testing.T, s Store, key string, value []byte, storedAt time.Time) {
		t.Helper()
		e, ok, err := s.Get(ctx, key)
		if err != nil || !ok {
			t.Fatalf("Get(%q) = ok %v, err %v; want a hit", key, ok, err)
		}
		if !bytes.Equal(e.Value, value) {
			t.Fatalf("Get(%q) value = %q; want %q", key, abbrev(e.Value), abbrev(value))
		}
		if !e.StoredAt.Equal(storedAt) {
			t.Fatalf("Get(%q) StoredAt = %v; want %v", key, e.StoredAt, storedAt)
		}
	}
	wantMiss := func(t *testing.T, s Store, key string) {
		t.Helper()
		e, ok, err := s.Get(ctx, key)
		if err != nil || ok {
			t.Fatalf("Get(%q) = ok %v, err %v; want a clean miss", key, ok, err)
		}
		if e.Value != nil || !e.StoredAt.IsZero() {
			t.Fatalf("Get(%q) on a miss returned %+v; want the zero Entry", key, e)
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s, c := setup(t)
		stored := c.Now()
		mustSet(t, s, "greeting", []byte("你好, world"), time.Hour)
		wantHit(t, s, "greeting", []byte("你好, world"), stored)
		// Reads do not refresh StoredAt: it is the age of the data.
		c.Advance(30 * time.Second)
		wantHit(t, s, "greeting", []byte("你好, world"), stored)
	})

	t.Run("Missing", func(t *testing.T) {
		s, _ := setup(t)
		wantMiss(t, s, "never-set")
	})

	t.Run("Overwrite", func(t *testing.T) {
		s, c := setup(t)
		mustSet(t, s, "k", []byte("first"), time.Hour)
		c.Advance(2 * time.Second)
		second := c.Now()
		mustSet(t, s, "k", []byte("second value"), time.Hour)
		wantHit(t, s, "k", []byte("second value"), second)
	})

	t.Run("DeleteSeveral", func(t *testing.T) {
		s, c := setup(t)
		for _, k := range []string{"a", "b", "c"} {
			mustSet(t, s, k, []byte("v-"+k), time.Hour)
		}
		if err := s.Delete(ctx, "a", "b", "never-set"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := s.Delete(ctx); err != nil {
			t.Fatalf("Delete with no keys: %v", err)
		}
		wantMiss(t, s, "a")
		wantMiss(t, s, "b")
		wantHit(t, s, "c", []byte("v-c"), c.Now())
	})

	t.Run("NonPositiveTTLRefused", func(t *testing.T) {
		s, c := setup(t)
		stored := c.Now()
		mustSet(t, s, "kept", []byte("original"), time.Hour)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.Set(ctx, "kept", []byte("replacement"), ttl); err == nil {
				t.Errorf("Set(ttl=%v) = nil; want an error", ttl)
			}
			if err := s.Set(ctx, "fresh", []byte("v"), ttl); err == nil {
				t.Errorf("Set(ttl=%v) = nil; want an error", ttl)
			}
		}
		// A refused Set changes nothing.
		wantHit(t, s, "kept", []byte("original"), stored)
		wantMiss(t, s, "fresh")
	})

	t.Run("Expiry", func(t *testing.T) {
		s, c := setup(t)
		stored := c.Now()
		mustSet(t, s, "short", []byte("brief"), 50*time.Millisecond)
		mustSet(t, s, "long", []byte("lasting"), 24*time.Hour)
		deadline := time.Now().Add(2 * time.Second)
		for {
			c.Advance(time.Minute)
			_, ok, err := s.Get(ctx, "short")
			if err != nil {
				t.Fatalf("Get(short): %v", err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry with a 50ms ttl still present after 2s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		wantMiss(t, s, "short")
		// Expiry is per entry.
		wantHit(t, s, "long", []byte("lasting"), stored)
	})

	t.Run("BinaryValues", func(t *testing.T) {
		s, c := setup(t)
		values := map[string][]byte{
			"zeros":       {0, 0, 0, 0},
			"mixed":       {0, 1, 0xff, 0, '\r', '\n', 0x80, 0},
			"header-like": {1, 0, 0, 0, 0, 0, 0, 0, 0}, // looks like a stored header
			"empty":       {},
			"key with 空格": []byte("unicode and spaces in the key"),
		}
		for k, v := range values {
			mustSet(t, s, k, v, time.Hour)
		}
		for k, v := range values {
			wantHit(t, s, k, v, c.Now())
		}
	})

	t.Run("LargeValue", func(t *testing.T) {
		s, c := setup(t)
		big := make([]byte, 2<<20)
		for i := range big {
			big[i] = byte(i * 7)
		}
		mustSet(t, s, "big", big, time.Hour)
		wantHit(t, s, "big", big, c.Now())
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, _ := setup(t)
		const goroutines, rounds, keys = 16, 100, 8
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range rounds {
					key := fmt.Sprintf("k%d", (g+i)%keys)
					// Each value names its key, so a hit under the wrong
					// key or a torn value shows.
					value := fmt.Appendf(nil, "%s|writer=%d|round=%d|%s", key, g, i, strings.Repeat("x", i))
					if err := s.Set(ctx, key, value, time.Hour); err != nil {
						t.Errorf("Set(%q): %v", key, err)
						return
					}
					probe := fmt.Sprintf("k%d", (g+2*i)%keys)
					e, ok, err := s.Get(ctx, probe)
					if err != nil {
						t.Errorf("Get(%q): %v", probe, err)
						return
					}
					if ok && !bytes.HasPrefix(e.Value, []byte(probe+"|")) {
						t.Errorf("Get(%q) = %q; value of another key", probe, abbrev(e.Value))
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// abbrev keeps failure messages readable when values are megabytes long.
func abbrev(b []byte) []byte {
	if len(b) > 64 {
		return fmt.Appendf(nil, "%s... (%d bytes)", b[:64], len(b))
	}
	return b
}

func newTestMemory(t *testing.T, now func() time.Time) *Memory {
	t.Helper()
	m, err := NewMemory(MemoryConfig{MaxEntries: 1024, MaxBytes: 64 << 20, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemoryContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return newTestMemory(t, now)
	})
}

func TestRedisContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return newTestRedis(t, now)
	})
}

func TestTieredContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return NewTiered(newTestMemory(t, now), newTestRedis(t, now), 10*time.Second)
	})
}
