package orderstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/adapters/orderstore"
)

func TestClaimAndMark(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		a := mustPlace(t, s, request("cust-0001", "a"))
		clock.Advance(time.Millisecond)
		b := mustPlace(t, s, request("cust-0001", "b"))
		clock.Advance(time.Millisecond)
		c := mustPlace(t, s, request("cust-0001", "c"))

		// Oldest due first, each with its order, leased to the worker.
		entries := mustClaim(t, s, "worker-1", 2, 30*time.Second)
		if len(entries) != 2 || entries[0].OrderID != a.ID || entries[1].OrderID != b.ID {
			t.Fatalf("claimed %+v, want the entries of %s and %s", entries, a.ID, b.ID)
		}
		ea, eb := entries[0], entries[1]
		if ea.Order.ID != a.ID || ea.Order.Total != "300.31" || len(ea.Order.Lines) != 2 || ea.Order.ShippingAddressID != a.ShippingAddressID {
			t.Errorf("claimed entry carries order %+v, want %s in full", ea.Order, a.ID)
		}
		if ea.State != orderstore.OutboxPending || ea.Attempts != 1 || ea.LockedBy != "worker-1" ||
			!ea.LockedUntil.Equal(stored(clock.Now().Add(30*time.Second))) || !strings.HasPrefix(ea.ID, "obx-") {
			t.Errorf("claimed entry %+v, want pending, attempt 1, leased to worker-1 for 30s", ea)
		}
		// Leased entries are not claimed again; the third is.
		rest := mustClaim(t, s, "worker-2", 10, 30*time.Second)
		if len(rest) != 1 || rest[0].OrderID != c.ID {
			t.Fatalf("second claim got %v, want only %s's entry", entryIDs(rest), c.ID)
		}

		// Sent: the order is accepted, with its global id.
		if err := s.MarkSent(ctx, ea.ID, "worker-1", "ord_0000000000000a", orderstore.StatusAccepted); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		got := mustGet(t, s, a.ID)
		if got.Status != orderstore.StatusAccepted || got.GlobalOrderID != "ord_0000000000000a" ||
			!slices.Equal(statuses(got), []string{"PENDING/region", "ACCEPTED/origin"}) || !got.UpdatedAt.Equal(stored(clock.Now())) {
			t.Errorf("after MarkSent: %s %q %v updated %v", got.Status, got.GlobalOrderID, statuses(got), got.UpdatedAt)
		}

		// Retry: not due before the backoff ends, due after.
		next := clock.Now().Add(4 * time.Second)
		if err := s.MarkRetry(ctx, eb.ID, "worker-1", next, "orders: POST /v1/orders: status 503"); err != nil {
			t.Fatalf("MarkRetry: %v", err)
		}
		if got := mustGet(t, s, b.ID); got.Status != orderstore.StatusPending {
			t.Errorf("order after MarkRetry is %s, want PENDING", got.Status)
		}
		clock.Advance(3 * time.Second)
		if got := mustClaim(t, s, "worker-1", 10, 30*time.Second); len(got) != 0 {
			t.Errorf("claimed %v during the backoff, want none", entryIDs(got))
		}
		clock.Advance(time.Second)
		retried := mustClaim(t, s, "worker-1", 10, 30*time.Second)
		if len(retried) != 1 || retried[0].ID != eb.ID || retried[0].Attempts != 2 || !strings.Contains(retried[0].LastError, "503") {
			t.Fatalf("after the backoff claimed %+v, want %s at attempt 2 with its last error", retried, eb.ID)
		}

		// Dead: the order is rejected with the reason, the entry kept.
		reason := "the price of SKC-1001 changed"
		if err := s.MarkDead(ctx, eb.ID, "worker-1", reason); err != nil {
			t.Fatalf("MarkDead: %v", err)
		}
		got = mustGet(t, s, b.ID)
		if got.Status != orderstore.StatusRejected || got.RejectReason != reason ||
			!slices.Equal(statuses(got), []string{"PENDING/region", "REJECTED/origin"}) {
			t.Errorf("after MarkDead: %s %q %v", got.Status, got.RejectReason, statuses(got))
		}
		dead, err := s.DeadLetters(ctx, 10)
		if err != nil || len(dead) != 1 || dead[0].ID != eb.ID || dead[0].DeadReason != reason ||
			dead[0].State != orderstore.OutboxDead || dead[0].Order.ID != b.ID || dead[0].FinishedAt.IsZero() || dead[0].LockedBy != "" {
			t.Errorf("DeadLetters = %+v, %v; want %s with its reason and order", dead, err, eb.ID)
		}
		if n, err := s.DeadLetterCount(ctx); n != 1 || err != nil {
			t.Errorf("DeadLetterCount = %d, %v; want 1", n, err)
		}
		if n := mustPending(t, s); n != 1 {
			t.Errorf("Pending = %d, want 1 (the entry worker-2 holds)", n)
		}

		// Marks of finished entries are refused, unknown ones not found.
		wantErr(t, "MarkSent of a sent entry", s.MarkSent(ctx, ea.ID, "worker-1", "ord_x", orderstore.StatusAccepted), orderstore.ErrLeaseLost)
		wantErr(t, "MarkRetry of a dead entry", s.MarkRetry(ctx, eb.ID, "worker-1", clock.Now(), "x"), orderstore.ErrLeaseLost)
		wantErr(t, "MarkDead of an unknown entry", s.MarkDead(ctx, "obx-nothing", "worker-1", "x"), orderstore.ErrNotFound)
		wantErr(t, "MarkSent by a worker without the lease", s.MarkSent(ctx, rest[0].ID, "worker-1", "ord_c", orderstore.StatusAccepted), orderstore.ErrLeaseLost)
		for name, err := range map[string]error{
			"claim no worker":   second(s.Claim(ctx, "", 1, time.Second)),
			"claim limit 0":     second(s.Claim(ctx, "w", 0, time.Second)),
			"claim no lease":    second(s.Claim(ctx, "w", 1, 0)),
			"sent as pending":   s.MarkSent(ctx, ea.ID, "w", "g", orderstore.StatusPending),
			"sent without id":   s.MarkSent(ctx, ea.ID, "w", "", orderstore.StatusAccepted),
			"dead without why":  s.MarkDead(ctx, ea.ID, "w", ""),
			"retry without at":  s.MarkRetry(ctx, ea.ID, "w", time.Time{}, ""),
			"dead letters of 0": second(s.DeadLetters(ctx, 0)),
		} {
			wantErr(t, name, err, orderstore.ErrInvalidInput)
		}
	})
}

