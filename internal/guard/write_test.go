package guard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/cache"
	"meridian/internal/metrics"
)

// writer is a scriptable write to an origin: it counts calls and behaves as
// its mode says.
type writer struct {
	calls atomic.Int32
	mu    sync.Mutex
	mode  string // "ok", "hang", "fail", "reject"
}

func (w *writer) set(mode string) { w.mu.Lock(); w.mode = mode; w.mu.Unlock() }

func (w *writer) write(ctx context.Context) error {
	w.calls.Add(1)
	w.mu.Lock()
	mode := w.mode
	w.mu.Unlock()
	switch mode {
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	case "fail":
		return errors.New("origin: 503 Service Unavailable")
	case "reject":
		return apierr.New(apierr.BadUserInput, "the order was refused")
	}
	return nil
}

func newWriteGuard(t *testing.T, m *metrics.Metrics, edit func(*Config)) *Guard {
	t.Helper()
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 10, MaxBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Origin: "orders", Budget: 300 * time.Millisecond, FailuresToTrip: 3, OpenFor: 5 * time.Second,
		Copies: mem, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestWriteBudgetConfig(t *testing.T) {
	if got := newWriteGuard(t, nil, nil).WriteBudget(); got != DefaultWriteBudget {
		t.Errorf("default write budget = %v, want %v", got, DefaultWriteBudget)
	}
	g := newWriteGuard(t, nil, func(c *Config) { c.WriteBudget = 5 * time.Second })
	if got := g.WriteBudget(); got != 5*time.Second {
		t.Errorf("write budget = %v, want 5s", got)
	}
	mem, _ := cache.NewMemory(cache.MemoryConfig{MaxEntries: 1, MaxBytes: 1024})
	if _, err := New(Config{Origin: "orders", Copies: mem, WriteBudget: -time.Second}); err == nil {
		t.Error("New accepted a negative write budget")
	}
}

func TestCallRunsEveryWriteUnderTheWriteBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newWriteGuard(t, nil, nil)
		release := make(chan struct{})
		var calls atomic.Int32
		deadlines := make(chan time.Duration, 50)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				err := g.Call(t.Context(), func(ctx context.Context) error {
					calls.Add(1)
					dl, _ := ctx.Deadline()
					deadlines <- time.Until(dl)
					<-release
					return nil
				})
				if err != nil {
					t.Errorf("Call: %v", err)
				}
			})
		}
		synctest.Wait()
		// Identical concurrent writes are never collapsed: every one
		// reaches the origin.
		if n := calls.Load(); n != 50 {
			t.Errorf("origin calls = %d for 50 concurrent writes, want 50", n)
		}
		close(release)
		wg.Wait()
		close(deadlines)
		for d := range deadlines {
			if d != DefaultWriteBudget {
				t.Fatalf("the write saw a deadline %v away, want the write budget %v", d, DefaultWriteBudget)
			}
		}
	})
}

func TestCallTimesOutAtTheWriteBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, w := newWriteGuard(t, nil, nil), &writer{mode: "hang"}
		start := time.Now()
		err := g.Call(t.Context(), w.write)
		if waited := time.Since(start); waited != DefaultWriteBudget {
			t.Errorf("waited %v (fake clock), want exactly the write budget %v", waited, DefaultWriteBudget)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if errors.Is(err, ErrBreakerOpen) {
			t.Errorf("err = %v matches ErrBreakerOpen; the origin was called", err)
		}
	})
}

func TestCallBreakerOpensRefusesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := metrics.New()
		g, w := newWriteGuard(t, m, nil), &writer{mode: "fail"}
		for range 3 {
			if err := g.Call(t.Context(), w.write); err == nil || errors.Is(err, ErrBreakerOpen) {
				t.Fatalf("failing write: err = %v, want the origin's error", err)
			}
		}
		if g.State() != "open" {
			t.Fatalf("state after 3 failures = %s, want open", g.State())
		}
		before := w.calls.Load()
		err := g.Call(t.Context(), w.write)
		if !errors.Is(err, ErrBreakerOpen) {
			t.Errorf("err = %v, want ErrBreakerOpen", err)
		}
		if w.calls.Load() != before {
			t.Error("the open breaker let a write through")
		}

		// After OpenFor one probe goes through; it succeeds and closes
		// the breaker.
		w.set("ok")
		time.Sleep(5*time.Second + time.Millisecond)
		if err := g.Call(t.Context(), w.write); err != nil {
			t.Fatalf("probe: %v", err)
		}
		if g.State() != "closed" {
			t.Errorf("state after a successful probe = %s, want closed", g.State())
		}
		for _, tt := range []struct {
			outcome string
			want    float64
		}{{"error", 3}, {"breaker_open", 1}, {"ok", 1}} {
			if got := counterValue(t, m, "meridian_origin_requests_total", "orders", tt.outcome); got != tt.want {
				t.Errorf("meridian_origin_requests_total{outcome=%q} = %v, want %v", tt.outcome, got, tt.want)
			}
		}
	})
}

func TestCallRefusalsPassThroughWithoutTripping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, w := newWriteGuard(t, nil, nil), &writer{mode: "reject"}
		for range 10 {
			err := g.Call(t.Context(), w.write)
			if e, ok := apierr.As(err); !ok || e.Kind != apierr.BadUserInput || e.Message != "the order was refused" {
				t.Fatalf("err = %v, want the origin's BAD_USER_INPUT unchanged", err)
			}
		}
		if g.State() != "closed" || w.calls.Load() != 10 {
			t.Errorf("state %s after %d refusals, want closed after 10", g.State(), w.calls.Load())
		}
	})
}

func TestCallAbandonedByItsCallerDoesNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := metrics.New()
		g, w := newWriteGuard(t, m, nil), &writer{mode: "fail"}
		abandoned := func() error {
			ctx, cancel := context.WithCancel(t.Context())
			go func() { time.Sleep(100 * time.Millisecond); cancel() }()
			return g.Call(ctx, (&writer{mode: "hang"}).write)
		}
		// Two failures, then abandoned calls: they must not reset the
		// count (as a success would), nor add to it.
		_ = g.Call(t.Context(), w.write)
		_ = g.Call(t.Context(), w.write)
		for range 5 {
			if err := abandoned(); !errors.Is(err, context.Canceled) {
				t.Fatalf("abandoned call: err = %v, want context.Canceled", err)
			}
		}
		if g.State() != "closed" {
			t.Fatalf("state = %s after 2 failures and abandoned calls, want closed", g.State())
		}
		_ = g.Call(t.Context(), w.write)
		if g.State() != "open" {
			t.Errorf("state = %s after the third failure, want open", g.State())
		}
		if got := counterValue(t, m, "meridian_origin_requests_total", "orders", "cancelled"); got != 5 {
			t.Errorf("cancelled calls counted = %v, want 5", got)
		}

		// A caller already gone takes no breaker slot and reaches no
		// origin.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		before := w.calls.Load()
		if err := g.Call(ctx, w.write); !errors.Is(err, context.Canceled) || w.calls.Load() != before {
			t.Errorf("call with a cancelled context: err %v, calls %d; want context.Canceled and no call", err, w.calls.Load()-before)
		}
	})
}

// counterValue reads a counter of m by name and label values, in label
// name order; a series never set reads 0.
func counterValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			var values []string
			for _, l := range metric.GetLabel() {
				values = append(values, l.GetValue())
			}
			if slices.Equal(values, labels) {
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}
