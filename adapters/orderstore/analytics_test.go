package orderstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/orderstore"
	"meridian/internal/testenv"
)

// shanghai is the consultants' time zone: the dashboards' months begin at
// midnight there, 16:00 UTC the day before.
var shanghai = time.FixedZone("CST", 8*3600)

// sale is an order to place at a chosen time.
type sale struct {
	at         time.Time
	subject    string
	consultant string // "" for none
	currency   string // "" for CNY
	lines      []orderstore.Line
	status     orderstore.Status // "" to leave it PENDING
}

// line is a line of quantity units of sku at price.
func line(sku string, quantity int, price string) orderstore.Line {
	return orderstore.Line{ProductID: "prod-" + sku, SKU: sku, Quantity: quantity, UnitPrice: price}
}

// placeSales places each sale with the clock at its time, then moves it to
// its status, and returns the orders.
func placeSales(t *testing.T, s *orderstore.SQLStore, clock *testenv.Clock, sales []sale) []orderstore.Order {
	t.Helper()
	var orders []orderstore.Order
	for i, sl := range sales {
		clock.Set(sl.at)
		req := request(sl.subject, fmt.Sprintf("sale-%d", i))
		req.ConsultantID, req.Lines = sl.consultant, sl.lines
		if sl.currency != "" {
			req.Currency = sl.currency
		}
		o := mustPlace(t, s, req)
		if sl.status != "" {
			u := orderstore.StatusUpdate{OrderID: o.ID, Status: sl.status, At: sl.at, Source: orderstore.SourceWebhook}
			if sl.status == orderstore.StatusRejected {
				u.Reason, u.Source = "out of stock", orderstore.SourceOrigin
			}
			if _, err := s.ApplyStatus(testContext(t), u); err != nil {
				t.Fatalf("ApplyStatus(%s): %v", sl.status, err)
			}
		}
		orders = append(orders, o)
	}
	return orders
}

// month is the month of 2026 in Shanghai: [its first midnight, the next
// month's).
func month(m time.Month) (from, to time.Time) {
	from = time.Date(2026, m, 1, 0, 0, 0, 0, shanghai)
	return from, from.AddDate(0, 1, 0)
}

