package globalsim

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCreateOrderIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := newOrderBody("TST-0001", 2, "480.00")

	first := h.createOrder(t, "key-1", body)
	if first.status != http.StatusCreated {
		t.Fatalf("first create: got %d %s want 201", first.status, first.body)
	}
	created := decode[orderJSON](t, first)
	if got := first.header.Get("Location"); got != "/orders/v1/orders/"+created.ID {
		t.Errorf("Location: got %q want /orders/v1/orders/%s", got, created.ID)
	}

	// Same key, same body (here with other whitespace and key order): a replay.
	reordered := `{ "lines": [{"unitPrice":"480.00","quantity":2,"sku":"TST-0001"}], "currency":"CNY",
	  "shippingAddressRef":"addr_cn_42", "regionOrderRef":"CN-20260401-0001", "subject":"sub_7f3a" }`
	for _, b := range []any{body, reordered} {
		again := h.createOrder(t, "key-1", b)
		if again.status != http.StatusOK {
			t.Fatalf("replay: got %d %s want 200", again.status, again.body)
		}
		if diff := cmp.Diff(created, decode[orderJSON](t, again)); diff != "" {
			t.Errorf("replay returned another order (-first +replay):\n%s", diff)
		}
	}

	// Same key, different body: refused.
	other := newOrderBody("TST-0001", 3, "480.00")
	if r := h.createOrder(t, "key-1", other); r.status != http.StatusConflict || r.errorCode() != "idempotency_key_reused" {
		t.Errorf("reused key: got %d %q want 409 idempotency_key_reused", r.status, r.errorCode())
	}
	// No key: refused.
	if r := h.createOrder(t, "", body); r.status != http.StatusBadRequest || r.errorCode() != "idempotency_key_missing" {
		t.Errorf("missing key: got %d %q want 400 idempotency_key_missing", r.status, r.errorCode())
	}
	// Stock was taken once: 12 - 2.
	var inv batchResult[inventoryItem]
	h.call(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", skuBatch{SKUs: []string{"TST-0001"}}, http.StatusOK, &inv)
	if got := inv.Items[0].Available; got != 10 {
		t.Errorf("available after one order of 2 (replayed twice): got %d want 10", got)
	}
	if got := h.sim.Stats().Orders; got != 1 {
		t.Errorf("orders: got %d want 1", got)
	}
}

func TestCreateOrderResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := newOrderBody("TST-0002", 3, "129.50")
	body.Lines = append(body.Lines, orderLineRequest{SKU: "TST-0003", Quantity: 1, UnitPrice: "1299.00"})
	r := h.createOrder(t, "k", body)
	if r.status != http.StatusCreated {
		t.Fatalf("got %d %s want 201", r.status, r.body)
	}
	got := decode[orderJSON](t, r)
	want := orderJSON{
		ID: got.ID, Subject: "sub_7f3a", RegionOrderRef: "CN-20260401-0001", ShippingAddressRef: "addr_cn_42", Currency: "CNY",
		Lines: []orderLineJSON{
			{SKU: "TST-0002", Quantity: 3, UnitPrice: "129.50", LineTotal: "388.50"},
			{SKU: "TST-0003", Quantity: 1, UnitPrice: "1299.00", LineTotal: "1299.00"},
		},
		Total: "1687.50", Status: StatusAccepted,
		StatusHistory: []statusEntry{{Status: StatusAccepted, At: testEpoch}},
		CreatedAt:     testEpoch, UpdatedAt: testEpoch,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestCreateOrderValidation(t *testing.T) {
	t.Parallel()
	withLine := func(l orderLineRequest) orderRequest { return newOrderBody(l.SKU, l.Quantity, l.UnitPrice) }
	edit := func(f func(*orderRequest)) orderRequest {
		b := newOrderBody("TST-0001", 1, "480.00")
		f(&b)
		return b
	}
	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   string
		wantSKUs   []string
	}{
		{"unknown SKU", withLine(orderLineRequest{"NOPE-9", 1, "1.00"}), 422, "unknown_sku", []string{"NOPE-9"}},
		{"quantity zero", withLine(orderLineRequest{"TST-0001", 0, "480.00"}), 422, "invalid_quantity", []string{"TST-0001"}},
		{"quantity negative", withLine(orderLineRequest{"TST-0001", -2, "480.00"}), 422, "invalid_quantity", []string{"TST-0001"}},
		{"price not authoritative", withLine(orderLineRequest{"TST-0001", 1, "450.00"}), 422, "price_mismatch", []string{"TST-0001"}},
		{"out of stock", withLine(orderLineRequest{"TST-0005", 1, "88.00"}), 422, "insufficient_stock", []string{"TST-0005"}},
		{"more than the low stock", withLine(orderLineRequest{"TST-0004", 4, "35.00"}), 422, "insufficient_stock", []string{"TST-0004"}},
		{"other currency", edit(func(b *orderRequest) { b.Currency = "USD" }), 422, "currency_mismatch", []string{"TST-0001"}},
		{"same SKU twice", edit(func(b *orderRequest) { b.Lines = append(b.Lines, b.Lines[0]) }), 422, "duplicate_sku", []string{"TST-0001"}},
		{"price as a number", `{"subject":"s","regionOrderRef":"r","shippingAddressRef":"a","currency":"CNY","lines":[{"sku":"TST-0001","quantity":1,"unitPrice":480}]}`, 400, "invalid_request", nil},
		{"price without cents", withLine(orderLineRequest{"TST-0001", 1, "480"}), 400, "invalid_request", nil},
		{"no lines", edit(func(b *orderRequest) { b.Lines = nil }), 400, "invalid_request", nil},
		{"no subject", edit(func(b *orderRequest) { b.Subject = "" }), 400, "invalid_request", nil},
		{"address text instead of a reference", edit(func(b *orderRequest) { b.ShippingAddressRef = "88 Nanjing Road, Shanghai" }), 400, "invalid_request", nil},
		{"personal data field", `{"subject":"s","regionOrderRef":"r","shippingAddressRef":"a","currency":"CNY","name":"Li Lei","lines":[{"sku":"TST-0001","quantity":1,"unitPrice":"480.00"}]}`, 400, "invalid_request", nil},
		{"phone on a line", `{"subject":"s","regionOrderRef":"r","shippingAddressRef":"a","currency":"CNY","lines":[{"sku":"TST-0001","quantity":1,"unitPrice":"480.00","phone":"13800000000"}]}`, 400, "invalid_request", nil},
	}
	h := newHarness(t, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.createOrder(t, "validation-"+string(rune('a'+i)), tt.body)
			if r.status != tt.wantStatus || r.errorCode() != tt.wantCode {
				t.Fatalf("got %d %q want %d %q; body %s", r.status, r.errorCode(), tt.wantStatus, tt.wantCode, r.body)
			}
			if got := decode[errorBody](t, r).Error.SKUs; !slices.Equal(got, tt.wantSKUs) {
				t.Errorf("error skus: got %v want %v", got, tt.wantSKUs)
			}
		})
	}
	if got := h.sim.Stats().Orders; got != 0 {
		t.Errorf("orders after only invalid requests: got %d want 0", got)
	}
	var inv batchResult[inventoryItem]
	h.call(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", skuBatch{SKUs: []string{"TST-0001", "TST-0004"}}, http.StatusOK, &inv)
	if inv.Items[0].Available != 12 || inv.Items[1].Available != 3 {
		t.Errorf("stock after rejected orders: got %+v want untouched 12 and 3", inv.Items)
	}
}

func TestRejectedRequestDoesNotBindKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if r := h.createOrder(t, "retry-me", newOrderBody("TST-0001", 1, "1.00")); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong price: got %d want 422", r.status)
	}
	if r := h.createOrder(t, "retry-me", newOrderBody("TST-0001", 1, "480.00")); r.status != http.StatusCreated {
		t.Errorf("corrected retry with the same key: got %d %s want 201", r.status, r.body)
	}
}

