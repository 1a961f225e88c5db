package globalsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInitialAvailable(t *testing.T) {
	t.Parallel()
	for sku, want := range map[string]int{"TST-0001": 12, "TST-0002": 238, "TST-0004": 3, "TST-0005": 0} {
		if got := InitialAvailable(sku); got != want {
			t.Errorf("InitialAvailable(%q): got %d want %d", sku, got, want)
		}
	}
	var out, low int
	const n = 10_000
	for i := range n {
		switch a := InitialAvailable(fmt.Sprintf("SKU-%05d", i)); {
		case a == 0:
			out++
		case a <= 5:
			low++
		case a > 250:
			t.Fatalf("InitialAvailable: got %d want at most 250", a)
		}
	}
	if out < n/20 || out > n/6 || low < n/10 || low > n/5 {
		t.Errorf("over %d SKUs: got %d out of stock and %d low, want about 10%% and 15%%", n, out, low)
	}
}

func TestBatchGetInventory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	at := testEpoch
	oversize := make([]string, MaxBatchSKUs+1)
	for i := range oversize {
		oversize[i] = fmt.Sprintf("X-%d", i)
	}
	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   string
		want       batchResult[inventoryItem]
	}{
		{
			name:       "known, missing and repeated SKUs",
			body:       skuBatch{SKUs: []string{"TST-0004", "NOPE-1", "TST-0001", "TST-0004", "TST-0005"}},
			wantStatus: http.StatusOK,
			want: batchResult[inventoryItem]{
				Items: []inventoryItem{
					{SKU: "TST-0004", Available: 3, UpdatedAt: at},
					{SKU: "TST-0001", Available: 12, UpdatedAt: at},
					{SKU: "TST-0005", Available: 0, UpdatedAt: at},
				},
				Missing: []string{"NOPE-1"},
			},
		},
		{
			name:       "only missing SKUs",
			body:       skuBatch{SKUs: []string{"NOPE-1", "NOPE-2"}},
			wantStatus: http.StatusOK,
			want:       batchResult[inventoryItem]{Items: []inventoryItem{}, Missing: []string{"NOPE-1", "NOPE-2"}},
		},
		{name: "batch over the bound", body: skuBatch{SKUs: oversize}, wantStatus: http.StatusBadRequest, wantCode: "batch_too_large"},
		{name: "empty batch", body: skuBatch{SKUs: []string{}}, wantStatus: http.StatusBadRequest, wantCode: "invalid_request"},
		{name: "malformed JSON", body: `{"skus":`, wantStatus: http.StatusBadRequest, wantCode: "invalid_request"},
		{name: "unknown field", body: `{"skus":["TST-0001"],"region":"cn"}`, wantStatus: http.StatusBadRequest, wantCode: "invalid_request"},
		{name: "no body", body: nil, wantStatus: http.StatusBadRequest, wantCode: "invalid_request"},
		{name: "form instead of JSON", body: formBody(`{"skus":["TST-0001"]}`), wantStatus: http.StatusUnsupportedMediaType, wantCode: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", tt.body, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("got status %d want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantCode != "" {
				if got := r.errorCode(); got != tt.wantCode {
					t.Errorf("got error code %q want %q", got, tt.wantCode)
				}
				return
			}
			if diff := cmp.Diff(tt.want, decode[batchResult[inventoryItem]](t, r)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatchGetFullBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	skus := make([]string, MaxBatchSKUs)
	for i := range skus {
		skus[i] = fmt.Sprintf("TST-%04d", i+1)
	}
	var got batchResult[priceItem]
	h.call(t, http.MethodPost, "/masterdata/v1/prices:batchGet", skuBatch{SKUs: skus}, http.StatusOK, &got)
	if len(got.Items) != 5 || len(got.Missing) != MaxBatchSKUs-5 {
		t.Errorf("got %d items and %d missing want 5 and %d", len(got.Items), len(got.Missing), MaxBatchSKUs-5)
	}
}

func TestBatchGetPrices(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	r := h.call(t, http.MethodPost, "/masterdata/v1/prices:batchGet", skuBatch{SKUs: []string{"TST-0002", "TST-0003", "GONE"}}, http.StatusOK, nil)
	want := batchResult[priceItem]{
		Items: []priceItem{
			{SKU: "TST-0002", Price: "129.50", Currency: "CNY", UpdatedAt: testEpoch},
			{SKU: "TST-0003", Price: "1299.00", Currency: "CNY", UpdatedAt: testEpoch}, // currency from the seed's top level
		},
		Missing: []string{"GONE"},
	}
	if diff := cmp.Diff(want, decode[batchResult[priceItem]](t, r)); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(r.body), `"price":"129.50"`) {
		t.Errorf("got body %s want the price as a decimal string", r.body)
	}
}

func TestGetProduct(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var got productJSON
	h.call(t, http.MethodGet, "/masterdata/v1/products/TST-0001", nil, http.StatusOK, &got)
	want := productJSON{
		ID: "prod-1", SKU: "TST-0001", Category: "skin-care",
		Name: map[string]string{"zh-Hans": "精华液", "en": "Serum"}, Description: map[string]string{"en": "A serum."},
		Price: "480.00", Currency: "CNY",
		Images:    []image{{URL: "https://static.meridian.example/products/TST-0001/1.jpg", Alt: map[string]string{"en": "Serum"}}},
		UpdatedAt: testEpoch,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("product (-want +got):\n%s", diff)
	}
	if r := h.do(t, http.MethodGet, "/masterdata/v1/products/NOPE", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("unknown SKU: got %d %q want 404 not_found", r.status, r.errorCode())
	}
}

func TestListProductsPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var skus []string
	cursor, pages := "", 0
	for {
		var p productPage
		h.call(t, http.MethodGet, "/masterdata/v1/products?limit=2&cursor="+url.QueryEscape(cursor), nil, http.StatusOK, &p)
		pages++
		for _, pr := range p.Products {
			skus = append(skus, pr.SKU)
		}
		if p.HasMore != (p.NextCursor != "") {
			t.Fatalf("page %d: got hasMore %v with nextCursor %q", pages, p.HasMore, p.NextCursor)
		}
		if !p.HasMore {
			break
		}
		cursor = p.NextCursor
	}
	want := []string{"TST-0001", "TST-0002", "TST-0003", "TST-0004", "TST-0005"}
	if !slices.Equal(skus, want) || pages != 3 {
		t.Errorf("got %v in %d pages want %v in 3", skus, pages, want)
	}
	for _, q := range []string{"cursor=bm9wZQ", "limit=0", "limit=1001", "limit=x"} {
		if r := h.do(t, http.MethodGet, "/masterdata/v1/products?"+q, nil, nil); r.status != http.StatusBadRequest {
			t.Errorf("?%s: got %d want 400", q, r.status)
		}
	}
}

