package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"meridian/adapters/orders"
	"meridian/adapters/orderstore"
	"meridian/internal/apierr"
	"meridian/internal/originhttp"
)

// Outcomes of one attempt, as counted by meridian_outbox_dispatch_total.
const (
	outcomeSent  = "sent"
	outcomeRetry = "retry"
	outcomeDead  = "dead"
)

// Result says what one DispatchOnce did.
type Result struct {
	Claimed int // entries claimed
	Sent    int // orders Order Management now holds, recorded
	// Retried counts attempts that failed and were given back with a
	// backoff, or given back untried (a shutdown, a lease too short).
	Retried int
	Dead    int // orders Order Management refused, now rejected
	// Unrecorded counts attempts whose outcome could not be recorded
	// (the lease was lost to another worker, or the store failed); those
	// entries are claimed and sent again once their lease ends.
	Unrecorded int
}

// Notify asks Run for a round at once, without waiting for it: the gateway
// calls it after Place committed, so an order leaves within milliseconds
// rather than at the next poll. Notifications coalesce; it never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default: // a round is already pending
	}
}

// Run dispatches and polls until ctx ends, then returns nil once the
// attempts in flight have recorded their outcomes (each within a short
// bookkeeping deadline). Each round claims up to Batch due entries and sends
// them concurrently; a full batch starts the next round at once, otherwise
// Run waits PollInterval or a Notify. At most once per PollInterval a round
// also polls the statuses of orders that have gone quiet and refreshes the
// outbox gauges. Store or origin failures are logged and retried in later
// rounds; they never end Run. A second Run on the same Dispatcher while one
// is running fails at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("outbox: Run is already running for this dispatcher")
	}
	defer d.running.Store(false)
	d.log.Info("order outbox dispatcher started", "worker", d.cfg.Worker, "batch", d.cfg.Batch, "lease", d.cfg.Lease)
	timer := time.NewTimer(d.cfg.PollInterval)
	defer timer.Stop()
	var lastHousekeeping time.Time
	for {
		res, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("order outbox round failed", "worker", d.cfg.Worker, "err", err)
		}
		if now := d.cfg.Now(); ctx.Err() == nil && (lastHousekeeping.IsZero() || now.Sub(lastHousekeeping) >= d.cfg.PollInterval) {
			lastHousekeeping = now
			if _, err := d.PollStatuses(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("order status poll failed", "worker", d.cfg.Worker, "err", err)
			}
			d.refreshGauges(ctx)
		}
		if ctx.Err() != nil {
			d.log.Info("order outbox dispatcher stopped", "worker", d.cfg.Worker)
			return nil
		}
		if err == nil && res.Claimed == d.cfg.Batch {
			continue // a full batch: more may be due
		}
		// Since Go 1.23 Reset discards a pending tick, so a wake-up
		// by Notify leaves nothing stale behind.
		timer.Reset(d.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// DispatchOnce runs one round of sending: it claims up to Batch due entries
// and sends them concurrently, each through the guard, and records each
// outcome. It returns when every attempt has been recorded. Only a failed
// claim is an error; failures of single attempts are in the Result and the
// log. Run calls it; tests and operators may too.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (Result, error) {
	entries, err := d.cfg.Store.Claim(ctx, d.cfg.Worker, d.cfg.Batch, d.cfg.Lease)
	if err != nil {
		return Result{}, fmt.Errorf("outbox: claim: %w", err)
	}
	res := Result{Claimed: len(entries)}
	outcomes := make([]string, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { outcomes[i] = d.attempt(ctx, e) })
	}
	wg.Wait()
	for _, o := range outcomes {
		switch o {
		case outcomeSent:
			res.Sent++
		case outcomeRetry:
			res.Retried++
		case outcomeDead:
			res.Dead++
		default:
			res.Unrecorded++
		}
	}
	return res, nil
}

