// Package orderstore keeps the region's orders: the intent of every order a
// customer or consultant placed, the outbox that carries it to the global
// Order Management system, and the projection of each order's status that
// consultants' dashboards and customers' order lists read.
//
// Order Management is the system of record, but it is 150-300 ms away and
// sometimes unreachable, so placing an order never waits for it. Place
// commits, in one transaction, the order (PENDING), its lines, the first
// entry of its history, the caller's idempotency record and an outbox entry;
// from then on the order cannot be lost. A dispatcher (internal/outbox)
// claims due outbox entries (Claim), sends each with the region order id as
// its Idempotency-Key, and records the outcome (MarkSent, MarkRetry,
// MarkDead). Because the key is stable across retries, crashes and replicas,
// Order Management's idempotency turns the outbox's at-least-once delivery
// into exactly one order at the origin.
//
// # Statuses
//
// An order moves PENDING → ACCEPTED → CONFIRMED → SHIPPED, or to REJECTED
// from any status before SHIPPED. SHIPPED and REJECTED are final. Updates
// arrive from several sources in any order (the dispatcher, Order
// Management's webhook, the polling safety net), so ApplyStatus only ever
// moves an order forward: an older or equal status is ignored, and the
// history records each status reached exactly once.
//
// # Idempotency
//
// Place is idempotent per principal (the person placing the order) and key.
// The same key with the same request hash returns the order the first call
// created, whatever has happened to it since; the same key with another hash
// is refused (ErrIdempotencyKeyReused). Keys are kept at least
// MinIdempotencyRetention; PurgeIdempotencyKeys forgets older ones, and only
// those of orders in a final status.
//
// # Engines
//
// The store runs on SQLite (one gateway) and PostgreSQL (replicas sharing
// one database); one contract test suite runs on both. On PostgreSQL, claims
// lock outbox rows with SELECT ... FOR UPDATE SKIP LOCKED, so replicas
// claiming at the same moment never get the same entry; on SQLite, write
// transactions hold the database's single write lock from their start, which
// serializes claims.
//
// # Dashboards
//
// Consultants' dashboards read the projection only: ListByConsultant for
// their orders, and the analytics SalesSummary, TopProducts and
// CustomerTotals for their figures. The analytics count every order but
// REJECTED ones, add money exactly in integer minor units, and refuse to
// add up orders in several currencies (ErrMixedCurrencies). Each is one
// index-only query, a few milliseconds at 100,000 orders
// (BenchmarkDashboard).
//
// # Personal data
//
// The order's note and its shipping address id stay in the country; only
// the pseudonymous subject, the region order id, the opaque address id and
// the lines are sent to Order Management. Errors name fields, never their
// values.
package orderstore

import (
	"errors"
	"time"
)

// Status is where an order is in its life, as the region knows it.
type Status string

// The statuses of an order, in the order it passes through them.
const (
	// StatusPending: committed in the region, not yet accepted by Order
	// Management (the outbox entry is waiting or being sent).
	StatusPending Status = "PENDING"
	// StatusAccepted: Order Management holds the order; stock is taken.
	StatusAccepted Status = "ACCEPTED"
	// StatusConfirmed: confirmed by Order Management.
	StatusConfirmed Status = "CONFIRMED"
	// StatusShipped: handed to the carrier. Final.
	StatusShipped Status = "SHIPPED"
	// StatusRejected: Order Management refused the order (a changed
	// price, no stock, an unknown SKU); RejectReason says why. Final.
	StatusRejected Status = "REJECTED"
)

// Statuses returns every Status, in life order.
func Statuses() []Status {
	return []Status{StatusPending, StatusAccepted, StatusConfirmed, StatusShipped, StatusRejected}
}

