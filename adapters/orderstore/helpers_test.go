package orderstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"meridian/adapters/orderstore"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

// engine opens fresh databases of one kind: each call of fresh is an empty
// database, and each open of its URL is a pool of its own, as a replica's
// would be.
type engine struct {
	name  string
	fresh func(t *testing.T) string
}

func engines() []engine {
	return []engine{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	}
}

// forEachEngine runs test on SQLite and on PostgreSQL, in parallel.
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

// newTestClock returns a settable clock whose times are deliberately not
// UTC and finer than a microsecond: the store must normalize both.
func newTestClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 4, 1, 17, 0, 0, 123456789, time.FixedZone("CST", 8*3600)))
}

// stored is t as the store keeps it.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func openDB(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(testContext(t), url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// openStore opens a new pool on url and a store on it.
func openStore(t *testing.T, url string, clock *testenv.Clock) *orderstore.SQLStore {
	t.Helper()
	s, err := orderstore.NewSQLStore(testContext(t), openDB(t, url), orderstore.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	return s
}

// request is a valid order of two lines for subject, placed by subject
// itself under key.
func request(subject, key string) orderstore.PlaceRequest {
	return orderstore.PlaceRequest{
		Subject: subject, ConsultantID: "cons-0001", PlacedBy: subject,
		IdempotencyKey: key, RequestHash: "hash-" + key,
		Currency: "CNY",
		Lines: []orderstore.Line{
			{ProductID: "prod-0001", SKU: "SKC-1001", Quantity: 3, UnitPrice: "100.07"},
			{ProductID: "prod-0011", SKU: "SKC-1011", Quantity: 1, UnitPrice: "0.10"},
		},
		ShippingAddressID: "addr-5c1e9a0b2d",
		Note:              "请放在前台 / leave at reception",
	}
}

func mustPlace(t *testing.T, s *orderstore.SQLStore, req orderstore.PlaceRequest) orderstore.Order {
	t.Helper()
	o, created, err := s.Place(testContext(t), req)
	if err != nil || !created {
		t.Fatalf("Place(%s): created %v, %v; want a new order", req.IdempotencyKey, created, err)
	}
	return o
}

func mustGet(t *testing.T, s *orderstore.SQLStore, id string) orderstore.Order {
	t.Helper()
	o, err := s.Get(testContext(t), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return o
}

func mustClaim(t *testing.T, s *orderstore.SQLStore, worker string, limit int, lease time.Duration) []orderstore.OutboxEntry {
	t.Helper()
	entries, err := s.Claim(testContext(t), worker, limit, lease)
	if err != nil {
		t.Fatalf("Claim(%s): %v", worker, err)
	}
	return entries
}

func mustPending(t *testing.T, s *orderstore.SQLStore) int {
	t.Helper()
	n, err := s.Pending(testContext(t))
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return n
}

func statuses(o orderstore.Order) []string {
	var out []string
	for _, h := range o.History {
		out = append(out, fmt.Sprintf("%s/%s", h.Status, h.Source))
	}
	return out
}

func ids(orders []orderstore.Order) []string {
	var out []string
	for _, o := range orders {
		out = append(out, o.ID)
	}
	return out
}

func entryIDs(entries []orderstore.OutboxEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

func fieldsOf(err error) []string {
	var out []string
	for _, fe := range orderstore.FieldErrors(err) {
		out = append(out, fe.Field)
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}
