package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// simAdmin calls the simulated global side's admin API.
func simAdmin(t testing.TB, h *harness, method, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, h.sim.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// inventoryCalls is how many inventory batch calls the simulator received
// since the last reset.
func inventoryCalls(t *testing.T, h *harness) int {
	t.Helper()
	counts, _ := simAdmin(t, h, "GET", "/admin/requests", "")["counts"].(map[string]any)
	n, _ := counts["POST /masterdata/v1/inventory:batchGet"].(float64)
	return int(n)
}

const inventoryPage = `query Page($c: Consistency) { search(first: 50) { edges { node { id sku name
  inventory(consistency: $c) { available status freshness { source asOf stale } } } } } }`

type inventoryData struct {
	Search struct {
		Edges []struct {
			Node struct {
				ID, Sku   string
				Inventory *struct {
					Available int
					Status    string
					Freshness struct {
						Source string
						AsOf   time.Time
						Stale  bool
					}
				}
			}
		}
	}
}

func readPage(t *testing.T, h *harness, consistency string) (inventoryData, gqlResponse) {
	t.Helper()
	_, out := do(t, h, call{body: query(inventoryPage, map[string]any{"c": consistency})})
	var d inventoryData
	if out.Data != nil {
		raw, _ := json.Marshal(out.Data)
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
	}
	return d, out
}

func TestInventoryIsBatchedOncePerPage(t *testing.T) {
	h := newGateway(t, nil)
	for _, consistency := range []string{"LIVE", "CACHED"} {
		simAdmin(t, h, "DELETE", "/admin/requests", "")
		d, out := readPage(t, h, consistency)
		if len(out.Errors) > 0 {
			t.Fatalf("%s: errors %+v", consistency, out.Errors)
		}
		if len(d.Search.Edges) != 50 {
			t.Fatalf("%s: %d products, want 50", consistency, len(d.Search.Edges))
		}
		for _, e := range d.Search.Edges {
			if e.Node.Inventory == nil || e.Node.Inventory.Freshness.Stale {
				t.Fatalf("%s: %s inventory %+v, want fresh", consistency, e.Node.ID, e.Node.Inventory)
			}
		}
		want := map[string]int{"LIVE": 1, "CACHED": 0}[consistency] // CACHED follows LIVE: its copies are warm
		if got := inventoryCalls(t, h); got != want {
			t.Errorf("%s page: %d inventory calls, want %d", consistency, got, want)
		}
	}
}

func TestColdCachedPageWaitsForOneBatch(t *testing.T) {
	h := newGateway(t, nil)
	d, out := readPage(t, h, "CACHED")
	if len(out.Errors) > 0 {
		t.Fatalf("errors %+v", out.Errors)
	}
	if got := inventoryCalls(t, h); got != 1 {
		t.Errorf("cold CACHED page: %d inventory calls, want 1", got)
	}
	if src := d.Search.Edges[0].Node.Inventory.Freshness.Source; src != "LIVE" {
		t.Errorf("cold page source = %s, want LIVE (nothing to serve from yet)", src)
	}
	readPage(t, h, "CACHED")
	if got := inventoryCalls(t, h); got != 1 {
		t.Errorf("warm CACHED page made %d more calls, want none", got-1)
	}
}

func TestBlackholedOriginServesStaleCopiesWithinTheBudget(t *testing.T) {
	h := newGateway(t, map[string]string{"ORIGIN_BUDGET": "200ms"})
	if _, out := readPage(t, h, "LIVE"); len(out.Errors) > 0 { // warm the copies
		t.Fatalf("errors %+v", out.Errors)
	}
	simAdmin(t, h, "PUT", "/admin/faults", `{"origin":"masterdata","blackhole":true}`)
	t.Cleanup(func() { simAdmin(t, h, "PUT", "/admin/faults", `{"origin":"masterdata","blackhole":false}`) })

	d, out := readPage(t, h, "LIVE")
	if len(out.Errors) > 0 {
		t.Fatalf("a blackholed origin produced errors: %+v", out.Errors)
	}
	for _, e := range d.Search.Edges {
		inv := e.Node.Inventory
		if inv == nil || !inv.Freshness.Stale || inv.Freshness.Source != "CACHE" {
			t.Fatalf("%s: inventory %+v, want a stale CACHE copy", e.Node.ID, inv)
		}
	}
	var ext struct {
		Extensions struct {
			Degraded []struct{ Path, Origin, Reason string }
		}
	}
	resp, raw := postRaw(t, h, query(inventoryPage, map[string]any{"c": "LIVE"}))
	_ = json.Unmarshal(raw, &ext)
	if resp.StatusCode != 200 || len(ext.Extensions.Degraded) != 50 {
		t.Fatalf("extensions.degraded has %d entries (status %d), want 50", len(ext.Extensions.Degraded), resp.StatusCode)
	}
	first := ext.Extensions.Degraded[0]
	if first.Origin != "masterdata" || !strings.HasSuffix(first.Path, ".node.inventory") ||
		(first.Reason != "timeout" && first.Reason != "breaker_open") {
		t.Errorf("degraded[0] = %+v", first)
	}
}

func TestNoCopyMeansNullInventoryAndTheRestIntact(t *testing.T) {
	h := newGateway(t, nil)
	simAdmin(t, h, "PUT", "/admin/faults", `{"origin":"masterdata","error_rate":1}`)
	d, out := readPage(t, h, "LIVE")
	if len(d.Search.Edges) != 50 {
		t.Fatalf("%d products, want 50 despite the origin failing", len(d.Search.Edges))
	}
	for _, e := range d.Search.Edges {
		if e.Node.Inventory != nil || e.Node.Sku == "" {
			t.Fatalf("%+v, want null inventory beside intact product fields", e.Node)
		}
	}
	if len(out.Errors) != 50 {
		t.Fatalf("%d errors, want one per inventory field", len(out.Errors))
	}
	for _, e := range out.Errors {
		if e.Extensions["code"] != "ORIGIN_UNAVAILABLE" {
			t.Fatalf("error %+v, want ORIGIN_UNAVAILABLE", e)
		}
	}

	// The origin recovers (after the breaker's open period): live again.
	simAdmin(t, h, "PUT", "/admin/faults", `{"origin":"masterdata","error_rate":0}`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, out = readPage(t, h, "LIVE")
		if len(out.Errors) == 0 && d.Search.Edges[0].Node.Inventory.Freshness.Source == "LIVE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: breaker %s, errors %d", h.guard.State(), len(out.Errors))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func postRaw(t *testing.T, h *harness, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(h.URL+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

func TestMetricsEndpoint(t *testing.T) {
	h := newGateway(t, nil)
	readPage(t, h, "LIVE")
	resp, raw := func() (*http.Response, []byte) {
		resp, err := http.Get(h.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp, buf.Bytes()
	}()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{`meridian_graphql_request_duration_seconds_count{operation="Page",outcome="ok"} 1`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(raw, "meridian_graphql"))
		}
	}
}

func grepLines(raw []byte, substr string) string {
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
