// Package orders is Meridian's client of the global Order Management system:
// placing an order idempotently, reading one with its status history, and
// listing a customer's orders.
//
// No personal data leaves the country through this package. The customer is
// a pseudonymous global subject id and the shipping address an opaque
// reference to a record kept in the country; the request types have no field
// that could hold a name, a phone number or an address, and every reference
// is checked to be an identifier (letters, digits, '.', '_', ':', '-') before
// anything is sent, because the origin refusing free text would come too
// late: the text would already have crossed the border. For the same reason
// error messages never repeat the values they refuse.
package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/originhttp"
)

// Bounds of an order request, as Order Management enforces them.
const (
	MaxLines          = 100 // lines per order
	MaxQuantity       = 999 // units per line
	MaxIdempotencyKey = 255 // bytes of an Idempotency-Key
)

// CodeIdempotencyKeyReused is the apierr code of a Conflict from Create: the
// Idempotency-Key was already used for a different order.
const CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"

// opaqueRefPattern is the contract's OpaqueRef: identifier characters only,
// so no free text fits.
var opaqueRefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// idempotencyKeyPattern allows visible ASCII only: the key is a token Meridian
// generates, and a header is no place for free text either.
var idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

// Client calls Order Management. It is safe for concurrent use.
type Client struct {
	origin *originhttp.Client
}

// New returns a client that reaches Order Management through c, whose base
// URL is the system's (GLOBAL_ORDERS_URL, such as ".../orders").
func New(c *originhttp.Client) *Client { return &Client{origin: c} }

// CreateOrder is an order to place. It carries no personal data by
// construction:
//
//   - Subject is the customer's pseudonymous global subject id, never an
//     account name, email address or phone number;
//   - RegionOrderRef is Meridian's in-country order reference;
//   - ShippingAddressRef is an opaque reference to an address record kept in
//     the country, never address text.
//
// All three must match the contract's OpaqueRef: 1 to 128 letters, digits,
// '.', '_', ':' or '-', starting with a letter or digit.
//
// PII guard: do not add fields to CreateOrder or Line. Order Management
// refuses unknown fields, and a name, phone number, email or address must
// never cross the border; the in-country systems hold them under the
// references above. The unkeyed literals below stop compiling when a field is
// added, so whoever adds one reads this first.
type CreateOrder struct {
	Subject            string `json:"subject"`
	RegionOrderRef     string `json:"regionOrderRef"`
	ShippingAddressRef string `json:"shippingAddressRef"`
	Currency           string `json:"currency"` // ISO 4217; every line's SKU must be sold in it
	Lines              []Line `json:"lines"`    // 1 to MaxLines, at most one per SKU
}

// Line is one line of an order to place. UnitPrice is a decimal string with
// two fraction digits and must equal the SKU's authoritative price
// (masterdata.Client.Prices): Order Management refuses a stale price rather
// than charge a different one. See the PII guard on CreateOrder.
type Line struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"` // 1 to MaxQuantity
	UnitPrice string `json:"unitPrice"`
}

// Compile-time PII guard: see CreateOrder.
var (
	_ = CreateOrder{"", "", "", "", nil}
	_ = Line{"", 0, ""}
)

// Status is where an order is in its life.
type Status string

// The statuses an order passes through, in order. A status this package
// does not list (one Order Management added later) is passed on as is.
const (
	StatusAccepted  Status = "accepted"  // placed; stock is taken off the shelf
	StatusConfirmed Status = "confirmed" // confirmed by Order Management
	StatusShipped   Status = "shipped"   // handed to the carrier
)

// StatusChange is one status an order reached, and when.
type StatusChange struct {
	Status Status
	At     time.Time
}

// OrderLine is one line of a placed order. Amounts are decimal strings.
type OrderLine struct {
	SKU       string
	Quantity  int
	UnitPrice string
	LineTotal string // UnitPrice × Quantity
}

// Order is an order as Order Management holds it. Amounts are decimal
// strings with two fraction digits; money is never a float in Meridian.
type Order struct {
	ID                 string
	Subject            string // pseudonymous global subject id
	RegionOrderRef     string
	ShippingAddressRef string
	Currency           string
	Lines              []OrderLine
	Total              string
	Status             Status
	// StatusHistory lists the statuses reached so far, oldest first; the
	// last is Status.
	StatusHistory []StatusChange
	CreatedAt     time.Time
	UpdatedAt     time.Time // when the current status was reached
}

// Create places an order. idempotencyKey identifies the intended order:
// generate one per checkout and reuse it on every retry of that checkout.
//
// Repeating a request with the same key and the same order returns the order
// the first request created, with created false; a network failure or
// timeout is therefore safe to retry with the same key. The same key with a
// different order is an apierr.Conflict with Code CodeIdempotencyKeyReused.
// A refused order (unknown SKU, stale price, not enough stock, bad quantity)
// is apierr.BadUserInput; errors.As with *originhttp.StatusError gives the
// origin's code and the SKUs concerned. A malformed request is refused with
// apierr.BadUserInput before anything is sent.
func (c *Client) Create(ctx context.Context, idempotencyKey string, order CreateOrder) (placed Order, created bool, err error) {
	if !idempotencyKeyPattern.MatchString(idempotencyKey) {
		return Order{}, false, apierr.New(apierr.BadUserInput, "the idempotency key must be 1 to %d visible ASCII characters", MaxIdempotencyKey)
	}
	if err := order.check(); err != nil {
		return Order{}, false, err
	}
	header := http.Header{"Idempotency-Key": {idempotencyKey}}
	var oj orderJSON
	status, err := c.origin.PostJSON(ctx, "/v1/orders", header, order, &oj)
	if err != nil {
		return Order{}, false, createError(err)
	}
	placed, err = oj.decode()
	if err != nil {
		return Order{}, false, badAnswer(fmt.Errorf("created order: %w", err))
	}
	return placed, status == http.StatusCreated, nil
}

