package orders_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian/adapters/orders"
	"meridian/internal/apierr"
	"meridian/internal/globalsim"
	"meridian/internal/originhttp"
	"meridian/internal/originhttp/originhttptest"
)

const routeCreate = "POST /orders/v1/orders"

// inStock returns n fixture products that have stock, and the simulator's
// catalog for them.
func inStock(t *testing.T, n int) []originhttptest.Product {
	t.Helper()
	var out []originhttptest.Product
	for _, p := range originhttptest.Products(60) {
		if p.Available >= 5 {
			out = append(out, p)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("the fixture has fewer than %d products in stock", n)
	return nil
}

func start(t *testing.T, products []originhttptest.Product) (*originhttptest.Sim, *orders.Client) {
	t.Helper()
	sim := originhttptest.Start(t, func(cfg *globalsim.Config) { cfg.Catalog = originhttptest.Catalog(products) })
	return sim, orders.New(sim.Client(t, globalsim.OriginOrders))
}

// order is a valid order of quantity units of p.
func order(subject string, quantity int, ps ...originhttptest.Product) orders.CreateOrder {
	o := orders.CreateOrder{Subject: subject, RegionOrderRef: "CN-20260401-0001", ShippingAddressRef: "addr_cn_42", Currency: "CNY"}
	for _, p := range ps {
		o.Lines = append(o.Lines, orders.Line{SKU: p.SKU, Quantity: quantity, UnitPrice: p.Price})
	}
	return o
}

func TestCreate(t *testing.T) {
	ps := inStock(t, 2)
	_, c := start(t, ps)
	got, created, err := c.Create(t.Context(), "checkout-1", order("sub_7f3a", 2, ps...))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !created {
		t.Errorf("got created false want true")
	}
	epoch := originhttptest.Epoch()
	want := orders.Order{
		ID: got.ID, Subject: "sub_7f3a", RegionOrderRef: "CN-20260401-0001", ShippingAddressRef: "addr_cn_42", Currency: "CNY",
		Lines: []orders.OrderLine{
			{SKU: ps[0].SKU, Quantity: 2, UnitPrice: ps[0].Price, LineTotal: times2(t, ps[0].Price)},
			{SKU: ps[1].SKU, Quantity: 2, UnitPrice: ps[1].Price, LineTotal: times2(t, ps[1].Price)},
		},
		Total:         sum(t, times2(t, ps[0].Price), times2(t, ps[1].Price)),
		Status:        orders.StatusAccepted,
		StatusHistory: []orders.StatusChange{{Status: orders.StatusAccepted, At: epoch}},
		CreatedAt:     epoch, UpdatedAt: epoch,
	}
	if got.ID == "" || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	ps := inStock(t, 2)
	sim, c := start(t, ps)
	first, created, err := c.Create(t.Context(), "checkout-1", order("sub_7f3a", 1, ps[0]))
	if err != nil || !created {
		t.Fatalf("first Create: got created %v, %v want a new order", created, err)
	}

	tests := []struct {
		name        string
		key         string
		order       orders.CreateOrder
		wantSame    bool
		wantCreated bool
		wantCode    string // apierr client code, "" for success
	}{
		{"same key, same order", "checkout-1", order("sub_7f3a", 1, ps[0]), true, false, ""},
		{"same key again", "checkout-1", order("sub_7f3a", 1, ps[0]), true, false, ""},
		{"same key, other quantity", "checkout-1", order("sub_7f3a", 2, ps[0]), false, false, orders.CodeIdempotencyKeyReused},
		{"same key, other SKU", "checkout-1", order("sub_7f3a", 1, ps[1]), false, false, orders.CodeIdempotencyKeyReused},
		{"other key, same order", "checkout-2", order("sub_7f3a", 1, ps[0]), false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := c.Create(t.Context(), tt.key, tt.order)
			if tt.wantCode != "" {
				e, ok := apierr.As(err)
				if !ok || e.Kind != apierr.Conflict || e.ClientCode() != tt.wantCode {
					t.Fatalf("got %v want a Conflict with code %s", err, tt.wantCode)
				}
				if strings.Contains(e.Message, "already used with a different request body") { // the origin's wording
					t.Errorf("client-facing message %q repeats the origin's", e.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if (got.ID == first.ID) != tt.wantSame || created != tt.wantCreated {
				t.Errorf("got id %s (first %s), created %v want same=%v created=%v", got.ID, first.ID, created, tt.wantSame, tt.wantCreated)
			}
		})
	}
	if n := sim.Sim.Stats().Orders; n != 2 {
		t.Errorf("got %d orders at the origin want 2", n)
	}
}

func TestCreateRefusedByOrigin(t *testing.T) {
	ps := inStock(t, 1)
	_, c := start(t, ps)
	tests := []struct {
		name     string
		order    orders.CreateOrder
		wantCode string // the origin's, from the StatusError
	}{
		{"stale price", orders.CreateOrder{Subject: "sub_1", RegionOrderRef: "r1", ShippingAddressRef: "a1", Currency: "CNY",
			Lines: []orders.Line{{SKU: ps[0].SKU, Quantity: 1, UnitPrice: "1.00"}}}, "price_mismatch"},
		{"unknown SKU", orders.CreateOrder{Subject: "sub_1", RegionOrderRef: "r1", ShippingAddressRef: "a1", Currency: "CNY",
			Lines: []orders.Line{{SKU: "NOPE-1", Quantity: 1, UnitPrice: "1.00"}}}, "unknown_sku"},
		{"other currency", orders.CreateOrder{Subject: "sub_1", RegionOrderRef: "r1", ShippingAddressRef: "a1", Currency: "USD",
			Lines: []orders.Line{{SKU: ps[0].SKU, Quantity: 1, UnitPrice: ps[0].Price}}}, "currency_mismatch"},
		{"more than the shelf holds", order("sub_1", 999, ps[0]), "insufficient_stock"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.Create(t.Context(), fmt.Sprintf("refused-%d", i), tt.order)
			e, ok := apierr.As(err)
			if !ok || e.Kind != apierr.BadUserInput {
				t.Fatalf("got %v want BadUserInput", err)
			}
			se, ok := originhttp.AsStatusError(err)
			if !ok || se.Code != tt.wantCode {
				t.Fatalf("got StatusError %+v want code %s", se, tt.wantCode)
			}
			if strings.Contains(e.Message, se.Message) {
				t.Errorf("client-facing message %q repeats the origin's %q", e.Message, se.Message)
			}
			if tt.wantCode != "currency_mismatch" && !slices.Contains(se.SKUs, tt.order.Lines[0].SKU) {
				t.Errorf("got SKUs %v want %s among them", se.SKUs, tt.order.Lines[0].SKU)
			}
		})
	}
}

func TestCreateRefusedBeforeSending(t *testing.T) {
	ps := inStock(t, 1)
	sim, c := start(t, ps)
	valid := func(edit func(*orders.CreateOrder)) orders.CreateOrder {
		o := order("sub_7f3a", 1, ps[0])
		edit(&o)
		return o
	}
	tests := []struct {
		name  string
		key   string
		order orders.CreateOrder
	}{
		{"email as subject", "k", valid(func(o *orders.CreateOrder) { o.Subject = "li.wei@example.com" })},
		{"name as subject", "k", valid(func(o *orders.CreateOrder) { o.Subject = "Li Wei" })},
		{"address text as reference", "k", valid(func(o *orders.CreateOrder) { o.ShippingAddressRef = "上海市浦东新区世纪大道100号" })},
		{"empty region reference", "k", valid(func(o *orders.CreateOrder) { o.RegionOrderRef = "" })},
		{"reference too long", "k", valid(func(o *orders.CreateOrder) { o.RegionOrderRef = strings.Repeat("r", 129) })},
		{"lowercase currency", "k", valid(func(o *orders.CreateOrder) { o.Currency = "cny" })},
		{"no lines", "k", valid(func(o *orders.CreateOrder) { o.Lines = nil })},
		{"too many lines", "k", valid(func(o *orders.CreateOrder) { o.Lines = slices.Repeat(o.Lines, orders.MaxLines+1) })},
		{"repeated SKU", "k", valid(func(o *orders.CreateOrder) { o.Lines = append(o.Lines, o.Lines[0]) })},
		{"zero quantity", "k", valid(func(o *orders.CreateOrder) { o.Lines[0].Quantity = 0 })},
		{"quantity over the bound", "k", valid(func(o *orders.CreateOrder) { o.Lines[0].Quantity = orders.MaxQuantity + 1 })},
		{"price with one fraction digit", "k", valid(func(o *orders.CreateOrder) { o.Lines[0].UnitPrice = "100.5" })},
		{"empty SKU", "k", valid(func(o *orders.CreateOrder) { o.Lines[0].SKU = "" })},
		{"no idempotency key", "", order("sub_7f3a", 1, ps[0])},
		{"idempotency key too long", strings.Repeat("k", orders.MaxIdempotencyKey+1), order("sub_7f3a", 1, ps[0])},
		{"idempotency key with a space", "check out", order("sub_7f3a", 1, ps[0])},
	}
	mark := sim.Requests(t).Total
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.Create(t.Context(), tt.key, tt.order)
			e, ok := apierr.As(err)
			if !ok || e.Kind != apierr.BadUserInput {
				t.Fatalf("got %v want BadUserInput", err)
			}
			for _, v := range []string{tt.order.Subject, tt.order.ShippingAddressRef} {
				if len(v) > 3 && strings.Contains(e.Message, v) {
					t.Errorf("message %q repeats the refused value %q", e.Message, v)
				}
			}
		})
	}
	if n := sim.Requests(t).Since(mark).Total; n != 0 {
		t.Errorf("got %d requests sent want 0: refused orders must not cross the border", n)
	}
}

