package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/adapters/orderstore"
	"meridian/internal/guard"
	"meridian/internal/metrics"
	"meridian/internal/outbox"
)

func TestNewValidatesConfig(t *testing.T) {
	h := newHarness(t, engines()[0], false)
	g := newGuard(t, nil)
	valid := func() outbox.Config { return outbox.Config{Store: h.store, Origin: h.origin, Guard: g} }
	d, err := outbox.New(valid())
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if d.Worker() == "" || strings.ContainsAny(d.Worker(), " \t") {
		t.Errorf("default worker %q, want a name without spaces", d.Worker())
	}
	other, _ := outbox.New(valid())
	if other.Worker() == d.Worker() {
		t.Errorf("two dispatchers got the same default worker %q", d.Worker())
	}
	for name, edit := range map[string]func(*outbox.Config){
		"no store":                     func(c *outbox.Config) { c.Store = nil },
		"no origin":                    func(c *outbox.Config) { c.Origin = nil },
		"no guard":                     func(c *outbox.Config) { c.Guard = nil },
		"negative batch":               func(c *outbox.Config) { c.Batch = -1 },
		"batch over the claim limit":   func(c *outbox.Config) { c.Batch = orderstore.MaxClaim + 1 },
		"negative poll interval":       func(c *outbox.Config) { c.PollInterval = -time.Second },
		"lease within the budget":      func(c *outbox.Config) { c.Lease = 3 * time.Second }, // write budget 2s
		"initial backoff over the max": func(c *outbox.Config) { c.InitialBackoff, c.MaxBackoff = time.Minute, time.Second },
		"worker with a space":          func(c *outbox.Config) { c.Worker = "worker 1" },
	} {
		cfg := valid()
		edit(&cfg)
		if _, err := outbox.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := outbox.New(outbox.Config{}); err == nil || !strings.Contains(err.Error(), "Store") || !strings.Contains(err.Error(), "Guard") {
		t.Errorf("empty config: %v, want every missing field named", err)
	}
}

func TestPlacedOrderIsSentOnceAndAccepted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		m := metrics.New()
		d := h.dispatcher("worker-1", h.store, func(c *outbox.Config) { c.Metrics = m })
		placed := h.place(request("sub_7f3a", "checkout-1", h.products[0], h.products[1]))

		mustDispatch(t, d, outbox.Result{Claimed: 1, Sent: 1})
		mustDispatch(t, d, outbox.Result{})

		got := h.get(placed.ID)
		if got.Status != orderstore.StatusAccepted || got.GlobalOrderID == "" ||
			!slices.Equal(history(got), []string{"PENDING/region", "ACCEPTED/origin"}) {
			t.Errorf("order after sending: %s %q %v, want ACCEPTED with a global id", got.Status, got.GlobalOrderID, history(got))
		}
		if n := h.creates(); n != 1 {
			t.Errorf("Order Management received %d creations, want 1", n)
		}
		at := h.originOrders("sub_7f3a")
		if len(at) != 1 || at[placed.ID] != 1 {
			t.Errorf("Order Management holds %v, want exactly one order for %s", at, placed.ID)
		}
		remote, err := h.origin.Get(testContext(t), got.GlobalOrderID)
		if err != nil {
			t.Fatal(err)
		}
		if remote.Total != placed.Total || remote.ShippingAddressRef != placed.ShippingAddressID || len(remote.Lines) != 2 {
			t.Errorf("Order Management holds %+v, want total %s, address %s, 2 lines", remote, placed.Total, placed.ShippingAddressID)
		}
		// The note and what it says about the person stayed here.
		for _, r := range h.sim.Requests(t).Requests {
			for _, secret := range []string{"13812345678", "王芳", "前台", "cons-0001"} {
				if strings.Contains(r.Body, secret) {
					t.Errorf("%s %s carried %q across the border: %s", r.Method, r.Path, secret, r.Body)
				}
			}
			if got := r.Headers.Get("Idempotency-Key"); r.Route == routeCreate && got != placed.ID {
				t.Errorf("Idempotency-Key %q, want the region order id %s", got, placed.ID)
			}
		}
		if v := metricValue(t, m, "meridian_outbox_dispatch_total", "sent"); v != 1 {
			t.Errorf("dispatch_total{sent} = %v, want 1", v)
		}
	})
}