func TestOrderStatusProgression(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	created := decode[orderJSON](t, h.createOrder(t, "k", newOrderBody("TST-0002", 1, "129.50")))
	confirmedAt, shippedAt := testEpoch.Add(DefaultConfirmAfter), testEpoch.Add(DefaultShipAfter)
	steps := []struct {
		advance     time.Duration
		wantStatus  string
		wantHistory []statusEntry
	}{
		{0, StatusAccepted, []statusEntry{{StatusAccepted, testEpoch}}},
		{DefaultConfirmAfter - time.Millisecond, StatusAccepted, []statusEntry{{StatusAccepted, testEpoch}}},
		{time.Millisecond, StatusConfirmed, []statusEntry{{StatusAccepted, testEpoch}, {StatusConfirmed, confirmedAt}}},
		{DefaultShipAfter - DefaultConfirmAfter, StatusShipped, []statusEntry{{StatusAccepted, testEpoch}, {StatusConfirmed, confirmedAt}, {StatusShipped, shippedAt}}},
		{time.Hour, StatusShipped, []statusEntry{{StatusAccepted, testEpoch}, {StatusConfirmed, confirmedAt}, {StatusShipped, shippedAt}}},
	}
	elapsed := time.Duration(0)
	for _, st := range steps {
		h.clock.Advance(st.advance)
		elapsed += st.advance
		var got orderJSON
		h.call(t, http.MethodGet, "/orders/v1/orders/"+created.ID, nil, http.StatusOK, &got)
		if got.Status != st.wantStatus {
			t.Errorf("after %v: got status %q want %q", elapsed, got.Status, st.wantStatus)
		}
		if diff := cmp.Diff(st.wantHistory, got.StatusHistory); diff != "" {
			t.Errorf("after %v: history (-want +got):\n%s", elapsed, diff)
		}
		if last := st.wantHistory[len(st.wantHistory)-1].At; !got.UpdatedAt.Equal(last) {
			t.Errorf("after %v: got updatedAt %v want %v", elapsed, got.UpdatedAt, last)
		}
	}
}

func TestOrderStatusTimingIsConfigurable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.ConfirmAfter, c.ShipAfter = time.Minute, time.Hour })
	created := decode[orderJSON](t, h.createOrder(t, "k", newOrderBody("TST-0002", 1, "129.50")))
	h.clock.Advance(59 * time.Minute)
	var got orderJSON
	h.call(t, http.MethodGet, "/orders/v1/orders/"+created.ID, nil, http.StatusOK, &got)
	if got.Status != StatusConfirmed {
		t.Errorf("after 59 min: got %q want %q", got.Status, StatusConfirmed)
	}
}

func TestListOrdersBySubject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ids []string
	for i, subject := range []string{"sub_a", "sub_b", "sub_a"} {
		b := newOrderBody("TST-0002", 1, "129.50")
		b.Subject = subject
		o := decode[orderJSON](t, h.createOrder(t, "list-"+subject+string(rune('0'+i)), b))
		ids = append(ids, o.ID)
		h.clock.Advance(time.Second)
	}
	var list orderList
	h.call(t, http.MethodGet, "/orders/v1/orders?subject=sub_a", nil, http.StatusOK, &list)
	var got []string
	for _, o := range list.Orders {
		got = append(got, o.ID)
	}
	if want := []string{ids[2], ids[0]}; !slices.Equal(got, want) {
		t.Errorf("sub_a orders: got %v want %v (newest first)", got, want)
	}
	h.call(t, http.MethodGet, "/orders/v1/orders?subject=sub_nobody", nil, http.StatusOK, &list)
	if len(list.Orders) != 0 {
		t.Errorf("unknown subject: got %d orders want 0", len(list.Orders))
	}
	if r := h.do(t, http.MethodGet, "/orders/v1/orders", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("no subject: got %d want 400", r.status)
	}
	if r := h.do(t, http.MethodGet, "/orders/v1/orders/ord_missing", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("unknown order: got %d %q want 404 not_found", r.status, r.errorCode())
	}
}

func TestOrderTakesStockIntoChangeFeed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.createOrder(t, "k", newOrderBody("TST-0004", 3, "35.00"))
	changes, _, _ := readFeed[mdChange](t, h, "/masterdata/v1/changes", "", 10)
	if len(changes) != 1 || changes[0].Kind != ChangeInventory || changes[0].SKU != "TST-0004" || *changes[0].Available != 0 {
		t.Fatalf("got changes %+v want one inventory change of TST-0004 to 0", changes)
	}
	if r := h.createOrder(t, "k2", newOrderBody("TST-0004", 1, "35.00")); r.errorCode() != "insufficient_stock" {
		t.Errorf("order after the shelf is empty: got %d %q want insufficient_stock", r.status, r.errorCode())
	}
}

func TestOrderIDsFollowTheSeed(t *testing.T) {
	t.Parallel()
	idFor := func(seed uint64) string {
		h := newHarness(t, func(c *Config) { c.Seed = seed })
		return decode[orderJSON](t, h.createOrder(t, "k", newOrderBody("TST-0002", 1, "129.50"))).ID
	}
	a, b, c := idFor(1), idFor(1), idFor(2)
	if a != b || a == c {
		t.Errorf("got ids %q, %q (seed 1) and %q (seed 2) want equal for equal seeds only", a, b, c)
	}
}
