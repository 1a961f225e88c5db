package orderstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"meridian/internal/db"
)

// Dashboard analytics: what a consultant's dashboard shows about the
// business credited to them, read from the projection alone, never from
// Order Management.
//
// Every figure counts the orders that were placed and not refused:
// PENDING, ACCEPTED, CONFIRMED and SHIPPED. A REJECTED order never
// happened as far as the consultant's sales go, so it counts nowhere; an
// order counted while PENDING drops out of every figure once it is
// rejected. Orders credited to no consultant count for none.
//
// Money is summed in SQL over integer minor units (total_minor,
// line_total_minor: cents of the order's currency), so a sum is exact
// however many orders it covers, and is written back as a decimal string
// with two fraction digits, like every amount of the store. Sums are read
// as arbitrary-precision integers: PostgreSQL sums BIGINT into NUMERIC and
// never overflows; SQLite fails the query with an error (never a wrong
// figure) past 2^63-1 cents, some 92 quadrillion of the currency.
//
// Currencies are not converted. Every figure of one answer must be in one
// currency; when the orders it would cover are in several, the call fails
// with an error wrapping ErrMixedCurrencies rather than add yuan to
// dollars. Orders are all CNY today; a region that sells in several
// currencies needs per-currency figures, which would be a new method, not
// a silent change of these.

// ErrMixedCurrencies is returned (wrapped) by SalesSummary, TopProducts and
// CustomerTotals when the orders a figure would add up are not all in one
// currency. Nothing is returned with it: a partial answer would mislead.
var ErrMixedCurrencies = errors.New("orderstore: orders in more than one currency cannot be added up")

// SalesSummary is a consultant's sales over an interval.
type SalesSummary struct {
	// OrderCount is the number of orders counted (every status but
	// REJECTED).
	OrderCount int
	// Revenue is the sum of their totals, a decimal string with two
	// fraction digits; "0.00" when there are none.
	Revenue string
	// AverageOrderValue is Revenue / OrderCount, rounded half to even
	// to the cent (banker's rounding: 0.025 is 0.02, 0.015 is 0.02);
	// "0.00" when there are no orders.
	AverageOrderValue string
	// CustomerCount is the number of distinct customers (subjects)
	// among the orders.
	CustomerCount int
	// Currency is the ISO 4217 code of every amount above ("CNY"); ""
	// when there are no orders, since zero is zero in any currency.
	Currency string
}

// ProductSales is what one product sold over an interval.
type ProductSales struct {
	ProductID string // the catalog's product id, as on the order lines
	SKU       string // the SKU the lines were ordered by
	// Units is the sum of the lines' quantities.
	Units int
	// Revenue is the sum of the lines' totals, a decimal string with two
	// fraction digits.
	Revenue string
}

// CustomerTotals is what one customer has bought through one consultant,
// over all time.
type CustomerTotals struct {
	Subject string // the customer's pseudonymous subject id
	// OrderCount is the number of the customer's orders counted (every
	// status but REJECTED).
	OrderCount int
	// LifetimeValue is the sum of their totals, a decimal string with
	// two fraction digits; "0.00" when there are none.
	LifetimeValue string
	// LastOrderAt is when the latest of them was placed (UTC,
	// microseconds); zero when there is none.
	LastOrderAt time.Time
}

// salesSummarySQL is SalesSummary's query. The index
// orders_orders_consultant_created_idx finds the interval's orders and
// holds every column read, so the table itself is not touched.
const salesSummarySQL = `SELECT COUNT(*), SUM(total_minor), COUNT(DISTINCT subject), MIN(currency), MAX(currency)
FROM orders_orders
WHERE consultant_id = ? AND created_at >= ? AND created_at < ? AND status <> 'REJECTED'`

// SalesSummary returns the sales credited to consultantID among the orders
// placed in the interval [from, to): from included, to excluded, so that
// consecutive intervals (the months of a year) count every order exactly
// once. from and to are instants; where a day or a month begins (the
// consultant's time zone) is the caller's concern. Times finer than the
// store's microsecond are rounded up to it, which keeps the interval
// half-open on what is stored.
//
// An interval without orders, including an empty one (from equal to to),
// gives zeros: counts of 0, amounts of "0.00" and no currency. An invalid
// consultant id, or to before from, is a *FieldError. Orders in more than
// one currency fail with an error wrapping ErrMixedCurrencies.
func (s *SQLStore) SalesSummary(ctx context.Context, consultantID string, from, to time.Time) (SalesSummary, error) {
	var p problems
	checkID(&p, "consultantId", consultantID)
	checkInterval(&p, from, to)
	if err := p.err(); err != nil {
		return SalesSummary{}, fmt.Errorf("orderstore: sales summary: %w", err)
	}
	d := s.db.Dialect()
	var (
		count, customers int
		revenue          minorSum
		low, high        sql.NullString
	)
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, salesSummarySQL, consultantID, d.TimeArg(ceilMicro(from)), d.TimeArg(ceilMicro(to))).
			Scan(&count, &revenue, &customers, &low, &high)
	})
	if err != nil {
		return SalesSummary{}, fmt.Errorf("orderstore: sales summary: %w", err)
	}
	if low.String != high.String {
		return SalesSummary{}, fmt.Errorf("orderstore: sales summary: %s to %s: %w", low.String, high.String, ErrMixedCurrencies)
	}
	return SalesSummary{
		OrderCount:        count,
		Revenue:           formatMinor(&revenue.Int),
		AverageOrderValue: formatMinor(divideHalfEven(&revenue.Int, int64(count))),
		CustomerCount:     customers,
		Currency:          low.String,
	}, nil
}

