package outbox_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"meridian/adapters/orderstore"
	"meridian/internal/globalsim"
	"meridian/internal/outbox"
	"meridian/internal/webhook"
)

const routeGet = "GET /orders/v1/orders/{id}"

func event(global, ref, status string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"orderId":%q,"regionOrderRef":%q,"status":%q,"at":%q}`, global, ref, status, at.Format(time.RFC3339Nano))
}

func TestStatusesMoveForwardByWebhookAndPoll(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		h := newHarness(t, e, false)
		d := h.dispatcher("worker-1", h.store, nil)
		ctx := testContext(t)
		a := h.place(request("sub_7f3a", "checkout-a", h.products[0]))
		b := h.place(request("sub_7f3a", "checkout-b", h.products[1]))
		mustDispatch(t, d, outbox.Result{Claimed: 2, Sent: 2})
		a, b = h.get(a.ID), h.get(b.ID)
		epoch := h.sim.Clock.Now()

		// Webhooks: a moves to confirmed; a late "accepted" and a
		// repeat change nothing.
		for _, body := range [][]byte{
			event(a.GlobalOrderID, a.ID, "confirmed", epoch.Add(globalsim.DefaultConfirmAfter)),
			event(a.GlobalOrderID, a.ID, "accepted", epoch),
			event(a.GlobalOrderID, a.ID, "confirmed", epoch.Add(globalsim.DefaultConfirmAfter)),
			event(a.GlobalOrderID, "", "confirmed", epoch.Add(globalsim.DefaultConfirmAfter)), // by global id alone
		} {
			if err := d.HandleStatusEvent(ctx, body); err != nil {
				t.Fatalf("HandleStatusEvent(%s): %v", body, err)
			}
		}
		got := h.get(a.ID)
		if want := []string{"PENDING/region", "ACCEPTED/origin", "CONFIRMED/webhook"}; got.Status != orderstore.StatusConfirmed || !slices.Equal(history(got), want) {
			t.Errorf("after webhooks: %s %v, want CONFIRMED %v", got.Status, history(got), want)
		}
		if at := got.History[2].At; !at.Equal(epoch.Add(globalsim.DefaultConfirmAfter)) {
			t.Errorf("confirmed at %v, want the origin's %v", at, epoch.Add(globalsim.DefaultConfirmAfter))
		}

		// Nothing is polled before it has been quiet for
		// StatusPollAfter.
		h.sim.Clock.Advance(globalsim.DefaultShipAfter + time.Second) // both shipped at the origin
		h.clock.Advance(outbox.DefaultStatusPollAfter - time.Second)
		if n, err := d.PollStatuses(ctx); n != 0 || err != nil {
			t.Fatalf("early poll asked about %d orders, %v; want none", n, err)
		}
		// b's webhooks were all lost; a's shipped one too. The poll
		// finds both shipped.
		h.clock.Advance(time.Second)
		if n, err := d.PollStatuses(ctx); n != 2 || err != nil {
			t.Fatalf("poll asked about %d orders, %v; want 2", n, err)
		}
		for _, tt := range []struct {
			id   string
			want []string
		}{
			{a.ID, []string{"PENDING/region", "ACCEPTED/origin", "CONFIRMED/webhook", "SHIPPED/poll"}},
			{b.ID, []string{"PENDING/region", "ACCEPTED/origin", "CONFIRMED/poll", "SHIPPED/poll"}},
		} {
			got := h.get(tt.id)
			if got.Status != orderstore.StatusShipped || !slices.Equal(history(got), tt.want) {
				t.Errorf("order %s after the poll: %s %v, want SHIPPED %v", tt.id, got.Status, history(got), tt.want)
			}
		}
		// Shipped orders are final: never polled again, and a late
		// webhook changes nothing.
		gets := h.sim.Requests(t).Counts[routeGet]
		h.clock.Advance(time.Hour)
		if n, err := d.PollStatuses(ctx); n != 0 || err != nil || h.sim.Requests(t).Counts[routeGet] != gets {
			t.Errorf("poll of final orders asked about %d, %v", n, err)
		}
		if err := d.HandleStatusEvent(ctx, event(b.GlobalOrderID, b.ID, "confirmed", epoch)); err != nil {
			t.Fatal(err)
		}
		if got := h.get(b.ID); got.Status != orderstore.StatusShipped || len(got.History) != 4 {
			t.Errorf("late webhook moved %s to %s %v", b.ID, got.Status, history(got))
		}
	})
}

// A webhook may overtake the dispatcher's record of the send: the order is
// accepted, with its global id, before MarkSent.
func TestWebhookBeforeTheSendIsRecorded(t *testing.T) {
	h := newHarness(t, engines()[0], false)
	d := h.dispatcher("worker-1", h.store, nil)
	ctx := testContext(t)
	placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
	if err := d.HandleStatusEvent(ctx, event("ord_0000000000000001", placed.ID, "accepted", h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	got := h.get(placed.ID)
	if got.Status != orderstore.StatusAccepted || got.GlobalOrderID != "ord_0000000000000001" {
		t.Errorf("order %s %q, want ACCEPTED with the notification's global id", got.Status, got.GlobalOrderID)
	}
}

func TestHandleStatusEventRefusalsAndStrangers(t *testing.T) {
	h := newHarness(t, engines()[0], false)
	d := h.dispatcher("worker-1", h.store, nil)
	ctx := testContext(t)
	now := h.clock.Now()
	for name, body := range map[string]string{
		"not JSON":       `{"orderId":`,
		"an array":       `[]`,
		"no order id":    string(event("", "", "accepted", now)),
		"unknown status": string(event("ord_1", "", "cancelled", now)),
		"no time":        `{"orderId":"ord_1","status":"accepted"}`,
		"bad time":       `{"orderId":"ord_1","status":"accepted","at":"yesterday"}`,
		"bad global id":  string(event("ord 1", "", "accepted", now)),
	} {
		if err := d.HandleStatusEvent(ctx, []byte(body)); !errors.Is(err, webhook.ErrBadPayload) {
			t.Errorf("%s: err = %v, want webhook.ErrBadPayload", name, err)
		}
	}
	for name, body := range map[string][]byte{
		"another region's reference": event("ord_1", "CN-20260401-0001", "accepted", now),
		"an unknown global id":       event("ord_unknown", "", "shipped", now),
		"an unknown region order":    event("ord_unknown", "ord-01KGZ0000000000000000000AB", "shipped", now),
	} {
		if err := d.HandleStatusEvent(ctx, body); err != nil {
			t.Errorf("%s: err = %v, want it ignored", name, err)
		}
	}
}

func TestPollOfAnOrderTheOriginDoesNotKnow(t *testing.T) {
	h := newHarness(t, engines()[0], false)
	d := h.dispatcher("worker-1", h.store, nil)
	ctx := testContext(t)
	placed := h.place(request("sub_7f3a", "checkout-1", h.products[0]))
	// Accepted under a global id the origin never issued.
	if err := d.HandleStatusEvent(ctx, event("ord_ffffffffffffffff", placed.ID, "accepted", h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(outbox.DefaultStatusPollAfter)
	if n, err := d.PollStatuses(ctx); n != 1 || err != nil {
		t.Fatalf("poll asked about %d, %v; want 1", n, err)
	}
	// Noted as heard of: not asked again until it has been quiet again.
	if n, err := d.PollStatuses(ctx); n != 0 || err != nil {
		t.Errorf("second poll asked about %d, %v; want 0", n, err)
	}
	if got := h.get(placed.ID); got.Status != orderstore.StatusAccepted {
		t.Errorf("order is %s, want ACCEPTED unchanged", got.Status)
	}
}