// attempt sends one claimed entry and records the outcome, returning it, or
// "" when it could not be recorded.
func (d *Dispatcher) attempt(ctx context.Context, e orderstore.OutboxEntry) string {
	log := d.log.With("worker", d.cfg.Worker, "entry", e.ID, "order", e.OrderID, "attempt", e.Attempts)
	now := d.cfg.Now()
	if e.LockedUntil.Sub(now) < d.cfg.Guard.WriteBudget()+leaseMargin {
		// The claim took so long that the lease could end during
		// the call, letting another worker send too. Give the entry
		// back untouched instead.
		return d.recordOutcome(ctx, e, log, outcomeRetry, func(book context.Context) error {
			return d.cfg.Store.MarkRetry(book, e.ID, d.cfg.Worker, now, "lease too short to send; released")
		})
	}

	var placed orders.Order
	err := d.cfg.Guard.Call(ctx, func(ctx context.Context) error {
		var err error
		// The region order id is the Idempotency-Key: the same on
		// every attempt, on every replica, after every crash.
		placed, _, err = d.cfg.Origin.Create(ctx, e.Order.ID, createOrder(e.Order))
		return err
	})
	now = d.cfg.Now()
	switch {
	case err == nil:
		status, ok := fromOrigin(placed.Status)
		if !ok {
			// A status this region does not know yet: the origin
			// holds the order, which is what ACCEPTED means here.
			status = orderstore.StatusAccepted
		}
		return d.recordOutcome(ctx, e, log, outcomeSent, func(book context.Context) error {
			return d.cfg.Store.MarkSent(book, e.ID, d.cfg.Worker, placed.ID, status)
		})
	case refused(err):
		reason := deadReason(err, e.Order)
		log.Warn("Order Management refused an order; it is rejected", "reason", reason, "err", err)
		return d.recordOutcome(ctx, e, log, outcomeDead, func(book context.Context) error {
			return d.cfg.Store.MarkDead(book, e.ID, d.cfg.Worker, reason)
		})
	case ctx.Err() != nil:
		// Shutting down mid-call: the origin may or may not have the
		// order. Give the entry back due at once, so another replica
		// resends it (same key) without waiting for the lease.
		return d.recordOutcome(ctx, e, log, outcomeRetry, func(book context.Context) error {
			return d.cfg.Store.MarkRetry(book, e.ID, d.cfg.Worker, now, "interrupted by shutdown: "+err.Error())
		})
	default:
		next := now.Add(d.backoff(e.Attempts, err))
		log.Info("sending an order failed; will retry", "next_attempt_at", next, "err", err)
		return d.recordOutcome(ctx, e, log, outcomeRetry, func(book context.Context) error {
			return d.cfg.Store.MarkRetry(book, e.ID, d.cfg.Worker, next, err.Error())
		})
	}
}

// Recording an outcome is tried again, this many times at most and only
// while the entry's lease lasts (less leaseMargin), after a store error
// that may pass: the database busy under a burst of writers (SQLite's
// single writer), a connection lost to a failover. An order sent but not
// recorded is otherwise sent again when its lease ends, and stays PENDING
// until then.
const (
	maxRecordAttempts = 8
	firstRecordWait   = 10 * time.Millisecond
	maxRecordWait     = time.Second
)

// recordOutcome writes an attempt's outcome with mark, each try under a
// bookkeeping timeout of its own and not cancelled with ctx (a shutdown
// must still record what was sent), tries again after errors that may
// pass, and counts or logs the result as record does.
func (d *Dispatcher) recordOutcome(ctx context.Context, e orderstore.OutboxEntry, log *slog.Logger, outcome string, mark func(context.Context) error) string {
	deadline := e.LockedUntil.Add(-leaseMargin)
	wait := firstRecordWait
	for try := 1; ; try++ {
		book, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		err := mark(book)
		cancel()
		if err == nil || !mayPass(err) || try == maxRecordAttempts || !d.cfg.Now().Add(wait).Before(deadline) {
			return d.record(log, outcome, err)
		}
		log.Warn("recording an outcome failed; trying again", "outcome", outcome, "try", try, "err", err)
		time.Sleep(wait)
		wait = min(2*wait, maxRecordWait)
	}
}

// mayPass reports whether a failed write of an outcome is worth another
// try: not when the lease has passed to another worker, the entry is gone,
// or the write itself was refused as invalid.
func mayPass(err error) bool {
	return !errors.Is(err, orderstore.ErrLeaseLost) && !errors.Is(err, orderstore.ErrNotFound) && !errors.Is(err, orderstore.ErrInvalidInput)
}

// record counts a recorded outcome, or logs why it could not be recorded.
func (d *Dispatcher) record(log *slog.Logger, outcome string, markErr error) string {
	switch {
	case errors.Is(markErr, orderstore.ErrLeaseLost):
		// Another worker took the entry over after this lease ended;
		// its outcome stands.
		log.Info("outcome not recorded: the entry's lease passed to another worker", "outcome", outcome)
		return ""
	case markErr != nil:
		log.Error("outcome not recorded; the entry is retried when its lease ends", "outcome", outcome, "err", markErr)
		return ""
	}
	if m := d.cfg.Metrics; m != nil {
		m.OutboxDispatch.WithLabelValues(outcome).Inc()
	}
	return outcome
}

