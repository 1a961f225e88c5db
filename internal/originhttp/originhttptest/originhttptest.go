// Package originhttptest runs the global systems simulator (internal/globalsim)
// under httptest with zero latency, for the tests of the origin adapters: a
// small fixture catalog and CMS, an originhttp.Client per origin, a fake
// clock, and the simulator's request log decoded for assertions.
//
// It is test support only; nothing outside tests imports it.
package originhttptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"meridian/internal/globalsim"
	"meridian/internal/originhttp"
	"meridian/internal/testenv"
)

// Epoch returns where a Sim's clock starts: 2026-04-01T09:00:00Z.
func Epoch() time.Time { return time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC) }

// Product is one fixture product: its SKU, its authoritative price and the
// stock the simulator starts it with.
type Product struct {
	SKU       string
	Price     string // decimal string, as the contract writes money
	Available int
}

// Products returns n fixture products "FIX-0001" to "FIX-nnnn", with prices
// that exercise the fraction digits ("100.07", "100.14", ...).
func Products(n int) []Product {
	out := make([]Product, n)
	for i := range out {
		sku := fmt.Sprintf("FIX-%04d", i+1)
		cents := 10_000 + 7*(i+1)
		out[i] = Product{SKU: sku, Price: fmt.Sprintf("%d.%02d", cents/100, cents%100), Available: globalsim.InitialAvailable(sku)}
	}
	return out
}

// Catalog is the simulator's catalog seed for products, all in CNY, each
// with a name in the three content languages and one image.
func Catalog(products []Product) []byte {
	type image struct {
		URL string            `json:"url"`
		Alt map[string]string `json:"alt"`
	}
	type product struct {
		ID          string            `json:"id"`
		SKU         string            `json:"sku"`
		Category    string            `json:"category"`
		Name        map[string]string `json:"name"`
		Description map[string]string `json:"description"`
		Price       string            `json:"price"`
		Currency    string            `json:"currency"`
		Images      []image           `json:"images"`
	}
	seed := struct {
		Currency string    `json:"currency"`
		Products []product `json:"products"`
	}{Currency: "CNY"}
	for i, p := range products {
		seed.Products = append(seed.Products, product{
			ID: fmt.Sprintf("prod-%d", i+1), SKU: p.SKU, Category: "skin-care",
			Name:        map[string]string{"zh-Hans": "精华液 " + p.SKU, "zh-Hant": "精華液 " + p.SKU, "en": "Serum " + p.SKU},
			Description: map[string]string{"en": "A serum."},
			Price:       p.Price, Currency: "CNY",
			Images: []image{{URL: "https://static.meridian.example/products/" + p.SKU + "/1.jpg", Alt: map[string]string{"en": "Serum"}}},
		})
	}
	b, err := json.Marshal(seed)
	if err != nil {
		panic(fmt.Sprintf("originhttptest: marshal catalog: %v", err)) // plain strings only
	}
	return b
}

// Content is the simulator's CMS seed: "about-us" in zh-Hans, zh-Hant and
// en with one image, and "spring-skincare-edit" in English only.
const Content = `{"pages": [
  {"slug": "about-us",
   "title": {"zh-Hans": "关于我们", "zh-Hant": "關於我們", "en": "About Us"},
   "summary": {"zh-Hans": "我们是谁。", "zh-Hant": "我們是誰。", "en": "Who we are."},
   "body": {"zh-Hans": "## 我们的故事", "zh-Hant": "## 我們的故事", "en": "## Our story"},
   "images": [{"url": "https://static.meridian.example/cms/about-us/hero.jpg", "alt": {"en": "Our shop"}}],
   "updatedAt": "2025-11-18T06:30:00Z"},
  {"slug": "spring-skincare-edit", "title": {"en": "The Spring Skincare Edit"},
   "summary": {"en": "Hydrate."}, "body": {"en": "## Hydrate"}, "images": [],
   "updatedAt": "2026-03-01T02:00:00Z"}
]}`

// Clock is the simulator's settable clock: a test moves orders from
// accepted to confirmed to shipped by advancing it, without sleeping.
type Clock = testenv.Clock

// Sim is a simulator behind an httptest server.
type Sim struct {
	Sim   *globalsim.Sim
	URL   string // the server's root URL; origins live under /masterdata, /orders, /cms
	Clock *Clock
	srv   *httptest.Server
}

// Start serves a simulator seeded with Catalog(Products(20)) and Content,
// with zero latency and its clock at Epoch; edit, when not nil, adjusts the
// configuration first (another catalog, a short feed retention). The
// simulator is closed when the test ends, before the server, so held
// requests cannot keep the server waiting.
func Start(t testing.TB, edit func(*globalsim.Config)) *Sim {
	t.Helper()
	clock := testenv.NewClock(Epoch())
	cfg := globalsim.Config{Catalog: Catalog(Products(20)), Content: []byte(Content), Now: clock.Now, Seed: 7}
	if edit != nil {
		edit(&cfg)
	}
	sim, err := globalsim.New(cfg)
	if err != nil {
		t.Fatalf("globalsim.New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	return &Sim{Sim: sim, URL: srv.URL, Clock: clock, srv: srv}
}

// Client returns a client for one origin of the simulator.
func (s *Sim) Client(t testing.TB, origin globalsim.Origin) *originhttp.Client {
	t.Helper()
	c, err := originhttp.New(originhttp.Config{BaseURL: s.URL + "/" + string(origin), Origin: string(origin)})
	if err != nil {
		t.Fatalf("originhttp.New(%s): %v", origin, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// LoggedRequest is one request an origin received, as the simulator's
// request log shows it.
type LoggedRequest struct {
	Seq     int64       `json:"seq"`
	Origin  string      `json:"origin"`
	Route   string      `json:"route"` // "POST /orders/v1/orders"
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Query   url.Values  `json:"query"`
	Headers http.Header `json:"headers"`
	Body    string      `json:"body"`
}

// RequestLog is what the origins received.
type RequestLog struct {
	Total    int64            `json:"total"`
	Counts   map[string]int64 `json:"counts"` // per route
	Requests []LoggedRequest  `json:"requests"`
}

// Requests reads the simulator's request log (GET /admin/requests).
func (s *Sim) Requests(t testing.TB) RequestLog {
	t.Helper()
	var log RequestLog
	s.Admin(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	return log
}

// Since is the part of the log after an earlier read with Total mark: what
// the origins received in between, with Total and Counts to match. Tests
// take a mark rather than clearing the log, so one simulator serves a whole
// table of cases.
func (l RequestLog) Since(mark int64) RequestLog {
	out := RequestLog{Total: l.Total - mark, Counts: map[string]int64{}}
	for _, r := range l.Requests {
		if r.Seq > mark {
			out.Requests = append(out.Requests, r)
			out.Counts[r.Route]++
		}
	}
	return out
}

// Admin sends a request to the simulator's /admin API, with body (when not
// nil) as JSON, fails the test unless the answer has wantStatus, and decodes
// the answer into out (when not nil). Use it to patch master data or pages,
// or to set faults.
func (s *Sim) Admin(t testing.TB, method, path string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("%s %s: marshal body: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: got status %d want %d; body %s", method, path, resp.StatusCode, wantStatus, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, answer, err)
		}
	}
}