func TestGetFollowsStatus(t *testing.T) {
	ps := inStock(t, 1)
	sim, c := start(t, ps)
	placed, _, err := c.Create(t.Context(), "checkout-1", order("sub_7f3a", 1, ps[0]))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	epoch := originhttptest.Epoch()
	tests := []struct {
		advance     time.Duration
		wantStatus  orders.Status
		wantHistory []orders.Status
		wantUpdated time.Time
	}{
		{0, orders.StatusAccepted, []orders.Status{orders.StatusAccepted}, epoch},
		{3 * time.Second, orders.StatusConfirmed, []orders.Status{orders.StatusAccepted, orders.StatusConfirmed}, epoch.Add(globalsim.DefaultConfirmAfter)},
		{10 * time.Second, orders.StatusShipped, []orders.Status{orders.StatusAccepted, orders.StatusConfirmed, orders.StatusShipped}, epoch.Add(globalsim.DefaultShipAfter)},
	}
	for _, tt := range tests {
		t.Run(string(tt.wantStatus), func(t *testing.T) {
			sim.Clock.Advance(tt.advance)
			got, err := c.Get(t.Context(), placed.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			var history []orders.Status
			for _, h := range got.StatusHistory {
				history = append(history, h.Status)
			}
			if got.ID != placed.ID || got.Status != tt.wantStatus || !slices.Equal(history, tt.wantHistory) || !got.UpdatedAt.Equal(tt.wantUpdated) {
				t.Errorf("got %s %s %v updated %v want %s %v updated %v", got.ID, got.Status, history, got.UpdatedAt, tt.wantStatus, tt.wantHistory, tt.wantUpdated)
			}
			if got.Total != placed.Total || !reflect.DeepEqual(got.Lines, placed.Lines) {
				t.Errorf("got total %s lines %+v want %s %+v", got.Total, got.Lines, placed.Total, placed.Lines)
			}
		})
	}
}

func TestGetRefusals(t *testing.T) {
	_, c := start(t, inStock(t, 1))
	for _, tt := range []struct {
		id   string
		want apierr.Kind
	}{{"ord_0000000000000000", apierr.NotFound}, {"", apierr.BadUserInput}, {"..", apierr.BadUserInput}} {
		t.Run(tt.id, func(t *testing.T) {
			if _, err := c.Get(t.Context(), tt.id); apierr.KindOf(err) != tt.want || err == nil {
				t.Errorf("got %v want kind %v", err, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	ps := inStock(t, 2)
	_, c := start(t, ps)
	var placed []string
	for i, p := range ps {
		o, _, err := c.Create(t.Context(), fmt.Sprintf("checkout-%d", i), order("sub_7f3a", 1, p))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		placed = append(placed, o.ID)
	}
	if _, _, err := c.Create(t.Context(), "checkout-other", order("sub_other", 1, ps[0])); err != nil {
		t.Fatalf("Create: %v", err)
	}

	tests := []struct {
		subject  string
		wantIDs  []string
		wantKind apierr.Kind // when an error is expected
	}{
		{"sub_7f3a", []string{placed[1], placed[0]}, 0}, // newest first
		{"sub_nobody", nil, 0},
		{"li.wei@example.com", nil, apierr.BadUserInput},
		{"", nil, apierr.BadUserInput},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			got, err := c.List(t.Context(), tt.subject)
			if tt.wantKind != 0 {
				if apierr.KindOf(err) != tt.wantKind || err == nil {
					t.Fatalf("got %v want kind %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got == nil {
				t.Error("got nil want an empty slice")
			}
			var ids []string
			for _, o := range got {
				ids = append(ids, o.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("got ids %v want %v", ids, tt.wantIDs)
			}
		})
	}
}

// The request types are the border: the JSON they produce is what Order
// Management receives. This pins their fields, so adding one fails here as
// well as at the unkeyed literals in orders.go.
func TestRequestTypesCarryOnlyReferences(t *testing.T) {
	for _, tt := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[orders.CreateOrder](), []string{"subject", "regionOrderRef", "shippingAddressRef", "currency", "lines"}},
		{reflect.TypeFor[orders.Line](), []string{"sku", "quantity", "unitPrice"}},
	} {
		t.Run(tt.typ.Name(), func(t *testing.T) {
			var got []string
			for f := range tt.typ.Fields() {
				got = append(got, strings.Split(f.Tag.Get("json"), ",")[0])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got JSON fields %v want %v", got, tt.want)
			}
		})
	}
}

// Personal data detectors for what the origins received.
var (
	emailPattern  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	mobilePattern = regexp.MustCompile(`(^|[^0-9])1[0-9]{10}([^0-9]|$)`)
)

// personalData lists what in s looks like personal data: an email address,
// a mainland mobile number, or (when s is JSON) a key naming a person's
// details.
func personalData(s string) []string {
	var found []string
	if m := emailPattern.FindString(s); m != "" {
		found = append(found, "email "+m)
	}
	if m := mobilePattern.FindString(s); m != "" {
		found = append(found, "mobile number "+m)
	}
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		found = append(found, personalKeys(v)...)
	}
	return found
}

func personalKeys(v any) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			switch lk := strings.ToLower(k); {
			case lk == "name" || lk == "phone" || lk == "address" || strings.Contains(lk, "email") || strings.Contains(lk, "mobile"):
				found = append(found, "key "+k)
			}
			found = append(found, personalKeys(child)...)
		}
	case []any:
		for _, child := range v {
			found = append(found, personalKeys(child)...)
		}
	}
	return found
}

func TestPersonalDataDetector(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{`{"subject":"sub_7f3a","shippingAddressRef":"addr_cn_42"}`, false},
		{`{"subject":"li.wei@example.com"}`, true},
		{`{"note":"call 13800138000"}`, true},
		{`{"ref":"CN-20260401-0001"}`, false},
		{`{"lines":[{"sku":"A","name":"Li Wei"}]}`, true},
		{`{"Phone":"x"}`, true},
		{`{"address":"x"}`, true},
		{`20260401090000123`, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := len(personalData(tt.in)) > 0; got != tt.want {
				t.Errorf("got %v (%v) want %v", got, personalData(tt.in), tt.want)
			}
		})
	}
}

