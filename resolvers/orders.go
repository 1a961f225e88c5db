package resolvers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"meridian/adapters/catalog"
	"meridian/adapters/orderstore"
	"meridian/internal/apierr"
	"meridian/internal/locale"
	"meridian/resolvers/model"

	gqlmodel "meridian/graph/model"
)

// OrderStore is the in-country order intents, outbox and projection.
type OrderStore interface {
	Place(ctx context.Context, req orderstore.PlaceRequest) (orderstore.Order, bool, error)
	Get(ctx context.Context, id string) (orderstore.Order, error)
	ListBySubject(ctx context.Context, subject string, first int, afterID string) (orderstore.Page, error)
}

// InventorySnapshots tells whether a mirrored product is in stock.
type InventorySnapshots interface {
	InventoryBySKU(ctx context.Context, skus []string) (map[string]catalog.InventorySnapshot, error)
}

// Orders is what placing and reading orders needs.
type Orders struct {
	Store     OrderStore
	Inventory InventorySnapshots
	// Dashboard answers the consultant workspace's reports.
	Dashboard Dashboard
	// Placed is called after an order is committed, to wake the
	// dispatcher; nil is fine (it polls).
	Placed func()
}

// Bounds of placeOrder's input, tighter than the store's: a cart, not a
// wholesale order.
const (
	maxOrderLines    = 50
	maxLineQuantity  = 99
	maxOrderNote     = 200
	maxIdempotencyID = 255
)

// lineProblem is one invalid input field, reported as its own error.
type lineProblem struct {
	field, message string
}

func (r *Resolver) placeOrder(ctx context.Context, in gqlmodel.PlaceOrderInput) (*gqlmodel.PlaceOrderPayload, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	loc := locale.FromContext(ctx)
	customer := p.Subject
	if in.CustomerID != nil && *in.CustomerID != p.Subject {
		if !p.HasRole("consultant") {
			return nil, apierr.New(apierr.Forbidden, "customerId: only a consultant may order for another customer")
		}
		customer = *in.CustomerID
	}
	prof, found, err := r.personal.Profiles.Get(ctx, customer)
	if err != nil {
		return nil, err
	}
	if customer != p.Subject && (!found || prof.ConsultantID != p.ConsultantID) {
		return nil, apierr.New(apierr.Forbidden, "customerId: not a customer assigned to you")
	}

	var problems []lineProblem
	bad := func(field, format string, a ...any) {
		problems = append(problems, lineProblem{field, fmt.Sprintf(format, a...)})
	}
	if k := strings.TrimSpace(in.IdempotencyKey); k == "" || len(in.IdempotencyKey) > maxIdempotencyID {
		bad("idempotencyKey", "must be 1 to %d characters", maxIdempotencyID)
	}
	if in.Note != nil && utf8.RuneCountInString(*in.Note) > maxOrderNote {
		bad("note", "at most %d characters", maxOrderNote)
	}
	if n := len(in.Lines); n < 1 || n > maxOrderLines {
		bad("lines", "1 to %d lines, got %d", maxOrderLines, n)
	}
	ids := make([]string, 0, len(in.Lines))
	for _, l := range in.Lines {
		ids = append(ids, l.ProductID)
	}
	products, err := r.catalog.ProductsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	skus := make([]string, 0, len(products))
	for _, pr := range products {
		skus = append(skus, pr.SKU)
	}
	stock, err := r.orders.Inventory.InventoryBySKU(ctx, skus)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	lines := make([]orderstore.Line, 0, len(in.Lines))
	currency := ""
	for i, l := range in.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		pr, ok := products[l.ProductID]
		switch {
		case !ok:
			bad(field+".productId", "no product %q", truncate(l.ProductID, 64))
			continue
		case seen[l.ProductID]:
			bad(field+".productId", "product %s appears on more than one line", l.ProductID)
			continue
		case l.Quantity < 1 || l.Quantity > maxLineQuantity:
			bad(field+".quantity", "must be 1 to %d, got %d", maxLineQuantity, l.Quantity)
			continue
		}
		seen[l.ProductID] = true
		if s, ok := stock[pr.SKU]; ok && s.Available < l.Quantity {
			bad(field+".quantity", "only %d of %s in stock", max(s.Available, 0), pr.SKU)
			continue
		}
		if currency == "" {
			currency = pr.Currency
		}
		lines = append(lines, orderstore.Line{ProductID: pr.ID, SKU: pr.SKU, Quantity: l.Quantity, UnitPrice: pr.PriceAmount})
	}
	if found {
		if _, ok, err := r.personal.Profiles.AddressByID(ctx, customer, in.ShippingAddressID); err != nil || !ok {
			bad("shippingAddressId", "not one of the customer's addresses")
		}
	} else {
		bad("shippingAddressId", "the customer has no addresses yet (updateProfile)")
	}
	if len(problems) > 0 {
		return nil, reportProblems(ctx, problems)
	}

	note := ""
	if in.Note != nil {
		note = *in.Note
	}
	order, created, err := r.orders.Store.Place(ctx, orderstore.PlaceRequest{
		Subject: customer, ConsultantID: prof.ConsultantID, PlacedBy: p.Subject,
		IdempotencyKey: in.IdempotencyKey, RequestHash: requestHash(customer, in),
		Currency: currency, Lines: lines, ShippingAddressID: in.ShippingAddressID, Note: note,
	})
	switch {
	case errors.Is(err, orderstore.ErrIdempotencyKeyReused):
		return nil, &apierr.Error{Kind: apierr.Conflict, Code: "IDEMPOTENCY_KEY_REUSED",
			Message: "idempotencyKey: already used for a different order; use a new key for a new order", Err: err}
	case errors.Is(err, orderstore.ErrInvalidInput):
		return nil, apierr.Wrap(apierr.BadUserInput, err, "the order is not valid: %v", err)
	case err != nil:
		return nil, err
	}
	if created && r.orders.Placed != nil {
		r.orders.Placed()
	}
	return &gqlmodel.PlaceOrderPayload{Order: orderModel(order, loc), Created: created}, nil
}

