package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
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
