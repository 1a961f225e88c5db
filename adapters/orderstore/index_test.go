package orderstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian/internal/db"
	"meridian/internal/testenv"
)

// volume is the number of orders the index test loads: the dashboards'
// scale.
const volume = 100_000

// fillSQL loads volume orders and their outbox entries in two statements:
// 2% still moving through the outbox (1% pending, 1% dead), 20% in flight
// at the origin, the rest shipped; 20,000 customers (5 orders each), 500
// consultants (180 each), and
// one order in ten without a consultant. Ids are zero-padded numbers, which
// are valid ULID characters and sort like ULIDs.
var fillSQL = map[db.Dialect][]string{
	db.SQLite: {`
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO orders_orders (id, subject, consultant_id, placed_by, currency, total, shipping_address_id, note, status,
	reject_reason, global_order_id, created_at, updated_at, status_checked_at)
SELECT printf('ord-%026d', i), 'cust-' || (i % 20000), CASE WHEN i % 10 = 9 THEN NULL ELSE 'cons-' || (i % 500) END,
	'cust-' || (i % 20000), 'CNY', '100.00', 'addr-1', '',
	CASE WHEN i % 100 = 0 THEN 'PENDING' WHEN i % 100 = 1 THEN 'REJECTED' WHEN i % 100 < 12 THEN 'ACCEPTED'
	     WHEN i % 100 < 22 THEN 'CONFIRMED' ELSE 'SHIPPED' END,
	'', CASE WHEN i % 100 < 2 THEN NULL ELSE 'g-' || i END,
	printf('2026-01-01T00:00:%02d.000000Z', i % 60), '2026-01-01T00:00:00.000000Z',
	CASE WHEN i % 100 < 2 THEN NULL ELSE printf('2026-01-01T00:00:%02d.000000Z', i % 60) END
FROM n`, `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO orders_outbox (id, order_id, kind, state, attempts, next_attempt_at, locked_by, locked_until, last_error,
	dead_reason, created_at, updated_at, finished_at)
SELECT printf('obx-%026d', i), printf('ord-%026d', i), 'create',
	CASE i % 100 WHEN 0 THEN 'pending' WHEN 1 THEN 'dead' ELSE 'sent' END, 1,
	printf('2026-01-01T00:00:%02d.000000Z', i % 60), NULL, NULL, '', '',
	'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z',
	CASE WHEN i % 100 = 0 THEN NULL ELSE printf('2026-01-01T00:00:%02d.000000Z', i % 60) END
FROM n`, `ANALYZE`},
	db.Postgres: {`
INSERT INTO orders_orders (id, subject, consultant_id, placed_by, currency, total, shipping_address_id, note, status,
	reject_reason, global_order_id, created_at, updated_at, status_checked_at)
SELECT 'ord-' || lpad(i::text, 26, '0'), 'cust-' || (i % 20000), CASE WHEN i % 10 = 9 THEN NULL ELSE 'cons-' || (i % 500) END,
	'cust-' || (i % 20000), 'CNY', '100.00', 'addr-1', '',
	CASE WHEN i % 100 = 0 THEN 'PENDING' WHEN i % 100 = 1 THEN 'REJECTED' WHEN i % 100 < 12 THEN 'ACCEPTED'
	     WHEN i % 100 < 22 THEN 'CONFIRMED' ELSE 'SHIPPED' END,
	'', CASE WHEN i % 100 < 2 THEN NULL ELSE 'g-' || i END,
	timestamptz '2026-01-01T00:00:00Z' + (i % 60) * interval '1 second', timestamptz '2026-01-01T00:00:00Z',
	CASE WHEN i % 100 < 2 THEN NULL ELSE timestamptz '2026-01-01T00:00:00Z' + (i % 60) * interval '1 second' END
FROM generate_series(1, 100000) AS i`, `
INSERT INTO orders_outbox (id, order_id, kind, state, attempts, next_attempt_at, locked_by, locked_until, last_error,
	dead_reason, created_at, updated_at, finished_at)
SELECT 'obx-' || lpad(i::text, 26, '0'), 'ord-' || lpad(i::text, 26, '0'), 'create',
	CASE i % 100 WHEN 0 THEN 'pending' WHEN 1 THEN 'dead' ELSE 'sent' END, 1,
	timestamptz '2026-01-01T00:00:00Z' + (i % 60) * interval '1 second', NULL, NULL, '', '',
	timestamptz '2026-01-01T00:00:00Z', timestamptz '2026-01-01T00:00:00Z',
	CASE WHEN i % 100 = 0 THEN NULL ELSE timestamptz '2026-01-01T00:00:00Z' + (i % 60) * interval '1 second' END
FROM generate_series(1, 100000) AS i`, `ANALYZE`},
}