// createOrder is what crosses the border for o: references and lines only
// (see orders.CreateOrder). The note and every personal detail stay here.
func createOrder(o orderstore.Order) orders.CreateOrder {
	lines := make([]orders.Line, len(o.Lines))
	for i, l := range o.Lines {
		lines[i] = orders.Line{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	return orders.CreateOrder{
		Subject: o.Subject, RegionOrderRef: o.ID, ShippingAddressRef: o.ShippingAddressID,
		Currency: o.Currency, Lines: lines,
	}
}

// refused reports whether Order Management refused the order itself: it is
// invalid (BadUserInput: a changed price, no stock, an unknown SKU) or
// conflicts with another order under the same key (Conflict). Sending it
// again would be refused again. Anything else (timeouts, 5xx, the breaker,
// Meridian's credentials, a malformed answer) says nothing against the
// order and is retried.
func refused(err error) bool {
	switch apierr.KindOf(err) {
	case apierr.BadUserInput, apierr.Conflict:
		return true
	}
	return false
}

// skuPattern keeps the SKUs named in a reason to what a SKU looks like: the
// reason is shown to customers, and the origin's list is not trusted text.
var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// maxReasonSKUs bounds the SKUs a reason names.
const maxReasonSKUs = 5

// deadReason words Order Management's refusal of o for the customer and the
// consultant: which item and what changed, never the origin's own message.
func deadReason(err error, o orderstore.Order) string {
	var code string
	var skus []string
	if se, ok := originhttp.AsStatusError(err); ok {
		code = se.Code
		for _, s := range se.SKUs {
			if skuPattern.MatchString(s) && len(skus) < maxReasonSKUs {
				skus = append(skus, s)
			}
		}
	}
	items, verb := "an item", "is"
	if len(skus) > 0 {
		items = strings.Join(skus, ", ")
	}
	if len(skus) > 1 {
		verb = "are"
	}
	switch code {
	case "price_mismatch":
		if len(skus) > 1 {
			return "the prices of " + items + " changed"
		}
		return "the price of " + items + " changed"
	case "insufficient_stock":
		return fmt.Sprintf("there is not enough stock of %s", items)
	case "unknown_sku":
		return fmt.Sprintf("%s %s no longer sold", items, verb)
	case "currency_mismatch":
		return fmt.Sprintf("%s %s not sold in %s", items, verb, o.Currency)
	case "invalid_quantity":
		return fmt.Sprintf("the quantity of %s is out of range", items)
	case "duplicate_sku":
		return fmt.Sprintf("%s %s on more than one line", items, verb)
	case "idempotency_key_reused":
		return "Order Management holds a different order under this order's reference"
	}
	return "Order Management refused the order"
}

// backoff is the wait after the attempts-th failed attempt: full jitter
// below min(MaxBackoff, InitialBackoff·2^(attempts-1)), at least
// InitialBackoff so a failing origin is never hammered, and at least the
// origin's Retry-After (capped at MaxBackoff).
func (d *Dispatcher) backoff(attempts int, err error) time.Duration {
	ceiling := d.cfg.InitialBackoff
	for i := 1; i < attempts && ceiling < d.cfg.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, d.cfg.MaxBackoff)
	wait := max(d.cfg.Jitter(ceiling), d.cfg.InitialBackoff)
	if se, ok := originhttp.AsStatusError(err); ok && se.RetryAfter > wait {
		wait = min(se.RetryAfter, d.cfg.MaxBackoff)
	}
	return wait
}

// fromOrigin maps Order Management's statuses to the region's.
func fromOrigin(s orders.Status) (orderstore.Status, bool) {
	switch s {
	case orders.StatusAccepted:
		return orderstore.StatusAccepted, true
	case orders.StatusConfirmed:
		return orderstore.StatusConfirmed, true
	case orders.StatusShipped:
		return orderstore.StatusShipped, true
	}
	return "", false
}

// refreshGauges sets the outbox gauges from the store. A failure is logged
// and leaves the gauges as they were.
func (d *Dispatcher) refreshGauges(ctx context.Context) {
	m := d.cfg.Metrics
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	pending, err := d.cfg.Store.Pending(ctx)
	if err == nil {
		m.OutboxPending.Set(float64(pending))
		var dead int
		dead, err = d.cfg.Store.DeadLetterCount(ctx)
		if err == nil {
			m.OutboxDeadLetters.Set(float64(dead))
		}
	}
	if err != nil {
		d.log.Warn("order outbox gauges not refreshed", "err", err)
	}
}