// rank orders statuses for monotonic updates; 0 is not a status.
func (s Status) rank() int {
	switch s {
	case StatusPending:
		return 1
	case StatusAccepted:
		return 2
	case StatusConfirmed:
		return 3
	case StatusShipped:
		return 4
	case StatusRejected:
		return 5
	}
	return 0
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return s.rank() > 0 }

// Final reports whether nothing can happen to an order in status s any
// more: SHIPPED or REJECTED.
func (s Status) Final() bool { return s == StatusShipped || s == StatusRejected }

// Source says who told the region about a status change.
type Source string

// The sources of a status change.
const (
	SourceRegion  Source = "region"  // the region itself: the order was placed
	SourceOrigin  Source = "origin"  // Order Management's answer to sending the order
	SourceWebhook Source = "webhook" // Order Management's status notification
	SourcePoll    Source = "poll"    // the polling safety net read the order
)

func (s Source) valid() bool {
	switch s {
	case SourceRegion, SourceOrigin, SourceWebhook, SourcePoll:
		return true
	}
	return false
}

// Line is one line of an order. Money is a decimal string with two fraction
// digits ("480.00"), never a float.
type Line struct {
	ProductID string // the catalog's product id ("prod-0001")
	SKU       string // the SKU Order Management knows the product by
	Quantity  int    // 1 to MaxQuantity
	// UnitPrice is the price of one unit, which Order Management checks
	// against its authoritative price.
	UnitPrice string
	// LineTotal is UnitPrice × Quantity. The store computes it; whatever a
	// PlaceRequest line holds here is ignored.
	LineTotal string
}

// StatusChange is one status an order reached.
type StatusChange struct {
	Status Status // the status reached
	// At is when the order reached the status: the origin's time for news
	// from a webhook or a poll, the region's when it recorded the status
	// itself (PENDING, the answer to a send, REJECTED).
	At     time.Time
	Source Source // who told the region
}

// Order is one order as the region holds it. Times are UTC with
// microsecond precision.
type Order struct {
	// ID is the region order id: "ord-" and 26 characters of Crockford
	// base32 whose order is creation order (a ULID). It is also the
	// RegionOrderRef and the Idempotency-Key sent to Order Management.
	ID string
	// Subject is the customer's pseudonymous global subject id.
	Subject string
	// ConsultantID is the consultant the order is credited to; "" for
	// none.
	ConsultantID string
	// PlacedBy is the subject of whoever placed the order: the customer,
	// or a consultant on their behalf. Idempotency keys are scoped to it.
	PlacedBy          string
	Currency          string // ISO 4217
	Lines             []Line // in the order given to Place
	Total             string // the sum of the line totals
	ShippingAddressID string // the in-country address record's id
	Note              string // free text for the region only; never sent abroad
	Status            Status // the furthest status reached
	// RejectReason says, in words fit for the customer, why a REJECTED
	// order was refused; "" otherwise.
	RejectReason string
	// GlobalOrderID is Order Management's id for the order; "" until it
	// accepted the order.
	GlobalOrderID string
	// History lists the statuses the region saw the order reach, in life
	// order; the last is Status. A status whose news was lost (ACCEPTED,
	// when CONFIRMED came first) is missing.
	History   []StatusChange
	CreatedAt time.Time // when Place committed the order
	// UpdatedAt is when the region last changed the order (its status).
	UpdatedAt time.Time
}

// PlaceRequest is an order to place. Every field but ConsultantID and Note
// is required.
type PlaceRequest struct {
	// Subject is the customer's pseudonymous global subject id. It is sent
	// to Order Management, so it must be an opaque reference (see
	// MaxRefLength).
	Subject string
	// ConsultantID credits the order to a consultant; "" for none.
	ConsultantID string
	// PlacedBy is the authenticated principal placing the order.
	PlacedBy string
	// IdempotencyKey identifies the intended order among PlacedBy's: one
	// per checkout, reused on every retry of that checkout.
	IdempotencyKey string
	// RequestHash is a hash of the normalized request, computed by the
	// caller; it tells a retry (same hash) from a reused key (another).
	RequestHash string
	Currency    string // ISO 4217, every line's price is in it
	Lines       []Line // 1 to MaxLines, at most one per SKU
	// ShippingAddressID is the in-country address record; it is sent as
	// an opaque reference, so it must be one.
	ShippingAddressID string
	// Note is free text kept in the region, up to MaxNoteLength
	// characters.
	Note string
}

