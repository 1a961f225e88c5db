package resolvers

import (
	"context"
	"time"

	"meridian/adapters/orderstore"
	"meridian/internal/apierr"
	"meridian/internal/locale"
	"meridian/resolvers/model"

	gqlmodel "meridian/graph/model"
)

// Dashboard is the order projection's reporting side.
type Dashboard interface {
	SalesSummary(ctx context.Context, consultantID string, from, to time.Time) (orderstore.SalesSummary, error)
	TopProducts(ctx context.Context, consultantID string, from, to time.Time, first int) ([]orderstore.ProductSales, error)
	CustomerTotals(ctx context.Context, consultantID string, subjects []string) (map[string]orderstore.CustomerTotals, error)
	ListByConsultant(ctx context.Context, consultantID string, status *orderstore.Status, first int, afterID string) (orderstore.Page, error)
}

// chinaTime is the calendar reporting periods follow. Mainland China keeps
// UTC+8 all year (no daylight saving), so a fixed zone is exact and needs
// no time zone database on the host.
var chinaTime = time.FixedZone("Asia/Shanghai", 8*60*60)

// periodRange is [from, to) of a reporting period ending now.
func periodRange(p gqlmodel.Period, now time.Time) (from, to time.Time) {
	local := now.In(chinaTime)
	y, m, d := local.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
	switch p {
	case gqlmodel.PeriodThisWeek:
		daysSinceMonday := (int(local.Weekday()) + 6) % 7
		from = midnight.AddDate(0, 0, -daysSinceMonday)
	case gqlmodel.PeriodThisMonth:
		from = time.Date(y, m, 1, 0, 0, 0, 0, chinaTime)
	case gqlmodel.PeriodLast30Days:
		from = now.Add(-30 * 24 * time.Hour)
	case gqlmodel.PeriodThisYear:
		from = time.Date(y, 1, 1, 0, 0, 0, 0, chinaTime)
	default: // TODAY
		from = midnight
	}
	return from.UTC(), now.UTC()
}

func (r *Resolver) salesSummary(ctx context.Context, consultantID string, p gqlmodel.Period) (*gqlmodel.SalesSummary, error) {
	from, to := periodRange(p, r.now())
	s, err := r.orders.Dashboard.SalesSummary(ctx, consultantID, from, to)
	if err != nil {
		return nil, err
	}
	loc := locale.FromContext(ctx)
	currency := s.Currency
	if currency == "" {
		currency = "CNY"
	}
	return &gqlmodel.SalesSummary{
		Period: p, From: from, To: to,
		OrderCount:        s.OrderCount,
		CustomerCount:     s.CustomerCount,
		Revenue:           model.NewMoney(s.Revenue, currency, loc),
		AverageOrderValue: model.NewMoney(s.AverageOrderValue, currency, loc),
	}, nil
}

func (r *Resolver) topProducts(ctx context.Context, consultantID string, p gqlmodel.Period, first *int) ([]*gqlmodel.TopProduct, error) {
	n := 10
	if first != nil {
		n = *first
	}
	if n < 1 || n > r.maxPageSize {
		return nil, apierr.New(apierr.BadUserInput, "first: must be between 1 and %d, got %d", r.maxPageSize, n)
	}
	from, to := periodRange(p, r.now())
	sales, err := r.orders.Dashboard.TopProducts(ctx, consultantID, from, to, n)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sales))
	for i, s := range sales {
		ids[i] = s.ProductID
	}
	products, err := r.catalog.ProductsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	loc := locale.FromContext(ctx)
	out := make([]*gqlmodel.TopProduct, len(sales))
	for i, s := range sales {
		tp := &gqlmodel.TopProduct{ProductID: s.ProductID, Sku: s.SKU, Units: s.Units, Revenue: model.NewMoney(s.Revenue, "CNY", loc)}
		if pr, ok := products[s.ProductID]; ok {
			name := loc.Pick(pr.Name)
			tp.Name = &name
		}
		out[i] = tp
	}
	return out, nil
}

func (r *Resolver) consultantOrders(ctx context.Context, consultantID string, status *gqlmodel.OrderStatus, first *int, after *string) (*gqlmodel.OrderConnection, error) {
	n, afterID, err := orderPaging(r.maxPageSize, first, after)
	if err != nil {
		return nil, err
	}
	var st *orderstore.Status
	if status != nil {
		s := orderstore.Status(*status)
		st = &s
	}
	page, err := r.orders.Dashboard.ListByConsultant(ctx, consultantID, st, n, afterID)
	if err != nil {
		return nil, err
	}
	return orderConnection(page, locale.FromContext(ctx)), nil
}

// customerTotals adds order totals to a page of assigned customers.
func (r *Resolver) customerTotals(ctx context.Context, consultantID string, conn *gqlmodel.AssignedCustomerConnection) error {
	subjects := make([]string, len(conn.Edges))
	for i, e := range conn.Edges {
		subjects[i] = e.Node.ID
	}
	totals, err := r.orders.Dashboard.CustomerTotals(ctx, consultantID, subjects)
	if err != nil {
		return err
	}
	loc := locale.FromContext(ctx)
	for _, e := range conn.Edges {
		t := totals[e.Node.ID]
		value := t.LifetimeValue
		if value == "" {
			value = "0.00"
		}
		e.Node.LifetimeValue = model.NewMoney(value, "CNY", loc)
		e.Node.OrderCount = t.OrderCount
		if !t.LastOrderAt.IsZero() {
			at := t.LastOrderAt.UTC()
			e.Node.LastOrderAt = &at
		}
	}
	return nil
}