func TestNoPersonalDataCrossesTheBorder(t *testing.T) {
	ps := inStock(t, 2)
	sim, c := start(t, ps)
	placed, _, err := c.Create(t.Context(), "checkout-5c1e9a", order("sub_7f3a", 1, ps...))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := c.Get(t.Context(), placed.ID); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if _, err := c.List(t.Context(), "sub_7f3a"); err != nil {
		t.Fatalf("List: %v", err)
	}
	// Refused locally: must leave no trace at the origin.
	if _, _, err := c.Create(t.Context(), "checkout-x", order("li.wei@example.com", 1, ps[0])); err == nil {
		t.Fatal("Create with an email as subject: got no error want one")
	}

	log := sim.Requests(t)
	if log.Counts[routeCreate] != 1 || log.Total != 3 {
		t.Errorf("got %d creations, %d requests in all want 1 and 3", log.Counts[routeCreate], log.Total)
	}
	for _, r := range log.Requests {
		t.Run(r.Route, func(t *testing.T) {
			parts := map[string]string{"body": r.Body}
			for k, vs := range r.Query {
				parts["query "+k] = k + "=" + strings.Join(vs, ",")
			}
			for k, vs := range r.Headers {
				parts["header "+k] = k + ": " + strings.Join(vs, ",")
			}
			for where, s := range parts {
				if found := personalData(s); len(found) > 0 {
					t.Errorf("%s %s: %s carries personal data %v: %q", r.Method, r.Path, where, found, s)
				}
			}
		})
	}
}

