package orderstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/orderstore"
	"meridian/internal/db"
)

func TestNewSQLStoreRefusesNilArguments(t *testing.T) {
	if _, err := orderstore.NewSQLStore(t.Context(), nil); err == nil {
		t.Error("NewSQLStore accepted a nil database")
	}
	d := openDB(t, "sqlite::memory:")
	if _, err := orderstore.NewSQLStore(t.Context(), d, orderstore.WithClock(nil)); err == nil {
		t.Error("NewSQLStore accepted a nil clock")
	}
}

func TestPlaceAndGet(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		req := request("cust-0001", "checkout-1")
		req.Lines[0].LineTotal = "999.99" // the store computes it
		placed := mustPlace(t, s, req)

		now := stored(clock.Now())
		want := orderstore.Order{
			ID: placed.ID, Subject: "cust-0001", ConsultantID: "cons-0001", PlacedBy: "cust-0001", Currency: "CNY",
			Lines: []orderstore.Line{
				{ProductID: "prod-0001", SKU: "SKC-1001", Quantity: 3, UnitPrice: "100.07", LineTotal: "300.21"},
				{ProductID: "prod-0011", SKU: "SKC-1011", Quantity: 1, UnitPrice: "0.10", LineTotal: "0.10"},
			},
			Total: "300.31", ShippingAddressID: "addr-5c1e9a0b2d", Note: "请放在前台 / leave at reception",
			Status:    orderstore.StatusPending,
			History:   []orderstore.StatusChange{{Status: orderstore.StatusPending, At: now, Source: orderstore.SourceRegion}},
			CreatedAt: now, UpdatedAt: now,
		}
		if diff := cmp.Diff(want, placed); diff != "" {
			t.Errorf("Place returned (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGet(t, s, placed.ID)); diff != "" {
			t.Errorf("Get returned (-want +got):\n%s", diff)
		}
		if n := mustPending(t, s); n != 1 {
			t.Errorf("Pending = %d, want 1: the order's outbox entry", n)
		}

		// A consultant-less order, and exact decimal sums.
		req = request("cust-0002", "checkout-2")
		req.ConsultantID, req.Note = "", ""
		req.Lines = []orderstore.Line{
			{ProductID: "p1", SKU: "A", Quantity: 1, UnitPrice: "0.10"},
			{ProductID: "p2", SKU: "B", Quantity: 1, UnitPrice: "0.20"},
			{ProductID: "p3", SKU: "C", Quantity: 999, UnitPrice: "9999999999.99"},
		}
		o := mustPlace(t, s, req)
		if o.Total != "9989999999990.31" || o.ConsultantID != "" {
			t.Errorf("total %s consultant %q, want 9989999999990.31 and none", o.Total, o.ConsultantID)
		}
	})
}

func TestGetRefusals(t *testing.T) {
	s := openStore(t, "sqlite::memory:", newTestClock())
	for _, id := range []string{"", "ord-01JZZ", "ord-01JZZZZZZZZZZZZZZZZZZZZZZI", "ORD-01JZZZZZZZZZZZZZZZZZZZZZZZ", "01JZZZZZZZZZZZZZZZZZZZZZZZ"} {
		_, err := s.Get(t.Context(), id)
		wantErr(t, "malformed id "+id, err, orderstore.ErrInvalidInput)
	}
	_, err := s.Get(t.Context(), "ord-01KGZ0000000000000000000AB")
	wantErr(t, "unknown id", err, orderstore.ErrNotFound)
}

