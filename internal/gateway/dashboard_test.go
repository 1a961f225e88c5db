package gateway

import (
	"fmt"
	"testing"
)

func TestConsultantDashboardOverTheProjection(t *testing.T) {
	h := newGateway(t, nil)
	cust, cons := token(t, h, "cust-0001"), token(t, h, "cons-0001")
	addr := firstAddress(t, h, cust)
	// Three orders today: 2 × prod-0001 (480.00) + 1 × prod-0003, then twice 1 × prod-0001.
	for i, lines := range [][]map[string]any{
		{{"productId": "prod-0001", "quantity": 2}, {"productId": "prod-0003", "quantity": 1}},
		{{"productId": "prod-0001", "quantity": 1}},
		{{"productId": "prod-0001", "quantity": 1}},
	} {
		_, out := as(t, h, cust, placeOrder, map[string]any{"in": map[string]any{
			"idempotencyKey": fmt.Sprintf("dash-%d", i), "shippingAddressId": addr, "lines": lines}})
		if len(out.Errors) > 0 {
			t.Fatalf("placeOrder: %+v", out.Errors)
		}
	}
	_, out := as(t, h, cons, `{ consultant {
		salesSummary(period: TODAY) { orderCount customerCount revenue { amount } averageOrderValue { amount } }
		topProducts(period: THIS_MONTH, first: 1) { productId units revenue { amount } }
		orders(first: 10) { edges { node { id status } } }
		customers(first: 50) { edges { node { id orderCount lifetimeValue { amount } lastOrderAt } } } } }`, nil)
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %+v", out.Errors)
	}
	sum := field(t, out, "consultant", "salesSummary").(map[string]any)
	prod3 := field(t, out, "consultant", "topProducts").([]any)[0].(map[string]any)
	if sum["orderCount"] != float64(3) || sum["customerCount"] != float64(1) {
		t.Errorf("salesSummary = %v, want 3 orders from 1 customer", sum)
	}
	if prod3["productId"] != "prod-0001" || prod3["units"] != float64(4) || prod3["revenue"].(map[string]any)["amount"] != "1920.00" {
		t.Errorf("top product = %v, want prod-0001, 4 units, 1920.00", prod3)
	}
	revenue := sum["revenue"].(map[string]any)["amount"].(string)
	for _, e := range field(t, out, "consultant", "customers", "edges").([]any) {
		n := e.(map[string]any)["node"].(map[string]any)
		if n["id"] == "cust-0001" && (n["orderCount"] != float64(3) || n["lifetimeValue"].(map[string]any)["amount"] != revenue || n["lastOrderAt"] == nil) {
			t.Errorf("cust-0001 totals = %v, want 3 orders worth %s", n, revenue)
		}
	}
	if orders := field(t, out, "consultant", "orders", "edges").([]any); len(orders) != 3 {
		t.Errorf("team orders = %d, want 3", len(orders))
	}
}
