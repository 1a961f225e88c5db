package orderstore

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// seedSpec shapes a synthetic projection for the dashboards' benchmarks
// and plan tests.
type seedSpec struct {
	Orders      int
	Consultants int // "cons-1" ... every order is credited to one
	Customers   int // "cust-00" ...
	SKUs        int // "SKU-000" ..., each with its product and price
	// Now and Span: orders are placed uniformly over [Now-Span, Now).
	Now  time.Time
	Span time.Duration
	Seed uint64 // the same seed gives the same orders, ids aside
}

// dashboardSpec is the dashboards' scale: 100,000 orders over the last
// year, 5 consultants, 50 customers, 200 SKUs.
func dashboardSpec(now time.Time) seedSpec {
	return seedSpec{Orders: 100_000, Consultants: 5, Customers: 50, SKUs: 200, Now: now, Span: 365 * 24 * time.Hour, Seed: 1}
}

// seedOrder is one generated order: what the store would hold had Place,
// the dispatcher and Order Management's news made it.
type seedOrder struct {
	ID, Subject, ConsultantID string
	Status                    Status
	CreatedAt, UpdatedAt      time.Time // UpdatedAt: when it reached Status
	Lines                     []Line
	LineMinor                 []int64
	TotalMinor                int64
}

// generateSeed makes spec.Orders orders, oldest first, with ids that sort
// like their times, as Place's do. Its shape follows a real projection:
//
//   - consultant and customer are uniform, so every consultant has sold to
//     every customer;
//   - 1 to 5 lines, of distinct SKUs, picked with a Zipf skew (a few
//     best sellers, a long tail); mostly one unit, one line in ten 2 to 5;
//     prices 5.00 to 600.00 with every cent digit;
//   - statuses by age: the last hour PENDING, the last two days ACCEPTED
//     or CONFIRMED, the last week CONFIRMED or SHIPPED, older ones SHIPPED;
//     3% of the orders of every age but the last hour REJECTED.
func generateSeed(spec seedSpec) []seedOrder {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x6d657269))
	prices := make([]int64, spec.SKUs)
	for i := range prices {
		prices[i] = 500 + rng.Int64N(59_501)
	}
	zipf := rand.NewZipf(rng, 1.07, 4, uint64(spec.SKUs-1))

	times := make([]time.Time, spec.Orders)
	start := spec.Now.Add(-spec.Span).UTC()
	for i := range times {
		times[i] = start.Add(time.Duration(rng.Int64N(int64(spec.Span)))).Truncate(time.Microsecond)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	var ids ulids
	orders := make([]seedOrder, spec.Orders)
	for i, at := range times {
		id, err := ids.next(at)
		if err != nil {
			panic(err) // only for times beyond the year 10889
		}
		o := seedOrder{
			ID:           "ord-" + id,
			Subject:      fmt.Sprintf("cust-%02d", rng.IntN(spec.Customers)),
			ConsultantID: fmt.Sprintf("cons-%d", 1+rng.IntN(spec.Consultants)),
			CreatedAt:    at,
		}
		age := spec.Now.Sub(at)
		switch {
		case age < time.Hour:
			o.Status = StatusPending
		case rng.IntN(100) < 3:
			o.Status = StatusRejected
		case age < 48*time.Hour:
			o.Status = []Status{StatusAccepted, StatusConfirmed}[rng.IntN(2)]
		case age < 7*24*time.Hour:
			o.Status = []Status{StatusConfirmed, StatusShipped}[rng.IntN(2)]
		default:
			o.Status = StatusShipped
		}
		o.UpdatedAt = at
		if o.Status != StatusPending {
			o.UpdatedAt = at.Add(min(age/2, time.Duration(1+rng.IntN(72))*time.Hour))
		}
		seen := map[uint64]bool{}
		for range 1 + rng.IntN(5) {
			k := zipf.Uint64()
			for seen[k] {
				k = (k + 1) % uint64(spec.SKUs)
			}
			seen[k] = true
			quantity := 1
			if rng.IntN(10) == 0 {
				quantity = 2 + rng.IntN(4)
			}
			lineMinor := prices[k] * int64(quantity)
			o.Lines = append(o.Lines, Line{
				ProductID: fmt.Sprintf("prod-%03d", k), SKU: fmt.Sprintf("SKU-%03d", k), Quantity: quantity,
				UnitPrice: formatMinor(big.NewInt(prices[k])), LineTotal: formatMinor(big.NewInt(lineMinor)),
			})
			o.LineMinor = append(o.LineMinor, lineMinor)
			o.TotalMinor += lineMinor
		}
		orders[i] = o
	}
	return orders
}