// Get returns one order with its status history. An unknown id is an
// apierr.NotFound error; an empty or malformed one is apierr.BadUserInput,
// without a request.
func (c *Client) Get(ctx context.Context, id string) (Order, error) {
	seg, err := originhttp.PathSegment("order id", id)
	if err != nil {
		return Order{}, err
	}
	var oj orderJSON
	if err := c.origin.GetJSON(ctx, "/v1/orders/"+seg, nil, &oj); err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			return Order{}, apierr.Wrap(apierr.NotFound, err, "no order with id %q", id)
		}
		return Order{}, fmt.Errorf("order %q: %w", id, err)
	}
	o, err := oj.decode()
	if err == nil && o.ID != id {
		err = fmt.Errorf("answered with id %q", o.ID)
	}
	if err != nil {
		return Order{}, badAnswer(fmt.Errorf("order %q: %w", id, err))
	}
	return o, nil
}

// List returns the orders of the customer with the pseudonymous global
// subject id subject, newest first; none is an empty slice. A subject that is
// not an opaque id is apierr.BadUserInput, without a request.
func (c *Client) List(ctx context.Context, subject string) ([]Order, error) {
	if !opaqueRefPattern.MatchString(subject) {
		return nil, apierr.New(apierr.BadUserInput, "the subject must be a pseudonymous subject id")
	}
	var list struct {
		Orders []orderJSON `json:"orders"`
	}
	if err := c.origin.GetJSON(ctx, "/v1/orders", url.Values{"subject": {subject}}, &list); err != nil {
		// The subject is not repeated: it is an identifier of a person.
		return nil, fmt.Errorf("orders of a subject: %w", err)
	}
	out := make([]Order, 0, len(list.Orders))
	for i, oj := range list.Orders {
		o, err := oj.decode()
		if err == nil && o.Subject != subject {
			err = errors.New("order of another subject")
		}
		if err != nil {
			return nil, badAnswer(fmt.Errorf("orders of a subject: order %d: %w", i, err))
		}
		out = append(out, o)
	}
	return out, nil
}

// check refuses, before anything is sent, what Order Management would
// refuse as malformed. Messages name the field, never its value.
func (o CreateOrder) check() error {
	for _, ref := range []struct{ field, value string }{
		{"subject", o.Subject}, {"regionOrderRef", o.RegionOrderRef}, {"shippingAddressRef", o.ShippingAddressRef},
	} {
		if !opaqueRefPattern.MatchString(ref.value) {
			return apierr.New(apierr.BadUserInput,
				"%s must be an opaque reference of 1 to 128 letters, digits, '.', '_', ':' or '-'", ref.field)
		}
	}
	if !originhttp.IsCurrency(o.Currency) {
		return apierr.New(apierr.BadUserInput, "currency must be an ISO 4217 code")
	}
	if len(o.Lines) == 0 || len(o.Lines) > MaxLines {
		return apierr.New(apierr.BadUserInput, "an order has 1 to %d lines, not %d", MaxLines, len(o.Lines))
	}
	seen := make(map[string]bool, len(o.Lines))
	for i, l := range o.Lines {
		switch {
		case l.SKU == "":
			return apierr.New(apierr.BadUserInput, "line %d has no SKU", i+1)
		case seen[l.SKU]:
			return apierr.New(apierr.BadUserInput, "SKU %q is on more than one line; put its whole quantity on one line", l.SKU)
		case l.Quantity < 1 || l.Quantity > MaxQuantity:
			return apierr.New(apierr.BadUserInput, "line %d: quantity must be between 1 and %d", i+1, MaxQuantity)
		case !originhttp.IsMoney(l.UnitPrice):
			return apierr.New(apierr.BadUserInput, "line %d: unit price must be a decimal amount with two fraction digits", i+1)
		}
		seen[l.SKU] = true
	}
	return nil
}

// refusal is the client-facing wording of Order Management's reason to
// refuse an order, "" for a code it does not list; the origin's own wording
// stays in the logs.
func refusal(code string) string {
	switch code {
	case "unknown_sku":
		return "an item in the order is not sold"
	case "invalid_quantity":
		return "an item's quantity is out of range"
	case "duplicate_sku":
		return "an item appears on more than one line"
	case "currency_mismatch":
		return "an item is not sold in the order's currency"
	case "price_mismatch":
		return "the price of an item has changed"
	case "insufficient_stock":
		return "there is not enough stock for an item"
	}
	return ""
}

// createError gives a failed creation its client-facing meaning.
func createError(err error) error {
	se, ok := originhttp.AsStatusError(err)
	switch {
	case ok && se.Status == http.StatusConflict && se.Code == "idempotency_key_reused":
		e := apierr.Wrap(apierr.Conflict, err, "this idempotency key was already used for a different order")
		e.Code = CodeIdempotencyKeyReused
		return e
	case ok && apierr.KindOf(err) == apierr.BadUserInput && refusal(se.Code) != "":
		return apierr.Wrap(apierr.BadUserInput, err, "the order was refused: %s", refusal(se.Code))
	}
	return fmt.Errorf("creating order: %w", err)
}

func badAnswer(err error) error {
	return apierr.Wrap(apierr.Internal, fmt.Errorf("orders: %w", err), "orders answered with malformed data")
}