// readFeed reads a change feed from cursor to its end in pages of limit and
// returns the changes, the number of pages and the last cursor.
func readFeed[C any](t *testing.T, h *harness, path, cursor string, limit int) ([]C, int, string) {
	t.Helper()
	var all []C
	for pages := 1; ; pages++ {
		var p feedPage[C]
		h.call(t, http.MethodGet, fmt.Sprintf("%s?limit=%d&cursor=%s", path, limit, url.QueryEscape(cursor)), nil, http.StatusOK, &p)
		all = append(all, p.Changes...)
		if p.NextCursor == "" {
			t.Fatalf("page %d: got empty nextCursor want one to poll with", pages)
		}
		cursor = p.NextCursor
		if !p.HasMore {
			return all, pages, cursor
		}
	}
}

func TestMasterdataChangeFeedPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var start feedPage[mdChange]
	h.call(t, http.MethodGet, "/masterdata/v1/changes", nil, http.StatusOK, &start)
	if len(start.Changes) != 0 || start.HasMore {
		t.Fatalf("fresh feed: got %d changes, hasMore %v want none", len(start.Changes), start.HasMore)
	}
	for i := range 5 {
		h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0002", map[string]int{"available": 100 + i}, http.StatusOK, nil)
	}
	changes, pages, last := readFeed[mdChange](t, h, "/masterdata/v1/changes", start.NextCursor, 2)
	if pages != 3 || len(changes) != 5 {
		t.Fatalf("got %d changes in %d pages want 5 in 3", len(changes), pages)
	}
	for i, c := range changes {
		if c.Kind != ChangeInventory || c.SKU != "TST-0002" || c.Available == nil || *c.Available != 100+i {
			t.Errorf("change %d: got %+v want inventory of TST-0002 at %d", i, c, 100+i)
		}
	}
	// Polling at the end returns nothing and the same position.
	var tail feedPage[mdChange]
	h.call(t, http.MethodGet, "/masterdata/v1/changes?cursor="+url.QueryEscape(last), nil, http.StatusOK, &tail)
	if len(tail.Changes) != 0 || tail.NextCursor != last {
		t.Errorf("poll at end: got %d changes and cursor %q want 0 and %q", len(tail.Changes), tail.NextCursor, last)
	}

	var cmsFeed feedPage[cmsChange]
	h.call(t, http.MethodGet, "/cms/v1/changes", nil, http.StatusOK, &cmsFeed)
	for name, q := range map[string]string{
		"cursor of another feed": "cursor=" + url.QueryEscape(cmsFeed.NextCursor),
		"garbage cursor":         "cursor=%21%21",
		"cursor from the future": "cursor=" + (&feed[mdChange]{tag: "md", changes: newRing[mdChange](1)}).encodeCursor(99),
		"limit out of range":     "limit=0",
	} {
		if r := h.do(t, http.MethodGet, "/masterdata/v1/changes?"+q, nil, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: got %d want 400", name, r.status)
		}
	}
}

func TestChangeFeedRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.FeedRetention = 3 })
	var start feedPage[mdChange]
	h.call(t, http.MethodGet, "/masterdata/v1/changes", nil, http.StatusOK, &start)
	for i := range 5 {
		h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0001", map[string]int{"available": i}, http.StatusOK, nil)
	}
	if r := h.do(t, http.MethodGet, "/masterdata/v1/changes?cursor="+url.QueryEscape(start.NextCursor), nil, nil); r.status != http.StatusGone || r.errorCode() != "cursor_expired" {
		t.Errorf("expired cursor: got %d %q want 410 cursor_expired", r.status, r.errorCode())
	}
	changes, _, _ := readFeed[mdChange](t, h, "/masterdata/v1/changes", "", 10)
	var got []int
	for _, c := range changes {
		got = append(got, *c.Available)
	}
	if want := []int{2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("retained changes: got availability %v want %v", got, want)
	}
}

func TestPatchProduct(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		sku        string
		body       any
		wantStatus int
		wantKinds  []string
		check      func(t *testing.T, res patchResult)
	}{
		{
			name: "price", sku: "TST-0001", body: `{"price":"199.00"}`, wantStatus: http.StatusOK, wantKinds: []string{ChangePrice},
			check: func(t *testing.T, res patchResult) {
				if res.Product.Price != "199.00" || res.Changes[0].Price != "199.00" || res.Changes[0].Currency != "CNY" {
					t.Errorf("got product price %q, change %+v want 199.00 CNY", res.Product.Price, res.Changes[0])
				}
			},
		},
		{
			name: "available", sku: "TST-0005", body: `{"available":12}`, wantStatus: http.StatusOK, wantKinds: []string{ChangeInventory},
			check: func(t *testing.T, res patchResult) {
				if res.Inventory.Available != 12 || *res.Changes[0].Available != 12 {
					t.Errorf("got inventory %+v want 12", res.Inventory)
				}
			},
		},
		{
			name: "localized name merges", sku: "TST-0001", body: `{"name":{"en":"Dewy Serum"}}`, wantStatus: http.StatusOK, wantKinds: []string{ChangeProduct},
			check: func(t *testing.T, res patchResult) {
				want := map[string]string{"zh-Hans": "精华液", "en": "Dewy Serum"}
				if diff := cmp.Diff(want, res.Changes[0].Product.Name); diff != "" {
					t.Errorf("name in change (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "everything at once", sku: "TST-0002", body: `{"available":0,"price":"99.90","description":{"zh-Hant":"化妝水"}}`,
			wantStatus: http.StatusOK, wantKinds: []string{ChangeProduct, ChangePrice, ChangeInventory},
		},
		{name: "nothing to change", sku: "TST-0001", body: `{}`, wantStatus: http.StatusBadRequest},
		{name: "float price", sku: "TST-0001", body: `{"price":199.5}`, wantStatus: http.StatusBadRequest},
		{name: "one fraction digit", sku: "TST-0001", body: `{"price":"199.5"}`, wantStatus: http.StatusBadRequest},
		{name: "negative stock", sku: "TST-0001", body: `{"available":-1}`, wantStatus: http.StatusBadRequest},
		{name: "empty text", sku: "TST-0001", body: `{"name":{"en":" "}}`, wantStatus: http.StatusBadRequest},
		{name: "bad locale key", sku: "TST-0001", body: `{"name":{"English":"x"}}`, wantStatus: http.StatusBadRequest},
		{name: "unknown field", sku: "TST-0001", body: `{"stock":3}`, wantStatus: http.StatusBadRequest},
		{name: "unknown SKU", sku: "NOPE", body: `{"available":1}`, wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.clock.Advance(patchDelay)
			r := h.do(t, http.MethodPatch, "/admin/masterdata/products/"+tt.sku, tt.body, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("got status %d want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if r.status != http.StatusOK {
				return
			}
			res := decode[patchResult](t, r)
			var kinds []string
			for _, c := range res.Changes {
				kinds = append(kinds, c.Kind)
				if !c.ChangedAt.Equal(testEpoch.Add(patchDelay)) || c.SKU != tt.sku {
					t.Errorf("change %+v: got changedAt %v sku %q want %v %q", c, c.ChangedAt, c.SKU, testEpoch.Add(patchDelay), tt.sku)
				}
			}
			if !slices.Equal(kinds, tt.wantKinds) {
				t.Errorf("got change kinds %v want %v", kinds, tt.wantKinds)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
			// The feed holds exactly what the PATCH reported.
			feed, _, _ := readFeed[mdChange](t, h, "/masterdata/v1/changes", "", 100)
			if diff := cmp.Diff(res.Changes, feed); diff != "" {
				t.Errorf("feed vs PATCH result (-patch +feed):\n%s", diff)
			}
		})
	}
}

// patchDelay is how far the clock moves before a PATCH, so change times differ
// from seed times.
const patchDelay = 98 * time.Second

func TestPatchedValuesAreServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0003", `{"price":"999.00","available":7}`, http.StatusOK, nil)
	var prices batchResult[priceItem]
	h.call(t, http.MethodPost, "/masterdata/v1/prices:batchGet", skuBatch{SKUs: []string{"TST-0003"}}, http.StatusOK, &prices)
	var inv batchResult[inventoryItem]
	h.call(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", skuBatch{SKUs: []string{"TST-0003"}}, http.StatusOK, &inv)
	var p productJSON
	h.call(t, http.MethodGet, "/masterdata/v1/products/TST-0003", nil, http.StatusOK, &p)
	if prices.Items[0].Price != "999.00" || inv.Items[0].Available != 7 || p.Price != "999.00" {
		t.Errorf("got price %q, available %d, product price %q want 999.00, 7, 999.00", prices.Items[0].Price, inv.Items[0].Available, p.Price)
	}
}
