package globalsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/internal/testenv"
	"meridian/internal/webhook"
)

// orderReceiver stands in for the gateway's order webhook endpoint: the
// gateway's own webhook.Handler and Verifier, on the simulator's clock,
// with a processing step that decodes every delivery strictly and checks
// it against the documented schema. refuse decides, per verified attempt
// (numbered from 1), whether processing fails, which the handler answers
// 503 so that the simulator retries.
type orderReceiver struct {
	srv      *httptest.Server
	attempts atomic.Int32          // verified deliveries, refused ones included
	got      chan orderStatusEvent // deliveries answered 2xx
}

func newOrderReceiver(t *testing.T, clock *testenv.Clock, refuse func(attempt int) bool) *orderReceiver {
	t.Helper()
	replays, err := webhook.NewMemoryReplays(100)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := webhook.NewVerifier(webhook.VerifierConfig{Secrets: [][]byte{[]byte(testSecret)}, Now: clock.Now, Replays: replays})
	if err != nil {
		t.Fatal(err)
	}
	schema := loadContract(t).Components.Schemas["OrderStatusNotification"].Value
	rcv := &orderReceiver{got: make(chan orderStatusEvent, 16)}
	endpoint := webhook.Handler(verifier, 1<<16, func(_ context.Context, body []byte) error {
		n := int(rcv.attempts.Add(1))
		var ev orderStatusEvent
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Errorf("order webhook: body %s: %v", body, err)
			return fmt.Errorf("%w: %v", webhook.ErrBadPayload, err)
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil || schema.VisitJSON(doc) != nil {
			t.Errorf("order webhook: body %s does not match the documented OrderStatusNotification: %v", body, schema.VisitJSON(doc))
		}
		if refuse != nil && refuse(n) {
			return errors.New("receiver cannot process it now")
		}
		rcv.got <- ev
		return nil
	})
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("order webhook: Content-Type %q want application/json", ct)
		}
		rec := httptest.NewRecorder()
		endpoint.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusServiceUnavailable {
			// 401 (signature), 409 (replay) or 400 (payload): the
			// simulator sent something the gateway refuses.
			t.Errorf("order webhook: the gateway's handler answered %d %s", rec.Code, rec.Body.Bytes())
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (rcv *orderReceiver) next(t *testing.T) orderStatusEvent {
	t.Helper()
	select {
	case ev := <-rcv.got:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no order webhook delivered within 10s")
		return orderStatusEvent{}
	}
}

// newOrderHookHarness is a harness whose Sim announces order statuses to a
// new orderReceiver verifying on the harness's clock. edit adjusts the
// config after the webhook is set.
func newOrderHookHarness(t *testing.T, refuse func(int) bool, edit func(*Config)) (*harness, *orderReceiver) {
	t.Helper()
	clock := testenv.NewClock(testEpoch)
	rcv := newOrderReceiver(t, clock, refuse)
	h := newHarness(t, func(c *Config) {
		c.Now = clock.Now
		c.OrderWebhook = WebhookConfig{URL: rcv.srv.URL + "/hooks/orders", Secret: []byte(testSecret)}
		if edit != nil {
			edit(c)
		}
	})
	h.clock = clock
	return h, rcv
}

// waitOrderDeliveries waits until the Sim has no order notification queued
// or being delivered, so that a test can tell that nothing more is coming.
func waitOrderDeliveries(t *testing.T, s *Sim) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.orderHook.mu.Lock()
		busy := len(s.orderHook.queues)
		s.orderHook.mu.Unlock()
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("order notifications of %d orders still being delivered after 10s", busy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOrderWebhookAnnouncesEachStatusOnce(t *testing.T) {
	t.Parallel()
	// An hour between ticks: only the test's own calls look for changes.
	h, rcv := newOrderHookHarness(t, nil, func(c *Config) { c.OrderWebhookInterval = time.Hour })
	body := newOrderBody("TST-0002", 1, "129.50")
	r := h.createOrder(t, "hook-1", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create order: got %d %s want 201", r.status, r.body)
	}
	o := decode[orderJSON](t, r)
	want := func(status string, at time.Time) orderStatusEvent {
		return orderStatusEvent{OrderID: o.ID, RegionOrderRef: body.RegionOrderRef, Status: status, At: at}
	}
	check := func(step string, want orderStatusEvent) {
		t.Helper()
		if diff := cmp.Diff(want, rcv.next(t)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step, diff)
		}
	}

	check("after create", want(StatusAccepted, testEpoch))
	if r := h.createOrder(t, "hook-1", body); r.status != http.StatusOK {
		t.Fatalf("replay: got %d %s want 200", r.status, r.body)
	}
	h.sim.NotifyOrderTransitions() // nothing moved: nothing to announce

	h.clock.Advance(DefaultConfirmAfter)
	h.sim.NotifyOrderTransitions()
	h.sim.NotifyOrderTransitions()
	check("past ConfirmAfter", want(StatusConfirmed, testEpoch.Add(DefaultConfirmAfter)))

	h.clock.Advance(DefaultShipAfter - DefaultConfirmAfter + time.Second)
	h.sim.NotifyOrderTransitions()
	// One order's notifications go out in turn, so a second "confirmed"
	// would have come before this.
	check("past ShipAfter", want(StatusShipped, testEpoch.Add(DefaultShipAfter)))
	h.clock.Advance(time.Hour)
	h.sim.NotifyOrderTransitions()

	waitOrderDeliveries(t, h.sim)
	select {
	case ev := <-rcv.got:
		t.Errorf("announced again: %+v", ev)
	default:
	}
	if n := rcv.attempts.Load(); n != 3 {
		t.Errorf("receiver got %d deliveries want 3: one per status", n)
	}
	h.sim.Close()
	h.sim.NotifyOrderTransitions() // after Close: does nothing
}

func TestOrderWebhookTickerAnnouncesSkippedStatusesInOrder(t *testing.T) {
	t.Parallel()
	h, rcv := newOrderHookHarness(t, nil, func(c *Config) {
		c.OrderWebhookInterval = 5 * time.Millisecond
		c.ConfirmAfter, c.ShipAfter = time.Minute, time.Minute // confirmed and shipped at once
	})
	r := h.createOrder(t, "ticker-1", newOrderBody("TST-0001", 1, "480.00"))
	if r.status != http.StatusCreated {
		t.Fatalf("create order: got %d %s want 201", r.status, r.body)
	}
	if ev := rcv.next(t); ev.Status != StatusAccepted {
		t.Fatalf("after create: got %+v want accepted", ev)
	}
	// Past both steps before any tick: the ticker, not the test, finds
	// both and announces each, in order.
	h.clock.Advance(2 * time.Minute)
	for _, status := range []string{StatusConfirmed, StatusShipped} {
		if ev := rcv.next(t); ev.Status != status || !ev.At.Equal(testEpoch.Add(time.Minute)) {
			t.Errorf("got %+v want %s at %v", ev, status, testEpoch.Add(time.Minute))
		}
	}
}

func TestOrderWebhookFailureIsRetriedThenGivenUp(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	// The first delivery, "accepted", fails every attempt; later ones go
	// through.
	h, rcv := newOrderHookHarness(t, func(attempt int) bool { return attempt <= webhookAttempts }, func(c *Config) {
		c.OrderWebhookInterval = time.Hour
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	r := h.createOrder(t, "failing-1", newOrderBody("TST-0003", 1, "1299.00"))
	if r.status != http.StatusCreated {
		t.Fatalf("create order: got %d %s want 201", r.status, r.body)
	}
	id := decode[orderJSON](t, r).ID
	waitOrderDeliveries(t, h.sim)
	if n := rcv.attempts.Load(); n != webhookAttempts {
		t.Errorf("attempts: got %d want %d (the first try and the retries)", n, webhookAttempts)
	}
	logged := logs.String()
	for _, want := range []string{"order webhook delivery failed", "order=" + id, "status=accepted", fmt.Sprintf("attempts=%d", webhookAttempts)} {
		if !strings.Contains(logged, want) {
			t.Errorf("log: got %q want it to mention %q", logged, want)
		}
	}
	if strings.Contains(logged, testSecret) {
		t.Errorf("log mentions the secret: %s", logged)
	}

	// Given up for good: the next tick sends the next status, not the
	// failed one again.
	h.sim.NotifyOrderTransitions()
	h.clock.Advance(DefaultConfirmAfter)
	h.sim.NotifyOrderTransitions()
	if ev := rcv.next(t); ev.Status != StatusConfirmed {
		t.Errorf("after the failure: got %+v want confirmed", ev)
	}
	waitOrderDeliveries(t, h.sim)
	if n := rcv.attempts.Load(); n != webhookAttempts+1 {
		t.Errorf("attempts: got %d want %d", n, webhookAttempts+1)
	}
}

// hangingReceiver accepts webhook requests and answers none until the
// sender hangs up; arrived receives a value as each one comes in.
func hangingReceiver() (srv *httptest.Server, arrived chan struct{}) {
	arrived = make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to the end is what lets the server notice
		// the sender hanging up, which ends the request's context.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	return srv, arrived
}

func waitArrived(t *testing.T, arrived <-chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request within 10s")
	}
}

func TestOrderWebhookNeverDelaysCreateAndCloseAbandonsIt(t *testing.T) {
	t.Parallel()
	hang, arrived := hangingReceiver()
	t.Cleanup(hang.Close) // after the Sim's Close has hung up on it
	h := newHarness(t, func(c *Config) {
		c.OrderWebhook = WebhookConfig{URL: hang.URL, Secret: []byte(testSecret)}
		c.OrderWebhookInterval = time.Hour
	})
	start := time.Now()
	if r := h.createOrder(t, "hang-1", newOrderBody("TST-0002", 2, "129.50")); r.status != http.StatusCreated {
		t.Fatalf("create order: got %d %s want 201", r.status, r.body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("create took %v with a receiver that never answers, want it answered at once", d)
	}
	waitArrived(t, arrived)
	// Queue the next two behind the delivery that hangs.
	h.clock.Advance(DefaultShipAfter)
	h.sim.NotifyOrderTransitions()

	closed := time.Now()
	h.sim.Close()
	if d := time.Since(closed); d >= webhookAttemptTimeout {
		t.Errorf("Close took %v with a delivery in progress, want it cut short", d)
	}
	select {
	case <-arrived:
		t.Error("a queued notification was sent after Close")
	default:
	}
}

// TestOrderWebhookCloseLeavesNoGoroutines is not parallel: it counts
// goroutines.
func TestOrderWebhookCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	hang, arrived := hangingReceiver()
	sim, err := New(Config{
		Catalog:              []byte(testCatalog),
		OrderWebhook:         WebhookConfig{URL: hang.URL, Secret: []byte(testSecret)},
		OrderWebhookInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	transport := &http.Transport{}
	client := &http.Client{Transport: transport}
	buf, _ := json.Marshal(newOrderBody("TST-0001", 1, "480.00"))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders/v1/orders", bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idempotencyKeyName, "leak-1")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create order: %v %v", resp, err)
	}
	resp.Body.Close()
	waitArrived(t, arrived)

	sim.Close()
	srv.Close()
	hang.Close()
	transport.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			stacks := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d want at most %d as before\n%s", runtime.NumGoroutine(), before, stacks[:runtime.Stack(stacks, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOrderWebhookConfigValidated(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		edit    func(*Config)
		wantErr string
	}{
		"no secret":         {func(c *Config) { c.OrderWebhook = WebhookConfig{URL: "http://127.0.0.1:1/hooks/orders"} }, "order webhook secret"},
		"short secret":      {func(c *Config) { c.OrderWebhook = WebhookConfig{URL: "http://127.0.0.1:1/h", Secret: []byte("short")} }, "order webhook secret"},
		"relative URL":      {func(c *Config) { c.OrderWebhook = WebhookConfig{URL: "/hooks/orders", Secret: []byte(testSecret)} }, "order webhook URL"},
		"negative interval": {func(c *Config) { c.OrderWebhookInterval = -time.Second }, "order webhook interval"},
	} {
		cfg := Config{Catalog: []byte(testCatalog)}
		tt.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: got %v want an error mentioning %q", name, err, tt.wantErr)
		}
	}
}

func TestWebhookPayloadsMatchTheDocument(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	for name, payload := range map[string]any{
		"ChangeNotification":      webhookEvent{Origin: OriginCMS, Changes: 1},
		"OrderStatusNotification": orderStatusEvent{OrderID: "ord_00000000000000ff", RegionOrderRef: "CN-1", Status: StatusShipped, At: testEpoch},
	} {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Errorf("schema %s is not in the document", name)
			continue
		}
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if err := ref.Value.VisitJSON(v); err != nil {
			t.Errorf("%s: %s does not match the document: %v", name, b, err)
		}
	}
	hooks, _ := doc.Extensions["x-webhooks"].(map[string]any)
	for _, name := range []string{"changeNotification", "orderStatusNotification"} {
		if hooks[name] == nil {
			t.Errorf("x-webhooks does not describe %s", name)
		}
	}
}
