package masterdata_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"meridian/adapters/masterdata"
	"meridian/internal/apierr"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/originhttp"
	"meridian/internal/originhttp/originhttptest"
)

const (
	routeInventory = "POST /masterdata/v1/inventory:batchGet"
	routePrices    = "POST /masterdata/v1/prices:batchGet"
)

// The batch lookups are what the guard fetches with.
var (
	_ guard.Fetch[masterdata.Inventory] = (*masterdata.Client)(nil).Inventory
	_ guard.Fetch[masterdata.Price]     = (*masterdata.Client)(nil).Prices
)

// start serves a simulator whose catalog holds products and returns a client
// of its master data.
func start(t *testing.T, products []originhttptest.Product) (*originhttptest.Sim, *masterdata.Client) {
	t.Helper()
	sim := originhttptest.Start(t, func(cfg *globalsim.Config) { cfg.Catalog = originhttptest.Catalog(products) })
	return sim, masterdata.New(sim.Client(t, globalsim.OriginMasterdata))
}

// skusOf lists the SKUs of products, then unknown more that the master
// does not have.
func skusOf(products []originhttptest.Product, unknown int) []string {
	var out []string
	for _, p := range products {
		out = append(out, p.SKU)
	}
	for i := range unknown {
		out = append(out, fmt.Sprintf("NOPE-%04d", i+1))
	}
	return out
}

func TestInventoryBatches(t *testing.T) {
	products := originhttptest.Products(40)
	tests := []struct {
		name         string
		skus         []string
		wantRequests int64
		wantFound    int
	}{
		{"50 SKUs, 10 unknown, one request", skusOf(products, 10), 1, 40},
		{"exactly one full batch", skusOf(products, masterdata.MaxBatch-40), 1, 40},
		{"one over a batch", skusOf(products, masterdata.MaxBatch-40+1), 2, 40},
		{"1201 SKUs, three requests", skusOf(products, 1201-40), 3, 40},
		{"repeats and empty strings collapse", append(skusOf(products[:3], 0), "", products[0].SKU, products[1].SKU, ""), 1, 3},
		{"nothing asked, nothing sent", nil, 0, 0},
		{"only empty strings, nothing sent", []string{"", ""}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, c := start(t, products)
			got, err := c.Inventory(t.Context(), tt.skus)
			if err != nil {
				t.Fatalf("Inventory: %v", err)
			}
			log := sim.Requests(t)
			if log.Counts[routeInventory] != tt.wantRequests || log.Total != tt.wantRequests {
				t.Errorf("got %d inventory requests (%d in all) want %d", log.Counts[routeInventory], log.Total, tt.wantRequests)
			}
			for _, r := range log.Requests {
				var body struct{ SKUs []string }
				if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
					t.Fatalf("logged body %q: %v", r.Body, err)
				}
				if len(body.SKUs) > masterdata.MaxBatch || slices.Contains(body.SKUs, "") {
					t.Errorf("got a batch of %d SKUs (empty one included: %v) want at most %d non-empty", len(body.SKUs), slices.Contains(body.SKUs, ""), masterdata.MaxBatch)
				}
			}
			if len(got) != tt.wantFound {
				t.Errorf("got %d SKUs want %d", len(got), tt.wantFound)
			}
			for _, p := range products {
				inv, ok := got[p.SKU]
				if !ok {
					continue
				}
				want := masterdata.Inventory{SKU: p.SKU, Available: p.Available, UpdatedAt: originhttptest.Epoch()}
				if inv != want {
					t.Errorf("got %+v want %+v", inv, want)
				}
			}
			for sku := range got {
				if strings.HasPrefix(sku, "NOPE-") {
					t.Errorf("got unknown SKU %q in the map want it absent", sku)
				}
			}
		})
	}
}