func TestFailingOriginIsRetriedWithBackoffThenSentOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		var ceilings []time.Duration
		var mu sync.Mutex
		d := h.dispatcher("worker-1", h.store, func(c *outbox.Config) {
			c.Guard = newGuard(t, func(g *guard.Config) { g.FailuresToTrip, g.OpenFor = 3, time.Hour })
			c.Jitter = func(limit time.Duration) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				ceilings = append(ceilings, limit)
				return limit // the longest wait full jitter allows
			}
		})
		placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
		h.faults(map[string]any{"error_rate": 1})

		// Five failed attempts: three 503s open the breaker, two more
		// are refused by it without reaching the origin. Each waits
		// twice as long as the one before, not a moment less.
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
		for i, wait := range want {
			mustDispatch(t, d, outbox.Result{Claimed: 1, Retried: 1})
			h.clock.Advance(wait - time.Microsecond)
			mustDispatch(t, d, outbox.Result{}) // still backing off
			h.clock.Advance(time.Microsecond)
			if got := h.get(placed.ID); got.Status != orderstore.StatusPending {
				t.Fatalf("attempt %d: order is %s, want PENDING", i+1, got.Status)
			}
		}
		if !slices.Equal(ceilings, want) {
			t.Errorf("backoff ceilings %v, want %v", ceilings, want)
		}
		if n := h.creates(); n != 3 {
			t.Errorf("Order Management received %d creations while failing, want 3 (then the breaker held the rest back)", n)
		}

		// The origin recovers. This process's breaker still holds
		// sends back until its open period ends; a replica whose breaker
		// is closed (or this one, later) sends the order.
		h.faults(map[string]any{"error_rate": 0})
		mustDispatch(t, d, outbox.Result{Claimed: 1, Retried: 1})
		if n := h.creates(); n != 3 {
			t.Errorf("the open breaker let a send through: %d creations, want 3", n)
		}
		h.clock.Advance(32 * time.Second)
		mustDispatch(t, h.dispatcher("worker-2", h.store, nil), outbox.Result{Claimed: 1, Sent: 1})
		if got := h.get(placed.ID); got.Status != orderstore.StatusAccepted {
			t.Errorf("order is %s after recovery, want ACCEPTED", got.Status)
		}
		if at := h.originOrders("sub_7f3a"); len(at) != 1 || at[placed.ID] != 1 {
			t.Errorf("Order Management holds %v, want exactly one order for %s", at, placed.ID)
		}
		if n := h.sim.Sim.Stats().Orders; n != 1 {
			t.Errorf("Order Management created %d orders, want 1", n)
		}
	})
}

func TestRefusedOrderIsRejectedWithAReason(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		m := metrics.New()
		d := h.dispatcher("worker-1", h.store, func(c *outbox.Config) { c.Metrics = m; c.PollInterval = 5 * time.Millisecond })

		stale := h.products[0]
		stale.Price = "1.00" // the price shown was not master data's
		priced := h.place(request("sub_7f3a", "checkout-1", h.products[1], stale))
		short := request("sub_7f3a", "checkout-2", h.products[2])
		short.Lines[0].Quantity = 999
		unstocked := h.place(short)
		good := h.place(request("sub_7f3a", "checkout-3", h.products[3]))

		mustDispatch(t, d, outbox.Result{Claimed: 3, Sent: 1, Dead: 2})
		for _, tt := range []struct {
			id, reason string
		}{
			{priced.ID, "the price of " + stale.SKU + " changed"},
			{unstocked.ID, "there is not enough stock of " + h.products[2].SKU},
		} {
			got := h.get(tt.id)
			if got.Status != orderstore.StatusRejected || got.RejectReason != tt.reason ||
				!slices.Equal(history(got), []string{"PENDING/region", "REJECTED/origin"}) {
				t.Errorf("order %s: %s %q %v, want REJECTED: %q", tt.id, got.Status, got.RejectReason, history(got), tt.reason)
			}
		}
		if got := h.get(good.ID); got.Status != orderstore.StatusAccepted {
			t.Errorf("the valid order beside them is %s, want ACCEPTED", got.Status)
		}
		dead, err := h.store.DeadLetters(testContext(t), 10)
		if err != nil || len(dead) != 2 {
			t.Fatalf("DeadLetters = %d, %v; want 2", len(dead), err)
		}
		// Refused orders are not sent again.
		h.clock.Advance(time.Hour)
		mustDispatch(t, d, outbox.Result{})
		if n := h.creates(); n != 3 {
			t.Errorf("Order Management received %d creations, want 3", n)
		}
		if v := metricValue(t, m, "meridian_outbox_dispatch_total", "dead"); v != 2 {
			t.Errorf("dispatch_total{dead} = %v, want 2", v)
		}

		// Run keeps the gauges.
		ctx, cancel := context.WithCancel(testContext(t))
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		eventually(t, 5*time.Second, "dead letter gauge", func() bool {
			return metricValue(t, m, "meridian_outbox_dead_letters") == 2
		})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if v := metricValue(t, m, "meridian_outbox_pending"); v != 0 {
			t.Errorf("pending gauge = %v, want 0", v)
		}
	})
}