func TestOtherConflictKeepsTheGeneralCode(t *testing.T) {
	// Only the contract's idempotency_key_reused gets the specific code; a
	// 409 for another reason stays a plain Conflict.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"error":{"code":"order_locked","message":"order is being edited"}}`)
	}))
	t.Cleanup(srv.Close)
	hc, err := originhttp.New(originhttp.Config{BaseURL: srv.URL + "/orders", Origin: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	_, _, err = orders.New(hc).Create(t.Context(), "k-1", order("sub_1", 1, originhttptest.Products(1)...))
	var e *apierr.Error
	if !errors.As(err, &e) || e.Kind != apierr.Conflict {
		t.Fatalf("got %v want a Conflict", err)
	}
	if got, want := e.ClientCode(), apierr.Conflict.Code(); got != want {
		t.Errorf("got code %s want %s", got, want)
	}
}

// times2 doubles a decimal amount, in cents, to state expectations exactly.
func times2(t *testing.T, amount string) string { return sum(t, amount, amount) }

func sum(t *testing.T, amounts ...string) string {
	t.Helper()
	var cents int64
	for _, a := range amounts {
		var whole, frac int64
		if _, err := fmt.Sscanf(a, "%d.%d", &whole, &frac); err != nil {
			t.Fatalf("amount %q: %v", a, err)
		}
		cents += whole*100 + frac
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}
