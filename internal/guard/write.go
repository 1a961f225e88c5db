package guard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// DefaultWriteBudget is Config.WriteBudget when it is zero.
const DefaultWriteBudget = 2 * time.Second

// ErrBreakerOpen is matched (errors.Is) by the error of a Call the breaker
// refused without calling the origin: the origin failed recently, or a probe
// is already under way. Nothing reached the origin, so the write is safe to
// retry later.
var ErrBreakerOpen = errors.New("guard: origin breaker is open")

// errCallerGone marks a Call whose caller cancelled it: the breaker excludes
// it from its counts (see New), because it says nothing about the origin.
var errCallerGone = errors.New("guard: call abandoned by its caller")

// WriteBudget returns the deadline of one Call (Config.WriteBudget), for
// callers that must outlast it, such as an outbox lease.
func (g *Guard) WriteBudget() time.Duration { return g.cfg.WriteBudget }

// Call runs fn, one write to the origin (placing an order), under the
// origin's breaker and the write budget, and returns fn's error.
//
// Unlike Live it keeps no copy and never collapses concurrent calls: two
// writes are two requests even when identical, and a write is never answered
// from a cache. Making a repeated write harmless is the caller's business
// (an idempotency key).
//
// fn gets a context that ends at the earlier of ctx's end and WriteBudget.
// The error then matches:
//
//   - ErrBreakerOpen when the breaker refused the call; fn did not run;
//   - context.DeadlineExceeded when the budget ran out, whatever fn
//     returned (the origin may still have acted on the request);
//   - ctx.Err() (context.Canceled, or context.DeadlineExceeded for a
//     deadline of ctx's shorter than the budget) when ctx ended while fn
//     ran; such a call is counted neither as a success nor as a failure by
//     the breaker, since the origin was not at fault;
//   - otherwise fn's own error, unchanged. As for reads, the origin refusing
//     the request (an apierr BadUserInput, NotFound, Conflict, Forbidden or
//     Unauthenticated kind) does not trip the breaker; timeouts and other
//     errors do.
//
// The call is counted in meridian_origin_requests_total and timed in
// meridian_origin_request_duration_seconds like a read, with outcome
// "cancelled" for a call its caller abandoned.
func (g *Guard) Call(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		// Not even a breaker slot is taken for a caller already gone.
		return fmt.Errorf("guard %s: %w", g.cfg.Origin, err)
	}
	start := time.Now()
	_, err := g.breaker.Execute(func() (any, error) {
		callCtx, cancel := context.WithTimeout(ctx, g.cfg.WriteBudget)
		defer cancel()
		err := fn(callCtx)
		switch {
		case err == nil:
			return nil, nil
		case ctx.Err() != nil:
			// The caller went away (its own deadline or a
			// shutdown) before the budget did.
			return nil, fmt.Errorf("%w: %w: %w", errCallerGone, ctx.Err(), err)
		case callCtx.Err() == context.DeadlineExceeded:
			return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return nil, err
	})
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		outcome = string(ReasonBreakerOpen)
		err = fmt.Errorf("%w: %s: %w", ErrBreakerOpen, g.cfg.Origin, err)
	case errors.Is(err, errCallerGone):
		outcome = "cancelled"
	case !countsAsFailure(err):
		outcome = "rejected"
	default:
		outcome = string(reasonOf(err))
	}
	if m := g.cfg.Metrics; m != nil {
		m.OriginRequests.WithLabelValues(g.cfg.Origin, outcome).Inc()
		if outcome != string(ReasonBreakerOpen) {
			m.OriginRequestDuration.WithLabelValues(g.cfg.Origin, outcome).Observe(time.Since(start).Seconds())
		}
	}
	return err
}