func TestSalesSummary(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		mar, apr := time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai), time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
		justBefore := -time.Microsecond
		cents := func(p string) []orderstore.Line { return []orderstore.Line{line("SKC-1", 1, p)} }
		placeSales(t, s, clock, []sale{
			// February: one order, its last microsecond.
			{at: mar.Add(justBefore), subject: "cust-1", consultant: "cons-A", lines: cents("10.00"), status: orderstore.StatusShipped},
			// March: 3 × 33.33 from two customers, from its first
			// to its last microsecond, in every status but
			// REJECTED...
			{at: mar, subject: "cust-1", consultant: "cons-A", lines: cents("33.33"), status: orderstore.StatusShipped},
			{at: mar.AddDate(0, 0, 14), subject: "cust-2", consultant: "cons-A", lines: cents("33.33"), status: orderstore.StatusConfirmed},
			{at: apr.Add(justBefore), subject: "cust-1", consultant: "cons-A", lines: cents("33.33")},
			// ...and what does not count for cons-A: a rejected
			// order, another consultant's, one credited to none.
			{at: mar.AddDate(0, 0, 2), subject: "cust-3", consultant: "cons-A", lines: cents("500.00"), status: orderstore.StatusRejected},
			{at: mar.AddDate(0, 0, 3), subject: "cust-1", consultant: "cons-B", lines: cents("77.77")},
			{at: mar.AddDate(0, 0, 4), subject: "cust-4", lines: cents("66.66")},
			// April, from its first microsecond: 0.05 / 2 = 0.025,
			// a half that rounds down to the even cent.
			{at: apr, subject: "cust-4", consultant: "cons-A", lines: cents("0.01")},
			{at: apr.AddDate(0, 0, 1), subject: "cust-4", consultant: "cons-A", lines: cents("0.04"), status: orderstore.StatusAccepted},
			// May: 0.03 / 2 = 0.015, a half that rounds up to the
			// even cent.
			{at: apr.AddDate(0, 1, 0), subject: "cust-5", consultant: "cons-A", lines: cents("0.01")},
			{at: apr.AddDate(0, 1, 1), subject: "cust-5", consultant: "cons-A", lines: cents("0.02")},
			// June: 99.99 + 0.01 + 0.01 = 100.01, / 3 = 33.3367.
			{at: apr.AddDate(0, 2, 0), subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("SKC-1", 3, "33.33")}},
			{at: apr.AddDate(0, 2, 1), subject: "cust-2", consultant: "cons-A", lines: cents("0.01")},
			{at: apr.AddDate(0, 2, 2), subject: "cust-3", consultant: "cons-A", lines: cents("0.01")},
		})

		year := time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai)
		feb, _ := month(time.February)
		for _, tt := range []struct {
			name     string
			from, to time.Time
			want     orderstore.SalesSummary
		}{
			{"February", feb, mar, orderstore.SalesSummary{OrderCount: 1, Revenue: "10.00", AverageOrderValue: "10.00", CustomerCount: 1, Currency: "CNY"}},
			{"March", mar, apr, orderstore.SalesSummary{OrderCount: 3, Revenue: "99.99", AverageOrderValue: "33.33", CustomerCount: 2, Currency: "CNY"}},
			{"April", apr, apr.AddDate(0, 1, 0), orderstore.SalesSummary{OrderCount: 2, Revenue: "0.05", AverageOrderValue: "0.02", CustomerCount: 1, Currency: "CNY"}},
			{"May", apr.AddDate(0, 1, 0), apr.AddDate(0, 2, 0), orderstore.SalesSummary{OrderCount: 2, Revenue: "0.03", AverageOrderValue: "0.02", CustomerCount: 1, Currency: "CNY"}},
			{"June", apr.AddDate(0, 2, 0), apr.AddDate(0, 3, 0), orderstore.SalesSummary{OrderCount: 3, Revenue: "100.01", AverageOrderValue: "33.34", CustomerCount: 3, Currency: "CNY"}},
			{"first quarter", feb.AddDate(0, -1, 0), apr, orderstore.SalesSummary{OrderCount: 4, Revenue: "109.99", AverageOrderValue: "27.50", CustomerCount: 2, Currency: "CNY"}},
			{"the year", feb.AddDate(0, -1, 0), year, orderstore.SalesSummary{OrderCount: 11, Revenue: "210.08", AverageOrderValue: "19.10", CustomerCount: 5, Currency: "CNY"}},
			{"March without its first microsecond", mar.Add(time.Nanosecond), apr, orderstore.SalesSummary{OrderCount: 2, Revenue: "66.66", AverageOrderValue: "33.33", CustomerCount: 2, Currency: "CNY"}},
			// The caller's time zone decides: March in UTC begins
			// and ends eight hours later, without the first March
			// order and with the first April one.
			{"March in UTC", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
				orderstore.SalesSummary{OrderCount: 3, Revenue: "66.67", AverageOrderValue: "22.22", CustomerCount: 3, Currency: "CNY"}},
			{"July, empty", apr.AddDate(0, 3, 0), apr.AddDate(0, 4, 0), orderstore.SalesSummary{Revenue: "0.00", AverageOrderValue: "0.00"}},
			{"an empty interval", mar, mar, orderstore.SalesSummary{Revenue: "0.00", AverageOrderValue: "0.00"}},
		} {
			got, err := s.SalesSummary(ctx, "cons-A", tt.from, tt.to)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: SalesSummary (-want +got):\n%s", tt.name, diff)
			}
		}

		// Each consultant sees only their own.
		got, err := s.SalesSummary(ctx, "cons-B", mar, apr)
		if want := (orderstore.SalesSummary{OrderCount: 1, Revenue: "77.77", AverageOrderValue: "77.77", CustomerCount: 1, Currency: "CNY"}); err != nil || got != want {
			t.Errorf("cons-B's March: %+v, %v; want %+v", got, err, want)
		}
		got, err = s.SalesSummary(ctx, "cons-nobody", mar, apr)
		if want := (orderstore.SalesSummary{Revenue: "0.00", AverageOrderValue: "0.00"}); err != nil || got != want {
			t.Errorf("a consultant without orders: %+v, %v; want %+v", got, err, want)
		}
	})
}

