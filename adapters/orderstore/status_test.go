package orderstore_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"meridian/adapters/orderstore"
)

// sent places an order and records it as accepted by Order Management as
// global, returning its id. Every order placed before must be finished.
func sent(t *testing.T, s *orderstore.SQLStore, key, global string) string {
	t.Helper()
	o := mustPlace(t, s, request("cust-0001", key))
	entries := mustClaim(t, s, "w", 10, time.Minute)
	if len(entries) != 1 || entries[0].OrderID != o.ID {
		t.Fatalf("claimed %v, want only the entry of %s", entryIDs(entries), o.ID)
	}
	if err := s.MarkSent(testContext(t), entries[0].ID, "w", global, orderstore.StatusAccepted); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	return o.ID
}

func TestApplyStatusIsMonotonic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		id := sent(t, s, "k", "ord_g1")
		at := clock.Now().Add(-time.Minute) // the origin's clock
		steps := []struct {
			name        string
			update      orderstore.StatusUpdate
			wantChanged bool
			wantStatus  orderstore.Status
		}{
			{"confirmed by webhook", orderstore.StatusUpdate{GlobalOrderID: "ord_g1", Status: orderstore.StatusConfirmed, At: at.Add(2 * time.Second), Source: orderstore.SourceWebhook}, true, orderstore.StatusConfirmed},
			{"the same again, by poll", orderstore.StatusUpdate{OrderID: id, Status: orderstore.StatusConfirmed, At: at.Add(2 * time.Second), Source: orderstore.SourcePoll}, false, orderstore.StatusConfirmed},
			{"a late accepted", orderstore.StatusUpdate{OrderID: id, GlobalOrderID: "ord_g1", Status: orderstore.StatusAccepted, At: at, Source: orderstore.SourceWebhook}, false, orderstore.StatusConfirmed},
			{"shipped", orderstore.StatusUpdate{OrderID: id, Status: orderstore.StatusShipped, At: at.Add(10 * time.Second), Source: orderstore.SourcePoll}, true, orderstore.StatusShipped},
			{"rejected after shipping", orderstore.StatusUpdate{OrderID: id, Status: orderstore.StatusRejected, Reason: "no", At: at, Source: orderstore.SourceOrigin}, false, orderstore.StatusShipped},
			{"confirmed after shipping", orderstore.StatusUpdate{OrderID: id, Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook}, false, orderstore.StatusShipped},
		}
		for _, st := range steps {
			clock.Advance(time.Second)
			changed, err := s.ApplyStatus(ctx, st.update)
			if err != nil || changed != st.wantChanged {
				t.Fatalf("%s: changed %v, %v; want %v", st.name, changed, err, st.wantChanged)
			}
			if got := mustGet(t, s, id); got.Status != st.wantStatus {
				t.Fatalf("%s: status %s, want %s", st.name, got.Status, st.wantStatus)
			}
		}
		got := mustGet(t, s, id)
		if want := []string{"PENDING/region", "ACCEPTED/origin", "CONFIRMED/webhook", "SHIPPED/poll"}; !slices.Equal(statuses(got), want) {
			t.Errorf("history %v, want %v", statuses(got), want)
		}
		if h := got.History[2]; !h.At.Equal(stored(at.Add(2 * time.Second))) {
			t.Errorf("confirmed at %v, want the origin's time %v", h.At, stored(at.Add(2*time.Second)))
		}

		// REJECTED applies over a status before SHIPPED, and is final.
		id2 := sent(t, s, "k2", "ord_g2")
		if changed, err := s.ApplyStatus(ctx, orderstore.StatusUpdate{OrderID: id2, Status: orderstore.StatusRejected,
			Reason: "cancelled by Order Management", At: clock.Now(), Source: orderstore.SourcePoll}); !changed || err != nil {
			t.Fatalf("reject: changed %v, %v", changed, err)
		}
		if changed, err := s.ApplyStatus(ctx, orderstore.StatusUpdate{OrderID: id2, Status: orderstore.StatusShipped,
			At: clock.Now(), Source: orderstore.SourcePoll}); changed || err != nil {
			t.Errorf("shipped after rejected: changed %v, %v; want ignored", changed, err)
		}
		if got := mustGet(t, s, id2); got.Status != orderstore.StatusRejected || got.RejectReason != "cancelled by Order Management" {
			t.Errorf("rejected order is %s %q", got.Status, got.RejectReason)
		}

		// News of other orders.
		for name, u := range map[string]orderstore.StatusUpdate{
			"unknown global id":   {GlobalOrderID: "ord_elsewhere", Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
			"unknown region id":   {OrderID: "ord-01KGZ0000000000000000000AB", Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
			"ids that disagree":   {OrderID: id, GlobalOrderID: "ord_g2", Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
			"another's global id": {OrderID: id2, GlobalOrderID: "ord_g1", Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
		} {
			_, err := s.ApplyStatus(ctx, u)
			wantErr(t, name, err, orderstore.ErrNotFound)
		}
		for name, u := range map[string]orderstore.StatusUpdate{
			"no id":              {Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
			"pending":            {OrderID: id, Status: orderstore.StatusPending, At: at, Source: orderstore.SourceWebhook},
			"unknown status":     {OrderID: id, Status: "LOST", At: at, Source: orderstore.SourceWebhook},
			"rejected, no why":   {OrderID: id, Status: orderstore.StatusRejected, At: at, Source: orderstore.SourceOrigin},
			"no time":            {OrderID: id, Status: orderstore.StatusConfirmed, Source: orderstore.SourceWebhook},
			"the region's news":  {OrderID: id, Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceRegion},
			"malformed order id": {OrderID: "42", Status: orderstore.StatusConfirmed, At: at, Source: orderstore.SourceWebhook},
		} {
			_, err := s.ApplyStatus(ctx, u)
			wantErr(t, name, err, orderstore.ErrInvalidInput)
		}
	})
}

// A webhook can overtake the dispatcher: Order Management announces the
// order before the answer to the send is recorded.
func TestWebhookBeforeMarkSent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		o := mustPlace(t, s, request("cust-0001", "k"))
		entries := mustClaim(t, s, "w", 1, time.Minute)

		changed, err := s.ApplyStatus(ctx, orderstore.StatusUpdate{OrderID: o.ID, GlobalOrderID: "ord_g1",
			Status: orderstore.StatusAccepted, At: clock.Now(), Source: orderstore.SourceWebhook})
		if err != nil || !changed {
			t.Fatalf("webhook: changed %v, %v", changed, err)
		}
		if err := s.MarkSent(ctx, entries[0].ID, "w", "ord_g1", orderstore.StatusAccepted); err != nil {
			t.Fatalf("MarkSent after the webhook: %v", err)
		}
		got := mustGet(t, s, o.ID)
		if got.GlobalOrderID != "ord_g1" || !slices.Equal(statuses(got), []string{"PENDING/region", "ACCEPTED/webhook"}) {
			t.Errorf("order %q %v, want ord_g1 accepted once, by the webhook", got.GlobalOrderID, statuses(got))
		}
		if n := mustPending(t, s); n != 0 {
			t.Errorf("Pending = %d, want 0", n)
		}
	})
}

func TestConcurrentStatusUpdatesRecordOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		url := e.fresh(t)
		stores := []*orderstore.SQLStore{openStore(t, url, clock), openStore(t, url, clock)}
		id := sent(t, stores[0], "k", "ord_g1")
		for _, status := range []orderstore.Status{orderstore.StatusConfirmed, orderstore.StatusShipped} {
			var wg sync.WaitGroup
			var mu sync.Mutex
			changes := 0
			start := make(chan struct{})
			for i := range 12 {
				wg.Go(func() {
					<-start
					src := []orderstore.Source{orderstore.SourceWebhook, orderstore.SourcePoll}[i%2]
					changed, err := stores[i%2].ApplyStatus(testContext(t), orderstore.StatusUpdate{
						OrderID: id, GlobalOrderID: "ord_g1", Status: status, At: clock.Now(), Source: src})
					if err != nil {
						t.Errorf("ApplyStatus: %v", err)
					}
					mu.Lock()
					if changed {
						changes++
					}
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if changes != 1 {
				t.Errorf("%s: %d updates reported a change, want 1", status, changes)
			}
		}
		got := mustGet(t, stores[1], id)
		if len(got.History) != 4 || got.Status != orderstore.StatusShipped {
			t.Errorf("history %v, want PENDING, ACCEPTED, CONFIRMED, SHIPPED once each", statuses(got))
		}
	})
}

func TestInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		a := sent(t, s, "a", "ord_ga") // heard of at t0
		clock.Advance(10 * time.Second)
		b := sent(t, s, "b", "ord_gb") // at t0+10s
		clock.Advance(10 * time.Second)
		shipped := sent(t, s, "c", "ord_gc")
		if _, err := s.ApplyStatus(ctx, orderstore.StatusUpdate{OrderID: shipped, Status: orderstore.StatusShipped, At: clock.Now(), Source: orderstore.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		mustPlace(t, s, request("cust-0001", "pending")) // not sent: nothing to poll

		inFlight := func(silentFor time.Duration) []string {
			t.Helper()
			orders, err := s.InFlight(ctx, clock.Now().Add(-silentFor), 10)
			if err != nil {
				t.Fatal(err)
			}
			return ids(orders)
		}
		if got, want := inFlight(0), []string{a, b}; !slices.Equal(got, want) {
			t.Errorf("in flight %v, want %v, longest silent first", got, want)
		}
		if got, want := inFlight(15*time.Second), []string{a}; !slices.Equal(got, want) {
			t.Errorf("silent for 15s: %v, want %v", got, want)
		}
		// A poll that finds nothing new still counts as news.
		if changed, err := s.ApplyStatus(ctx, orderstore.StatusUpdate{OrderID: a, Status: orderstore.StatusAccepted, At: clock.Now(), Source: orderstore.SourcePoll}); changed || err != nil {
			t.Fatalf("poll without news: changed %v, %v", changed, err)
		}
		if got, want := inFlight(0), []string{b, a}; !slices.Equal(got, want) {
			t.Errorf("after polling %s: %v, want %v", a, got, want)
		}
		orders, err := s.InFlight(ctx, clock.Now(), 1)
		if err != nil || len(orders) != 1 || orders[0].GlobalOrderID != "ord_gb" || len(orders[0].History) != 2 {
			t.Errorf("InFlight limit 1: %+v, %v", orders, err)
		}
		_, err = s.InFlight(ctx, clock.Now(), 0)
		wantErr(t, "limit 0", err, orderstore.ErrInvalidInput)
	})
}
