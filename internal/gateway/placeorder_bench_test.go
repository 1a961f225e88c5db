package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ordersapi "meridian/adapters/orders"
	"meridian/internal/originhttp"
	"meridian/internal/testenv"
)

// BenchmarkPlaceOrder measures placeOrder through the real handler with the
// order origin at 180 ms ± 30 ms, on SQLite and PostgreSQL, beside a
// synchronous pass-through (the mutation waiting for the origin) in the
// same run. Eight clients place orders concurrently; the figures are the
// mutation's latency as a client sees it and orders acknowledged per
// second. Delivery happens afterwards, in the background.
//
//	go test -run '^$' -bench BenchmarkPlaceOrder -benchtime 400x ./internal/gateway/
func BenchmarkPlaceOrder(b *testing.B) {
	const clients = 8
	for _, store := range []string{"sqlite", "postgres"} {
		b.Run("outbox/"+store, func(b *testing.B) {
			var opts []option
			if store == "postgres" {
				opts = append(opts, func(d *Deps) { d.Orders = ordersOn(b, testenv.PostgresURL(b)) })
			}
			h := newGateway(b, nil, opts...)
			slowOrders(b, h)
			tok := token(b, h, "cust-0001")
			addr := firstAddress(b, h, tok)
			var seq atomic.Int64
			measure(b, clients, func() error {
				body := query(placeOrder, map[string]any{"in": map[string]any{
					"idempotencyKey": fmt.Sprintf("bench-%d", seq.Add(1)), "shippingAddressId": addr,
					"lines": []map[string]any{{"productId": "prod-0003", "quantity": 1}},
				}})
				req, _ := http.NewRequest("POST", h.URL+"/graphql", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(raw), `"status":"PENDING"`) {
					return fmt.Errorf("placeOrder: %s", raw)
				}
				return nil
			})
		})
	}
	b.Run("synchronous-pass-through", func(b *testing.B) {
		h := newGateway(b, nil)
		slowOrders(b, h)
		client, err := originhttp.New(originhttp.Config{Origin: "orders", BaseURL: h.sim.URL + "/orders"})
		if err != nil {
			b.Fatal(err)
		}
		origin := ordersapi.New(client)
		price := productPrice(b, h, "prod-0003")
		// Orders take stock off the shelf at the origin: give it enough.
		simAdmin(b, h, "PATCH", "/admin/masterdata/products/SKC-1003", `{"available": 1000000}`)
		var seq atomic.Int64
		measure(b, clients, func() error {
			n := seq.Add(1)
			_, _, err := origin.Create(context.Background(), fmt.Sprintf("sync-%d", n), ordersapi.CreateOrder{
				Subject: "cust-0001", RegionOrderRef: fmt.Sprintf("sync-%d", n), ShippingAddressRef: "addr-bench",
				Currency: "CNY", Lines: []ordersapi.Line{{SKU: "SKC-1003", Quantity: 1, UnitPrice: price}},
			})
			return err
		})
	})
}

// slowOrders puts the simulated order origin at border latency.
func slowOrders(b testing.TB, h *harness) {
	req, _ := http.NewRequest("PUT", h.sim.URL+"/admin/faults", strings.NewReader(`{"origin":"orders","latency_ms":180,"jitter_ms":30}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("set order latency: %v %v", resp, err)
	}
	resp.Body.Close()
}

func productPrice(b testing.TB, h *harness, id string) string {
	_, out := do(b, h, call{body: query(`query($id: ID!) { product(id: $id) { price { amount } } }`, map[string]any{"id": id})})
	return field(b, out, "product", "price", "amount").(string)
}

// measure runs b.N operations from clients goroutines and reports latency
// percentiles and throughput.
func measure(b *testing.B, clients int, op func() error) {
	b.Helper()
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(); err != nil {
					failed.Add(1)
					continue
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d operations failed", failed.Load())
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "orders/s")
}