func TestPlaceValidation(t *testing.T) {
	s := openStore(t, "sqlite::memory:", newTestClock())
	edit := func(f func(*orderstore.PlaceRequest)) orderstore.PlaceRequest {
		r := request("cust-0001", "k")
		f(&r)
		return r
	}
	tests := []struct {
		name   string
		req    orderstore.PlaceRequest
		fields []string
	}{
		{"email as subject", edit(func(r *orderstore.PlaceRequest) { r.Subject = "li.wei@example.com" }), []string{"subject"}},
		{"address text as address id", edit(func(r *orderstore.PlaceRequest) { r.ShippingAddressID = "上海市浦东新区世纪大道100号" }), []string{"shippingAddressId"}},
		{"no principal", edit(func(r *orderstore.PlaceRequest) { r.PlacedBy = "" }), []string{"placedBy"}},
		{"no key", edit(func(r *orderstore.PlaceRequest) { r.IdempotencyKey = "" }), []string{"idempotencyKey"}},
		{"key with a space", edit(func(r *orderstore.PlaceRequest) { r.IdempotencyKey = "check out" }), []string{"idempotencyKey"}},
		{"no hash", edit(func(r *orderstore.PlaceRequest) { r.RequestHash = "" }), []string{"requestHash"}},
		{"lowercase currency", edit(func(r *orderstore.PlaceRequest) { r.Currency = "cny" }), []string{"currency"}},
		{"no lines", edit(func(r *orderstore.PlaceRequest) { r.Lines = nil }), []string{"lines"}},
		{"too many lines", edit(func(r *orderstore.PlaceRequest) {
			r.Lines = nil
			for i := range orderstore.MaxLines + 1 {
				r.Lines = append(r.Lines, orderstore.Line{ProductID: "p", SKU: fmt.Sprintf("S-%d", i), Quantity: 1, UnitPrice: "1.00"})
			}
		}), []string{"lines"}},
		{"repeated SKU", edit(func(r *orderstore.PlaceRequest) { r.Lines[1].SKU = r.Lines[0].SKU }), []string{"lines[1].sku"}},
		{"zero quantity", edit(func(r *orderstore.PlaceRequest) { r.Lines[0].Quantity = 0 }), []string{"lines[0].quantity"}},
		{"quantity over the bound", edit(func(r *orderstore.PlaceRequest) { r.Lines[1].Quantity = 1000 }), []string{"lines[1].quantity"}},
		{"float-looking price", edit(func(r *orderstore.PlaceRequest) { r.Lines[0].UnitPrice = "100.5" }), []string{"lines[0].unitPrice"}},
		{"negative price", edit(func(r *orderstore.PlaceRequest) { r.Lines[0].UnitPrice = "-1.00" }), []string{"lines[0].unitPrice"}},
		{"no product", edit(func(r *orderstore.PlaceRequest) { r.Lines[0].ProductID = "" }), []string{"lines[0].productId"}},
		{"long note", edit(func(r *orderstore.PlaceRequest) {
			r.Note = string(slices.Repeat([]rune("长"), orderstore.MaxNoteLength+1))
		}), []string{"note"}},
		{"everything at once", orderstore.PlaceRequest{}, []string{"subject", "placedBy", "idempotencyKey", "requestHash", "currency", "shippingAddressId", "lines"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Place(t.Context(), tt.req)
			wantErr(t, "Place", err, orderstore.ErrInvalidInput)
			if got := fieldsOf(err); !slices.Equal(got, tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
			for _, fe := range orderstore.FieldErrors(err) {
				for _, v := range []string{tt.req.Subject, tt.req.ShippingAddressID} {
					if len(v) > 3 && (fe.Reason == v || fe.Field == v) {
						t.Errorf("error %v repeats the refused value", fe)
					}
				}
			}
		})
	}
	if n := mustPending(t, s); n != 0 {
		t.Errorf("Pending = %d after refused requests, want 0", n)
	}
	// The edge of the bounds is accepted.
	ok := request("cust-0001", "edge")
	ok.Note = string(slices.Repeat([]rune("长"), orderstore.MaxNoteLength))
	ok.Lines[0].Quantity = orderstore.MaxQuantity
	mustPlace(t, s, ok)
}

func TestIdempotency(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		first := mustPlace(t, s, request("cust-0001", "checkout-1"))

		// The same request again, also once the order is on its way.
		clock.Advance(time.Minute)
		for round := range 2 {
			again, created, err := s.Place(ctx, request("cust-0001", "checkout-1"))
			if err != nil || created {
				t.Fatalf("round %d: replay: created %v, %v; want the first order", round, created, err)
			}
			if again.ID != first.ID || again.Total != first.Total || len(again.Lines) != 2 {
				t.Errorf("round %d: replay returned %+v, want %+v", round, again, first)
			}
			entries := mustClaim(t, s, "worker-a", 10, time.Minute)
			if round == 0 && len(entries) != 1 {
				t.Fatalf("claimed %d entries, want the one order's", len(entries))
			}
		}

		// Another input under the same key is refused, and creates
		// nothing.
		other := request("cust-0001", "checkout-1")
		other.RequestHash = "hash-of-another-basket"
		other.Lines[0].Quantity = 5
		_, created, err := s.Place(ctx, other)
		wantErr(t, "key reused", err, orderstore.ErrIdempotencyKeyReused)
		if created {
			t.Error("a reused key created an order")
		}

		// The same key from another principal (a consultant placing for
		// the customer) is another order.
		byConsultant := request("cust-0001", "checkout-1")
		byConsultant.PlacedBy = "cons-0001"
		second := mustPlace(t, s, byConsultant)
		if second.ID == first.ID {
			t.Error("another principal's key returned the first principal's order")
		}
		// Another key, same basket: another order.
		third := mustPlace(t, s, request("cust-0001", "checkout-2"))
		page, err := s.ListBySubject(ctx, "cust-0001", 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(page.Orders), []string{third.ID, second.ID, first.ID}; !slices.Equal(got, want) {
			t.Errorf("subject's orders %v, want %v", got, want)
		}
		if n := mustPending(t, s); n != 3 {
			t.Errorf("Pending = %d, want 3", n)
		}
	})
}

func TestConcurrentPlaceMakesOneOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		url := e.fresh(t)
		// Two pools, as two replicas would have.
		stores := []*orderstore.SQLStore{openStore(t, url, clock), openStore(t, url, clock)}
		for round := range 3 {
			key := fmt.Sprintf("checkout-%d", round)
			start := make(chan struct{})
			type result struct {
				id      string
				created bool
				err     error
			}
			results := make([]result, 16)
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() {
					<-start
					o, created, err := stores[i%2].Place(testContext(t), request("cust-0001", key))
					results[i] = result{o.ID, created, err}
				})
			}
			close(start)
			wg.Wait()
			createdCount := 0
			for i, r := range results {
				if r.err != nil {
					t.Fatalf("round %d, call %d: %v", round, i, r.err)
				}
				if r.id != results[0].id {
					t.Errorf("round %d: call %d got order %s, call 0 got %s", round, i, r.id, results[0].id)
				}
				if r.created {
					createdCount++
				}
			}
			if createdCount != 1 {
				t.Errorf("round %d: %d calls created an order, want exactly 1", round, createdCount)
			}
		}
		page, err := stores[0].ListBySubject(testContext(t), "cust-0001", 100, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Orders) != 3 || mustPending(t, stores[0]) != 3 {
			t.Errorf("%d orders and %d outbox entries for 3 keys, want 3 and 3", len(page.Orders), mustPending(t, stores[0]))
		}
	})
}