// forgetfulStore records nothing of a successful send, as a worker killed
// between Order Management's answer and the commit of MarkSent would.
type forgetfulStore struct {
	outbox.Store
}

func (forgetfulStore) MarkSent(context.Context, string, string, string, orderstore.Status) error {
	return errors.New("killed before recording")
}

func TestCrashAfterOriginAcceptedIsResentUnderTheSameKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		doomed := h.dispatcher("worker-doomed", forgetfulStore{h.openStore()}, nil)
		survivor := h.dispatcher("worker-survivor", h.openStore(), nil)
		placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))

		mustDispatch(t, doomed, outbox.Result{Claimed: 1, Unrecorded: 1})
		if got := h.get(placed.ID); got.Status != orderstore.StatusPending || h.creates() != 1 {
			t.Fatalf("after the crash: order %s, %d creations; want PENDING and 1", got.Status, h.creates())
		}
		// The entry stays with the dead worker until its lease ends.
		h.clock.Advance(outbox.DefaultLease - time.Second)
		mustDispatch(t, survivor, outbox.Result{})
		h.clock.Advance(time.Second)
		mustDispatch(t, survivor, outbox.Result{Claimed: 1, Sent: 1})

		if n := h.creates(); n != 2 {
			t.Errorf("Order Management received %d creations, want 2 (the first and the resend)", n)
		}
		at := h.originOrders("sub_7f3a")
		if len(at) != 1 || at[placed.ID] != 1 || h.sim.Sim.Stats().Orders != 1 {
			t.Errorf("Order Management holds %v (%d in all), want exactly one order for %s", at, h.sim.Sim.Stats().Orders, placed.ID)
		}
		list, _ := h.origin.List(testContext(t), "sub_7f3a")
		if got := h.get(placed.ID); got.Status != orderstore.StatusAccepted || len(list) != 1 || got.GlobalOrderID != list[0].ID {
			t.Errorf("order %s as %q, want ACCEPTED as the origin's only order", got.Status, got.GlobalOrderID)
		}
	})
}

func TestShutdownMidSendGivesTheEntryBack(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		first := h.dispatcher("worker-1", h.store, func(c *outbox.Config) {
			c.PollInterval = time.Hour
			// Long enough that only the shutdown ends the send.
			c.Guard = newGuard(t, func(g *guard.Config) { g.WriteBudget = 10 * time.Second })
		})
		placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
		h.faults(map[string]any{"blackhole": true})

		ctx, cancel := context.WithCancel(testContext(t))
		done := make(chan error)
		go func() { done <- first.Run(ctx) }()
		eventually(t, 5*time.Second, "the send reaching the origin", func() bool { return h.creates() == 1 })
		cancel() // SIGTERM: the request is in flight
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.faults(map[string]any{"blackhole": false})

		// Due at once for another replica, without waiting for the
		// lease, and sent under the same key.
		second := h.dispatcher("worker-2", h.openStore(), nil)
		mustDispatch(t, second, outbox.Result{Claimed: 1, Sent: 1})
		if at := h.originOrders("sub_7f3a"); len(at) != 1 || at[placed.ID] != 1 {
			t.Errorf("Order Management holds %v, want exactly one order for %s", at, placed.ID)
		}
	})
}

// roundsStore signals the end of each of Run's housekeeping rounds (the
// dead letter count is their last store call).
type roundsStore struct {
	outbox.Store
	rounds chan struct{}
}

func (s roundsStore) DeadLetterCount(ctx context.Context) (int, error) {
	n, err := s.Store.DeadLetterCount(ctx)
	select {
	case s.rounds <- struct{}{}:
	default:
	}
	return n, err
}

func TestNotifyWakesRun(t *testing.T) {
	h := newHarness(t, engines()[0], false)
	rounds := make(chan struct{}, 1)
	d := h.dispatcher("worker-1", roundsStore{h.store, rounds}, func(c *outbox.Config) {
		c.PollInterval, c.Metrics = time.Hour, metrics.New()
	})
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	<-rounds // the first round is over; Run sleeps for an hour
	placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
	time.Sleep(50 * time.Millisecond)
	if got := h.get(placed.ID); got.Status != orderstore.StatusPending {
		t.Fatalf("order is %s before any Notify, want PENDING", got.Status)
	}
	d.Notify()
	d.Notify() // coalesces, never blocks
	eventually(t, 5*time.Second, "the order accepted after Notify", func() bool {
		return h.get(placed.ID).Status == orderstore.StatusAccepted
	})
	if err := d.Run(ctx); err == nil {
		t.Error("a second Run on the same dispatcher started")
	}
}

