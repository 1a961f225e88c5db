package orderstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/internal/db"
	"meridian/internal/testenv"
)

// TestDashboardQueriesUseIndexesAtVolume seeds the dashboards' scale
// (100,000 orders, see dashboardSpec) and checks, with the engines' own
// EXPLAIN, that every dashboard read is an index search that never scans a
// table, and that the answers at that scale are the ones plain Go computes
// from the same orders.
func TestDashboardQueriesUseIndexesAtVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 orders")
	}
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if raceDetector && tt.name == "sqlite" {
				// As in TestQueriesUseIndexesAtVolume: plans, not
				// races, and pure-Go SQLite under the detector
				// takes most of a minute to load.
				t.Skip("loading 100,000 orders into SQLite under the race detector is too slow")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			database, err := db.Open(ctx, tt.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer database.Close()
			now := time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)
			s, err := NewSQLStore(ctx, database, WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			orders, err := seedDashboard(ctx, database, dashboardSpec(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("seeded %d orders in %v", len(orders), time.Since(start).Round(time.Millisecond))

			d := database.Dialect()
			from, to := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			var subjects []string
			for i := range 20 {
				subjects = append(subjects, fmt.Sprintf("cust-%02d", i))
			}
			in, totalsArgs := inList(subjects)
			// The analytics' searches must also cover every column
			// they read (COVERING INDEX, Index Only Scan): a month
			// is some 1,700 orders and 5,000 lines per consultant,
			// too many to fetch from the tables one by one.
			// Grouping and ranking products sorts their few hundred
			// groups, which is expected.
			covering := "USING COVERING INDEX "
			if d == db.Postgres {
				covering = "Index Only Scan using "
			}
			for _, q := range []struct {
				name, query string
				args        []any
				want        []string // in the plan
			}{
				{"sales summary", salesSummarySQL, []any{"cons-1", d.TimeArg(from), d.TimeArg(to)},
					[]string{covering + "orders_orders_consultant_created_idx"}},
				{"top products", topProductsSQL(d), []any{"cons-1", d.TimeArg(from), d.TimeArg(to), 10},
					[]string{covering + "orders_orders_consultant_created_idx", covering + "orders_lines_sales_idx"}},
				{"customer totals", fmt.Sprintf(customerTotalsQuery, in), append([]any{"cons-1"}, totalsArgs...),
					[]string{covering + "orders_orders_consultant_subject_idx"}},
				// With five consultants each has a fifth of the
				// orders, and PostgreSQL may rightly read the
				// primary key backwards rather than the
				// consultant's index: either is an index read in
				// the order asked for.
				{"consultant's orders", pageSQL("consultant_id = ?", false), []any{"cons-1", 21}, nil},
				{"consultant's by status", pageSQL("consultant_id = ? AND status = ?", false), []any{"cons-1", "CONFIRMED", 21},
					[]string{"orders_orders_consultant_status_idx"}},
			} {
				t.Run(q.name, func(t *testing.T) {
					plan := explain(t, ctx, database, q.query, q.args)
					for _, w := range q.want {
						if !strings.Contains(plan, w) {
							t.Errorf("plan does not have %q:\n%s", w, plan)
						}
					}
					for _, line := range strings.Split(plan, "\n") {
						// SQLite's SCAN of a table (not of a
						// subquery's rows), PostgreSQL's Seq Scan.
						line = strings.TrimSpace(line)
						if strings.Contains(line, "Seq Scan") || (strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN (")) {
							t.Errorf("plan scans a table:\n%s", plan)
						}
						if strings.HasPrefix(q.name, "consultant's") && (strings.Contains(line, "Sort") || strings.Contains(line, "TEMP B-TREE")) {
							t.Errorf("plan sorts the consultant's orders:\n%s", plan)
						}
					}
				})
			}

			got, err := s.SalesSummary(ctx, "cons-1", from, to)
			if diff := cmp.Diff(expectedSummary(orders, "cons-1", from, to), got); err != nil || diff != "" {
				t.Errorf("SalesSummary: %v (-want +got):\n%s", err, diff)
			}
			top, err := s.TopProducts(ctx, "cons-1", from, to, 10)
			if diff := cmp.Diff(expectedTopProducts(orders, "cons-1", from, to, 10), top); err != nil || diff != "" {
				t.Errorf("TopProducts: %v (-want +got):\n%s", err, diff)
			}
			totals, err := s.CustomerTotals(ctx, "cons-1", subjects)
			if diff := cmp.Diff(expectedCustomerTotals(orders, "cons-1", subjects), totals); err != nil || diff != "" {
				t.Errorf("CustomerTotals: %v (-want +got):\n%s", err, diff)
			}
		})
	}
}