func TestLeaseExpiryLetsAnotherWorkerClaim(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		url := e.fresh(t)
		s1, s2 := openStore(t, url, clock), openStore(t, url, clock)
		ctx := testContext(t)
		o := mustPlace(t, s1, request("cust-0001", "k"))

		first := mustClaim(t, s1, "worker-1", 10, 30*time.Second)
		if len(first) != 1 {
			t.Fatalf("worker-1 claimed %d entries, want 1", len(first))
		}
		clock.Advance(30*time.Second - time.Microsecond)
		if got := mustClaim(t, s2, "worker-2", 10, 30*time.Second); len(got) != 0 {
			t.Fatalf("worker-2 claimed %v under worker-1's live lease", entryIDs(got))
		}
		// worker-1 hangs past its lease (or died after the origin
		// accepted the order): the entry is due again.
		clock.Advance(time.Microsecond)
		second := mustClaim(t, s2, "worker-2", 10, 30*time.Second)
		if len(second) != 1 || second[0].ID != first[0].ID || second[0].Attempts != 2 || second[0].LockedBy != "worker-2" {
			t.Fatalf("after the lease worker-2 claimed %+v, want the same entry at attempt 2", second)
		}

		// worker-1 wakes up: every mark it tries is refused and changes
		// nothing.
		wantErr(t, "stale MarkSent", s1.MarkSent(ctx, first[0].ID, "worker-1", "ord_stale", orderstore.StatusConfirmed), orderstore.ErrLeaseLost)
		wantErr(t, "stale MarkRetry", s1.MarkRetry(ctx, first[0].ID, "worker-1", clock.Now().Add(time.Hour), "late"), orderstore.ErrLeaseLost)
		wantErr(t, "stale MarkDead", s1.MarkDead(ctx, first[0].ID, "worker-1", "late"), orderstore.ErrLeaseLost)
		if got := mustGet(t, s1, o.ID); got.Status != orderstore.StatusPending || got.GlobalOrderID != "" {
			t.Errorf("after stale marks the order is %s %q, want PENDING without a global id", got.Status, got.GlobalOrderID)
		}
		if err := s2.MarkSent(ctx, second[0].ID, "worker-2", "ord_real", orderstore.StatusAccepted); err != nil {
			t.Fatalf("MarkSent by the lease holder: %v", err)
		}
		if got := mustGet(t, s1, o.ID); got.Status != orderstore.StatusAccepted || got.GlobalOrderID != "ord_real" {
			t.Errorf("order is %s %q, want ACCEPTED as ord_real", got.Status, got.GlobalOrderID)
		}

		// An expired lease nobody took over still lets its worker
		// finish: the send succeeded, recording it spares a resend.
		o2 := mustPlace(t, s1, request("cust-0001", "k2"))
		held := mustClaim(t, s1, "worker-1", 10, time.Second)
		clock.Advance(time.Minute)
		if len(held) != 1 || held[0].OrderID != o2.ID {
			t.Fatalf("claimed %+v, want %s's entry", held, o2.ID)
		}
		if err := s1.MarkSent(ctx, held[0].ID, "worker-1", "ord_late", orderstore.StatusAccepted); err != nil {
			t.Errorf("MarkSent after an expired lease nobody took: %v", err)
		}
	})
}

