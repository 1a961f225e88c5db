package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"meridian/adapters/orderstore"
	"meridian/internal/apierr"
	"meridian/internal/guard"
	"meridian/internal/originhttp"
)

// refusal builds the error the orders client returns for a refused
// creation: the client-facing apierr around the origin's StatusError.
func refusal(kind apierr.Kind, status int, code string, skus ...string) error {
	se := &originhttp.StatusError{Origin: "orders", Method: http.MethodPost, Path: "/v1/orders", Status: status,
		Code: code, Message: "the origin's own words, for logs", SKUs: skus}
	return fmt.Errorf("creating order: %w", apierr.Wrap(kind, se, "the order was refused"))
}

func TestDeadReason(t *testing.T) {
	o := orderstore.Order{Currency: "CNY"}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{refusal(apierr.BadUserInput, 422, "price_mismatch", "SKC-1011"), "the price of SKC-1011 changed"},
		{refusal(apierr.BadUserInput, 422, "price_mismatch", "SKC-1011", "SKC-1012"), "the prices of SKC-1011, SKC-1012 changed"},
		{refusal(apierr.BadUserInput, 422, "insufficient_stock", "SKC-1001"), "there is not enough stock of SKC-1001"},
		{refusal(apierr.BadUserInput, 422, "unknown_sku", "SKC-9999"), "SKC-9999 is no longer sold"},
		{refusal(apierr.BadUserInput, 422, "unknown_sku", "A", "B"), "A, B are no longer sold"},
		{refusal(apierr.BadUserInput, 422, "currency_mismatch"), "an item is not sold in CNY"},
		{refusal(apierr.BadUserInput, 422, "invalid_quantity", "SKC-1001"), "the quantity of SKC-1001 is out of range"},
		{refusal(apierr.BadUserInput, 422, "duplicate_sku", "SKC-1001"), "SKC-1001 is on more than one line"},
		{refusal(apierr.Conflict, 409, "idempotency_key_reused"), "Order Management holds a different order under this order's reference"},
		{refusal(apierr.BadUserInput, 400, "invalid_request"), "Order Management refused the order"},
		// Refused by the client before sending: no StatusError.
		{apierr.New(apierr.BadUserInput, "subject must be an opaque reference"), "Order Management refused the order"},
		// The origin's SKU list is not trusted text.
		{refusal(apierr.BadUserInput, 422, "price_mismatch", "<script>", "SKC-1"), "the price of SKC-1 changed"},
		{refusal(apierr.BadUserInput, 422, "price_mismatch", "A", "B", "C", "D", "E", "F", "G"), "the prices of A, B, C, D, E changed"},
	} {
		if got := deadReason(tt.err, o); got != tt.want {
			t.Errorf("deadReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"stale price", refusal(apierr.BadUserInput, 422, "price_mismatch", "A"), true},
		{"key reused", refusal(apierr.Conflict, 409, "idempotency_key_reused"), true},
		{"503", fmt.Errorf("creating order: %w", originhttp.ErrUnavailable), false},
		{"timeout", fmt.Errorf("creating order: %w", context.DeadlineExceeded), false},
		{"breaker open", guard.ErrBreakerOpen, false},
		{"our credentials", refusal(apierr.Internal, 401, "unauthorized"), false},
		{"unknown route", refusal(apierr.NotFound, 404, "not_found"), false},
	} {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("%s: refused = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{cfg: withDefaults(Config{Jitter: func(limit time.Duration) time.Duration { return limit }})}
	for attempts, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second,
		10: 5 * time.Minute, 11: 5 * time.Minute, 1000: 5 * time.Minute,
	} {
		if got := d.backoff(attempts, errors.New("503")); got != want {
			t.Errorf("backoff after %d attempts = %v, want %v (the ceiling)", attempts, got, want)
		}
	}
	// Full jitter, but never below the initial backoff.
	d.cfg.Jitter = func(time.Duration) time.Duration { return 0 }
	if got := d.backoff(5, errors.New("503")); got != time.Second {
		t.Errorf("backoff with a zero draw = %v, want the initial 1s", got)
	}
	// The origin's Retry-After wins when longer, up to the cap.
	for retryAfter, want := range map[time.Duration]time.Duration{
		30 * time.Second: 30 * time.Second,
		time.Hour:        5 * time.Minute,
		0:                time.Second,
	} {
		err := fmt.Errorf("x: %w", &originhttp.StatusError{Status: 503, RetryAfter: retryAfter})
		if got := d.backoff(1, err); got != want {
			t.Errorf("backoff with Retry-After %v = %v, want %v", retryAfter, got, want)
		}
	}
}