// reportProblems adds one BAD_USER_INPUT error per invalid field, each
// naming it in extensions.field, and returns the last.
func reportProblems(ctx context.Context, problems []lineProblem) error {
	for _, pr := range problems[:len(problems)-1] {
		graphql.AddError(ctx, &gqlerror.Error{
			Message:    pr.field + ": " + pr.message,
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": apierr.BadUserInput.Code(), "field": pr.field},
		})
	}
	last := problems[len(problems)-1]
	return &gqlerror.Error{
		Message:    last.field + ": " + last.message,
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": apierr.BadUserInput.Code(), "field": last.field},
	}
}

// requestHash identifies an order request by what it asks for, so a retry
// with the same key is told from a reused key. Line order is part of it:
// a client retrying sends the same cart.
func requestHash(customer string, in gqlmodel.PlaceOrderInput) string {
	note := ""
	if in.Note != nil {
		note = *in.Note
	}
	type line struct {
		P string `json:"p"`
		Q int    `json:"q"`
	}
	doc := struct {
		C string `json:"c"`
		L []line `json:"l"`
		A string `json:"a"`
		N string `json:"n"`
	}{C: customer, A: in.ShippingAddressID, N: note}
	for _, l := range in.Lines {
		doc.L = append(doc.L, line{l.ProductID, l.Quantity})
	}
	b, _ := json.Marshal(doc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// orderModel maps an order from the projection.
func orderModel(o orderstore.Order, loc locale.Locale) *gqlmodel.Order {
	m := &gqlmodel.Order{
		ID:                o.ID,
		Status:            gqlmodel.OrderStatus(o.Status),
		CustomerID:        o.Subject,
		Total:             model.NewMoney(o.Total, o.Currency, loc),
		ShippingAddressID: o.ShippingAddressID,
		PlacedAt:          o.CreatedAt.UTC(),
		Lines:             make([]*gqlmodel.OrderLine, len(o.Lines)),
		StatusHistory:     make([]*gqlmodel.OrderStatusChange, len(o.History)),
		Freshness:         &model.Freshness{Source: model.DataSourceMirror, AsOf: o.UpdatedAt.UTC()},
	}
	if o.RejectReason != "" {
		m.RejectReason = &o.RejectReason
	}
	if o.ConsultantID != "" {
		m.ConsultantID = &o.ConsultantID
	}
	if o.Note != "" {
		m.Note = &o.Note
	}
	for i, l := range o.Lines {
		m.Lines[i] = &gqlmodel.OrderLine{
			ProductID: l.ProductID, Sku: l.SKU, Quantity: l.Quantity,
			UnitPrice: model.NewMoney(l.UnitPrice, o.Currency, loc),
			LineTotal: model.NewMoney(l.LineTotal, o.Currency, loc),
		}
	}
	for i, h := range o.History {
		m.StatusHistory[i] = &gqlmodel.OrderStatusChange{Status: gqlmodel.OrderStatus(h.Status), At: h.At.UTC()}
	}
	return m
}

// order reads one order for its customer or their assigned consultant.
// Anyone else gets NOT_FOUND, so ids cannot be probed.
func (r *Resolver) order(ctx context.Context, id string, localeArg *string) (*gqlmodel.Order, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	loc, err := requestLocale(ctx, localeArg)
	if err != nil {
		return nil, err
	}
	o, err := r.orders.Store.Get(ctx, id)
	notFound := apierr.New(apierr.NotFound, "no order %q", truncate(id, 64))
	if errors.Is(err, orderstore.ErrNotFound) || errors.Is(err, orderstore.ErrInvalidInput) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	allowed := o.Subject == p.Subject || (p.HasRole("consultant") && p.ConsultantID != "" && o.ConsultantID == p.ConsultantID)
	if !allowed {
		return nil, notFound
	}
	return orderModel(o, loc), nil
}

const orderCursorPrefix = "o1:"

// orderPaging checks first and decodes after for order connections.
func orderPaging(maxPageSize int, first *int, after *string) (int, string, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxPageSize {
		return 0, "", apierr.New(apierr.BadUserInput, "first: must be between 1 and %d, got %d", maxPageSize, n)
	}
	afterID := ""
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || !strings.HasPrefix(string(raw), orderCursorPrefix) || len(raw) == len(orderCursorPrefix) {
			return 0, "", apierr.New(apierr.BadUserInput, "after: not a cursor returned by this API")
		}
		afterID = string(raw[len(orderCursorPrefix):])
	}
	return n, afterID, nil
}

// orderConnection maps a page of orders.
func orderConnection(page orderstore.Page, loc locale.Locale) *gqlmodel.OrderConnection {
	conn := &gqlmodel.OrderConnection{
		Edges:    make([]*gqlmodel.OrderEdge, len(page.Orders)),
		PageInfo: &gqlmodel.PageInfo{HasNextPage: page.HasNextPage},
	}
	for i, o := range page.Orders {
		conn.Edges[i] = &gqlmodel.OrderEdge{
			Cursor: base64.RawURLEncoding.EncodeToString([]byte(orderCursorPrefix + o.ID)),
			Node:   orderModel(o, loc),
		}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn
}

func (r *Resolver) customerOrders(ctx context.Context, subject string, first *int, after *string) (*gqlmodel.OrderConnection, error) {
	n, afterID, err := orderPaging(r.maxPageSize, first, after)
	if err != nil {
		return nil, err
	}
	page, err := r.orders.Store.ListBySubject(ctx, subject, n, afterID)
	if err != nil {
		return nil, err
	}
	return orderConnection(page, locale.FromContext(ctx)), nil
}
