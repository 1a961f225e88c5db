// Package outbox delivers the region's orders to the global Order
// Management system and keeps their statuses current.
//
// Placing an order only writes it to the in-country order store
// (adapters/orderstore), with an outbox entry, in one transaction; the
// customer is answered at once. A Dispatcher, running on every gateway
// replica, then:
//
//   - claims due outbox entries (a lease per entry, so replicas never work
//     on the same one at once) and sends each order to Order Management
//     through the origin's guard (breaker and write budget), with the region
//     order id as the Idempotency-Key;
//   - records the outcome: sent (the order is ACCEPTED, with its global id),
//     retry after an exponential backoff with full jitter (timeout, 5xx,
//     breaker open: the origin may or may not have the order, and resending
//     under the same key is what finds out), or dead (Order Management
//     refused the order: a changed price, no stock, an unknown SKU; the
//     order becomes REJECTED with a reason the customer can read, and the
//     entry stays as a dead letter for operators);
//   - polls Order Management for accepted orders it has heard nothing about
//     for a while, the safety net under the status webhook
//     (HandleStatusEvent).
//
// # Exactly once
//
// Delivery is at least once: a worker can die after Order Management
// accepted an order and before the outcome was recorded, and the entry is
// then claimed again when its lease expires and sent again. Because every
// attempt carries the same Idempotency-Key, and Order Management answers a
// repeated key and body with the order it already created, the origin holds
// exactly one order per region order. This relies on Order Management
// remembering a key for longer than an entry stays pending; an origin
// outage longer than that retention is for operators to watch
// (meridian_outbox_pending, and each entry's last error).
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"meridian/adapters/orders"
	"meridian/adapters/orderstore"
	"meridian/internal/guard"
	"meridian/internal/metrics"
)

// Defaults applied to zero Config fields.
const (
	DefaultBatch           = 16
	DefaultLease           = 30 * time.Second
	DefaultPollInterval    = time.Second
	DefaultInitialBackoff  = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
	DefaultStatusPollAfter = 30 * time.Second
)

// bookkeepingTimeout bounds recording an attempt's outcome, which must
// happen even when the attempt's context ended (a shutdown): an outcome not
// recorded costs a resend after the lease.
const bookkeepingTimeout = 5 * time.Second

// leaseMargin is the time an attempt keeps in hand, beyond the guard's
// write budget, to record its outcome before its lease ends.
const leaseMargin = 2 * time.Second

// Store is what the dispatcher needs of the order store;
// *orderstore.SQLStore implements it, and its documentation is the
// contract.
type Store interface {
	Claim(ctx context.Context, worker string, limit int, lease time.Duration) ([]orderstore.OutboxEntry, error)
	MarkSent(ctx context.Context, entryID, worker, globalOrderID string, status orderstore.Status) error
	MarkRetry(ctx context.Context, entryID, worker string, nextAttemptAt time.Time, lastError string) error
	MarkDead(ctx context.Context, entryID, worker, reason string) error
	ApplyStatus(ctx context.Context, u orderstore.StatusUpdate) (changed bool, err error)
	InFlight(ctx context.Context, checkedBefore time.Time, limit int) ([]orderstore.Order, error)
	Pending(ctx context.Context) (int, error)
	DeadLetterCount(ctx context.Context) (int, error)
}

var _ Store = (*orderstore.SQLStore)(nil)

// Origin is Order Management; *orders.Client implements it, and its
// documentation is the contract (errors carry apierr kinds: BadUserInput or
// Conflict when the order is refused).
type Origin interface {
	Create(ctx context.Context, idempotencyKey string, o orders.CreateOrder) (orders.Order, bool, error)
	Get(ctx context.Context, id string) (orders.Order, error)
}

var _ Origin = (*orders.Client)(nil)

