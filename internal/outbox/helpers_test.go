package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"meridian/adapters/orders"
	"meridian/adapters/orderstore"
	"meridian/internal/cache"
	"meridian/internal/db"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/metrics"
	"meridian/internal/originhttp/originhttptest"
	"meridian/internal/outbox"
	"meridian/internal/testenv"
)

const routeCreate = "POST /orders/v1/orders"

// engine opens fresh databases of one kind; each open of a URL is a pool
// of its own, as a replica's would be.
type engine struct {
	name  string
	fresh func(t *testing.T) string
}

func engines() []engine {
	return []engine{
		// Several pools write at once here (placers and dispatchers
		// polling every few milliseconds), under the race detector on
		// shared cores: the default 5 s wait for SQLite's one write lock
		// can run out with nothing wrong. What these tests check is
		// exactly-once delivery, not lock latency.
		{"sqlite", func(t *testing.T) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "orders.db") + "?_busy_timeout=30000"
		}},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	}
}

func forEachEngine(t *testing.T, test func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 2*time.Minute)
}

// harness is the region (an order store on a fresh database) and the
// global side (the simulator under httptest, with zero latency).
type harness struct {
	t        *testing.T
	url      string
	clock    *testenv.Clock   // the region's clock, shared by the store and the dispatchers as one host's would be
	now      func() time.Time // the region's clock: clock.Now, or time.Now
	store    *orderstore.SQLStore
	sim      *originhttptest.Sim
	origin   *orders.Client
	products []originhttptest.Product // in stock, at least 20 units each
}

func newHarness(t *testing.T, e engine, realClock bool) *harness {
	t.Helper()
	all := originhttptest.Products(80)
	var stocked []originhttptest.Product
	for _, p := range all {
		if p.Available >= 20 {
			stocked = append(stocked, p)
		}
	}
	sim := originhttptest.Start(t, func(cfg *globalsim.Config) { cfg.Catalog = originhttptest.Catalog(all) })
	h := &harness{
		t: t, url: e.fresh(t), clock: testenv.NewClock(originhttptest.Epoch().Add(8 * time.Hour)),
		sim: sim, origin: orders.New(sim.Client(t, globalsim.OriginOrders)), products: stocked,
	}
	h.now = h.clock.Now
	if realClock {
		h.now = time.Now
	}
	h.store = h.openStore()
	return h
}

// openStore opens a new pool on the harness's database and a store on it.
func (h *harness) openStore() *orderstore.SQLStore {
	h.t.Helper()
	d, err := db.Open(testContext(h.t), h.url)
	if err != nil {
		h.t.Fatalf("db.Open: %v", err)
	}
	h.t.Cleanup(func() { d.Close() })
	s, err := orderstore.NewSQLStore(testContext(h.t), d, orderstore.WithClock(h.now))
	if err != nil {
		h.t.Fatalf("NewSQLStore: %v", err)
	}
	return s
}

// newGuard is one process's guard of the orders origin.
func newGuard(t *testing.T, edit func(*guard.Config)) *guard.Guard {
	t.Helper()
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg := guard.Config{Origin: "orders", Copies: mem, Log: quiet()}
	if edit != nil {
		edit(&cfg)
	}
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// dispatcher is one process's dispatcher on store, with its own guard.
func (h *harness) dispatcher(worker string, store outbox.Store, edit func(*outbox.Config)) *outbox.Dispatcher {
	h.t.Helper()
	cfg := outbox.Config{
		Store: store, Origin: h.origin, Guard: newGuard(h.t, nil), Worker: worker,
		Now: h.now, Logger: quiet(),
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := outbox.New(cfg)
	if err != nil {
		h.t.Fatalf("outbox.New: %v", err)
	}
	return d
}

// request is a valid order of one unit of each product for subject.
func request(subject, key string, products ...originhttptest.Product) orderstore.PlaceRequest {
	req := orderstore.PlaceRequest{
		Subject: subject, ConsultantID: "cons-0001", PlacedBy: subject, IdempotencyKey: key,
		RequestHash: "hash-" + key, Currency: "CNY", ShippingAddressID: "addr-5c1e9a0b2d",
		Note: "王芳 13812345678 请放在前台",
	}
	for i, p := range products {
		req.Lines = append(req.Lines, orderstore.Line{ProductID: fmt.Sprintf("prod-%d", i), SKU: p.SKU, Quantity: 1, UnitPrice: p.Price})
	}
	return req
}

func (h *harness) place(req orderstore.PlaceRequest) orderstore.Order {
	h.t.Helper()
	o, created, err := h.store.Place(testContext(h.t), req)
	if err != nil || !created {
		h.t.Fatalf("Place(%s): created %v, %v", req.IdempotencyKey, created, err)
	}
	return o
}

func (h *harness) get(id string) orderstore.Order {
	h.t.Helper()
	o, err := h.store.Get(testContext(h.t), id)
	if err != nil {
		h.t.Fatalf("Get(%s): %v", id, err)
	}
	return o
}

// creates counts the order creations Order Management received.
func (h *harness) creates() int64 { return h.sim.Requests(h.t).Counts[routeCreate] }

// originOrders returns how many orders Order Management holds for each
// region order reference of subject's.
func (h *harness) originOrders(subject string) map[string]int {
	h.t.Helper()
	list, err := h.origin.List(testContext(h.t), subject)
	if err != nil {
		h.t.Fatalf("List(%s): %v", subject, err)
	}
	out := map[string]int{}
	for _, o := range list {
		out[o.RegionOrderRef]++
	}
	return out
}

// faults sets the orders origin's faults on the simulator.
func (h *harness) faults(setting map[string]any) {
	h.t.Helper()
	setting["origin"] = "orders"
	h.sim.Admin(h.t, http.MethodPut, "/admin/faults", setting, http.StatusOK, nil)
}

func history(o orderstore.Order) []string {
	var out []string
	for _, c := range o.History {
		out = append(out, string(c.Status)+"/"+string(c.Source))
	}
	return out
}

func mustDispatch(t *testing.T, d *outbox.Dispatcher, want outbox.Result) {
	t.Helper()
	got, err := d.DispatchOnce(testContext(t))
	if err != nil {
		t.Fatalf("DispatchOnce: %v", err)
	}
	if got != want {
		t.Fatalf("DispatchOnce = %+v, want %+v", got, want)
	}
}

// metricValue reads a gauge or counter of m by name and label values; a
// series never set reads 0.
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			var values []string
			for _, l := range metric.GetLabel() {
				values = append(values, l.GetValue())
			}
			if slices.Equal(values, labels) {
				if g := metric.GetGauge(); g != nil {
					return g.GetValue()
				}
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
