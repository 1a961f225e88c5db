package guard

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"meridian/internal/cache"
	"meridian/internal/testenv"
)

// TestCopiesAreSharedThroughRedis: two replicas' guards over one Redis. A
// copy written when replica A reached the origin is what replica B serves
// when the origin then fails for it.
func TestCopiesAreSharedThroughRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	ctx := context.Background()
	client, err := cache.OpenRedis(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	prefix := testenv.UniquePrefix("guard")
	replica := func() *Guard {
		mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		shared, err := cache.NewRedis(cache.RedisConfig{Client: client, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(Config{Origin: "masterdata", Copies: cache.NewTiered(mem, shared, time.Second),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b := replica(), replica()
	o := newOrigin()
	t.Cleanup(func() {
		for _, k := range []string{"A", "B"} {
			client.Del(context.Background(), prefix+a.copyKey(k))
		}
	})

	if got, _ := Live(ctx, a, []string{"A", "B"}, o.fetch); got["A"].Source != SourceLive {
		t.Fatalf("replica A: %+v, want LIVE", got["A"])
	}
	o.set("fail")
	got, err := Live(ctx, b, []string{"A", "B"}, o.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if it := got["A"]; it.Value != 1 || !it.Stale || it.Source != SourceCache || it.Reason != ReasonError {
		t.Errorf("replica B with the origin down: A = %+v, want replica A's copy, stale", it)
	}
	if it := got["B"]; it.Value != 2 || !it.Stale {
		t.Errorf("replica B: B = %+v, want replica A's copy", it)
	}
}
