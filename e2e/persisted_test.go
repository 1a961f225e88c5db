package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestIDs maps operation names to ids in the committed manifest.
func manifestIDs(t *testing.T) (string, map[string]string) {
	t.Helper()
	path, _ := filepath.Abs("../testdata/persisted/manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Operations []struct{ ID, Name string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, op := range m.Operations {
		ids[op.Name] = op.ID
	}
	return path, ids
}

// TestDashboardRunsPersistedOnly: the consultant dashboard, as persisted
// operations, runs against a gateway in persisted-only mode, while an
// ad-hoc query is refused.
func TestDashboardRunsPersistedOnly(t *testing.T) {
	manifest, ids := manifestIDs(t)
	g := start(t, "PERSISTED_QUERIES="+manifest, "PERSISTED_ONLY=true")
	resp, err := http.Get(g.url + "/auth/dev-token?sub=cons-0001")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	bearer := "Bearer " + tok.AccessToken

	byID := func(name string, vars map[string]any, auth string) result {
		body, _ := json.Marshal(map[string]any{"documentId": ids[name], "variables": vars})
		req, _ := http.NewRequest("POST", g.url+"/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return send(t, req)
	}
	for name, vars := range map[string]map[string]any{
		"ConsultantSalesSummary": {"period": "THIS_MONTH"},
		"ConsultantTopProducts":  {"period": "THIS_YEAR", "first": 5},
		"ConsultantCustomers":    {"first": 10},
		"ConsultantOrders":       {"first": 10},
	} {
		r := byID(name, vars, bearer)
		if r.status != 200 || len(r.Errors) > 0 || r.Data["consultant"] == nil {
			t.Errorf("%s: %d %s", name, r.status, r.rawBody)
		}
	}
	adhoc := g.post(t, `{ consultant { consultantId } }`, nil, "Authorization", bearer)
	if len(adhoc.Errors) != 1 || adhoc.Errors[0]["extensions"].(map[string]any)["code"] != "PERSISTED_QUERY_NOT_ALLOWED" {
		t.Errorf("ad-hoc query: %s, want PERSISTED_QUERY_NOT_ALLOWED", adhoc.rawBody)
	}

	// Anonymous catalog reads by GET are cacheable by a regional CDN;
	// signed-in ones never are.
	get := func(auth string) *http.Response {
		q := url.Values{"documentId": {ids["Categories"]}}
		req, _ := http.NewRequest("GET", g.url+"/graphql?"+q.Encode(), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	anon := get("")
	vary := strings.Join(anon.Header.Values("Vary"), ", ")
	if cc := anon.Header.Get("Cache-Control"); anon.StatusCode != 200 || !strings.HasPrefix(cc, "public, max-age=") || !strings.Contains(vary, "Accept-Language") {
		t.Errorf("anonymous GET: %d, Cache-Control %q, Vary %q", anon.StatusCode, cc, vary)
	}
	if cc := get(bearer).Header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("signed-in GET: Cache-Control %q, want private, no-store", cc)
	}
}
