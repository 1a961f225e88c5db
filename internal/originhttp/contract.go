package originhttp

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"meridian/internal/apierr"
)

// Values every origin's contract shares (api/global.openapi.yaml). The
// adapters check what they send before it crosses the border and what they
// receive before the rest of Meridian trusts it.

var (
	moneyPattern    = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// MaxPageLimit is the largest page size the origins' listings and change
// feeds accept; zero asks for their default (100).
const MaxPageLimit = 1000

// IsMoney reports whether s is an amount as the contract writes it: a
// non-negative decimal string with exactly two fraction digits ("1299.00").
// Money is never a float in Meridian; an amount in any other shape is a
// broken answer, not something to round.
func IsMoney(s string) bool { return moneyPattern.MatchString(s) }

// IsCurrency reports whether s looks like an ISO 4217 code ("CNY").
func IsCurrency(s string) bool { return currencyPattern.MatchString(s) }

// maxSegment bounds one path segment built from input; no SKU, slug or order
// id comes near it.
const maxSegment = 256

// PathSegment escapes value for use as one segment of a request path, such
// as the SKU of "/v1/products/{sku}". what names the value in the error
// ("SKU"). An empty value, "." or "..", one longer than 256 bytes or one
// with control characters is refused with apierr.BadUserInput before
// anything is sent: it cannot name a resource, and "." or ".." would address
// a different path. The message does not repeat the value.
func PathSegment(what, value string) (string, error) {
	if value == "" || value == "." || value == ".." || len(value) > maxSegment ||
		strings.IndexFunc(value, unicode.IsControl) >= 0 {
		return "", apierr.New(apierr.BadUserInput, "%s is empty or malformed", what)
	}
	return url.PathEscape(value), nil
}

// CheckPageLimit refuses a page size the origins would answer 400 for,
// without sending the request. Zero is allowed: it asks for the default.
func CheckPageLimit(limit int) error {
	if limit < 0 || limit > MaxPageLimit {
		return apierr.New(apierr.BadUserInput, "limit %d is out of range: want 0 (the default) to %d", limit, MaxPageLimit)
	}
	return nil
}

// PageQuery builds the query of a paged read: cursor when not empty (the
// first read has none) and limit when not zero.
func PageQuery(cursor string, limit int) url.Values {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}