func TestTopProducts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		from, to := month(time.March)
		in := from.AddDate(0, 0, 10)
		placeSales(t, s, clock, []sale{
			{at: from, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{
				line("S-A", 4, "25.00"), line("S-B", 2, "50.00"), line("S-TOP", 1, "300.00"), line("a-1", 1, "7.00"),
			}, status: orderstore.StatusShipped},
			{at: in, subject: "cust-2", consultant: "cons-A", lines: []orderstore.Line{
				line("S-C", 1, "100.00"), line("S-D", 2, "50.00"), line("S-H", 3, "33.33"), line("B-1", 1, "7.00"),
			}},
			{at: to.Add(-time.Microsecond), subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{
				line("S-TOP", 1, "300.00"), line("S-H", 1, "0.01"),
			}, status: orderstore.StatusConfirmed},
			// Not counted: rejected, another consultant's, outside
			// the month on either side.
			{at: in, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-E", 1, "1000.00")}, status: orderstore.StatusRejected},
			{at: in, subject: "cust-1", consultant: "cons-B", lines: []orderstore.Line{line("S-F", 1, "2000.00")}},
			{at: from.Add(-time.Microsecond), subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-G", 1, "5000.00")}},
			{at: to, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-G", 1, "5000.00")}},
		})

		// By revenue; 100.00 four ways (S-H: 3 × 33.33 + 0.01,
		// exactly), by units then; S-B and S-D tie on both, by SKU
		// then; B-1 before a-1, bytes not dictionary order.
		all := []orderstore.ProductSales{
			{ProductID: "prod-S-TOP", SKU: "S-TOP", Units: 2, Revenue: "600.00"},
			{ProductID: "prod-S-A", SKU: "S-A", Units: 4, Revenue: "100.00"},
			{ProductID: "prod-S-H", SKU: "S-H", Units: 4, Revenue: "100.00"},
			{ProductID: "prod-S-B", SKU: "S-B", Units: 2, Revenue: "100.00"},
			{ProductID: "prod-S-D", SKU: "S-D", Units: 2, Revenue: "100.00"},
			{ProductID: "prod-S-C", SKU: "S-C", Units: 1, Revenue: "100.00"},
			{ProductID: "prod-B-1", SKU: "B-1", Units: 1, Revenue: "7.00"},
			{ProductID: "prod-a-1", SKU: "a-1", Units: 1, Revenue: "7.00"},
		}
		for _, first := range []int{1, 4, 8, orderstore.MaxPageSize} {
			got, err := s.TopProducts(ctx, "cons-A", from, to, first)
			if err != nil {
				t.Fatalf("first %d: %v", first, err)
			}
			if diff := cmp.Diff(all[:min(first, len(all))], got); diff != "" {
				t.Errorf("TopProducts(first %d) (-want +got):\n%s", first, diff)
			}
		}

		got, err := s.TopProducts(ctx, "cons-B", from, to, 10)
		if want := []orderstore.ProductSales{{ProductID: "prod-S-F", SKU: "S-F", Units: 1, Revenue: "2000.00"}}; err != nil || !cmp.Equal(want, got) {
			t.Errorf("cons-B's: %+v, %v; want %+v", got, err, want)
		}
		for name, interval := range map[string][2]time.Time{"empty month": {to.AddDate(0, 1, 0), to.AddDate(0, 2, 0)}, "empty interval": {from, from}} {
			got, err := s.TopProducts(ctx, "cons-A", interval[0], interval[1], 10)
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("%s: %+v, %v; want an empty slice", name, got, err)
			}
		}
	})
}