// TestTwoDispatchersOnTwoPoolsSendEachOrderOnce runs two dispatchers, as
// two replicas with their own pools, while 200 orders are placed: every
// order reaches Order Management exactly once.
func TestTwoDispatchersOnTwoPoolsSendEachOrderOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, true)
		ms := []*metrics.Metrics{metrics.New(), metrics.New()}
		var ds []*outbox.Dispatcher
		for i, m := range ms {
			ds = append(ds, h.dispatcher(fmt.Sprintf("replica-%d", i), h.openStore(), func(c *outbox.Config) {
				c.Metrics, c.PollInterval = m, 5*time.Millisecond
			}))
		}
		ctx, cancel := context.WithCancel(testContext(t))
		var running sync.WaitGroup
		for _, d := range ds {
			running.Go(func() {
				if err := d.Run(ctx); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		}

		const total, placers = 200, 4
		var placing sync.WaitGroup
		for p := range placers {
			placing.Go(func() {
				for i := p; i < total; i += placers {
					subject := fmt.Sprintf("sub_%02d", i%20)
					req := request(subject, fmt.Sprintf("checkout-%03d", i), h.products[i%len(h.products)])
					if _, _, err := h.store.Place(testContext(t), req); err != nil {
						t.Errorf("Place: %v", err)
						return
					}
					ds[i%2].Notify()
				}
			})
		}
		placing.Wait()
		eventually(t, time.Minute, "every order sent", func() bool {
			n, err := h.store.Pending(testContext(t))
			return err == nil && n == 0
		})
		cancel()
		running.Wait()

		if n := h.creates(); n != total {
			t.Errorf("Order Management received %d creations for %d orders, want one each", n, total)
		}
		if n := h.sim.Sim.Stats().Orders; n != total {
			t.Errorf("Order Management created %d orders, want %d", n, total)
		}
		held := 0
		for s := range 20 {
			for ref, n := range h.originOrders(fmt.Sprintf("sub_%02d", s)) {
				if n != 1 {
					t.Errorf("Order Management holds %d orders for %s", n, ref)
				}
				held++
			}
		}
		sent := []float64{
			metricValue(t, ms[0], "meridian_outbox_dispatch_total", "sent"),
			metricValue(t, ms[1], "meridian_outbox_dispatch_total", "sent"),
		}
		if held != total || sent[0]+sent[1] != total {
			t.Errorf("%d region orders at the origin, %v sent by the replicas; want %d", held, sent, total)
		}
		t.Logf("replicas sent %v orders", sent)
	})
}

// flakyStore fails the first failures MarkSent calls with err, then
// passes them to the real store.
type flakyStore struct {
	outbox.Store
	mu       sync.Mutex
	failures int
	err      error
	calls    int
}

func (s *flakyStore) MarkSent(ctx context.Context, entryID, worker, globalOrderID string, status orderstore.Status) error {
	s.mu.Lock()
	s.calls++
	fail := s.calls <= s.failures
	s.mu.Unlock()
	if fail {
		return s.err
	}
	return s.Store.MarkSent(ctx, entryID, worker, globalOrderID, status)
}

// TestSentOutcomeSurvivesPassingStoreErrors checks that an order the
// origin accepted is recorded as sent although the store refused the
// first writes for a reason that passes (a busy database), so it is not
// sent again when its lease ends; and that a lost lease is not retried.
func TestSentOutcomeSurvivesPassingStoreErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		busy := &flakyStore{Store: h.store, failures: 3, err: errors.New("database is locked (SQLITE_BUSY)")}
		d := h.dispatcher("worker-1", busy, nil)
		placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
		mustDispatch(t, d, outbox.Result{Claimed: 1, Sent: 1})
		if got := h.get(placed.ID); got.Status != orderstore.StatusAccepted || busy.calls != 4 {
			t.Errorf("after three busy writes: order %s, %d MarkSent calls; want ACCEPTED after 4", got.Status, busy.calls)
		}
		if n := h.creates(); n != 1 {
			t.Errorf("Order Management received %d creations, want 1", n)
		}

		lost := &flakyStore{Store: h.store, failures: 100, err: fmt.Errorf("mark sent: %w", orderstore.ErrLeaseLost)}
		d = h.dispatcher("worker-2", lost, nil)
		h.place(request("sub_7f3a", "checkout-2", h.products[1]))
		mustDispatch(t, d, outbox.Result{Claimed: 1, Unrecorded: 1})
		if lost.calls != 1 {
			t.Errorf("a lost lease was written %d times, want once", lost.calls)
		}
	})
}