// TestConcurrentClaimsNeverOverlap has two workers, on two pools of their
// own as two replicas would be, claim the same backlog at the same moment,
// round after round: no entry may be handed to both, and together they
// take everything their limits allow.
func TestConcurrentClaimsNeverOverlap(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		url := e.fresh(t)
		stores := []*orderstore.SQLStore{openStore(t, url, clock), openStore(t, url, clock)}
		const backlog, rounds = 40, 60
		for i := range backlog {
			mustPlace(t, stores[0], request(fmt.Sprintf("cust-%04d", i), "k"))
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for round := range rounds {
			limits := []int{1 + rng.IntN(backlog), 1 + rng.IntN(backlog)}
			if round%4 == 0 {
				limits = []int{backlog, backlog}
			}
			claimed := make([][]orderstore.OutboxEntry, 2)
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					<-start
					claimed[w], errs[w] = stores[w].Claim(testContext(t), fmt.Sprintf("worker-%d", w), limits[w], time.Minute)
				})
			}
			close(start)
			wg.Wait()
			for w, err := range errs {
				if err != nil {
					t.Fatalf("round %d: worker-%d: %v", round, w, err)
				}
			}
			seen := map[string]int{}
			for w, entries := range claimed {
				for _, en := range entries {
					if other, dup := seen[en.ID]; dup {
						t.Fatalf("round %d: entry %s claimed by worker-%d and worker-%d", round, en.ID, other, w)
					}
					seen[en.ID] = w
				}
			}
			if want := min(backlog, limits[0]+limits[1]); len(seen) != want {
				t.Errorf("round %d: limits %v claimed %d entries in all, want %d", round, limits, len(seen), want)
			}
			// Give everything back, due at once, for the next round.
			for w, entries := range claimed {
				for _, en := range entries {
					if err := stores[w].MarkRetry(testContext(t), en.ID, fmt.Sprintf("worker-%d", w), clock.Now(), "round over"); err != nil {
						t.Fatalf("round %d: release %s: %v", round, en.ID, err)
					}
				}
			}
		}
	})
}