func TestListing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		var mine []string // cust-0001's, oldest first
		for i := range 7 {
			req := request("cust-0001", fmt.Sprintf("k-%d", i))
			if i%2 == 1 {
				req.ConsultantID = "cons-0002"
			}
			mine = append(mine, mustPlace(t, s, req).ID)
			// Several orders in one millisecond must still list in
			// placing order.
			if i%3 == 0 {
				clock.Advance(time.Millisecond)
			}
		}
		mustPlace(t, s, request("cust-0002", "k-0"))
		slices.Reverse(mine) // newest first

		// Pages of 3 through the customer's 7 orders.
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			page, err := s.ListBySubject(ctx, "cust-0001", 3, after)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page.Orders)...)
			for _, o := range page.Orders {
				if len(o.Lines) != 2 || len(o.History) != 1 {
					t.Errorf("listed order %s without its lines or history", o.ID)
				}
			}
			if !page.HasNextPage {
				if pages != 2 {
					t.Errorf("%d pages, want 3", pages+1)
				}
				break
			}
			after = page.Orders[len(page.Orders)-1].ID
		}
		if !slices.Equal(got, mine) {
			t.Errorf("paged orders %v, want %v", got, mine)
		}

		// The consultant's, all and by status.
		page, err := s.ListByConsultant(ctx, "cons-0002", nil, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{mine[1], mine[3], mine[5]}; !slices.Equal(ids(page.Orders), want) {
			t.Errorf("cons-0002's orders %v, want %v", ids(page.Orders), want)
		}
		entries := mustClaim(t, s, "w", 100, time.Minute)
		for _, en := range entries {
			if en.OrderID == mine[3] {
				if err := s.MarkSent(ctx, en.ID, "w", "ord_global_3", orderstore.StatusAccepted); err != nil {
					t.Fatal(err)
				}
			}
		}
		accepted, pending := orderstore.StatusAccepted, orderstore.StatusPending
		for _, tt := range []struct {
			status *orderstore.Status
			want   []string
		}{{&accepted, []string{mine[3]}}, {&pending, []string{mine[1], mine[5]}}} {
			page, err := s.ListByConsultant(ctx, "cons-0002", tt.status, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(page.Orders), tt.want) {
				t.Errorf("cons-0002's %s orders %v, want %v", *tt.status, ids(page.Orders), tt.want)
			}
		}
		page, err = s.ListByConsultant(ctx, "cons-0002", &pending, 1, mine[1])
		if err != nil || !slices.Equal(ids(page.Orders), []string{mine[5]}) || page.HasNextPage {
			t.Errorf("second page of pending: %v, next %v, %v; want [%s] and no more", ids(page.Orders), page.HasNextPage, err, mine[5])
		}
		page, err = s.ListByConsultant(ctx, "cons-nobody", nil, 10, "")
		if err != nil || len(page.Orders) != 0 || page.HasNextPage {
			t.Errorf("a consultant without orders: %+v, %v", page, err)
		}

		bogus := orderstore.Status("LOST")
		for name, err := range map[string]error{
			"first 0":        second(s.ListBySubject(ctx, "cust-0001", 0, "")),
			"first too big":  second(s.ListBySubject(ctx, "cust-0001", orderstore.MaxPageSize+1, "")),
			"bad cursor":     second(s.ListBySubject(ctx, "cust-0001", 1, "not-an-order")),
			"bad status":     second(s.ListByConsultant(ctx, "cons-0001", &bogus, 1, "")),
			"empty subject":  second(s.ListBySubject(ctx, "", 1, "")),
			"bad consultant": second(s.ListByConsultant(ctx, "cons 1", nil, 1, "")),
		} {
			wantErr(t, name, err, orderstore.ErrInvalidInput)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestPurgeIdempotencyKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		done := mustPlace(t, s, request("cust-0001", "done"))
		underway := mustPlace(t, s, request("cust-0001", "underway"))
		for _, en := range mustClaim(t, s, "w", 10, time.Hour) {
			switch en.OrderID {
			case done.ID:
				if err := s.MarkDead(ctx, en.ID, "w", "the price of SKC-1001 changed"); err != nil {
					t.Fatal(err)
				}
			case underway.ID:
				if err := s.MarkSent(ctx, en.ID, "w", "ord_g1", orderstore.StatusAccepted); err != nil {
					t.Fatal(err)
				}
			}
		}

		_, err := s.PurgeIdempotencyKeys(ctx, clock.Now().Add(-time.Hour))
		wantErr(t, "purge within a day", err, orderstore.ErrInvalidInput)

		clock.Advance(25 * time.Hour)
		n, err := s.PurgeIdempotencyKeys(ctx, clock.Now().Add(-orderstore.MinIdempotencyRetention))
		if err != nil || n != 1 {
			t.Fatalf("purge: %d, %v; want the one key of a final order", n, err)
		}
		// The final order's key is free again; the others still replay.
		again, created, err := s.Place(ctx, request("cust-0001", "done"))
		if err != nil || !created || again.ID == done.ID {
			t.Errorf("after purge: %s created %v, %v; want a new order", again.ID, created, err)
		}
		replay, created, err := s.Place(ctx, request("cust-0001", "underway"))
		if err != nil || created || replay.ID != underway.ID {
			t.Errorf("order under way: %s created %v, %v; want its order replayed", replay.ID, created, err)
		}
		// The purged order itself is still there.
		if o := mustGet(t, s, done.ID); o.Status != orderstore.StatusRejected {
			t.Errorf("purged key's order is %s, want REJECTED and kept", o.Status)
		}
	})
}

func TestClaimSQL(t *testing.T) {
	pg, lite := orderstore.ClaimSQL(db.Postgres), orderstore.ClaimSQL(db.SQLite)
	if want := lite + "\nFOR UPDATE SKIP LOCKED"; pg != want {
		t.Errorf("PostgreSQL claim:\n%s\nwant:\n%s", pg, want)
	}
}
