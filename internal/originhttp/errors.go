package originhttp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrUnavailable is matched (errors.Is) by the error of a call the origin
// answered 429 or 5xx: it is overloaded or failing, and the call may succeed
// later (see StatusError.RetryAfter). The error carries no apierr kind, so
// the guard counts it as an origin failure.
var ErrUnavailable = errors.New("origin unavailable")

// ErrCursorExpired is matched (errors.Is) by the error of a change feed read
// whose cursor points before the history the origin still holds (410). The
// reader has missed changes: it must resynchronise in full, then read the
// feed from the start.
var ErrCursorExpired = errors.New("change feed cursor expired")

// StatusError is an answer outside 2xx, as the origin gave it. It is the
// cause inside the classified error (see the package documentation); reach
// it with errors.As to branch on the origin's machine-readable Code or to
// see which SKUs a request was refused for.
//
// Its text names the origin, the request and the upstream code and message:
// it is for logs and must never be shown to a client.
type StatusError struct {
	Origin string // Config.Origin of the client
	Method string
	Path   string // the request path under the base URL, without the query
	Status int
	// Code is the upstream error.code ("price_mismatch"); empty when the
	// body was not the contract's error envelope.
	Code string
	// Message is the upstream error.message, or the start of a body that was
	// not the envelope, bounded in size. For logs only.
	Message string
	// SKUs are the SKUs the origin refused the request for, when it said.
	SKUs []string
	// RetryAfter is the origin's Retry-After, zero when absent.
	RetryAfter time.Duration
}

// Error names the origin, the request, the status and the upstream code and
// message, for logs.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: status %d %s", e.Origin, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	return b.String()
}

// Is reports ErrUnavailable for 429 and 5xx and ErrCursorExpired for 410.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	case ErrCursorExpired:
		return e.Status == http.StatusGone
	}
	return false
}

// AsStatusError finds the StatusError in err's chain: ok is false when the
// origin did not answer (a transport failure or a deadline) or the call
// failed before it was sent.
func AsStatusError(err error) (se *StatusError, ok bool) {
	ok = errors.As(err, &se)
	return se, ok
}
