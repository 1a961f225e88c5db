package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startSim runs cmd/globalsim on a free port with the given latency and
// waits until its admin API answers.
func startSim(t *testing.T, latency, jitter string, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	root, _ := filepath.Abs("..")
	args := append([]string{"-addr", addr, "-latency", latency, "-jitter", jitter,
		"-catalog", filepath.Join(root, "testdata/catalog.json"), "-content", filepath.Join(root, "testdata/content.json"),
		"-identities", filepath.Join(root, "testdata/identities.json")}, extra...)
	cmd := exec.Command(simBinary, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("globalsim logs:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/admin/faults"); err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("globalsim did not start:\n%s", logs.String())
		}
	}
}

func admin(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s = %d", method, url, resp.StatusCode)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func inventoryBatchCalls(t *testing.T, sim string) int {
	counts, _ := admin(t, "GET", sim+"/admin/requests", "")["counts"].(map[string]any)
	n, _ := counts["POST /masterdata/v1/inventory:batchGet"].(float64)
	return int(n)
}

const livePage = `query LivePage($c: Consistency) { search(first: 50) { edges { node { id sku
  price { formatted } inventory(consistency: $c) { available status freshness { source asOf stale } } } } } }`

type livePageData struct {
	Search struct {
		Edges []struct {
			Node struct {
				ID        string
				Inventory *struct {
					Available int
					Freshness struct {
						Source string
						Stale  bool
					}
				}
			}
		}
	}
}

// TestGatewayAgainstGlobalsimWithFaults drives the real binary against a
// real globalsim process at border latency, with master data healthy,
// then blackholed, then healthy again.
func TestGatewayAgainstGlobalsimWithFaults(t *testing.T) {
	sim := startSim(t, "180ms", "30ms")
	g := start(t, append(originEnv(sim), "BREAKER_OPEN_FOR=1s")...)
	read := func(consistency string) (livePageData, result, time.Duration) {
		start := time.Now()
		r := g.post(t, livePage, map[string]any{"c": consistency})
		took := time.Since(start)
		var d livePageData
		_ = json.Unmarshal(mustJSON(t, r.Data), &d)
		return d, r, took
	}

	// Healthy: one inventory call per LIVE page; the warm CACHED page makes none.
	admin(t, "DELETE", sim+"/admin/requests", "")
	d, r, _ := read("LIVE")
	if len(r.Errors) > 0 || len(d.Search.Edges) != 50 {
		t.Fatalf("healthy LIVE page: %d edges, errors %v", len(d.Search.Edges), r.Errors)
	}
	for _, e := range d.Search.Edges {
		if e.Node.Inventory == nil || e.Node.Inventory.Freshness.Source != "LIVE" || e.Node.Inventory.Freshness.Stale {
			t.Fatalf("%s: %+v, want a LIVE value", e.Node.ID, e.Node.Inventory)
		}
	}
	if n := inventoryBatchCalls(t, sim); n != 1 {
		t.Errorf("LIVE page: %d inventory calls at the origin, want 1", n)
	}
	read("CACHED")
	if n := inventoryBatchCalls(t, sim); n != 1 {
		t.Errorf("warm CACHED page: %d more inventory calls, want 0", n-1)
	}

	// Blackholed: the LIVE page still answers, from copies marked stale,
	// and lists every one in extensions.degraded.
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"masterdata","blackhole":true}`)
	d, r, took := read("LIVE")
	if len(r.Errors) > 0 {
		t.Fatalf("blackholed origin: errors %v", r.Errors)
	}
	for _, e := range d.Search.Edges {
		if inv := e.Node.Inventory; inv == nil || !inv.Freshness.Stale || inv.Freshness.Source != "CACHE" {
			t.Fatalf("%s: %+v, want a stale CACHE copy", e.Node.ID, inv)
		}
	}
	var ext struct {
		Extensions struct {
			Degraded []struct{ Path, Origin, Reason string }
		}
	}
	_ = json.Unmarshal(r.rawBody, &ext)
	if len(ext.Extensions.Degraded) != 50 {
		t.Errorf("extensions.degraded lists %d fields, want 50", len(ext.Extensions.Degraded))
	}
	t.Logf("LIVE page with master data blackholed answered in %v", took)

	// Healthy again: once the breaker's open period has passed, LIVE values return.
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"masterdata","blackhole":false}`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		d, r, _ = read("LIVE")
		if len(r.Errors) == 0 && d.Search.Edges[0].Node.Inventory.Freshness.Source == "LIVE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the blackhole was lifted: %s", r.rawBody)
		}
	}

	// Operators see it all in /metrics.
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = io.Copy(&body, resp.Body)
	for _, want := range []string{
		`meridian_fallbacks_total{origin="masterdata",reason=`,
		`meridian_origin_requests_total{origin="masterdata",outcome="ok"}`,
		`meridian_breaker_state{origin="masterdata"} 0`,
		`meridian_graphql_request_duration_seconds_count{operation="LivePage",outcome="ok"}`,
	} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// webhookSecret is shared by the gateway and globalsim in these tests.
const webhookSecret = "e2e-webhook-secret-0123456789"

// originEnv points a gateway at a globalsim process for every origin and
// for identity.
func originEnv(sim string) []string {
	return []string{
		"GLOBAL_MASTERDATA_URL=" + sim + "/masterdata", "GLOBAL_ORDERS_URL=" + sim + "/orders", "GLOBAL_CMS_URL=" + sim + "/cms",
		"OIDC_ISSUER=" + sim + "/idp", "WEBHOOK_SECRET=" + webhookSecret,
	}
}