// topProductsQuery is TopProducts' query, with the collation that compares
// SKUs byte by byte on the dialect (so ties break alike on both engines)
// in place of %[1]s. The window aggregates run over all the groups, before
// the LIMIT, so the currency check sees every order of the interval, not
// only those of the products shown.
const topProductsQuery = `SELECT l.product_id, l.sku, SUM(l.quantity), SUM(l.line_total_minor),
	MIN(MIN(o.currency)) OVER (), MAX(MAX(o.currency)) OVER ()
FROM orders_orders o JOIN orders_lines l ON l.order_id = o.id
WHERE o.consultant_id = ? AND o.created_at >= ? AND o.created_at < ? AND o.status <> 'REJECTED'
GROUP BY l.product_id, l.sku
ORDER BY SUM(l.line_total_minor) DESC, SUM(l.quantity) DESC, l.sku COLLATE %[1]s, l.product_id COLLATE %[1]s
LIMIT ?`

// topProductsSQL returns TopProducts' query for dialect d.
func topProductsSQL(d db.Dialect) string {
	collation := "BINARY"
	if d == db.Postgres {
		collation = `"C"`
	}
	return fmt.Sprintf(topProductsQuery, collation)
}

// TopProducts returns the first products (1 to MaxPageSize) sold through
// consultantID in the interval [from, to) (as in SalesSummary), by revenue,
// highest first; equal revenues by units sold, most first; then by SKU
// (byte order) and product id, so the ranking is the same on every call and
// engine. Lines of REJECTED orders do not count. A product is its
// (product id, SKU) pair as ordered. An interval without orders gives an
// empty slice.
//
// An invalid consultant id or first, or to before from, is a *FieldError.
// Orders in more than one currency, in the interval, fail with an error
// wrapping ErrMixedCurrencies, even when the products shown were all sold
// in one.
func (s *SQLStore) TopProducts(ctx context.Context, consultantID string, from, to time.Time, first int) ([]ProductSales, error) {
	var p problems
	checkID(&p, "consultantId", consultantID)
	checkInterval(&p, from, to)
	if first < 1 || first > MaxPageSize {
		p.add("first", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	if err := p.err(); err != nil {
		return nil, fmt.Errorf("orderstore: top products: %w", err)
	}
	d := s.db.Dialect()
	products := []ProductSales{}
	var low, high string
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, topProductsSQL(d), consultantID, d.TimeArg(ceilMicro(from)), d.TimeArg(ceilMicro(to)), first)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ps ProductSales
			var revenue minorSum
			if err := rows.Scan(&ps.ProductID, &ps.SKU, &ps.Units, &revenue, &low, &high); err != nil {
				return err
			}
			ps.Revenue = formatMinor(&revenue.Int)
			products = append(products, ps)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("orderstore: top products: %w", err)
	}
	if low != high {
		return nil, fmt.Errorf("orderstore: top products: %s to %s: %w", low, high, ErrMixedCurrencies)
	}
	return products, nil
}

// customerTotalsQuery is CustomerTotals' query, with the placeholders of
// the subjects (inList) in place of %s. The index
// orders_orders_consultant_subject_idx finds each customer's orders with
// the consultant and holds every column read.
const customerTotalsQuery = `SELECT subject, COUNT(*), SUM(total_minor), MAX(created_at), MIN(currency), MAX(currency)
FROM orders_orders
WHERE consultant_id = ? AND subject IN (%s) AND status <> 'REJECTED'
GROUP BY subject`