func TestPricesAreDecimalStrings(t *testing.T) {
	products := originhttptest.Products(5)
	sim, c := start(t, products)
	got, err := c.Prices(t.Context(), skusOf(products, 2))
	if err != nil {
		t.Fatalf("Prices: %v", err)
	}
	if n := sim.Requests(t).Counts[routePrices]; n != 1 {
		t.Errorf("got %d price requests want 1", n)
	}
	if len(got) != len(products) {
		t.Errorf("got %d prices want %d", len(got), len(products))
	}
	for _, p := range products {
		t.Run(p.SKU, func(t *testing.T) {
			want := masterdata.Price{SKU: p.SKU, Amount: p.Price, Currency: "CNY", UpdatedAt: originhttptest.Epoch()}
			if got[p.SKU] != want {
				t.Errorf("got %+v want %+v", got[p.SKU], want)
			}
		})
	}
}

func TestPriceAfterChange(t *testing.T) {
	products := originhttptest.Products(3)
	sim, c := start(t, products)
	sim.Admin(t, http.MethodPatch, "/admin/masterdata/products/"+products[1].SKU, map[string]any{"price": "1299.90"}, http.StatusOK, nil)
	got, err := c.Prices(t.Context(), []string{products[1].SKU})
	if err != nil {
		t.Fatalf("Prices: %v", err)
	}
	if got[products[1].SKU].Amount != "1299.90" {
		t.Errorf("got amount %q want %q", got[products[1].SKU].Amount, "1299.90")
	}
}

func TestLookupFailures(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		status  int
		wantIs  error
		wantErr apierr.Kind
	}{
		{"503", `{"error":{"code":"unavailable","message":"down"}}`, 503, originhttp.ErrUnavailable, apierr.Internal},
		{"item nobody asked for", `{"items":[{"sku":"OTHER","available":1,"updatedAt":"2026-04-01T09:00:00Z"}],"missing":[]}`, 200, nil, apierr.Internal},
		{"negative stock", `{"items":[{"sku":"A","available":-1,"updatedAt":"2026-04-01T09:00:00Z"}],"missing":[]}`, 200, nil, apierr.Internal},
		{"stock missing", `{"items":[{"sku":"A","updatedAt":"2026-04-01T09:00:00Z"}],"missing":[]}`, 200, nil, apierr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := stub(t, tt.status, tt.answer)
			got, err := c.Inventory(t.Context(), []string{"A"})
			if err == nil {
				t.Fatalf("got %v want an error", got)
			}
			if apierr.KindOf(err) != tt.wantErr {
				t.Errorf("got kind %v want %v", apierr.KindOf(err), tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v): got false want true", err, tt.wantIs)
			}
		})
	}
}

func TestBadPriceIsRefused(t *testing.T) {
	for _, amount := range []string{`1299.9`, `"1299.9"`, `"1,299.00"`, `1299.00`} {
		t.Run(amount, func(t *testing.T) {
			c := stub(t, 200, `{"items":[{"sku":"A","price":`+amount+`,"currency":"CNY","updatedAt":"2026-04-01T09:00:00Z"}],"missing":[]}`)
			if got, err := c.Prices(t.Context(), []string{"A"}); apierr.KindOf(err) != apierr.Internal || err == nil {
				t.Errorf("got %v, %v want an Internal error", got, err)
			}
		})
	}
}

