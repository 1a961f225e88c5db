package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestResponseCache: an anonymous catalog page is executed once and then
// served from the cache with its data unchanged and the cache stated;
// personal and live answers never are.
func TestResponseCache(t *testing.T) {
	g := start(t)
	post := func(q string, headers ...string) (string, map[string]json.RawMessage) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": q})
		req, _ := http.NewRequest("POST", g.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Language", "zh-CN")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]json.RawMessage
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
		return resp.Header.Get("X-Cache"), out
	}
	const page = `{ search(query: "面霜", first: 10) { totalCount edges { node { id name price { formatted } inventory { available freshness { source asOf } } } } } }`
	first, a := post(page)
	second, b := post(page)
	if first == "HIT" || second != "HIT" {
		t.Errorf("X-Cache: first %q, second %q; want a miss, then HIT", first, second)
	}
	if !bytes.Equal(a["data"], b["data"]) {
		t.Error("the cached data differs from the executed data")
	}
	if !strings.Contains(string(b["extensions"]), `"status":"HIT"`) {
		t.Errorf("a cache hit does not say so: extensions %s", b["extensions"])
	}

	// Another locale is another entry.
	if status, _ := post(strings.Replace(page, "first: 10", "first: 10", 1), "Accept-Language", "en-US"); status == "HIT" {
		t.Error("an en-US request was answered from the zh-CN entry")
	}

	// Personal data and live stock are never kept.
	resp, err := http.Get(g.url + "/auth/dev-token?sub=cust-0001")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	for range 2 {
		if status, _ := post(`{ me { profile { mobile } } }`, "Authorization", "Bearer "+tok.AccessToken); status == "HIT" {
			t.Error("a personal answer was served from the cache")
		}
		if status, _ := post(`{ product(id: "prod-0001") { inventory(consistency: LIVE) { available } } }`); status == "HIT" {
			t.Error("a LIVE inventory answer was served from the cache")
		}
	}
}

// TestPriceChangePurgesCachedPages: a product page and a search page that
// lists the product are answered from the cache (their entries live for
// 60 s); a price change at global reaches the gateway by webhook, and once
// its sync has run both pages show the new price at once, executed anew:
// the purge by tag, not the entries' age, explains it.
func TestPriceChangePurgesCachedPages(t *testing.T) {
	addr := freeAddr(t)
	sim := startSim(t, "20ms", "5ms", "-webhook", "http://"+addr+"/hooks/changes", "-webhook-secret", webhookSecret)
	g := startAt(t, addr, append(originEnv(sim), "SYNC_INTERVAL=1h")...)

	const productPage = `{ product(id: "prod-0013", locale: "en-US") { id price { amount } } }`
	const searchPage = `{ search(first: 20, locale: "en-US") { edges { node { id price { amount } } } } }`
	// amount reads prod-0013's price from either page, and whether the
	// gateway answered from the cache.
	amount := func(q string) (string, string) {
		t.Helper()
		r := g.post(t, q, nil)
		var d struct {
			Product *struct{ Price struct{ Amount string } }
			Search  *struct {
				Edges []struct {
					Node struct {
						ID    string
						Price struct{ Amount string }
					}
				}
			}
		}
		if err := json.Unmarshal(mustJSON(t, r.Data), &d); err != nil || len(r.Errors) > 0 {
			t.Fatalf("%s: %v %s", q, err, r.rawBody)
		}
		status := r.header.Get("X-Cache")
		if d.Product != nil {
			return d.Product.Price.Amount, status
		}
		for _, e := range d.Search.Edges {
			if e.Node.ID == "prod-0013" {
				return e.Node.Price.Amount, status
			}
		}
		t.Fatalf("prod-0013 not on the search page: %s", r.rawBody)
		return "", ""
	}

	var before string
	for _, q := range []string{productPage, searchPage} {
		amount(q)
		got, status := amount(q)
		if status != "HIT" {
			t.Fatalf("second request of %s: X-Cache %q, want HIT", q, status)
		}
		before = got
	}
	if before == "" || before == "7.77" {
		t.Fatalf("price before the change = %q", before)
	}

	admin(t, "PATCH", sim+"/admin/masterdata/products/SKC-1013", `{"price":"7.77"}`)
	eventually(t, "the new price on the product page", 10*time.Second, func() bool {
		got, _ := amount(productPage)
		return got == "7.77"
	})
	// The same purge took the search page: its very next answer is new.
	if got, status := amount(searchPage); got != "7.77" {
		t.Fatalf("search page right after the product page changed: price %q (X-Cache %q), want 7.77", got, status)
	}
	if got, status := amount(searchPage); got != "7.77" || status != "HIT" {
		t.Errorf("search page once more: price %q, X-Cache %q; want 7.77 from the new entry", got, status)
	}
}

// TestResponseCacheOff: with RESPONSE_CACHE=false every request executes.
func TestResponseCacheOff(t *testing.T) {
	g := start(t, "RESPONSE_CACHE=false")
	const page = `{ search(first: 5) { edges { node { id } } } }`
	for i := range 3 {
		r := g.post(t, page, nil)
		if len(r.Errors) > 0 || r.header.Get("X-Cache") == "HIT" || strings.Contains(string(r.rawBody), `"HIT"`) {
			t.Fatalf("request %d with the cache off: X-Cache %q, %s", i+1, r.header.Get("X-Cache"), r.rawBody)
		}
	}
}
