package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"meridian/adapters/orders"
	"meridian/adapters/orderstore"
	"meridian/internal/apierr"
	"meridian/internal/guard"
	"meridian/internal/webhook"
)

// PollStatuses runs one round of the polling safety net and returns how
// many orders it asked Order Management about: up to Batch orders that it
// accepted, that are not final, and that the region has heard nothing of
// for StatusPollAfter, longest silent first, read concurrently through the
// guard. Every status in an order's history is applied in order with
// source "poll" (monotonic: nothing moves back), and the order counts as
// heard of, so it goes to the back of the list even when nothing changed.
// An order Order Management does not know is logged and also counts as
// heard of, so it is not asked about every round. The reads go through the
// guard's Call, with the write budget: they are background work no reader
// waits on, and a last-known-good copy would defeat their purpose. Failures
// of single orders are logged; those the open breaker refused are not
// (the breaker already says the origin is down). Only a failure to list the
// orders is an error.
func (d *Dispatcher) PollStatuses(ctx context.Context) (int, error) {
	quiet, err := d.cfg.Store.InFlight(ctx, d.cfg.Now().Add(-d.cfg.StatusPollAfter), d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("outbox: orders to poll: %w", err)
	}
	var wg sync.WaitGroup
	for _, o := range quiet {
		wg.Go(func() { d.poll(ctx, o) })
	}
	wg.Wait()
	return len(quiet), nil
}

func (d *Dispatcher) poll(ctx context.Context, o orderstore.Order) {
	log := d.log.With("worker", d.cfg.Worker, "order", o.ID, "global_order", o.GlobalOrderID)
	var got orders.Order
	err := d.cfg.Guard.Call(ctx, func(ctx context.Context) error {
		var err error
		got, err = d.cfg.Origin.Get(ctx, o.GlobalOrderID)
		return err
	})
	switch {
	case apierr.KindOf(err) == apierr.NotFound:
		log.Warn("Order Management does not know an order it accepted", "err", err)
		// Noted as heard of, at its current status, so the next
		// question waits StatusPollAfter.
		d.apply(ctx, log, orderstore.StatusUpdate{OrderID: o.ID, Status: o.Status, At: d.cfg.Now(), Source: orderstore.SourcePoll})
		return
	case errors.Is(err, guard.ErrBreakerOpen), ctx.Err() != nil:
		return
	case err != nil:
		log.Info("polling an order's status failed", "err", err)
		return
	}
	for _, h := range got.StatusHistory {
		status, ok := fromOrigin(h.Status)
		if !ok {
			log.Warn("Order Management reported a status this region does not know", "status", string(h.Status))
			continue
		}
		d.apply(ctx, log, orderstore.StatusUpdate{OrderID: o.ID, GlobalOrderID: got.ID, Status: status, At: h.At, Source: orderstore.SourcePoll})
	}
}

func (d *Dispatcher) apply(ctx context.Context, log *slog.Logger, u orderstore.StatusUpdate) {
	if _, err := d.cfg.Store.ApplyStatus(ctx, u); err != nil && ctx.Err() == nil {
		log.Error("recording an order's status failed", "status", string(u.Status), "err", err)
	}
}

// statusEvent is the body of Order Management's order status notification
// (api/global.openapi.yaml, x-webhooks orderStatusNotification).
type statusEvent struct {
	OrderID        string    `json:"orderId"`
	RegionOrderRef string    `json:"regionOrderRef"`
	Status         string    `json:"status"`
	At             time.Time `json:"at"`
}

// HandleStatusEvent applies one order status notification, for POST
// /hooks/orders; the caller has verified its signature (internal/webhook)
// and passes the body:
//
//	{"orderId":"ord_…","regionOrderRef":"ord-…","status":"accepted"|"confirmed"|"shipped","at":"<RFC 3339>"}
//
// The status is applied as ApplyStatus does, with source "webhook":
// monotonic, so late, repeated and out-of-order notifications are harmless,
// and an order not yet recorded as sent gets its global id. It returns nil
// for a notification about an order this region does not hold (another
// region's, by its reference or its global id), after logging it. A body
// that is not such a notification (not JSON, no orderId, a status outside
// the contract, no time) is an error wrapping webhook.ErrBadPayload, whose
// text is safe to send back. Any other error is the store's: the sender
// should retry.
func (d *Dispatcher) HandleStatusEvent(ctx context.Context, body []byte) error {
	var ev statusEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("%w: not an order status notification: %v", webhook.ErrBadPayload, err)
	}
	status, ok := fromOrigin(orders.Status(ev.Status))
	switch {
	case ev.OrderID == "":
		return fmt.Errorf("%w: orderId is required", webhook.ErrBadPayload)
	case !ok:
		return fmt.Errorf("%w: status must be accepted, confirmed or shipped", webhook.ErrBadPayload)
	case ev.At.IsZero():
		return fmt.Errorf("%w: at is required, as an RFC 3339 time", webhook.ErrBadPayload)
	}
	log := d.log.With("global_order", ev.OrderID, "region_order", ev.RegionOrderRef, "status", ev.Status)
	u := orderstore.StatusUpdate{GlobalOrderID: ev.OrderID, Status: status, At: ev.At, Source: orderstore.SourceWebhook}
	if ev.RegionOrderRef != "" {
		if !orderstore.IsOrderID(ev.RegionOrderRef) {
			log.Info("order status notification for another region's order; ignored")
			return nil
		}
		u.OrderID = ev.RegionOrderRef
	}
	changed, err := d.cfg.Store.ApplyStatus(ctx, u)
	switch {
	case errors.Is(err, orderstore.ErrNotFound):
		log.Info("order status notification for an order this region does not hold; ignored")
		return nil
	case errors.Is(err, orderstore.ErrInvalidInput):
		return fmt.Errorf("%w: %v", webhook.ErrBadPayload, err)
	case err != nil:
		return fmt.Errorf("outbox: order status notification: %w", err)
	}
	log.Debug("order status notification applied", "changed", changed)
	return nil
}
