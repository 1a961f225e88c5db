package globalsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian/internal/testenv"
)

// testCatalog is a small catalog seed. Initial stock (InitialAvailable):
// TST-0001 12, TST-0002 238, TST-0003 81, TST-0004 3 (low), TST-0005 0.
const testCatalog = `{
  "currency": "CNY",
  "categories": [{"id": "skin-care", "position": 1, "name": {"en": "Skin Care"}}],
  "products": [
    {"id": "prod-1", "sku": "TST-0001", "category": "skin-care", "name": {"zh-Hans": "精华液", "en": "Serum"}, "description": {"en": "A serum."}, "price": "480.00", "currency": "CNY",
     "images": [{"url": "https://static.meridian.example/products/TST-0001/1.jpg", "alt": {"en": "Serum"}}]},
    {"id": "prod-2", "sku": "TST-0002", "category": "skin-care", "name": {"en": "Toner"}, "description": {"en": "A toner."}, "price": "129.50", "currency": "CNY", "images": []},
    {"id": "prod-3", "sku": "TST-0003", "category": "skin-care", "name": {"en": "Cream"}, "description": {"en": "A cream."}, "price": "1299.00", "images": []},
    {"id": "prod-4", "sku": "TST-0004", "category": "skin-care", "name": {"en": "Balm"}, "description": {"en": "A balm."}, "price": "35.00", "currency": "CNY"},
    {"id": "prod-5", "sku": "TST-0005", "category": "skin-care", "name": {"en": "Mask"}, "description": {"en": "A mask."}, "price": "88.00", "currency": "CNY"}
  ]
}`

const testContent = `{"pages": [
  {"slug": "about-us", "title": {"zh-Hans": "关于我们", "zh-Hant": "關於我們", "en": "About Us"},
   "summary": {"en": "Who we are."}, "body": {"zh-Hans": "我们…", "zh-Hant": "我們…", "en": "We…"},
   "images": [{"url": "https://static.meridian.example/cms/about-us/hero.jpg"}], "updatedAt": "2025-11-18T06:30:00Z"},
  {"slug": "spring-skincare-edit", "title": {"en": "The Spring Skincare Edit"},
   "summary": {"en": "Hydrate."}, "body": {"en": "## Hydrate"}, "images": [], "updatedAt": "2026-03-01T02:00:00Z"}
]}`

// testEpoch is where the fake clock starts.
var testEpoch = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// harness is a Sim behind an httptest server whose every response is checked
// against api/global.openapi.yaml. Its methods take the calling test, so
// subtests report (and stop) on their own.
type harness struct {
	sim   *Sim
	srv   *httptest.Server
	clock *testenv.Clock
}

// newHarness starts a Sim on the test fixtures with no latency; edit adjusts
// the config first. Cleanup closes the Sim before the server, so blackholed
// requests cannot keep the server's Close waiting.
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	clock := testenv.NewClock(testEpoch)
	cfg := Config{Catalog: []byte(testCatalog), Content: []byte(testContent), Now: clock.Now, Seed: 7}
	if edit != nil {
		edit(&cfg)
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(contractChecked(t, loadContract(t), sim))
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	return &harness{sim: sim, srv: srv, clock: clock}
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of a JSON error body, or "" if there is none.
func (r response) errorCode() string {
	var e errorBody
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// formBody is a request body sent with a form Content-Type instead of JSON.
type formBody string

// do sends a request; body is marshalled unless it is a string (sent as is),
// a formBody or nil.
func (h *harness) do(t testing.TB, method, path string, body any, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case formBody:
		rd, contentType = strings.NewReader(string(b)), "application/x-www-form-urlencoded"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// call sends a request, checks the status and decodes the JSON body into out
// (when out is not nil).
func (h *harness) call(t testing.TB, method, path string, body any, wantStatus int, out any) response {
	t.Helper()
	r := h.do(t, method, path, body, nil)
	if r.status != wantStatus {
		t.Fatalf("%s %s: got status %d want %d; body %s", method, path, r.status, wantStatus, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

func (h *harness) setFaults(t testing.TB, body string) {
	t.Helper()
	h.call(t, http.MethodPut, "/admin/faults", body, http.StatusOK, nil)
}

// createOrder posts an order with the given Idempotency-Key (none if empty).
func (h *harness) createOrder(t testing.TB, key string, body any) response {
	t.Helper()
	header := map[string]string{}
	if key != "" {
		header[idempotencyKeyName] = key
	}
	return h.do(t, http.MethodPost, "/orders/v1/orders", body, header)
}

// decode unmarshals a response body or fails the test.
func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// newOrderBody is a valid order request with one line.
func newOrderBody(sku string, qty int, unitPrice string) orderRequest {
	return orderRequest{
		Subject: "sub_7f3a", RegionOrderRef: "CN-20260401-0001", ShippingAddressRef: "addr_cn_42", Currency: "CNY",
		Lines: []orderLineRequest{{SKU: sku, Quantity: qty, UnitPrice: unitPrice}},
	}
}
