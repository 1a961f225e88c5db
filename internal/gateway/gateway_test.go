package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/consent"
	"meridian/adapters/content"
	"meridian/adapters/masterdata"
	"meridian/adapters/orderstore"
	"meridian/adapters/profile"
	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/cache"
	"meridian/internal/config"
	"meridian/internal/db"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/loaders"
	"meridian/internal/metrics"
	"meridian/internal/originhttp"
	"meridian/resolvers"
)

// seedOnce loads the real seed into one SQLite mirror shared by the tests of
// this package; they only read it.
var seedOnce = sync.OnceValues(func() (*db.DB, error) {
	dir, err := os.MkdirTemp("", "meridian-gateway-test")
	if err != nil {
		return nil, err
	}
	database, err := db.Open(context.Background(), "sqlite:"+filepath.Join(dir, "mirror.db"))
	if err != nil {
		return nil, err
	}
	store, err := catalog.NewSQLStore(context.Background(), database)
	if err != nil {
		return nil, err
	}
	seed, err := os.ReadFile("../../testdata/catalog.json")
	if err != nil {
		return nil, err
	}
	if _, err := catalog.LoadSeed(context.Background(), store, seed, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return nil, err
	}
	return database, nil
})

func seededStore(t testing.TB) catalog.Store {
	t.Helper()
	database, err := seedOnce()
	if err != nil {
		t.Fatalf("seed mirror: %v", err)
	}
	store, err := catalog.NewSQLStore(context.Background(), database)
	if err != nil {
		t.Fatalf("catalog store: %v", err)
	}
	return store
}

// harness is the real gateway handler under httptest, over the seeded
// mirror and a simulated global side with no latency.
type harness struct {
	*httptest.Server
	sim   *httptest.Server // the simulated global side; /admin/... controls it
	guard *guard.Guard     // the master-data guard
}

// option changes the harness's dependencies before the gateway is built.
type option func(*Deps)

// withCatalog replaces the seeded mirror.
func withCatalog(c resolvers.CatalogReader) option { return func(d *Deps) { d.Catalog = c } }

