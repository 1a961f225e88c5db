package orderstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"meridian/internal/db"
	"meridian/internal/testenv"
)

// BenchmarkDashboard measures a consultant dashboard's reads at the
// dashboards' scale (dashboardSpec: 100,000 orders over the last twelve
// months, 5 consultants, 50 customers, 1 to 5 lines from 200 SKUs), on
// SQLite and on PostgreSQL; PostgreSQL is skipped when no server answers,
// as in the tests. Each engine is seeded once, unmeasured, in a few
// seconds. The reads, all for one consultant:
//
//   - SalesSummary_month: SalesSummary over the last calendar month (UTC);
//   - TopProducts_month: TopProducts, the first 10, over the same month;
//   - CustomerTotals_20: CustomerTotals of 20 customers, a page of the
//     customer list;
//   - ListByConsultant_first20: the first page of 20 orders, with lines
//     and history;
//   - ListByConsultant_first20_CONFIRMED: the same, of CONFIRMED orders.
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkDashboard -benchtime 200x ./adapters/orderstore/
func BenchmarkDashboard(b *testing.B) {
	for _, e := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "orders.db") }},
		{"postgres", func(b *testing.B) string { return testenv.PostgresURL(b) }},
	} {
		b.Run(e.name, func(b *testing.B) {
			ctx := b.Context()
			database, err := db.Open(ctx, e.url(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { database.Close() })
			now := time.Now().UTC()
			s, err := NewSQLStore(ctx, database, WithClock(func() time.Time { return now }))
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := seedDashboard(ctx, database, dashboardSpec(now)); err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d orders in %v", dashboardSpec(now).Orders, time.Since(start).Round(time.Millisecond))

			const consultant = "cons-1"
			to := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			from := to.AddDate(0, -1, 0)
			var customers []string
			for i := range 20 {
				customers = append(customers, fmt.Sprintf("cust-%02d", i))
			}
			confirmed := StatusConfirmed

			run := func(name string, read func(ctx context.Context) (int, error)) {
				b.Run(name, func(b *testing.B) {
					// A read that finds nothing would measure
					// nothing.
					if n, err := read(ctx); err != nil || n == 0 {
						b.Fatalf("%d results, %v", n, err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := read(ctx); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			run("SalesSummary_month", func(ctx context.Context) (int, error) {
				sum, err := s.SalesSummary(ctx, consultant, from, to)
				return sum.OrderCount, err
			})
			run("TopProducts_month", func(ctx context.Context) (int, error) {
				top, err := s.TopProducts(ctx, consultant, from, to, 10)
				return len(top), err
			})
			run("CustomerTotals_20", func(ctx context.Context) (int, error) {
				totals, err := s.CustomerTotals(ctx, consultant, customers)
				return len(totals), err
			})
			run("ListByConsultant_first20", func(ctx context.Context) (int, error) {
				page, err := s.ListByConsultant(ctx, consultant, nil, 20, "")
				return len(page.Orders), err
			})
			run("ListByConsultant_first20_CONFIRMED", func(ctx context.Context) (int, error) {
				page, err := s.ListByConsultant(ctx, consultant, &confirmed, 20, "")
				return len(page.Orders), err
			})
		})
	}
}