// TestQueriesUseIndexesAtVolume loads 100,000 orders and checks, with the
// engines' own EXPLAIN, that every read the dashboards, the dispatcher and
// the polling net make is an index search that also yields the order asked
// for: no table scan, no sort of the matching rows.
func TestQueriesUseIndexesAtVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100,000 orders")
	}
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if raceDetector && tt.name == "sqlite" {
				// SQLite is pure Go here, so the detector instruments
				// it and the load takes most of a minute; the test is
				// about plans, not races, and runs without it.
				t.Skip("loading 100,000 rows into SQLite under the race detector is too slow")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			database, err := db.Open(ctx, tt.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer database.Close()
			now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
			s, err := NewSQLStore(ctx, database, WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			d := database.Dialect()
			start := time.Now()
			for _, stmt := range fillSQL[d] {
				if _, err := database.SQL().ExecContext(ctx, stmt); err != nil {
					t.Fatalf("load: %v", err)
				}
			}
			t.Logf("loaded %d orders in %v", volume, time.Since(start).Round(time.Millisecond))

			cursor := "ord-" + strings.Repeat("0", 21) + "50000"
			ts := d.TimeArg(now)
			for _, q := range []struct {
				name, query, index string
				args               []any
				// few: the index finds a handful of rows, which
				// PostgreSQL may rightly sort rather than read in
				// index order.
				few bool
			}{
				{"customer's orders", pageSQL("subject = ?", false), "orders_orders_subject_idx", []any{"cust-42", 51}, true},
				{"customer's next page", pageSQL("subject = ?", true), "orders_orders_subject_idx", []any{"cust-42", cursor, 51}, true},
				{"consultant's orders", pageSQL("consultant_id = ?", false), "orders_orders_consultant_idx", []any{"cons-7", 51}, false},
				{"consultant's next page", pageSQL("consultant_id = ?", true), "orders_orders_consultant_idx", []any{"cons-7", cursor, 51}, false},
				{"consultant's by status", pageSQL("consultant_id = ? AND status = ?", true), "orders_orders_consultant_status_idx", []any{"cons-7", "CONFIRMED", cursor, 51}, true},
				{"claim", ClaimSQL(d), "orders_outbox_due_idx", []any{ts, ts, 16}, false},
				{"in flight", inFlightSQL, "orders_orders_in_flight_idx", []any{ts, 16}, false},
				{"dead letters", deadLettersSQL, "orders_outbox_dead_idx", []any{50}, false},
			} {
				t.Run(q.name, func(t *testing.T) {
					plan := explain(t, ctx, database, q.query, q.args)
					if !strings.Contains(plan, q.index) {
						t.Errorf("plan does not use %s:\n%s", q.index, plan)
					}
					bad := []string{"Seq Scan", "TEMP B-TREE", "SCAN orders_orders\n", "SCAN orders_outbox\n"}
					if !q.few {
						bad = append(bad, "Sort")
					}
					for _, b := range bad {
						if strings.Contains(plan+"\n", b) {
							t.Errorf("plan has %q:\n%s", b, plan)
						}
					}
				})
			}

			// And the store's own calls, through those plans.
			page, err := s.ListByConsultant(ctx, "cons-7", nil, 50, "")
			if err != nil || len(page.Orders) != 50 || !page.HasNextPage || page.Orders[0].ID <= page.Orders[49].ID {
				t.Errorf("ListByConsultant: %d orders, next %v, %v; want 50 newest first and more", len(page.Orders), page.HasNextPage, err)
			}
			inFlight, err := s.InFlight(ctx, now, 16)
			if err != nil || len(inFlight) != 16 {
				t.Errorf("InFlight: %d orders, %v; want 16", len(inFlight), err)
			}
			if n, err := s.Pending(ctx); err != nil || n != volume/100 {
				t.Errorf("Pending = %d, %v; want %d", n, err, volume/100)
			}
		})
	}
}

// explain returns the engine's plan of query, one line per node.
func explain(t *testing.T, ctx context.Context, database *db.DB, query string, args []any) string {
	t.Helper()
	prefix := "EXPLAIN "
	if database.Dialect() == db.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := database.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		// The plan text is the last column on both engines.
		switch v := vals[len(vals)-1].(type) {
		case string:
			lines = append(lines, v)
		case []byte:
			lines = append(lines, string(v))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