// newGateway returns a harness configured by env over the defaults.
func newGateway(t testing.TB, env map[string]string, opts ...option) *harness {
	t.Helper()
	seed, err := os.ReadFile("../../testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	identities, err := os.ReadFile("../../testdata/identities.json")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := globalsim.New(globalsim.Config{Catalog: seed, Identities: identities})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { sim.Close(); simSrv.Close() })
	if err := sim.IdP().SetIssuer(simSrv.URL + globalsim.IdPPath); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.FromMap(env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 10_000, MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{
		Origin: "masterdata", Budget: cfg.Origins.Budget, FailuresToTrip: uint32(cfg.Origins.BreakerFailures),
		OpenFor: cfg.Origins.BreakerOpenFor, Copies: mem, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := originhttp.New(originhttp.Config{Origin: "masterdata", BaseURL: simSrv.URL + "/masterdata"})
	if err != nil {
		t.Fatal(err)
	}
	factory, err := loaders.NewFactory(loaders.Config{
		Masterdata: g, Inventory: masterdata.New(client), Wait: cfg.Origins.LoaderWait,
		Policy: guard.Policy{MaxAge: cfg.Origins.InventoryMaxAge, StaleWhileRevalidate: cfg.Origins.InventorySWR},
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{Issuer: simSrv.URL + globalsim.IdPPath, Audience: "meridian"})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Catalog: seededStore(t), Loaders: factory, Metrics: metrics.New(), Verifier: verifier,
		Content: emptyContent{}, Personal: personalData(t), Orders: orders(t)}
	for _, opt := range opts {
		opt(&deps)
	}
	h, err := New(cfg, deps, quiet)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &harness{Server: srv, sim: simSrv, guard: g}
}

// orders opens an order store on a fresh SQLite database; nothing
// dispatches from it in these tests.
func orders(t testing.TB) resolvers.Orders {
	t.Helper()
	return ordersOn(t, "sqlite:"+filepath.Join(t.TempDir(), "orders.db"))
}

// ordersOn opens an order store on the database at dsn.
func ordersOn(t testing.TB, dsn string) resolvers.Orders {
	t.Helper()
	database, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close() })
	store, err := orderstore.NewSQLStore(context.Background(), database)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := catalog.NewSQLStore(context.Background(), database)
	if err != nil {
		t.Fatal(err)
	}
	return resolvers.Orders{Store: store, Inventory: mirror, Dashboard: store}
}

// emptyContent is a CMS mirror with no pages.
type emptyContent struct{}

func (emptyContent) Page(context.Context, string) (content.Page, bool, error) {
	return content.Page{}, false, nil
}

// personalData opens the personal-data stores on a fresh SQLite database
// with the demo profiles loaded.
func personalData(t testing.TB) resolvers.PersonalData {
	t.Helper()
	ctx := context.Background()
	database, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "personal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close() })
	profiles, err := profile.NewSQLStore(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile("../../testdata/profiles.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profile.LoadDemoProfiles(ctx, profiles, seed); err != nil {
		t.Fatal(err)
	}
	consents, err := consent.NewSQLStore(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.NewSQLStore(ctx, database, audit.Config{PseudonymKey: []byte("test-audit-pseudonym-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	return resolvers.PersonalData{Profiles: profiles, Consents: consents, Audit: trail, PolicyVersion: "2026-11"}
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

type call struct {
	method      string
	body        string
	contentType string
	headers     map[string]string
}

func do(t testing.TB, srv *harness, c call) (*http.Response, gqlResponse) {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.contentType == "" && c.method == http.MethodPost {
		c.contentType = "application/json"
	}
	req, err := http.NewRequest(c.method, srv.URL+"/graphql", strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return resp, out
}

func query(q string, vars map[string]any) string {
	b, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	return string(b)
}

func TestRequestsRefusedBeforeExecution(t *testing.T) {
	srv := newGateway(t, map[string]string{"MAX_BODY_BYTES": "2048"})
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantCode   string
	}{
		{"malformed JSON", call{body: `{"query": "{ categories { id } }"`}, 400, "BAD_REQUEST"},
		{"not an object", call{body: `["{ categories { id } }"]`}, 400, "BAD_REQUEST"},
		{"query not a string", call{body: `{"query": 42}`}, 400, "BAD_REQUEST"},
		{"no query", call{body: `{"variables": {}}`}, 400, "BAD_REQUEST"},
		{"variables not an object", call{body: `{"query": "{ categories { id } }", "variables": [1]}`}, 400, "BAD_REQUEST"},
		{"trailing data", call{body: `{"query": "{ categories { id } }"} {}`}, 400, "BAD_REQUEST"},
		{"wrong content type", call{body: `{ categories { id } }`, contentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"form post", call{body: `query=x`, contentType: "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"oversized body", call{body: query("{ categories { id } }", map[string]any{"pad": strings.Repeat("x", 4096)})}, 413, "REQUEST_TOO_LARGE"},
		{"PUT", call{method: http.MethodPut, body: `{}`}, 405, "METHOD_NOT_ALLOWED"},
		{"GET without query", call{method: http.MethodGet}, 400, "BAD_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := do(t, srv, tt.c)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := out.codes(); len(got) != 1 || got[0] != tt.wantCode {
				t.Errorf("codes = %v, want [%s]", got, tt.wantCode)
			}
			if len(out.Errors) == 1 && strings.Contains(out.Errors[0].Message, "xxxx") {
				t.Errorf("error message echoes the request body: %q", out.Errors[0].Message)
			}
		})
	}
}

func TestGraphQLErrorCodes(t *testing.T) {
	srv := newGateway(t, map[string]string{"MAX_QUERY_DEPTH": "4", "MAX_QUERY_ALIASES": "3", "MAX_QUERY_COMPLEXITY": "300", "MAX_QUERY_TOKENS": "200"})
	tests := []struct {
		name     string
		body     string
		wantCode string
		// wantData: a field error (with a path, the rest of the response
		// executed) rather than a refused request. gqlgen writes
		// "data": null in both cases, so the path is what tells them apart.
		wantData bool
	}{
		{"parse error", query("{ categories { id }", nil), "GRAPHQL_PARSE_FAILED", false},
		{"unknown field", query("{ categories { nope } }", nil), "GRAPHQL_VALIDATION_FAILED", false},
		{"wrong variable type", query("query($n: Int) { search(first: $n) { totalCount } }", map[string]any{"n": "ten"}), "GRAPHQL_VALIDATION_FAILED", false},
		{"too deep", query("{ search { edges { node { category { name } } } } }", nil), "DEPTH_LIMIT_EXCEEDED", false},
		{"too many aliases", query("{ a: categories { id } b: categories { id } c: categories { id } d: categories { id } }", nil), "ALIAS_LIMIT_EXCEEDED", false},
		{"too complex", query("{ search(first: 100) { edges { node { id sku name } } } }", nil), "COMPLEXITY_LIMIT_EXCEEDED", false},
		{"too many tokens", query("{ categories { "+strings.Repeat("id ", 250)+"} }", nil), "GRAPHQL_PARSE_FAILED", false},
		{"first above the cap", query("{ search(first: 101) { totalCount } }", nil), "BAD_USER_INPUT", true},
		{"first zero", query("{ search(first: 0) { totalCount } }", nil), "BAD_USER_INPUT", true},
		{"foreign cursor", query(`{ search(after: "bm9wZQ") { totalCount } }`, nil), "BAD_USER_INPUT", true},
		{"unknown category", query(`{ search(category: "toys") { totalCount } }`, nil), "BAD_USER_INPUT", true},
		{"unsupported locale", query(`{ categories(locale: "de-DE") { id } }`, nil), "BAD_USER_INPUT", true},
		{"unknown product", query(`{ product(id: "prod-9999") { id } }`, nil), "NOT_FOUND", true},
		{"too many ids", query(`query($ids: [ID!]!) { products(ids: $ids) { id } }`, map[string]any{"ids": make([]string, 101)}), "BAD_USER_INPUT", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := do(t, srv, call{body: tt.body})
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200 for application/json", resp.StatusCode)
			}
			if got := out.codes(); len(got) == 0 || got[0] != tt.wantCode {
				t.Errorf("codes = %v, want %s first (errors: %+v)", got, tt.wantCode, out.Errors)
			}
			// gqlparser reports variable coercion under ["variable", name].
			hasPath := len(out.Errors) > 0 && len(out.Errors[0].Path) > 0 && out.Errors[0].Path[0] != "variable"
			if hasPath != tt.wantData {
				t.Errorf("error has a path = %v, want %v (a field error, not a refused request)", hasPath, tt.wantData)
			}
		})
	}
}

func TestGraphQLResponseMediaType(t *testing.T) {
	srv := newGateway(t, nil)
	accept := map[string]string{"Accept": "application/graphql-response+json"}
	resp, _ := do(t, srv, call{body: query("{ categories { id } }", nil), headers: accept})
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/graphql-response+json") {
		t.Errorf("Content-Type = %q, want application/graphql-response+json", got)
	}
	resp, out := do(t, srv, call{body: query("{ categories { id }", nil), headers: accept})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("parse error status = %d, want 400 with application/graphql-response+json", resp.StatusCode)
	}
	if got := out.codes(); len(got) != 1 || got[0] != "GRAPHQL_PARSE_FAILED" {
		t.Errorf("codes = %v", got)
	}
}

func TestGETQuery(t *testing.T) {
	srv := newGateway(t, nil)
	resp, err := srv.Client().Get(srv.URL + "/graphql?query=" + urlEscape(`{ product(id: "prod-0001") { id sku } }`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(out.Errors) != 0 || !bytes.Contains(out.Data["product"], []byte(`"prod-0001"`)) {
		t.Errorf("GET: status %d, data %s, errors %+v", resp.StatusCode, out.Data["product"], out.Errors)
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "{", "%7B", "}", "%7D", `"`, "%22", "(", "%28", ")", "%29", ":", "%3A").Replace(s)
}

func TestLocaleNegotiation(t *testing.T) {
	srv := newGateway(t, nil)
	const q = `{ product(id: "prod-0001") { name price { amount currency formatted } category { name } } }`
	type product struct {
		Name  string `json:"name"`
		Price struct {
			Amount, Currency, Formatted string
		} `json:"price"`
	}
	read := func(headers map[string]string, body string) (product, string) {
		resp, out := do(t, srv, call{body: body, headers: headers})
		if len(out.Errors) > 0 {
			t.Fatalf("errors: %+v", out.Errors)
		}
		var p product
		if err := json.Unmarshal(out.Data["product"], &p); err != nil {
			t.Fatal(err)
		}
		return p, resp.Header.Get("Content-Language")
	}
	hans, lang := read(map[string]string{"Accept-Language": "zh-CN,zh;q=0.9"}, query(q, nil))
	if lang != "zh-Hans-CN" || !strings.HasPrefix(hans.Price.Formatted, "¥") {
		t.Errorf("zh-CN: Content-Language %q, formatted %q; want zh-Hans-CN and ¥…", lang, hans.Price.Formatted)
	}
	en, lang := read(map[string]string{"Accept-Language": "en-US"}, query(q, nil))
	if lang != "en-US" || !strings.HasPrefix(en.Price.Formatted, "CN¥") || en.Name == hans.Name {
		t.Errorf("en-US: Content-Language %q, name %q, formatted %q; want en-US, an English name, CN¥…", lang, en.Name, en.Price.Formatted)
	}
	hant, _ := read(map[string]string{"Accept-Language": "zh-TW"}, query(q, nil))
	if hant.Name == hans.Name || hant.Name == en.Name {
		t.Errorf("zh-TW name %q should differ from zh-Hans %q and en %q", hant.Name, hans.Name, en.Name)
	}
	overridden, _ := read(map[string]string{"Accept-Language": "zh-CN"},
		query(`{ product(id: "prod-0001", locale: "en-US") { name price { amount currency formatted } } }`, nil))
	if overridden.Name != en.Name || overridden.Price.Formatted != en.Price.Formatted {
		t.Errorf("locale argument: got %+v, want the en-US values %+v", overridden, en)
	}
	if hans.Price.Amount != en.Price.Amount || hans.Price.Currency != "CNY" {
		t.Errorf("amount must not depend on locale: %q vs %q (%s)", hans.Price.Amount, en.Price.Amount, hans.Price.Currency)
	}
}

func TestSearchPagesThroughEveryMatchOnce(t *testing.T) {
	srv := newGateway(t, nil)
	const q = `query($q: String, $after: String) { search(query: $q, first: 7, after: $after) {
		totalCount edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }`
	type page struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct{ ID, Name string }
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	for _, term := range []string{"精华", "面霜", "serum", "SERUM"} {
		t.Run(term, func(t *testing.T) {
			seen := map[string]bool{}
			var after any
			total := -1
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				_, out := do(t, srv, call{body: query(q, map[string]any{"q": term, "after": after}), headers: map[string]string{"Accept-Language": "zh-CN"}})
				if len(out.Errors) > 0 {
					t.Fatalf("errors: %+v", out.Errors)
				}
				var p page
				if err := json.Unmarshal(out.Data["search"], &p); err != nil {
					t.Fatal(err)
				}
				total = p.TotalCount
				for _, e := range p.Edges {
					if seen[e.Node.ID] {
						t.Errorf("%s seen twice", e.Node.ID)
					}
					seen[e.Node.ID] = true
				}
				if !p.PageInfo.HasNextPage {
					break
				}
				after = *p.PageInfo.EndCursor
			}
			if total < 1 || len(seen) != total {
				t.Errorf("visited %d products, totalCount %d; want equal and positive", len(seen), total)
			}
		})
	}
}

// panickingCatalog panics on every read, standing in for a resolver bug.
type panickingCatalog struct{}

func (panickingCatalog) ProductsByID(context.Context, []string) (map[string]catalog.Product, error) {
	panic("boom: secret internals")
}
func (panickingCatalog) Search(context.Context, catalog.SearchQuery) (catalog.SearchPage, error) {
	panic("boom")
}
func (panickingCatalog) Categories(context.Context) ([]catalog.Category, error) {
	return nil, fmt.Errorf("pq: relation \"categories\" does not exist")
}

func TestInternalErrorsAreMasked(t *testing.T) {
	srv := newGateway(t, nil, withCatalog(panickingCatalog{}))
	resp, out := do(t, srv, call{body: query(`{ product(id: "prod-0001") { id } categories { id } }`, nil)})
	if resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200 (field errors, not a failed request)", resp.StatusCode)
	}
	if len(out.Errors) != 2 {
		t.Fatalf("errors = %+v, want one per field", out.Errors)
	}
	for _, e := range out.Errors {
		if e.Extensions["code"] != "INTERNAL" || e.Message != "internal error" || e.Extensions["requestId"] == "" {
			t.Errorf("error %+v, want masked INTERNAL with a requestId", e)
		}
	}
}

func TestExecutionTimeout(t *testing.T) {
	srv := newGateway(t, map[string]string{"EXECUTION_TIMEOUT": "50ms", "ORIGIN_BUDGET": "10ms"}, withCatalog(slowCatalog{}))
	_, out := do(t, srv, call{body: query(`{ categories { id } }`, nil)})
	if got := out.codes(); len(got) != 1 || got[0] != "EXECUTION_TIMEOUT" {
		t.Errorf("codes = %v, want [EXECUTION_TIMEOUT] (errors %+v)", got, out.Errors)
	}
}

// slowCatalog blocks until the request's deadline.
type slowCatalog struct{ panickingCatalog }

func (slowCatalog) Categories(ctx context.Context) ([]catalog.Category, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("categories: %w", ctx.Err())
}

func TestHealthAndReadiness(t *testing.T) {
	cfg := config.Default()
	down := pingFunc(func(context.Context) error { return fmt.Errorf("connection refused") })
	up := pingFunc(func(context.Context) error { return nil })
	for _, tt := range []struct {
		name   string
		ready  map[string]Pinger
		status int
	}{
		{"all up", map[string]Pinger{"database": up}, 200},
		{"database down", map[string]Pinger{"database": down, "redis": up}, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := newGateway(t, nil)
			factory, _ := loaders.NewFactory(loaders.Config{Masterdata: base.guard, Inventory: noInventory{}})
			verifier, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{Issuer: base.sim.URL + globalsim.IdPPath, Audience: "meridian"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := New(cfg, Deps{Catalog: seededStore(t), Loaders: factory, Metrics: metrics.New(), Ready: tt.ready,
				Verifier: verifier, Content: emptyContent{}, Personal: personalData(t), Orders: orders(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.status {
				t.Errorf("/readyz = %d %q, want %d", rec.Code, rec.Body, tt.status)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != 200 {
				t.Errorf("/healthz = %d, want 200", rec.Code)
			}
		})
	}
}

// noInventory answers no SKU; for tests that never read inventory.
type noInventory struct{}

func (noInventory) Inventory(context.Context, []string) (map[string]masterdata.Inventory, error) {
	return nil, nil
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestProductionTurnsOffPlaygroundIntrospectionAndSuggestions(t *testing.T) {
	srv := newGateway(t, map[string]string{
		"ENV": "production", "GLOBAL_MASTERDATA_URL": "http://127.0.0.1:1/masterdata",
		"OIDC_ISSUER": "http://127.0.0.1:1/idp", "SESSION_KEYS": "k", "WEBHOOK_SECRET": "0123456789abcdef",
		"ADMIN_TOKEN": "t", "AUDIT_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef",
		"GLOBAL_ORDERS_URL": "http://127.0.0.1:1/orders", "GLOBAL_CMS_URL": "http://127.0.0.1:1/cms",
	})
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / in production = %d, want 404", resp.StatusCode)
	}
	_, out := do(t, srv, call{body: query(`{ __schema { types { name } } }`, nil)})
	if len(out.Errors) == 0 {
		t.Error("introspection answered in production")
	}
	_, out = do(t, srv, call{body: query(`{ categorie { id } }`, nil)})
	if len(out.Errors) == 0 || strings.Contains(out.Errors[0].Message, "Did you mean") {
		t.Errorf("errors = %+v, want a validation error without suggestions", out.Errors)
	}
}

// TestProductPartsAreBuiltWhereverTheQuerySelectsThem checks that a
// product's category, images and description are filled however the query
// reaches them (fragments, aliases, the three product fields), since
// resolvers build them only when the query selects them.
func TestProductPartsAreBuiltWhereverTheQuerySelectsThem(t *testing.T) {
	srv := newGateway(t, nil)
	const q = `
fragment Card on Product { shelf: category { id name } pictures: images { url } description }
query {
  search(first: 2) { edges { node { ...Card } } }
  inline: search(first: 1) { edges { ... on ProductEdge { node { ... on Product { category { id } images { url } } } } } }
  products(ids: ["prod-0001"]) { ...Card }
  product(id: "prod-0001") { category { name } description images { url } }
  plain: search(first: 1) { edges { node { id } } }
}`
	_, out := do(t, srv, call{body: query(q, nil)})
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %+v", out.Errors)
	}
	for _, path := range [][]string{
		{"search", "edges", "0", "node", "shelf", "name"},
		{"search", "edges", "1", "node", "shelf", "id"},
		{"inline", "edges", "0", "node", "category", "id"},
		{"products", "0", "shelf", "name"},
		{"product", "category", "name"},
		{"search", "edges", "1", "node", "pictures", "0", "url"},
		{"search", "edges", "0", "node", "description"},
		{"inline", "edges", "0", "node", "images", "0", "url"},
		{"products", "0", "pictures", "0", "url"},
		{"products", "0", "description"},
		{"product", "description"},
		{"product", "images", "0", "url"},
	} {
		if v, _ := dig(out.Data, path...).(string); v == "" {
			t.Errorf("%s = %v, want a value", strings.Join(path, "."), dig(out.Data, path...))
		}
	}
}

// dig walks decoded JSON along path: object keys, and decimal indexes into
// lists. It returns nil where the path leads nowhere.
func dig(data map[string]json.RawMessage, path ...string) any {
	raw, _ := json.Marshal(data)
	var v any
	_ = json.Unmarshal(raw, &v)
	for _, p := range path {
		switch node := v.(type) {
		case map[string]any:
			v = node[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(node) {
				return nil
			}
			v = node[i]
		default:
			return nil
		}
	}
	return v
}

// TestTotalCountIsCountedWhereverSelected checks that search counts its
// matches however the query asks for totalCount (plainly, aliased, in a
// fragment), since the count is made only when it is selected.
func TestTotalCountIsCountedWhereverSelected(t *testing.T) {
	srv := newGateway(t, nil)
	const q = `
fragment Counted on ProductConnection { totalCount }
query {
  plain: search(first: 1) { totalCount }
  aliased: search(first: 1) { n: totalCount }
  spread: search(first: 1) { ...Counted }
  uncounted: search(first: 1) { edges { node { id } } pageInfo { hasNextPage } }
}`
	_, out := do(t, srv, call{body: query(q, nil)})
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %+v", out.Errors)
	}
	total, _ := dig(out.Data, "plain", "totalCount").(float64)
	if total < 2 {
		t.Fatalf("plain totalCount = %v, want the whole catalog", dig(out.Data, "plain", "totalCount"))
	}
	for _, path := range [][]string{{"aliased", "n"}, {"spread", "totalCount"}} {
		if got := dig(out.Data, path...); got != total {
			t.Errorf("%s = %v, want %v", strings.Join(path, "."), got, total)
		}
	}
	if got := dig(out.Data, "uncounted", "pageInfo", "hasNextPage"); got != true {
		t.Errorf("uncounted hasNextPage = %v, want true", got)
	}
}
