package gateway

import (
	"strings"
	"testing"
)

// firstAddress is the signed-in customer's first address id.
func firstAddress(t testing.TB, h *harness, tok string) string {
	t.Helper()
	_, out := as(t, h, tok, `{ me { profile { addresses { id } } } }`, nil)
	addrs, _ := field(t, out, "me", "profile", "addresses").([]any)
	if len(addrs) == 0 {
		t.Fatalf("the demo customer has no address: %+v", out)
	}
	return addrs[0].(map[string]any)["id"].(string)
}

const placeOrder = `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { created
  order { id status total { amount currency } lines { sku quantity unitPrice { amount } lineTotal { amount } } statusHistory { status } } } }`

func TestPlaceOrderValidatesEachLine(t *testing.T) {
	h := newGateway(t, nil)
	tok := token(t, h, "cust-0001")
	_, out := as(t, h, tok, placeOrder, map[string]any{"in": map[string]any{
		"idempotencyKey": "k-invalid", "shippingAddressId": "addr-not-mine",
		"lines": []map[string]any{
			{"productId": "prod-0001", "quantity": 0},
			{"productId": "prod-9999", "quantity": 1},
			{"productId": "prod-0002", "quantity": 2},
			{"productId": "prod-0002", "quantity": 1},
		},
	}})
	fields := map[string]bool{}
	for _, e := range out.Errors {
		if e.Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("error %+v, want BAD_USER_INPUT", e)
		}
		f, _ := e.Extensions["field"].(string)
		fields[f] = true
	}
	for _, want := range []string{"lines[0].quantity", "lines[1].productId", "lines[3].productId", "shippingAddressId"} {
		if !fields[want] {
			t.Errorf("no error for %s (got %v)", want, fields)
		}
	}
	if fields["lines[2].quantity"] || fields["lines[2].productId"] {
		t.Errorf("a valid line was reported: %v", fields)
	}
}

func TestPlaceOrderIsIdempotent(t *testing.T) {
	h := newGateway(t, nil)
	tok := token(t, h, "cust-0001")
	addr := firstAddress(t, h, tok)
	input := func(qty int) map[string]any {
		return map[string]any{"in": map[string]any{
			"idempotencyKey": "checkout-42", "shippingAddressId": addr,
			"lines": []map[string]any{{"productId": "prod-0001", "quantity": qty}, {"productId": "prod-0003", "quantity": 1}},
		}}
	}
	_, first := as(t, h, tok, placeOrder, input(2))
	if len(first.Errors) > 0 {
		t.Fatalf("errors: %+v", first.Errors)
	}
	id := field(t, first, "placeOrder", "order", "id")
	if field(t, first, "placeOrder", "created") != true || field(t, first, "placeOrder", "order", "status") != "PENDING" {
		t.Errorf("first placement: %+v, want created and PENDING", first.Data)
	}
	lines := field(t, first, "placeOrder", "order", "lines").([]any)
	l0 := lines[0].(map[string]any)
	if l0["quantity"] != float64(2) || l0["lineTotal"].(map[string]any)["amount"] != "960.00" {
		t.Errorf("line 0 = %v, want 2 × 480.00 = 960.00", l0)
	}

	_, again := as(t, h, tok, placeOrder, input(2))
	if field(t, again, "placeOrder", "order", "id") != id || field(t, again, "placeOrder", "created") != false {
		t.Errorf("same key, same input: %+v, want the same order, created false", again.Data)
	}
	_, reused := as(t, h, tok, placeOrder, input(3))
	if got := reused.codes(); len(got) != 1 || got[0] != "IDEMPOTENCY_KEY_REUSED" {
		t.Errorf("same key, other input: codes %v, want IDEMPOTENCY_KEY_REUSED", got)
	}

	// The owner and the assigned consultant read it; anyone else cannot
	// even learn it exists.
	q := `query($id: ID!) { order(id: $id) { id status customerId } }`
	for subject, want := range map[string]bool{"cust-0001": true, "cons-0001": true, "cust-0002": false, "cons-0002": false} {
		_, out := as(t, h, token(t, h, subject), q, map[string]any{"id": id})
		if got := field(t, out, "order", "id") == id; got != want {
			t.Errorf("%s reads the order: %v, want %v (%+v)", subject, got, want, out.Errors)
		}
		if !want && (len(out.codes()) != 1 || out.codes()[0] != "NOT_FOUND") {
			t.Errorf("%s: codes %v, want NOT_FOUND", subject, out.codes())
		}
	}
	_, mine := as(t, h, tok, `{ me { orders(first: 5) { edges { node { id status } } } } }`, nil)
	if !strings.Contains(mustRaw(t, mine), id.(string)) {
		t.Errorf("me.orders lacks %v", id)
	}
}

func TestConsultantOrdersOnlyForAssignedCustomers(t *testing.T) {
	h := newGateway(t, nil)
	cons := token(t, h, "cons-0001")
	addr := firstAddress(t, h, token(t, h, "cust-0001"))
	in := func(customer string) map[string]any {
		return map[string]any{"in": map[string]any{
			"idempotencyKey": "on-behalf-" + customer, "shippingAddressId": addr, "customerId": customer,
			"lines": []map[string]any{{"productId": "prod-0005", "quantity": 1}},
		}}
	}
	_, out := as(t, h, cons, placeOrder, in("cust-0001"))
	if len(out.Errors) > 0 || field(t, out, "placeOrder", "order", "status") != "PENDING" {
		t.Errorf("for an assigned customer: %+v", out)
	}
	_, out = as(t, h, cons, placeOrder, in("cust-0002"))
	if got := out.codes(); len(got) != 1 || got[0] != "FORBIDDEN" {
		t.Errorf("for another consultant's customer: codes %v, want FORBIDDEN", got)
	}
}

func mustRaw(t testing.TB, out gqlResponse) string {
	t.Helper()
	var b strings.Builder
	for k, v := range out.Data {
		b.WriteString(k)
		b.Write(v)
	}
	return b.String()
}