// Config configures a Dispatcher. Store, Origin and Guard are required;
// every other zero field takes the documented default.
type Config struct {
	// Store is the order store holding the outbox.
	Store Store
	// Origin is Order Management's client.
	Origin Origin
	// Guard is the orders origin's guard: every call goes through its
	// breaker (shared with the origin's reads) and its write budget.
	Guard *guard.Guard
	// Worker names this dispatcher in leases; it must be unique among the
	// dispatchers sharing a database, and stable for the process. Empty
	// means the host name, the process id and random hex.
	Worker string
	// Batch is how many entries one claim takes, and how many orders are
	// sent (and polled) at once. Default DefaultBatch, at most
	// orderstore.MaxClaim.
	Batch int
	// Lease is how long a claimed entry is this worker's. It must be at
	// least twice the guard's write budget: an attempt is the origin call
	// plus recording its outcome, and a lease that ends mid-attempt lets
	// another worker send the same order (harmless at the origin, wasted
	// work). Default DefaultLease.
	Lease time.Duration
	// PollInterval is the longest Run waits between rounds when there is
	// nothing to do; Notify wakes it sooner. Default DefaultPollInterval.
	PollInterval time.Duration
	// InitialBackoff and MaxBackoff shape the wait before a failed send is
	// retried: after the n-th failed attempt, a random duration below
	// min(MaxBackoff, InitialBackoff·2ⁿ⁻¹) (full jitter), but at least
	// InitialBackoff, and at least the origin's Retry-After when it gave
	// one (up to MaxBackoff). Defaults DefaultInitialBackoff and
	// DefaultMaxBackoff.
	InitialBackoff, MaxBackoff time.Duration
	// StatusPollAfter is how long an accepted order may go without news
	// from Order Management (answer, webhook or poll) before it is polled.
	// Default DefaultStatusPollAfter.
	StatusPollAfter time.Duration
	// Now is the clock of backoffs, leases checks and the polling cutoff;
	// nil means time.Now. Waits between rounds use real timers. It must
	// agree with the store's clock.
	Now func() time.Time
	// Jitter draws a random duration in [0, limit) for the backoff; nil
	// means math/rand/v2. Tests make it deterministic.
	Jitter func(limit time.Duration) time.Duration
	// Logger receives refusals, failures to record outcomes, and other
	// operator-facing events. Nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives meridian_outbox_pending,
	// meridian_outbox_dispatch_total and meridian_outbox_dead_letters.
	Metrics *metrics.Metrics
}

// Dispatcher sends the outbox's orders to Order Management and keeps their
// statuses current. It is safe for concurrent use; Run runs at most once at
// a time per Dispatcher, and any number of Dispatchers (replicas) may share
// one store.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	wake    chan struct{}
	running atomic.Bool
}

// New validates cfg, applies its defaults and returns a Dispatcher that is
// not running yet. Every problem with cfg is reported at once.
func New(cfg Config) (*Dispatcher, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if cfg.Origin == nil {
		errs = append(errs, errors.New("Origin is required"))
	}
	if cfg.Guard == nil {
		errs = append(errs, errors.New("Guard is required"))
	}
	if cfg.Batch < 0 || cfg.Batch > orderstore.MaxClaim {
		errs = append(errs, fmt.Errorf("Batch %d is not between 1 and %d", cfg.Batch, orderstore.MaxClaim))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Lease", cfg.Lease}, {"PollInterval", cfg.PollInterval}, {"InitialBackoff", cfg.InitialBackoff},
		{"MaxBackoff", cfg.MaxBackoff}, {"StatusPollAfter", cfg.StatusPollAfter},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	cfg = withDefaults(cfg)
	if len(cfg.Worker) > orderstore.MaxIDLength || strings.ContainsFunc(cfg.Worker, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("Worker must be 1 to %d printable ASCII characters without spaces", orderstore.MaxIDLength))
	}
	if cfg.InitialBackoff > cfg.MaxBackoff {
		errs = append(errs, fmt.Errorf("InitialBackoff %v is longer than MaxBackoff %v", cfg.InitialBackoff, cfg.MaxBackoff))
	}
	if cfg.Guard != nil && cfg.Lease < 2*cfg.Guard.WriteBudget() {
		errs = append(errs, fmt.Errorf("Lease %v must be at least twice the guard's write budget %v", cfg.Lease, cfg.Guard.WriteBudget()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("outbox: config: %w", err)
	}
	return &Dispatcher{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}, nil
}

func withDefaults(c Config) Config {
	if c.Worker == "" {
		c.Worker = defaultWorker()
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = DefaultInitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.StatusPollAfter == 0 {
		c.StatusPollAfter = DefaultStatusPollAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = func(limit time.Duration) time.Duration {
			if limit <= 0 {
				return 0
			}
			return time.Duration(mrand.Int64N(int64(limit)))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// defaultWorker names this process: host, pid and random bits, so that a
// restarted process (same host, perhaps the same pid in a container) never
// mistakes its predecessor's leases for its own.
func defaultWorker() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "meridian"
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, host)
	if len(host) > 200 {
		host = host[:200]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker returns the name this dispatcher claims entries under.
func (d *Dispatcher) Worker() string { return d.cfg.Worker }
