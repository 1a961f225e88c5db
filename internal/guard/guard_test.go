package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/cache"
)

// origin is a scriptable fake origin: it counts calls and behaves as its
// mode says.
type origin struct {
	calls atomic.Int32
	mu    sync.Mutex
	mode  string // "ok", "hang", "fail", "reject"
	stock map[string]int
}

func newOrigin() *origin {
	return &origin{mode: "ok", stock: map[string]int{"A": 1, "B": 2, "C": 3}}
}

func (o *origin) set(mode string) { o.mu.Lock(); o.mode = mode; o.mu.Unlock() }

func (o *origin) fetch(ctx context.Context, keys []string) (map[string]int, error) {
	o.calls.Add(1)
	o.mu.Lock()
	mode := o.mode
	o.mu.Unlock()
	switch mode {
	case "hang":
		<-ctx.Done()
		return nil, fmt.Errorf("origin: %w", ctx.Err())
	case "fail":
		return nil, errors.New("origin: 503 Service Unavailable")
	case "reject":
		return nil, apierr.New(apierr.BadUserInput, "origin refused the request")
	}
	out := map[string]int{}
	for _, k := range keys {
		if v, ok := o.stock[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func newGuard(t *testing.T) *Guard {
	t.Helper()
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 1000, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Origin: "masterdata", Budget: 300 * time.Millisecond, FailuresToTrip: 3, OpenFor: 5 * time.Second,
		Copies: mem, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewRejectsBadConfig(t *testing.T) {
	mem, _ := cache.NewMemory(cache.MemoryConfig{MaxEntries: 1, MaxBytes: 1024})
	for name, cfg := range map[string]Config{
		"no origin":       {Copies: mem},
		"no copies":       {Origin: "x"},
		"negative budget": {Origin: "x", Copies: mem, Budget: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestLiveServesTheOriginAndKeepsCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		got, err := Live(t.Context(), g, []string{"A", "B", "Z", "A"}, o.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got["A"].Value != 1 || got["A"].Source != SourceLive || got["A"].Stale || !got["A"].Found {
			t.Errorf("got %+v, want A=1 LIVE", got)
		}
		if got["Z"].Found || got["Z"].Err != nil {
			t.Errorf("Z = %+v, want not found without error", got["Z"])
		}
		// The origin goes down: the copies answer, marked stale.
		o.set("fail")
		time.Sleep(time.Minute)
		got, _ = Live(t.Context(), g, []string{"A", "B"}, o.fetch)
		a := got["A"]
		if a.Value != 1 || a.Source != SourceCache || !a.Stale || a.Reason != ReasonError || time.Since(a.AsOf) != time.Minute {
			t.Errorf("A after failure = %+v, want the copy from a minute ago, stale because of an error", a)
		}
	})
}

func TestDeadlineFallsBackToCopyOrOriginUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		if _, err := Live(t.Context(), g, []string{"A"}, o.fetch); err != nil {
			t.Fatal(err)
		}
		o.set("hang")
		start := time.Now()
		got, err := Live(t.Context(), g, []string{"A", "B"}, o.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 300*time.Millisecond {
			t.Errorf("waited %v (fake clock), want exactly the 300ms budget", waited)
		}
		if a := got["A"]; !a.Stale || a.Reason != ReasonTimeout || a.Value != 1 {
			t.Errorf("A = %+v, want the stale copy (timeout)", a)
		}
		if b := got["B"]; apierr.KindOf(b.Err) != apierr.OriginUnavailable {
			t.Errorf("B = %+v, want ORIGIN_UNAVAILABLE (no copy)", b)
		}
	})
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		_, _ = Live(t.Context(), g, []string{"A"}, o.fetch) // a copy of A
		o.set("fail")
		for range 3 {
			_, _ = Live(t.Context(), g, []string{"A"}, o.fetch)
		}
		if g.State() != "open" {
			t.Fatalf("state after 3 failures = %s, want open", g.State())
		}
		before := o.calls.Load()
		got, _ := Live(t.Context(), g, []string{"A"}, o.fetch)
		if o.calls.Load() != before {
			t.Error("the open breaker let a call through")
		}
		if a := got["A"]; a.Reason != ReasonBreakerOpen || !a.Stale {
			t.Errorf("A = %+v, want a stale copy with reason breaker_open", a)
		}

		// After OpenFor, one probe goes through; it fails, the breaker re-opens.
		time.Sleep(5*time.Second + time.Millisecond)
		_, _ = Live(t.Context(), g, []string{"A"}, o.fetch)
		if g.State() != "open" || o.calls.Load() != before+1 {
			t.Errorf("after a failed probe: state %s, calls %d; want open, %d", g.State(), o.calls.Load(), before+1)
		}
		// The origin recovers: the next probe closes the breaker.
		o.set("ok")
		time.Sleep(5*time.Second + time.Millisecond)
		got, _ = Live(t.Context(), g, []string{"A"}, o.fetch)
		if g.State() != "closed" || got["A"].Source != SourceLive {
			t.Errorf("after recovery: state %s, A %+v; want closed and LIVE", g.State(), got["A"])
		}
	})
}

func TestRejectionsDoNotTripTheBreakerNorHideBehindCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		_, _ = Live(t.Context(), g, []string{"A"}, o.fetch)
		o.set("reject")
		for range 10 {
			got, _ := Live(t.Context(), g, []string{"A"}, o.fetch)
			if apierr.KindOf(got["A"].Err) != apierr.BadUserInput {
				t.Fatalf("A = %+v, want the origin's BAD_USER_INPUT passed on", got["A"])
			}
		}
		if g.State() != "closed" {
			t.Errorf("state = %s after rejections, want closed", g.State())
		}
	})
}

func TestConcurrentIdenticalMissesMakeOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		release := make(chan struct{})
		slow := func(ctx context.Context, keys []string) (map[string]int, error) {
			<-release
			return o.fetch(ctx, keys)
		}
		var wg sync.WaitGroup
		results := make([]map[string]Item[int], 1000)
		for i := range results {
			wg.Go(func() {
				results[i], _ = Live(t.Context(), g, []string{"B", "A"}, slow)
			})
		}
		synctest.Wait() // every caller is blocked on the one flight
		close(release)
		wg.Wait()
		if n := o.calls.Load(); n != 1 {
			t.Errorf("origin calls = %d for 1000 identical misses, want 1", n)
		}
		for i, r := range results {
			if r["A"].Value != 1 || r["B"].Value != 2 {
				t.Fatalf("caller %d got %+v", i, r)
			}
		}
	})
}

func TestCallerCancellationDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		release := make(chan struct{})
		slow := func(ctx context.Context, keys []string) (map[string]int, error) {
			<-release
			return o.fetch(ctx, keys)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var impatient, patient error
		var got map[string]Item[int]
		var wg sync.WaitGroup
		wg.Go(func() { _, impatient = Live(ctx, g, []string{"A"}, slow) })
		wg.Go(func() { got, patient = Live(t.Context(), g, []string{"A"}, slow) })
		synctest.Wait()
		cancel()
		synctest.Wait()
		close(release)
		wg.Wait()
		if !errors.Is(impatient, context.Canceled) {
			t.Errorf("cancelled caller: err = %v, want context.Canceled", impatient)
		}
		if patient != nil || got["A"].Source != SourceLive {
			t.Errorf("patient caller: %+v, %v; want a live answer", got, patient)
		}
		if g.State() != "closed" {
			t.Errorf("state = %s, want closed", g.State())
		}
	})
}

func TestCachedServesFreshCopiesAndRevalidatesStaleOnesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, o := newGuard(t), newOrigin()
		p := Policy{MaxAge: 30 * time.Second, StaleWhileRevalidate: 10 * time.Minute}

		// No copy: the caller waits for the origin.
		got, _ := Cached(t.Context(), g, []string{"A", "B"}, p, o.fetch)
		if o.calls.Load() != 1 || got["A"].Source != SourceLive {
			t.Fatalf("cold: calls %d, A %+v; want one call, LIVE", o.calls.Load(), got["A"])
		}

		// Young copies: no origin call.
		time.Sleep(10 * time.Second)
		got, _ = Cached(t.Context(), g, []string{"A", "B"}, p, o.fetch)
		if o.calls.Load() != 1 || got["A"].Source != SourceCache || got["A"].Stale {
			t.Errorf("warm: calls %d, A %+v; want no call, a CACHE copy not stale", o.calls.Load(), got["A"])
		}

		// Past max-age: served at once; one background refresh, held in
		// flight here, serves 50 callers.
		time.Sleep(time.Minute)
		o.stock["A"] = 7
		gate := make(chan struct{})
		gated := func(ctx context.Context, keys []string) (map[string]int, error) {
			<-gate
			return o.fetch(ctx, keys)
		}
		for range 50 {
			got, _ = Cached(t.Context(), g, []string{"A", "B"}, p, gated)
			if got["A"].Value != 1 || got["A"].Source != SourceCache {
				t.Fatalf("stale-while-revalidate served %+v, want the old copy at once", got["A"])
			}
		}
		close(gate)
		g.WaitForRefreshes()
		if n := o.calls.Load(); n != 2 {
			t.Errorf("origin calls = %d, want 2 (one background refresh)", n)
		}
		got, _ = Cached(t.Context(), g, []string{"A"}, p, o.fetch)
		if got["A"].Value != 7 || o.calls.Load() != 2 {
			t.Errorf("after the refresh A = %+v (calls %d), want 7 from the refreshed copy", got["A"], o.calls.Load())
		}

		// Beyond the window: the caller waits for the origin again.
		time.Sleep(11 * time.Minute)
		got, _ = Cached(t.Context(), g, []string{"A"}, p, o.fetch)
		if got["A"].Source != SourceLive {
			t.Errorf("beyond the window: %+v, want LIVE", got["A"])
		}
	})
}

// TestCopiesWrittenElsewhereAreReadAnew checks the decoded copies a guard
// remembers: a copy rewritten in the store by someone else (another
// replica through Redis) must be read as rewritten, never as the decoding
// of the bytes it replaced.
func TestCopiesWrittenElsewhereAreReadAnew(t *testing.T) {
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	newReplica := func() *Guard {
		g, err := New(Config{Origin: "masterdata", Copies: mem, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	reader, writer := newReplica(), newReplica()
	o := newOrigin()
	p := Policy{MaxAge: time.Hour, StaleWhileRevalidate: time.Hour}
	ctx := t.Context()
	if _, err := Live(ctx, writer, []string{"A"}, o.fetch); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read comes from the remembered decoding
		if got, _ := Cached(ctx, reader, []string{"A"}, p, o.fetch); got["A"].Value != 1 || got["A"].Source != SourceCache {
			t.Fatalf("A = %+v, want the copy holding 1", got["A"])
		}
	}
	o.stock["A"] = 9
	if _, err := Live(ctx, writer, []string{"A"}, o.fetch); err != nil {
		t.Fatal(err)
	}
	calls := o.calls.Load()
	if got, _ := Cached(ctx, reader, []string{"A"}, p, o.fetch); got["A"].Value != 9 || o.calls.Load() != calls {
		t.Errorf("after another replica rewrote the copy: A = %+v, want 9 from the copy", got["A"])
	}
}