func TestProduct(t *testing.T) {
	products := originhttptest.Products(3)
	sim, c := start(t, products)
	p, err := c.Product(t.Context(), products[2].SKU)
	if err != nil {
		t.Fatalf("Product: %v", err)
	}
	if p.SKU != products[2].SKU || p.ID != "prod-3" || p.PriceAmount != products[2].Price || p.Currency != "CNY" {
		t.Errorf("got %+v want SKU %s, id prod-3, price %s CNY", p, products[2].SKU, products[2].Price)
	}
	for _, lang := range []string{"zh-Hans", "zh-Hant", "en"} {
		if p.Name[lang] == "" {
			t.Errorf("got no %s name in %v", lang, p.Name)
		}
	}
	if len(p.Images) != 1 || !strings.HasPrefix(p.Images[0].URL, "https://") {
		t.Errorf("got images %+v want one", p.Images)
	}
	if !p.UpdatedAt.Equal(originhttptest.Epoch()) {
		t.Errorf("got updatedAt %v want %v", p.UpdatedAt, originhttptest.Epoch())
	}

	tests := []struct {
		name         string
		sku          string
		wantKind     apierr.Kind
		wantRequests int64
	}{
		{"unknown", "NOPE-0001", apierr.NotFound, 1},
		{"with a slash", "A/B", apierr.NotFound, 1},
		{"empty", "", apierr.BadUserInput, 0},
		{"dot dot", "..", apierr.BadUserInput, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := sim.Requests(t).Total
			_, err := c.Product(t.Context(), tt.sku)
			e, ok := apierr.As(err)
			if !ok || e.Kind != tt.wantKind {
				t.Fatalf("got %v want kind %v", err, tt.wantKind)
			}
			if strings.Contains(e.Message, "no product with sku") { // the simulator's wording
				t.Errorf("client-facing message %q repeats the origin's", e.Message)
			}
			if n := sim.Requests(t).Since(mark).Total; n != tt.wantRequests {
				t.Errorf("got %d requests want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestProductsPages(t *testing.T) {
	products := originhttptest.Products(20)
	_, c := start(t, products)
	var got []string
	cursor, pages := "", 0
	for {
		page, err := c.Products(t.Context(), cursor, 8)
		if err != nil {
			t.Fatalf("Products(%q): %v", cursor, err)
		}
		pages++
		for _, p := range page.Products {
			got = append(got, p.SKU)
		}
		if !page.HasMore {
			if page.NextCursor != "" {
				t.Errorf("got cursor %q on the last page want none", page.NextCursor)
			}
			break
		}
		cursor = page.NextCursor
	}
	if want := skusOf(products, 0); !slices.Equal(got, want) {
		t.Errorf("got SKUs %v want %v", got, want)
	}
	if pages != 3 {
		t.Errorf("got %d pages want 3", pages)
	}
}

func TestChanges(t *testing.T) {
	products := originhttptest.Products(3)
	sim, c := start(t, products)
	sku := products[0].SKU

	first, err := c.Changes(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if len(first.Changes) != 0 || first.HasMore || first.NextCursor == "" {
		t.Fatalf("got %+v want no changes and a cursor", first)
	}

	sim.Clock.Advance(1)
	sim.Admin(t, http.MethodPatch, "/admin/masterdata/products/"+sku,
		map[string]any{"name": map[string]string{"en": "Night Serum"}, "price": "512.30", "available": 7}, http.StatusOK, nil)
	at := sim.Clock.Now()

	page, err := c.Changes(t.Context(), first.NextCursor, 2)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if len(page.Changes) != 2 || !page.HasMore {
		t.Fatalf("got %d changes, hasMore %v want 2 and more", len(page.Changes), page.HasMore)
	}
	rest, err := c.Changes(t.Context(), page.NextCursor, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	changes := append(page.Changes, rest.Changes...)

	wantKinds := []masterdata.ChangeKind{masterdata.ChangeProduct, masterdata.ChangePrice, masterdata.ChangeInventory}
	if len(changes) != len(wantKinds) || rest.HasMore {
		t.Fatalf("got %d changes (more: %v) want %d", len(changes), rest.HasMore, len(wantKinds))
	}
	for i, ch := range changes {
		t.Run(string(ch.Kind), func(t *testing.T) {
			if ch.Kind != wantKinds[i] || ch.SKU != sku || !ch.ChangedAt.Equal(at) || ch.ID == "" {
				t.Fatalf("got %s %s at %v (id %q) want %s %s at %v", ch.Kind, ch.SKU, ch.ChangedAt, ch.ID, wantKinds[i], sku, at)
			}
			switch ch.Kind {
			case masterdata.ChangeProduct:
				if ch.Product.Name["en"] != "Night Serum" || ch.Product.SKU != sku {
					t.Errorf("got product %+v want the renamed one", ch.Product)
				}
			case masterdata.ChangePrice:
				if want := (masterdata.Price{SKU: sku, Amount: "512.30", Currency: "CNY", UpdatedAt: at}); ch.Price != want {
					t.Errorf("got price %+v want %+v", ch.Price, want)
				}
			case masterdata.ChangeInventory:
				if want := (masterdata.Inventory{SKU: sku, Available: 7, UpdatedAt: at}); ch.Inventory != want {
					t.Errorf("got inventory %+v want %+v", ch.Inventory, want)
				}
			}
		})
	}

	again, err := c.Changes(t.Context(), rest.NextCursor, 0)
	if err != nil || len(again.Changes) != 0 || again.NextCursor != rest.NextCursor {
		t.Errorf("got %+v, %v want no changes and the same cursor %q", again, err, rest.NextCursor)
	}
}

func TestChangesRefusals(t *testing.T) {
	sim := originhttptest.Start(t, func(cfg *globalsim.Config) { cfg.FeedRetention = 1 })
	c := masterdata.New(sim.Client(t, globalsim.OriginMasterdata))
	start, err := c.Changes(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	for _, available := range []int{1, 2} { // the second change pushes the first out of retention
		sim.Admin(t, http.MethodPatch, "/admin/masterdata/products/FIX-0001", map[string]any{"available": available}, http.StatusOK, nil)
	}

	tests := []struct {
		name     string
		cursor   string
		limit    int
		wantKind apierr.Kind
		wantIs   error
	}{
		{"expired cursor", start.NextCursor, 0, apierr.Internal, originhttp.ErrCursorExpired},
		{"made-up cursor", "not-a-cursor", 0, apierr.BadUserInput, nil},
		{"limit too large", "", originhttp.MaxPageLimit + 1, apierr.BadUserInput, nil},
		{"negative limit", "", -1, apierr.BadUserInput, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Changes(t.Context(), tt.cursor, tt.limit)
			if err == nil || apierr.KindOf(err) != tt.wantKind {
				t.Fatalf("got %v want kind %v", err, tt.wantKind)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v): got false want true", err, tt.wantIs)
			}
		})
	}
}

func TestChangeWithoutItsValueIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		change string
	}{
		{"price without price", `{"id":"md-1","kind":"price","sku":"A","changedAt":"2026-04-01T09:00:00Z","currency":"CNY"}`},
		{"inventory without quantity", `{"id":"md-1","kind":"inventory","sku":"A","changedAt":"2026-04-01T09:00:00Z"}`},
		{"product without product", `{"id":"md-1","kind":"product","sku":"A","changedAt":"2026-04-01T09:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := stub(t, 200, `{"changes":[`+tt.change+`],"nextCursor":"x","hasMore":false}`)
			if got, err := c.Changes(t.Context(), "", 0); apierr.KindOf(err) != apierr.Internal || err == nil {
				t.Errorf("got %+v, %v want an Internal error", got, err)
			}
		})
	}
	t.Run("unknown kind passes with its id", func(t *testing.T) {
		c := stub(t, 200, `{"changes":[{"id":"md-9","kind":"category","sku":"A","changedAt":"2026-04-01T09:00:00Z"}],"nextCursor":"x","hasMore":false}`)
		got, err := c.Changes(t.Context(), "", 0)
		if err != nil || len(got.Changes) != 1 || got.Changes[0].Kind != "category" || got.Changes[0].ID != "md-9" {
			t.Errorf("got %+v, %v want the one change of kind category", got, err)
		}
	})
}

func TestOriginFaultIsAnOriginFailure(t *testing.T) {
	sim, c := start(t, originhttptest.Products(3))
	sim.Admin(t, http.MethodPut, "/admin/faults", map[string]any{"origin": "masterdata", "error_rate": 1}, http.StatusOK, nil)
	_, err := c.Inventory(t.Context(), []string{"FIX-0001"})
	if !errors.Is(err, originhttp.ErrUnavailable) {
		t.Fatalf("got %v want an error matching originhttp.ErrUnavailable", err)
	}
	if _, ok := apierr.As(err); ok {
		t.Errorf("got apierr %v want a plain error", err)
	}
}

// stub returns a client of a server that answers every request with status
// and body.
func stub(t *testing.T, status int, body string) *masterdata.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := originhttp.New(originhttp.Config{BaseURL: srv.URL + "/masterdata", Origin: "masterdata"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return masterdata.New(c)
}