// CustomerTotals returns, for each of subjects (a page of the
// consultant's customer list, up to MaxPageSize), what the customer has
// bought through consultantID over all time, in one query whatever the
// number of subjects. The map has an entry for every distinct subject
// asked for, keyed by it: a customer without counted orders (none with
// this consultant, or all REJECTED) has zeros, "0.00" and a zero
// LastOrderAt. No subjects give an empty map without a query.
//
// An invalid consultant id or subject, or more than MaxPageSize subjects,
// is a *FieldError. Orders in more than one currency among those added up,
// for one customer or across them, fail with an error wrapping
// ErrMixedCurrencies: the totals carry no currency of their own.
func (s *SQLStore) CustomerTotals(ctx context.Context, consultantID string, subjects []string) (map[string]CustomerTotals, error) {
	var p problems
	checkID(&p, "consultantId", consultantID)
	if len(subjects) > MaxPageSize {
		p.add("subjects", fmt.Sprintf("at most %d at a time", MaxPageSize))
	}
	totals := make(map[string]CustomerTotals, len(subjects))
	var distinct []string
	for i, subject := range subjects {
		checkID(&p, fmt.Sprintf("subjects[%d]", i), subject)
		if _, seen := totals[subject]; !seen {
			totals[subject] = CustomerTotals{Subject: subject, LifetimeValue: "0.00"}
			distinct = append(distinct, subject)
		}
	}
	if err := p.err(); err != nil {
		return nil, fmt.Errorf("orderstore: customer totals: %w", err)
	}
	if len(distinct) == 0 {
		return totals, nil
	}
	in, args := inList(distinct)
	var currency string
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(customerTotalsQuery, in), append([]any{consultantID}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ct CustomerTotals
			var value minorSum
			var last db.Timestamp
			var low, high string
			if err := rows.Scan(&ct.Subject, &ct.OrderCount, &value, &last, &low, &high); err != nil {
				return err
			}
			if currency == "" {
				currency = low
			}
			if low != currency || high != currency {
				return fmt.Errorf("%s to %s: %w", min(low, currency), max(high, currency), ErrMixedCurrencies)
			}
			ct.LifetimeValue, ct.LastOrderAt = formatMinor(&value.Int), last.Time
			totals[ct.Subject] = ct
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("orderstore: customer totals: %w", err)
	}
	return totals, nil
}

// checkInterval checks that [from, to) is an interval; an empty one is.
func checkInterval(p *problems, from, to time.Time) {
	if to.Before(from) {
		p.add("to", "must not be before from")
	}
}

// ceilMicro rounds t up to the store's microsecond: a stored time c (whole
// microseconds) satisfies c >= t, or c < t, exactly when it satisfies the
// same against ceilMicro(t), whereas truncating would move the bound below
// t and let in an order placed before from.
func ceilMicro(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// minorUnits converts an amount written by formatMoney ("300.21", always
// two fraction digits) into minor units (30021), exactly.
func minorUnits(amount string) (int64, error) {
	whole, frac, ok := strings.Cut(amount, ".")
	if !ok || len(frac) != 2 || whole == "" {
		return 0, fmt.Errorf("amount %q does not have two fraction digits", amount)
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("amount %q is not a non-negative number of minor units", amount)
	}
	return n, nil
}

// formatMinor writes an amount in minor units with two fraction digits:
// 30021 is "300.21", 5 is "0.05".
func formatMinor(n *big.Int) string {
	digits := new(big.Int).Abs(n).String()
	if len(digits) < 3 {
		digits = strings.Repeat("0", 3-len(digits)) + digits
	}
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
	}
	return sign + digits[:len(digits)-2] + "." + digits[len(digits)-2:]
}

// divideHalfEven returns n / d rounded to the nearest integer, halves to
// the even one, and 0 when d is 0 (the average of no orders). Amounts are
// never negative, but the rounding is symmetric anyway.
func divideHalfEven(n *big.Int, d int64) *big.Int {
	if d == 0 {
		return new(big.Int)
	}
	den := big.NewInt(d)
	q, r := new(big.Int).QuoRem(n, den, new(big.Int))
	// Compare |2r| with |d|: above half rounds away from zero, exactly
	// half rounds to the even quotient.
	twice := new(big.Int).Abs(r)
	twice.Lsh(twice, 1)
	switch twice.Cmp(new(big.Int).Abs(den)) {
	case 1:
		q.Add(q, big.NewInt(int64(n.Sign()*den.Sign())))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(int64(n.Sign()*den.Sign())))
		}
	}
	return q
}

// minorSum scans a SUM of minor units: an INTEGER from SQLite, a NUMERIC
// (as text) from PostgreSQL, which sums BIGINT without overflow; NULL, the
// sum of no rows, is 0.
type minorSum struct{ big.Int }

// Scan implements sql.Scanner.
func (m *minorSum) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		m.SetInt64(0)
	case int64:
		m.SetInt64(v)
	case string:
		return m.parse(v)
	case []byte:
		return m.parse(string(v))
	default:
		return fmt.Errorf("scan sum of minor units: unsupported type %T", src)
	}
	return nil
}

func (m *minorSum) parse(s string) error {
	if _, ok := m.SetString(s, 10); !ok {
		return fmt.Errorf("scan sum of minor units: %q is not an integer", s)
	}
	return nil
}