func TestCustomerTotals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		t1 := time.Date(2025, 11, 3, 10, 0, 0, 0, shanghai)
		t2 := time.Date(2026, 2, 14, 20, 30, 0, 987654321, shanghai)
		t3 := time.Date(2026, 3, 1, 9, 0, 0, 0, shanghai)
		placeSales(t, s, clock, []sale{
			{at: t1, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 3, "33.33")}, status: orderstore.StatusShipped},
			{at: t2, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 1, "0.01")}},
			// cust-1's latest order was rejected: it neither counts
			// nor is the last order.
			{at: t3, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-2", 1, "999.00")}, status: orderstore.StatusRejected},
			{at: t3, subject: "cust-2", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 2, "0.05")}},
			// cust-3 bought through another consultant and without
			// one; cust-4's only order was rejected.
			{at: t3, subject: "cust-3", consultant: "cons-B", lines: []orderstore.Line{line("S-1", 1, "50.00")}},
			{at: t3, subject: "cust-3", lines: []orderstore.Line{line("S-1", 1, "60.00")}},
			{at: t1, subject: "cust-4", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 1, "70.00")}, status: orderstore.StatusRejected},
		})

		got, err := s.CustomerTotals(ctx, "cons-A", []string{"cust-1", "cust-2", "cust-3", "cust-4", "cust-1", "cust-nobody"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]orderstore.CustomerTotals{
			"cust-1":      {Subject: "cust-1", OrderCount: 2, LifetimeValue: "100.00", LastOrderAt: stored(t2)},
			"cust-2":      {Subject: "cust-2", OrderCount: 1, LifetimeValue: "0.10", LastOrderAt: stored(t3)},
			"cust-3":      {Subject: "cust-3", LifetimeValue: "0.00"},
			"cust-4":      {Subject: "cust-4", LifetimeValue: "0.00"},
			"cust-nobody": {Subject: "cust-nobody", LifetimeValue: "0.00"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CustomerTotals (-want +got):\n%s", diff)
		}
		got, err = s.CustomerTotals(ctx, "cons-B", []string{"cust-3", "cust-1"})
		want = map[string]orderstore.CustomerTotals{
			"cust-3": {Subject: "cust-3", OrderCount: 1, LifetimeValue: "50.00", LastOrderAt: stored(t3)},
			"cust-1": {Subject: "cust-1", LifetimeValue: "0.00"},
		}
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("cons-B's: %v (-want +got):\n%s", err, diff)
		}
		for _, subjects := range [][]string{nil, {}} {
			got, err := s.CustomerTotals(ctx, "cons-A", subjects)
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("no subjects: %v, %v; want an empty map", got, err)
			}
		}

		// A full page is one query.
		page := make([]string, orderstore.MaxPageSize)
		for i := range page {
			page[i] = fmt.Sprintf("cust-%d", i)
		}
		got, err = s.CustomerTotals(ctx, "cons-A", page)
		if err != nil || len(got) != orderstore.MaxPageSize || got["cust-1"].OrderCount != 2 {
			t.Errorf("a page of %d: %d totals, cust-1's %+v, %v", orderstore.MaxPageSize, len(got), got["cust-1"], err)
		}
	})
}

