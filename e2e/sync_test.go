package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// eventually polls check until it holds or the deadline passes.
func eventually(t *testing.T, what string, within time.Duration, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !check(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

// TestGlobalChangesReachTheMirrorByWebhook: globalsim notifies the gateway
// of each admin edit with a signed webhook; the gateway syncs at once (the
// interval is an hour here, so only the webhook can explain the change).
func TestGlobalChangesReachTheMirrorByWebhook(t *testing.T) {
	addr := freeAddr(t)
	sim := startSim(t, "20ms", "5ms", "-webhook", "http://"+addr+"/hooks/changes", "-webhook-secret", webhookSecret)
	g := startAt(t, addr, append(originEnv(sim), "SYNC_INTERVAL=1h")...)

	product := func() (name, amount string, found bool) {
		r := g.post(t, `{ product(id: "prod-0011", locale: "en-US") { name price { amount } } }`, nil)
		var d struct {
			Product *struct {
				Name  string
				Price struct{ Amount string }
			}
		}
		_ = json.Unmarshal(mustJSON(t, r.Data), &d)
		if d.Product == nil {
			return "", "", false
		}
		return d.Product.Name, d.Product.Price.Amount, true
	}
	if _, amount, _ := product(); amount != "520.00" {
		t.Fatalf("initial price = %q, want 520.00", amount)
	}

	admin(t, "PATCH", sim+"/admin/masterdata/products/SKC-1011", `{"price":"199.00","name":{"en":"Solenne Brightening Serum (Limited)"}}`)
	eventually(t, "price and name change visible", 10*time.Second, func() bool {
		name, amount, _ := product()
		return amount == "199.00" && name == "Solenne Brightening Serum (Limited)"
	})

	admin(t, "PATCH", sim+"/admin/cms/pages/about-us", `{"title":{"en":"About Meridian Beauty"}}`)
	eventually(t, "content change visible", 10*time.Second, func() bool {
		r := g.post(t, `{ content(slug: "about-us", locale: "en-US") { title freshness { source } } }`, nil)
		return strings.Contains(string(r.rawBody), "About Meridian Beauty") && strings.Contains(string(r.rawBody), "MIRROR")
	})

	admin(t, "DELETE", sim+"/admin/masterdata/products/SKC-1011", "")
	eventually(t, "deleted product gone", 10*time.Second, func() bool {
		_, _, found := product()
		return !found
	})

	// An outage leaves the mirror served, with its age stated.
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"masterdata","error_rate":1}`)
	admin(t, "PATCH", sim+"/admin/masterdata/products/SKC-1012", `{"price":"1.00"}`)
	time.Sleep(500 * time.Millisecond)
	r := g.post(t, `{ product(id: "prod-0012") { price { amount } freshness { source asOf } } }`, nil)
	if len(r.Errors) > 0 || strings.Contains(string(r.rawBody), `"1.00"`) || !strings.Contains(string(r.rawBody), "MIRROR") {
		t.Errorf("during the outage: %s; want the old mirrored price, no errors", r.rawBody)
	}

	// Operators see the jobs, their cursors and the last error.
	resp, err := http.Get(g.url + "/admin/sync")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Jobs []map[string]any `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil || len(status.Jobs) != 2 {
		t.Fatalf("/admin/sync: %v, %+v", err, status)
	}
	admin(t, "PUT", sim+"/admin/faults", `{"origin":"masterdata","error_rate":0}`)
}

// TestForgedWebhooksAreRefused: only a correctly signed, fresh, first
// delivery triggers a sync.
func TestForgedWebhooksAreRefused(t *testing.T) {
	sim := startSim(t, "1ms", "0ms")
	g := start(t, append(originEnv(sim), "SYNC_INTERVAL=1h")...)
	req, _ := http.NewRequest("POST", g.url+"/hooks/changes", strings.NewReader(`{"origin":"masterdata","changes":1}`))
	req.Header.Set("X-Meridian-Timestamp", "1700000000")
	req.Header.Set("X-Meridian-Signature", "v1=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged webhook: %d, want 401", resp.StatusCode)
	}
}
