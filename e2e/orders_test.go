package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meridian/internal/testenv"
)

const placeOrderMutation = `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { created order { id status } } }`

// signedInCustomer gives cust-0001 a profile with an address (outside demo
// mode nobody has one) and returns the bearer header and the address id.
func signedInCustomer(t *testing.T, g *gateway, sim string) ([]string, string) {
	t.Helper()
	auth := []string{"Authorization", "Bearer " + devToken(t, sim, "cust-0001")}
	r := g.post(t, `mutation { updateProfile(input: {displayName: "测试顾客", addresses: [{recipientName: "测试顾客",
		recipientMobile: "13800000001", province: "上海市", city: "上海市", district: "静安区", line1: "南京西路1号",
		isDefault: true}]}) { addresses { id } } }`, nil, auth...)
	var d struct {
		UpdateProfile struct{ Addresses []struct{ ID string } }
	}
	_ = json.Unmarshal(mustJSON(t, r.Data), &d)
	if len(d.UpdateProfile.Addresses) != 1 {
		t.Fatalf("profile setup: %s", r.rawBody)
	}
	return auth, d.UpdateProfile.Addresses[0].ID
}

// place places one order and returns its id, or "" when the request did
// not get an acknowledged answer (the gateway was killed under it).
func place(g *gateway, auth []string, key, addr string) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": placeOrderMutation, "variables": map[string]any{"in": map[string]any{
		"idempotencyKey": key, "shippingAddressId": addr,
		"lines": []map[string]any{{"productId": "prod-0003", "quantity": 1}, {"productId": "prod-0021", "quantity": 2}},
	}}})
	req, _ := http.NewRequest("POST", g.url+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth[0], auth[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			PlaceOrder struct{ Order struct{ ID, Status string } }
		}
		Errors []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if len(out.Errors) > 0 || out.Data.PlaceOrder.Order.Status != "PENDING" {
		return "", fmt.Errorf("placeOrder: %v", out.Errors)
	}
	return out.Data.PlaceOrder.Order.ID, nil
}

