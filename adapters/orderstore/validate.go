package orderstore

import (
	"errors"
	"fmt"
	"math/big"
	"meridian/internal/fielderr"
	"regexp"
	"strings"
	"unicode/utf8"
)

// FieldError is one invalid field of a request. It wraps ErrInvalidInput.
//
// Field is the GraphQL input path of the field ("lines[1].quantity",
// "shippingAddressId"; "first", "afterId" for arguments). Reason says what a
// valid value looks like and never contains the rejected value, so the error
// is safe to log and to show the person who sent it.
type FieldError = fielderr.Error

// fieldError returns an invalid-field error of this store.
func fieldError(field, reason string) *FieldError {
	return fielderr.New("orderstore", ErrInvalidInput, field, reason)
}

// FieldErrors returns every *FieldError in err's tree (a request reports all
// its invalid fields at once), in order, or nil when there is none.
func FieldErrors(err error) []*FieldError { return fielderr.All(err) }

// problems collects the FieldErrors of one validation.
type problems []error

func (p *problems) add(field, reason string) {
	*p = append(*p, fieldError(field, reason))
}

func (p problems) err() error { return errors.Join(p...) }

var (
	// opaqueRef is Order Management's OpaqueRef: what is sent abroad must
	// be an identifier, so no free text can ride along. Checking it at
	// Place means an order the origin would refuse as malformed is
	// refused to the customer now, not rejected minutes later.
	opaqueRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	// money is the contract's Money: a decimal with two fraction digits.
	money    = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)
	currency = regexp.MustCompile(`^[A-Z]{3}$`)
	// orderID is what the store generates; anything else cannot name an
	// order, so it is refused before a query.
	orderID = regexp.MustCompile(`^ord-[0-9A-HJKMNP-TV-Z]{26}$`)
)

// IsOrderID reports whether s has the form of a region order id ("ord-" and
// a 26-character ULID): whether it can name an order of this store. A
// notification naming anything else concerns another region's order.
func IsOrderID(s string) bool { return orderID.MatchString(s) }

const refReason = "must be an opaque reference of 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"

// checkID validates an identifier that stays in the region: printable
// ASCII without spaces, 1 to MaxIDLength bytes.
func checkID(p *problems, field, id string) {
	if id == "" || len(id) > MaxIDLength {
		p.add(field, fmt.Sprintf("must be 1 to %d characters", MaxIDLength))
		return
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			p.add(field, "must be printable ASCII without spaces")
			return
		}
	}
}

func checkRef(p *problems, field, ref string) {
	if !opaqueRef.MatchString(ref) {
		p.add(field, refReason)
	}
}

// validatePlace checks req and returns its lines with their totals and the
// order total. Every problem is reported at once.
func validatePlace(req PlaceRequest) (lines []Line, total string, err error) {
	var p problems
	checkRef(&p, "subject", req.Subject)
	if req.ConsultantID != "" {
		checkID(&p, "consultantId", req.ConsultantID)
	}
	checkID(&p, "placedBy", req.PlacedBy)
	checkID(&p, "idempotencyKey", req.IdempotencyKey)
	if req.RequestHash == "" || len(req.RequestHash) > MaxRequestHashLength {
		p.add("requestHash", fmt.Sprintf("must be 1 to %d characters", MaxRequestHashLength))
	}
	if !currency.MatchString(req.Currency) {
		p.add("currency", "must be an ISO 4217 code such as CNY")
	}
	checkRef(&p, "shippingAddressId", req.ShippingAddressID)
	if !utf8.ValidString(req.Note) || utf8.RuneCountInString(req.Note) > MaxNoteLength {
		p.add("note", fmt.Sprintf("must be text of at most %d characters", MaxNoteLength))
	}
	if len(req.Lines) == 0 || len(req.Lines) > MaxLines {
		p.add("lines", fmt.Sprintf("an order has 1 to %d lines", MaxLines))
	}
	sum := new(big.Rat)
	seen := make(map[string]bool, len(req.Lines))
	for i, l := range req.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		checkID(&p, field+".productId", l.ProductID)
		switch {
		case !opaqueRef.MatchString(l.SKU):
			p.add(field+".sku", "must be a SKU of letters, digits, '.', '_', ':' or '-'")
		case seen[l.SKU]:
			p.add(field+".sku", "appears on an earlier line; put the whole quantity on one line")
		}
		seen[l.SKU] = true
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			p.add(field+".quantity", fmt.Sprintf("must be between 1 and %d", MaxQuantity))
		}
		unit, ok := parseMoney(l.UnitPrice)
		if !ok {
			p.add(field+".unitPrice", "must be a decimal amount with two fraction digits, such as 480.00")
			continue
		}
		lineTotal := new(big.Rat).Mul(unit, new(big.Rat).SetInt64(int64(l.Quantity)))
		sum.Add(sum, lineTotal)
		l.LineTotal = formatMoney(lineTotal)
		lines = append(lines, l)
	}
	if err := p.err(); err != nil {
		return nil, "", err
	}
	return lines, formatMoney(sum), nil
}

// parseMoney reads a Money string exactly. math/big rather than a float:
// 0.1 + 0.2 must be 0.30.
func parseMoney(s string) (*big.Rat, bool) {
	if !money.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// formatMoney writes an amount with two fraction digits. Every amount the
// store computes is a sum of products of Money and integers, so it has at
// most two fraction digits and FloatString(2) is exact.
func formatMoney(r *big.Rat) string { return r.FloatString(2) }

// clip bounds a text the store keeps for operators, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimSpace(s) + "…"
}