// seedDashboard generates spec's orders and loads them into database, whose
// order tables must exist (NewSQLStore), with multi-row INSERTs in one
// transaction: orders, lines and history (each order's PENDING and, when
// it moved on, its status now), then fresh planner statistics. Outbox and
// idempotency records, which no dashboard reads, are left out.
func seedDashboard(ctx context.Context, database *db.DB, spec seedSpec) ([]seedOrder, error) {
	orders := generateSeed(spec)
	d := database.Dialect()
	err := database.WriteTx(ctx, func(tx *db.Tx) error {
		b := newBatch(tx, "orders_orders", "id, subject, consultant_id, placed_by, currency, total, total_minor, shipping_address_id, note, status, reject_reason, global_order_id, created_at, updated_at, status_checked_at")
		for _, o := range orders {
			reason, global, checked := "", any(nil), any(nil)
			if o.Status != StatusPending {
				global, checked = "g-"+o.ID[4:], d.TimeArg(o.UpdatedAt)
			}
			if o.Status == StatusRejected {
				reason = "out of stock"
			}
			if err := b.add(ctx, o.ID, o.Subject, o.ConsultantID, o.Subject, "CNY", formatMinor(big.NewInt(o.TotalMinor)), o.TotalMinor,
				"addr-"+o.Subject, "", string(o.Status), reason, global, d.TimeArg(o.CreatedAt), d.TimeArg(o.UpdatedAt), checked); err != nil {
				return err
			}
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		b = newBatch(tx, "orders_lines", "order_id, position, product_id, sku, quantity, unit_price, line_total, line_total_minor")
		for _, o := range orders {
			for i, l := range o.Lines {
				if err := b.add(ctx, o.ID, i, l.ProductID, l.SKU, l.Quantity, l.UnitPrice, l.LineTotal, o.LineMinor[i]); err != nil {
					return err
				}
			}
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		b = newBatch(tx, "orders_history", "order_id, status, at, source, recorded_at")
		for _, o := range orders {
			if err := b.add(ctx, o.ID, string(StatusPending), d.TimeArg(o.CreatedAt), string(SourceRegion), d.TimeArg(o.CreatedAt)); err != nil {
				return err
			}
			if o.Status != StatusPending {
				if err := b.add(ctx, o.ID, string(o.Status), d.TimeArg(o.UpdatedAt), string(SourceWebhook), d.TimeArg(o.UpdatedAt)); err != nil {
					return err
				}
			}
		}
		return b.flush(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	// Statistics as a live projection would have them; on PostgreSQL,
	// VACUUM also marks the pages all-visible, as autovacuum would, which
	// index-only scans rely on.
	analyze := "ANALYZE"
	if d == db.Postgres {
		analyze = "VACUUM (ANALYZE) orders_orders, orders_lines, orders_history"
	}
	if _, err := database.ExecContext(ctx, analyze); err != nil {
		return nil, fmt.Errorf("seed: %s: %w", analyze, err)
	}
	return orders, nil
}

// batch inserts rows into one table, many per statement: a round trip
// and a statement per row would make seeding slower than what it
// measures.
type batch struct {
	tx      *db.Tx
	prefix  string
	tuple   string
	width   int
	maxRows int
	args    []any
}

// maxBatchArgs keeps a statement under both engines' limits on bind
// parameters (SQLite 32,766, PostgreSQL 65,535).
const maxBatchArgs = 30_000

func newBatch(tx *db.Tx, table, columns string) *batch {
	width := strings.Count(columns, ",") + 1
	return &batch{
		tx:      tx,
		prefix:  "INSERT INTO " + table + " (" + columns + ") VALUES ",
		tuple:   "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")",
		width:   width,
		maxRows: maxBatchArgs / width,
	}
}

func (b *batch) add(ctx context.Context, row ...any) error {
	if len(row) != b.width {
		return fmt.Errorf("%s: %d values for %d columns", b.prefix, len(row), b.width)
	}
	b.args = append(b.args, row...)
	if len(b.args)/b.width == b.maxRows {
		return b.flush(ctx)
	}
	return nil
}

func (b *batch) flush(ctx context.Context) error {
	rows := len(b.args) / b.width
	if rows == 0 {
		return nil
	}
	query := b.prefix + strings.TrimSuffix(strings.Repeat(b.tuple+", ", rows), ", ")
	if _, err := b.tx.ExecContext(ctx, query, b.args...); err != nil {
		return fmt.Errorf("%s...: %w", b.prefix, err)
	}
	b.args = b.args[:0]
	return nil
}

// expectedSummary is SalesSummary computed from generated orders, for
// checking the store's SQL against plain Go.
func expectedSummary(orders []seedOrder, consultant string, from, to time.Time) SalesSummary {
	var count int64
	revenue := new(big.Int)
	customers := map[string]bool{}
	for _, o := range orders {
		if o.ConsultantID != consultant || o.Status == StatusRejected || o.CreatedAt.Before(from) || !o.CreatedAt.Before(to) {
			continue
		}
		count++
		revenue.Add(revenue, big.NewInt(o.TotalMinor))
		customers[o.Subject] = true
	}
	s := SalesSummary{
		OrderCount: int(count), Revenue: formatMinor(revenue), CustomerCount: len(customers),
		AverageOrderValue: formatMinor(divideHalfEven(revenue, count)),
	}
	if count > 0 {
		s.Currency = "CNY"
	}
	return s
}

// expectedTopProducts is TopProducts computed from generated orders.
func expectedTopProducts(orders []seedOrder, consultant string, from, to time.Time, first int) []ProductSales {
	type key struct{ product, sku string }
	units := map[key]int{}
	revenue := map[key]int64{}
	for _, o := range orders {
		if o.ConsultantID != consultant || o.Status == StatusRejected || o.CreatedAt.Before(from) || !o.CreatedAt.Before(to) {
			continue
		}
		for i, l := range o.Lines {
			k := key{l.ProductID, l.SKU}
			units[k] += l.Quantity
			revenue[k] += o.LineMinor[i]
		}
	}
	var keys []key
	for k := range units {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(revenue[b], revenue[a]), cmp.Compare(units[b], units[a]),
			strings.Compare(a.sku, b.sku), strings.Compare(a.product, b.product))
	})
	out := []ProductSales{}
	for _, k := range keys[:min(first, len(keys))] {
		out = append(out, ProductSales{ProductID: k.product, SKU: k.sku, Units: units[k], Revenue: formatMinor(big.NewInt(revenue[k]))})
	}
	return out
}

// expectedCustomerTotals is CustomerTotals computed from generated orders.
func expectedCustomerTotals(orders []seedOrder, consultant string, subjects []string) map[string]CustomerTotals {
	out := map[string]CustomerTotals{}
	value := map[string]int64{}
	for _, s := range subjects {
		out[s] = CustomerTotals{Subject: s}
	}
	for _, o := range orders {
		ct, asked := out[o.Subject]
		if !asked || o.ConsultantID != consultant || o.Status == StatusRejected {
			continue
		}
		ct.OrderCount++
		value[o.Subject] += o.TotalMinor
		ct.LastOrderAt = o.CreatedAt // oldest first
		out[o.Subject] = ct
	}
	for s, ct := range out {
		ct.LifetimeValue = formatMinor(big.NewInt(value[s]))
		out[s] = ct
	}
	return out
}