// globalOrders counts the orders the global order system holds for the
// customer, by region order reference.
func globalOrders(t *testing.T, sim string) map[string]int {
	t.Helper()
	resp, err := http.Get(sim + "/orders/v1/orders?subject=cust-0001")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Orders []struct{ RegionOrderRef string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, o := range out.Orders {
		counts[o.RegionOrderRef]++
	}
	return counts
}

func orderStatus(t *testing.T, g *gateway, auth []string, id string) string {
	r := g.post(t, `query($id: ID!) { order(id: $id) { status } }`, map[string]any{"id": id}, auth...)
	var d struct{ Order *struct{ Status string } }
	_ = json.Unmarshal(mustJSON(t, r.Data), &d)
	if d.Order == nil {
		return ""
	}
	return d.Order.Status
}

// checkExactlyOnce waits for every acknowledged order to leave PENDING, then
// checks that the global side holds each exactly once and nothing else.
func checkExactlyOnce(t *testing.T, g *gateway, auth []string, sim string, acknowledged []string) {
	t.Helper()
	eventually(t, "the outbox drains", 60*time.Second, func() bool {
		for _, id := range acknowledged {
			if s := orderStatus(t, g, auth, id); s == "PENDING" || s == "" {
				return false
			}
		}
		return true
	})
	counts := globalOrders(t, sim)
	for _, id := range acknowledged {
		if counts[id] != 1 {
			t.Errorf("acknowledged order %s exists %d times at global, want exactly once", id, counts[id])
		}
	}
	for ref, n := range counts {
		if n > 1 {
			t.Errorf("order %s placed %d times at global", ref, n)
		}
	}
	t.Logf("%d acknowledged orders, %d orders at global, each once", len(acknowledged), len(counts))
}

func TestOrderFlowInDemoMode(t *testing.T) {
	g := start(t)
	tok := func() []string {
		resp, err := http.Get(g.url + "/auth/dev-token?sub=cust-0001")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return []string{"Authorization", "Bearer " + out.AccessToken}
	}()
	r := g.post(t, `{ me { profile { addresses { id } } } }`, nil, tok...)
	var d struct {
		Me struct {
			Profile struct{ Addresses []struct{ ID string } }
		}
	}
	_ = json.Unmarshal(mustJSON(t, r.Data), &d)
	if len(d.Me.Profile.Addresses) == 0 {
		t.Fatalf("demo customer has no address: %s", r.rawBody)
	}
	start := time.Now()
	id, err := place(g, tok, "demo-checkout-1", d.Me.Profile.Addresses[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("placeOrder answered PENDING in %v (origin latency 180ms)", time.Since(start))
	eventually(t, "the order is confirmed", 30*time.Second, func() bool { return orderStatus(t, g, tok, id) == "CONFIRMED" })
	r = g.post(t, `query($id: ID!) { order(id: $id) { statusHistory { status } } }`, map[string]any{"id": id}, tok...)
	for _, s := range []string{"PENDING", "ACCEPTED", "CONFIRMED"} {
		if !strings.Contains(string(r.rawBody), `"`+s+`"`) {
			t.Errorf("status history lacks %s: %s", s, r.rawBody)
		}
	}
}

// TestOrdersSurviveSIGKILL places orders in a loop while killing the
// gateway with SIGKILL mid-dispatch (the order origin slow), restarting it
// on the same database each time; every acknowledged order ends up at
// global exactly once.
func TestOrdersSurviveSIGKILL(t *testing.T) {
	addr := freeAddr(t)
	sim := startSim(t, "50ms", "10ms", "-order-webhook", "http://"+addr+"/hooks/orders", "-webhook-secret", webhookSecret)
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"orders","latency_ms":400,"jitter_ms":100}`)
	dbPath := filepath.Join(t.TempDir(), "orders.db")
	env := append(originEnv(sim), "DATABASE_URL=sqlite:"+dbPath, "OUTBOX_LEASE=5s")
	g := startAt(t, addr, env...)
	auth, address := signedInCustomer(t, g, sim)

	var acknowledged []string
	for round := range 4 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if id, err := place(g, auth, fmt.Sprintf("crash-%d-%d", round, i), address); err == nil && id != "" {
					mu.Lock()
					acknowledged = append(acknowledged, id)
					mu.Unlock()
				}
			})
		}
		time.Sleep(150 * time.Millisecond) // some sent, some in flight at the origin
		_ = g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.done
		g.done <- nil
		wg.Wait()
		g = startAt(t, addr, env...)
	}
	if len(acknowledged) == 0 {
		t.Fatal("no order was acknowledged: the test proves nothing")
	}
	checkExactlyOnce(t, g, auth, sim, acknowledged)
}

// TestTwoReplicasOnePostgres runs two gateways on one PostgreSQL database,
// places orders through both, kills one mid-dispatch, and checks that every
// acknowledged order reaches global exactly once.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	addrA := freeAddr(t)
	sim := startSim(t, "50ms", "10ms", "-order-webhook", "http://"+addrA+"/hooks/orders", "-webhook-secret", webhookSecret)
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"orders","latency_ms":300,"jitter_ms":100}`)
	env := append(originEnv(sim), "DATABASE_URL="+dsn, "OUTBOX_LEASE=5s")
	a := startAt(t, addrA, env...)
	b := start(t, env...)
	auth, address := signedInCustomer(t, a, sim)

	var mu sync.Mutex
	var acknowledged []string
	var wg sync.WaitGroup
	for i := range 30 {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Go(func() {
			if id, err := place(g, auth, fmt.Sprintf("replica-%d", i), address); err == nil && id != "" {
				mu.Lock()
				acknowledged = append(acknowledged, id)
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	_ = b.cmd.Process.Signal(syscall.SIGKILL) // a replica dies mid-dispatch
	<-b.done
	b.done <- nil
	wg.Wait()
	checkExactlyOnce(t, a, auth, sim, acknowledged)
}