// Page is one page of a listing.
type Page struct {
	// Orders are newest first, with their lines and history.
	Orders []Order
	// HasNextPage reports that older orders follow the last of this page;
	// ask for them with its ID as afterID.
	HasNextPage bool
}

// OutboxState is where an outbox entry is.
type OutboxState string

// The states of an outbox entry.
const (
	OutboxPending OutboxState = "pending" // to be sent: due, backing off, or claimed
	OutboxSent    OutboxState = "sent"    // Order Management holds the order
	OutboxDead    OutboxState = "dead"    // refused by Order Management; a dead letter
)

// OutboxEntry is the command to send one order to Order Management.
type OutboxEntry struct {
	ID      string      // "obx-" and a ULID
	OrderID string      // the order to send
	State   OutboxState // pending, sent or dead
	// Attempts counts the claims of the entry, this one included: a claim
	// is an attempt, even one whose worker died before sending.
	Attempts int
	// NextAttemptAt is when the entry is due: when it was placed, then
	// after each failed attempt's backoff.
	NextAttemptAt time.Time
	// LockedBy is the worker holding the entry's lease; "" when none.
	LockedBy string
	// LockedUntil is when the lease ends; zero when none.
	LockedUntil time.Time
	// LastError is why the last attempt failed, for operators.
	LastError string
	// DeadReason is the client-safe reason of a dead letter.
	DeadReason string
	CreatedAt  time.Time // when the order was placed
	// FinishedAt is when the entry was sent or given up; zero before.
	FinishedAt time.Time
	// Order is the order to send, with its lines and history.
	Order Order
}

// Bounds of what the store accepts.
const (
	MaxLines             = 100  // lines per order, as Order Management allows
	MaxQuantity          = 999  // units per line, as Order Management allows
	MaxRefLength         = 128  // bytes of an opaque reference sent abroad
	MaxIDLength          = 255  // bytes of other ids and of an idempotency key
	MaxRequestHashLength = 128  // bytes of a request hash
	MaxNoteLength        = 500  // characters of a note
	MaxPageSize          = 500  // orders per page of a listing
	MaxClaim             = 500  // outbox entries per Claim
	maxLastErrorLength   = 2000 // bytes of a stored last error
	maxReasonLength      = 500  // bytes of a stored reject reason
	// MinIdempotencyRetention is how long an idempotency key is kept at
	// least: a checkout retried within a day finds its order.
	MinIdempotencyRetention = 24 * time.Hour
)

var (
	// ErrInvalidInput is wrapped by every *FieldError: a value the store
	// does not accept. The gateway maps it to BAD_USER_INPUT.
	ErrInvalidInput = errors.New("orderstore: invalid input")
	// ErrNotFound is returned (wrapped) for an order or outbox entry that
	// does not exist.
	ErrNotFound = errors.New("orderstore: not found")
	// ErrIdempotencyKeyReused is returned (wrapped) by Place when the
	// principal already used the idempotency key for a request with
	// another hash. The gateway maps it to a conflict.
	ErrIdempotencyKeyReused = errors.New("orderstore: idempotency key already used for a different order")
	// ErrLeaseLost is returned (wrapped) by MarkSent, MarkRetry and
	// MarkDead when the entry is no longer claimed by the worker: its
	// lease expired and another worker claimed it, or it was already
	// marked. The outcome was not recorded; the other worker's stands.
	ErrLeaseLost = errors.New("orderstore: the outbox entry is no longer claimed by this worker")
)
