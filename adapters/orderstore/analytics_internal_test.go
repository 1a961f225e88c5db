package orderstore

import (
	"context"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestDivideHalfEven(t *testing.T) {
	for _, tt := range []struct {
		n, d, want int64
	}{
		{0, 0, 0},       // no orders
		{9999, 3, 3333}, // 3 × 33.33
		{5, 2, 2},       // 0.025 → 0.02: a half, to the even cent below
		{3, 2, 2},       // 0.015 → 0.02: a half, to the even cent above
		{7, 2, 4},       // 0.035 → 0.04
		{10001, 3, 3334},
		{3001, 3, 1000},
		{2, 3, 1},
		{1, 3, 0},
		{0, 5, 0},
		{-5, 2, -2}, // symmetric, though amounts are never negative
		{-7, 2, -4},
		{-10001, 3, -3334},
	} {
		if got := divideHalfEven(big.NewInt(tt.n), tt.d); got.Int64() != tt.want {
			t.Errorf("divideHalfEven(%d, %d) = %v, want %d", tt.n, tt.d, got, tt.want)
		}
	}
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10) // past int64: PostgreSQL's NUMERIC sums
	if got := formatMinor(divideHalfEven(huge, 1)); got != "1234567890123456789012345678.90" {
		t.Errorf("huge sum = %s", got)
	}
}

func TestMinorUnitsRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		amount string
		minor  int64
	}{
		{"0.00", 0}, {"0.05", 5}, {"0.10", 10}, {"1.00", 100}, {"300.21", 30021},
		{"9989999999990.31", 998999999999031},
	} {
		got, err := minorUnits(tt.amount)
		if err != nil || got != tt.minor {
			t.Errorf("minorUnits(%s) = %d, %v; want %d", tt.amount, got, err, tt.minor)
		}
		if back := formatMinor(big.NewInt(tt.minor)); back != tt.amount {
			t.Errorf("formatMinor(%d) = %s, want %s", tt.minor, back, tt.amount)
		}
	}
	if got := formatMinor(big.NewInt(-5)); got != "-0.05" {
		t.Errorf("formatMinor(-5) = %s", got)
	}
	for _, bad := range []string{"", "1", "1.0", "1.000", ".00", "-1.00", "1e2.00", "99999999999999999999.00"} {
		if _, err := minorUnits(bad); err == nil {
			t.Errorf("minorUnits(%q) accepted it", bad)
		}
	}
}

func TestCeilMicro(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ in, want time.Time }{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Microsecond)},
		{base.Add(time.Microsecond - time.Nanosecond), base.Add(time.Microsecond)},
		{base.Add(-time.Nanosecond), base},
		{time.Time{}, time.Time{}},
	} {
		if got := ceilMicro(tt.in); !got.Equal(tt.want) {
			t.Errorf("ceilMicro(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestMinorUnitsMigration checks the minor-unit columns on databases
// that had orders before them: migration 2 backfills the existing rows;
// rows written afterwards by the previous release, which does not know the
// columns (a rolling deploy), are filled by the triggers; and Place fills
// them itself, triggers or not.
func TestMinorUnitsMigration(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			database, err := db.Open(ctx, tt.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer database.Close()
			if err := db.Migrate(ctx, database, migrationComponent, migrations()[:1]); err != nil {
				t.Fatal(err)
			}
			d := database.Dialect()
			at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
			// What the previous release's Place writes.
			oldPlace := func(id, total string, lineTotals ...string) {
				t.Helper()
				if _, err := database.ExecContext(ctx, `INSERT INTO orders_orders (`+orderColumns+`, status_checked_at)
VALUES (?, 'cust-1', 'cons-A', 'cust-1', 'CNY', ?, 'addr-1', '', 'SHIPPED', '', NULL, ?, ?, NULL)`, id, total, d.TimeArg(at), d.TimeArg(at)); err != nil {
					t.Fatal(err)
				}
				for i, lt := range lineTotals {
					if _, err := database.ExecContext(ctx, `INSERT INTO orders_lines (order_id, position, product_id, sku, quantity, unit_price, line_total)
VALUES (?, ?, ?, ?, 1, ?, ?)`, id, i, "prod-"+string(rune('A'+i)), "SKU-"+string(rune('A'+i)), lt, lt); err != nil {
						t.Fatal(err)
					}
				}
			}
			oldPlace("ord-01KK0000000000000000000001", "9989999999990.31", "9989999999990.01", "0.30")
			oldPlace("ord-01KK0000000000000000000002", "0.05", "0.05")

			s, err := NewSQLStore(ctx, database, WithClock(func() time.Time { return at }))
			if err != nil {
				t.Fatal(err)
			}
			// During the rollout.
			oldPlace("ord-01KK0000000000000000000003", "100.07", "100.07")

			// Place, with the triggers gone: it fills the columns
			// itself.
			drop := []string{"DROP TRIGGER orders_orders_total_minor_trg", "DROP TRIGGER orders_lines_line_total_minor_trg"}
			if d == db.Postgres {
				drop[0] += " ON orders_orders"
				drop[1] += " ON orders_lines"
			}
			for _, stmt := range drop {
				if _, err := database.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.Place(ctx, PlaceRequest{
				Subject: "cust-1", ConsultantID: "cons-A", PlacedBy: "cust-1", IdempotencyKey: "k", RequestHash: "h",
				Currency: "CNY", ShippingAddressID: "addr-1",
				Lines: []Line{{ProductID: "prod-A", SKU: "SKU-A", Quantity: 3, UnitPrice: "33.33"}},
			}); err != nil {
				t.Fatal(err)
			}

			var nulls int
			if err := database.QueryRowContext(ctx, `SELECT
	(SELECT COUNT(*) FROM orders_orders WHERE total_minor IS NULL) +
	(SELECT COUNT(*) FROM orders_lines WHERE line_total_minor IS NULL)`).Scan(&nulls); err != nil {
				t.Fatal(err)
			}
			if nulls != 0 {
				t.Errorf("%d rows without minor units", nulls)
			}
			rows, err := database.QueryContext(ctx, `SELECT total, total_minor FROM orders_orders
UNION ALL SELECT line_total, line_total_minor FROM orders_lines`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var amount string
				var minor int64
				if err := rows.Scan(&amount, &minor); err != nil {
					t.Fatal(err)
				}
				if formatMinor(big.NewInt(minor)) != amount {
					t.Errorf("%s stored as %d minor units", amount, minor)
				}
				n++
			}
			if err := rows.Err(); err != nil || n != 9 {
				t.Errorf("checked %d amounts, %v; want 9", n, err)
			}

			sum, err := s.SalesSummary(ctx, "cons-A", at.AddDate(0, 0, -1), at.AddDate(0, 0, 1))
			want := SalesSummary{OrderCount: 4, Revenue: "9990000000190.42", AverageOrderValue: "2497500000047.60", CustomerCount: 1, Currency: "CNY"}
			if err != nil || sum != want {
				t.Errorf("SalesSummary = %+v, %v; want %+v", sum, err, want)
			}
		})
	}
}