func TestAnalyticsRefuseMixedCurrencies(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := newTestClock()
		s := openStore(t, e.fresh(t), clock)
		ctx := testContext(t)
		mar, apr := month(time.March)
		_, may := month(time.April)
		placeSales(t, s, clock, []sale{
			{at: mar, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 1, "10.00")}},
			{at: apr, subject: "cust-1", consultant: "cons-A", lines: []orderstore.Line{line("S-1", 1, "10.00")}},
			{at: apr, subject: "cust-2", consultant: "cons-A", currency: "USD", lines: []orderstore.Line{line("S-2", 1, "1.00")}},
			{at: apr, subject: "cust-3", consultant: "cons-A", lines: []orderstore.Line{line("S-3", 1, "20.00")}},
		})

		// April adds yuan to dollars: refused, whichever products
		// or customers would be shown.
		_, err := s.SalesSummary(ctx, "cons-A", apr, may)
		wantErr(t, "SalesSummary", err, orderstore.ErrMixedCurrencies)
		top, err := s.TopProducts(ctx, "cons-A", apr, may, 1)
		wantErr(t, "TopProducts", err, orderstore.ErrMixedCurrencies)
		if top != nil {
			t.Errorf("TopProducts returned %+v with its error", top)
		}
		totals, err := s.CustomerTotals(ctx, "cons-A", []string{"cust-1", "cust-2"})
		wantErr(t, "CustomerTotals", err, orderstore.ErrMixedCurrencies)
		if totals != nil {
			t.Errorf("CustomerTotals returned %+v with its error", totals)
		}

		// March, and customers in one currency, are fine.
		sum, err := s.SalesSummary(ctx, "cons-A", mar, apr)
		if err != nil || sum.Revenue != "10.00" || sum.Currency != "CNY" {
			t.Errorf("March: %+v, %v", sum, err)
		}
		if _, err := s.TopProducts(ctx, "cons-A", mar, apr, 10); err != nil {
			t.Errorf("March's products: %v", err)
		}
		totals, err = s.CustomerTotals(ctx, "cons-A", []string{"cust-1", "cust-3"})
		if err != nil || totals["cust-1"].LifetimeValue != "20.00" {
			t.Errorf("CNY customers: %+v, %v", totals, err)
		}
		totals, err = s.CustomerTotals(ctx, "cons-A", []string{"cust-2"})
		if err != nil || totals["cust-2"].LifetimeValue != "1.00" {
			t.Errorf("a USD customer alone: %+v, %v", totals, err)
		}
	})
}

func TestAnalyticsRefusals(t *testing.T) {
	s := openStore(t, "sqlite::memory:", newTestClock())
	ctx := testContext(t)
	from, to := month(time.March)
	tooMany := make([]string, orderstore.MaxPageSize+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("cust-%d", i)
	}
	for _, tt := range []struct {
		name   string
		err    error
		fields []string
	}{
		{"summary: no consultant", second(s.SalesSummary(ctx, "", from, to)), []string{"consultantId"}},
		{"summary: backwards", second(s.SalesSummary(ctx, "cons-A", to, from)), []string{"to"}},
		{"top: bad consultant, first 0", second(s.TopProducts(ctx, "cons A", from, to, 0)), []string{"consultantId", "first"}},
		{"top: first too big", second(s.TopProducts(ctx, "cons-A", from, to, orderstore.MaxPageSize+1)), []string{"first"}},
		{"top: backwards", second(s.TopProducts(ctx, "cons-A", to, from, 10)), []string{"to"}},
		{"totals: bad subjects", second(s.CustomerTotals(ctx, "cons-A", []string{"cust-1", "", strings.Repeat("x", orderstore.MaxIDLength+1)})),
			[]string{"subjects[1]", "subjects[2]"}},
		{"totals: too many", second(s.CustomerTotals(ctx, "cons-A", tooMany)), []string{"subjects"}},
		{"totals: no consultant", second(s.CustomerTotals(ctx, "", nil)), []string{"consultantId"}},
	} {
		wantErr(t, tt.name, tt.err, orderstore.ErrInvalidInput)
		if got := fieldsOf(tt.err); !cmp.Equal(got, tt.fields) {
			t.Errorf("%s: fields %v, want %v", tt.name, got, tt.fields)
		}
	}
}
