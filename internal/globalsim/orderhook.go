package globalsim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// orderStatusEvent is the body of an order status notification. Like the
// order API it carries no personal data: the global order id, the
// in-country reference the region chose, and where the order stands.
type orderStatusEvent struct {
	OrderID        string    `json:"orderId"`
	RegionOrderRef string    `json:"regionOrderRef"`
	Status         string    `json:"status"`
	At             time.Time `json:"at"`
}

// openOrder is an order whose last status, shipped, has not been announced
// yet.
type openOrder struct {
	id, regionOrderRef string
	createdAt          time.Time
	// announced is how many statuses of the order's history have been
	// queued for delivery: the history only grows, so a count is enough
	// to send each status once.
	announced int
}

// orderNotifier announces order status changes to Config.OrderWebhook.
//
// Statuses are not events but a function of the clock (orderBook.history),
// so transitions are found by comparison: every tick compares each open
// order's history with what was announced. Announcements are queued per
// order and one goroutine per order with a non-empty queue delivers them in
// turn, so a receiver never learns "shipped" before "confirmed" from a
// retry that was overtaken. Orders are forgotten once shipped is queued,
// which bounds the memory to the orders still in progress.
type orderNotifier struct {
	send     *notifier
	history  func(created, now time.Time) []statusEntry
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	closed bool                          // guarded by mu; no delivery starts once set
	open   map[string]*openOrder         // by order id; guarded by mu
	queues map[string][]orderStatusEvent // by order id; a key is present while its delivery goroutine runs; guarded by mu

	stop    chan struct{} // closed by close to end the ticker
	ticking sync.WaitGroup
}

// newOrderNotifier returns nil when cfg sends nothing; a nil orderNotifier's
// methods do nothing. Otherwise it starts the ticker, which runs until
// close.
func newOrderNotifier(cfg WebhookConfig, interval time.Duration, history func(created, now time.Time) []statusEntry, now func() time.Time, log *slog.Logger) *orderNotifier {
	send := newNotifier(cfg, now, log)
	if send == nil {
		return nil
	}
	on := &orderNotifier{
		send:     send,
		history:  history,
		now:      now,
		log:      log,
		interval: interval,
		open:     map[string]*openOrder{},
		queues:   map[string][]orderStatusEvent{},
		stop:     make(chan struct{}),
	}
	on.ticking.Go(on.tickEvery)
	return on
}

// tickEvery calls tick every interval until close. The ticker is real time
// whatever the Sim's clock: it only decides how soon a change of the clock
// is noticed.
func (on *orderNotifier) tickEvery() {
	t := time.NewTicker(on.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			on.tick()
		case <-on.stop:
			return
		}
	}
}

// track starts following an order just created and announces its first
// status, without waiting for the delivery.
func (on *orderNotifier) track(o *order) {
	if on == nil {
		return
	}
	now := on.now()
	on.mu.Lock()
	defer on.mu.Unlock()
	if on.closed {
		return
	}
	oo := &openOrder{id: o.id, regionOrderRef: o.req.RegionOrderRef, createdAt: o.createdAt}
	on.open[oo.id] = oo
	on.advance(oo, now)
}

// tick announces every status the open orders reached since they were last
// looked at, and returns without waiting for the deliveries.
func (on *orderNotifier) tick() {
	if on == nil {
		return
	}
	now := on.now()
	on.mu.Lock()
	defer on.mu.Unlock()
	if on.closed {
		return
	}
	for _, oo := range on.open {
		on.advance(oo, now)
	}
}

// advance queues the statuses oo reached by now that were not queued
// before, oldest first, and forgets oo once its last status is queued. An
// order that passed more than one status since the last tick (a clock
// moved by a test, a long interval) gets each of them. Call with mu held.
func (on *orderNotifier) advance(oo *openOrder, now time.Time) {
	h := on.history(oo.createdAt, now)
	if len(h) <= oo.announced {
		return
	}
	events := make([]orderStatusEvent, 0, len(h)-oo.announced)
	for _, st := range h[oo.announced:] {
		events = append(events, orderStatusEvent{OrderID: oo.id, RegionOrderRef: oo.regionOrderRef, Status: st.Status, At: st.At})
	}
	oo.announced = len(h)
	if h[len(h)-1].Status == StatusShipped {
		delete(on.open, oo.id)
	}
	_, delivering := on.queues[oo.id]
	on.queues[oo.id] = append(on.queues[oo.id], events...)
	if !delivering {
		// Started under mu with closed false, so close's Wait cannot
		// miss it.
		on.send.wg.Go(func() { on.deliverQueue(oo.id) })
	}
}

// deliverQueue delivers the order's queued notifications one at a time
// until the queue is empty or the simulator closes, then removes the queue
// so that the next announcement starts a new goroutine.
func (on *orderNotifier) deliverQueue(id string) {
	for {
		on.mu.Lock()
		q := on.queues[id]
		if len(q) == 0 || on.send.ctx.Err() != nil {
			delete(on.queues, id)
			on.mu.Unlock()
			if len(q) > 0 {
				on.log.Warn("order webhook abandoned: simulator closing", "order", id, "statuses", len(q))
			}
			return
		}
		ev := q[0]
		on.queues[id] = q[1:]
		on.mu.Unlock()

		body, err := json.Marshal(ev)
		if err != nil {
			// Strings and a time.Time always encode.
			panic(fmt.Sprintf("globalsim: encode order webhook event: %v", err))
		}
		on.send.deliver("order webhook", body, "order", ev.OrderID, "status", ev.Status)
	}
}

// close stops the ticker, refuses later announcements, abandons the
// deliveries in progress and queued, and waits for every goroutine the
// notifier started. It is idempotent.
func (on *orderNotifier) close() {
	if on == nil {
		return
	}
	on.mu.Lock()
	wasClosed := on.closed
	on.closed = true
	on.mu.Unlock()
	if !wasClosed {
		close(on.stop)
	}
	on.ticking.Wait()
	on.send.close()
}

// NotifyOrderTransitions announces to Config.OrderWebhook every status the
// orders reached, by the clock (Config.Now), since they were last
// announced, and returns without waiting for the deliveries. The
// simulator's ticker calls it every Config.OrderWebhookInterval; a test
// that moves a fake clock may call it instead of waiting for a tick. Each
// status of each order is announced once however often it is called. It
// does nothing without Config.OrderWebhook or after Close.
func (s *Sim) NotifyOrderTransitions() { s.orderHook.tick() }
