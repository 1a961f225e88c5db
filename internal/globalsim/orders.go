package globalsim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Order statuses, in the order an order passes through them.
const (
	StatusAccepted  = "accepted"
	StatusConfirmed = "confirmed"
	StatusShipped   = "shipped"
)

// Bounds of an order request.
const (
	maxOrderLines      = 100
	maxLineQuantity    = 999
	maxIdempotencyKey  = 255
	idempotencyKeyName = "Idempotency-Key"
)

// opaqueRefPattern is what subject ids and in-country references must look
// like. Only identifier characters are allowed, so free text such as a name
// or an address line cannot ride along in a reference field.
var opaqueRefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// orderRequest is the body of POST /orders/v1/orders. It carries no personal
// data: the customer is a pseudonymous global subject id and the shipping
// address an opaque reference to a record that stays in the country.
type orderRequest struct {
	Subject            string             `json:"subject"`
	RegionOrderRef     string             `json:"regionOrderRef"`
	ShippingAddressRef string             `json:"shippingAddressRef"`
	Currency           string             `json:"currency"`
	Lines              []orderLineRequest `json:"lines"`
}

type orderLineRequest struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unitPrice"`
}

type order struct {
	id         string
	req        orderRequest
	lines      []reservation
	totalCents int64
	createdAt  time.Time
}

type orderJSON struct {
	ID                 string          `json:"id"`
	Subject            string          `json:"subject"`
	RegionOrderRef     string          `json:"regionOrderRef"`
	ShippingAddressRef string          `json:"shippingAddressRef"`
	Currency           string          `json:"currency"`
	Lines              []orderLineJSON `json:"lines"`
	Total              string          `json:"total"`
	Status             string          `json:"status"`
	StatusHistory      []statusEntry   `json:"statusHistory"`
	CreatedAt          time.Time       `json:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt"`
}

type orderLineJSON struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unitPrice"`
	LineTotal string `json:"lineTotal"`
}

type statusEntry struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

type orderList struct {
	Orders []orderJSON `json:"orders"`
}

// idempotentEntry remembers which request body an Idempotency-Key was first
// used with, so a replay can be told apart from a conflicting reuse.
type idempotentEntry struct {
	fingerprint [sha256.Size]byte
	order       *order
}

// orderBook is the simulated Order Management system.
type orderBook struct {
	mu           sync.Mutex
	byID         map[string]*order
	bySubject    map[string][]*order
	byKey        map[string]idempotentEntry
	confirmAfter time.Duration
	shipAfter    time.Duration
}

func newOrderBook(confirmAfter, shipAfter time.Duration) *orderBook {
	return &orderBook{
		byID:         map[string]*order{},
		bySubject:    map[string][]*order{},
		byKey:        map[string]idempotentEntry{},
		confirmAfter: confirmAfter,
		shipAfter:    shipAfter,
	}
}

// fingerprint hashes the decoded request, so two bodies that differ only in
// whitespace or key order count as the same request.
func (req orderRequest) fingerprint() [sha256.Size]byte {
	b, err := json.Marshal(req)
	if err != nil {
		panic(fmt.Sprintf("globalsim: marshal order request: %v", err)) // plain strings and ints only
	}
	return sha256.Sum256(b)
}

// validate checks what can be checked without the master data and returns
// the lines as reservations with the order total.
func (req orderRequest) validate() ([]reservation, int64, error) {
	for _, ref := range [][2]string{{"subject", req.Subject}, {"regionOrderRef", req.RegionOrderRef}, {"shippingAddressRef", req.ShippingAddressRef}} {
		if !opaqueRefPattern.MatchString(ref[1]) {
			return nil, 0, newAPIError(http.StatusBadRequest, "invalid_request",
				"%s %q: want an opaque identifier of 1 to 128 letters, digits, '.', '_', ':' or '-'", ref[0], ref[1])
		}
	}
	if !currencyPattern.MatchString(req.Currency) {
		return nil, 0, newAPIError(http.StatusBadRequest, "invalid_request", "currency %q is not an ISO 4217 code", req.Currency)
	}
	if len(req.Lines) == 0 || len(req.Lines) > maxOrderLines {
		return nil, 0, newAPIError(http.StatusBadRequest, "invalid_request", "lines: want 1 to %d lines, got %d", maxOrderLines, len(req.Lines))
	}
	return req.reservations()
}

func (req orderRequest) reservations() ([]reservation, int64, error) {
	lines := make([]reservation, 0, len(req.Lines))
	seen := map[string]bool{}
	var total int64
	for i, l := range req.Lines {
		if seen[l.SKU] {
			return nil, 0, newAPIError(http.StatusUnprocessableEntity, "duplicate_sku",
				"lines[%d]: sku %q appears on more than one line; put the whole quantity on one line", i, l.SKU).withSKUs([]string{l.SKU})
		}
		seen[l.SKU] = true
		if l.Quantity < 1 || l.Quantity > maxLineQuantity {
			return nil, 0, newAPIError(http.StatusUnprocessableEntity, "invalid_quantity",
				"lines[%d]: quantity %d is not between 1 and %d", i, l.Quantity, maxLineQuantity).withSKUs([]string{l.SKU})
		}
		cents, err := parseMoney(l.UnitPrice)
		if err != nil {
			return nil, 0, newAPIError(http.StatusBadRequest, "invalid_request", "lines[%d].unitPrice: %v", i, err)
		}
		lines = append(lines, reservation{SKU: l.SKU, Quantity: l.Quantity, UnitCents: cents})
		total += cents * int64(l.Quantity)
	}
	return lines, total, nil
}

// create places an order, or replays the one an Idempotency-Key already made.
// created is false for a replay. The whole operation holds the order book's
// lock, so two concurrent requests with one key cannot both create.
func (b *orderBook) create(key string, req orderRequest, md *masterdata, now time.Time, newID func() string) (o *order, created bool, err error) {
	fp := req.fingerprint()
	b.mu.Lock()
	defer b.mu.Unlock()
	if prior, ok := b.byKey[key]; ok {
		if prior.fingerprint != fp {
			return nil, false, newAPIError(http.StatusConflict, "idempotency_key_reused",
				"Idempotency-Key %q was already used with a different request body", key)
		}
		return prior.order, false, nil
	}
	lines, total, err := req.validate()
	if err != nil {
		return nil, false, err
	}
	if err := md.reserve(lines, req.Currency, now); err != nil {
		return nil, false, err
	}
	o = &order{id: b.freshID(newID), req: req, lines: lines, totalCents: total, createdAt: now}
	b.byID[o.id] = o
	b.bySubject[req.Subject] = append(b.bySubject[req.Subject], o)
	b.byKey[key] = idempotentEntry{fingerprint: fp, order: o}
	return o, true, nil
}

func (b *orderBook) freshID(newID func() string) string {
	for {
		if id := newID(); b.byID[id] == nil {
			return id
		}
	}
}

// history is the status timeline of an order created at created, as seen at
// now: statuses are derived from the clock rather than driven by timers, so
// a test moves an order along by moving its clock.
func (b *orderBook) history(created, now time.Time) []statusEntry {
	h := []statusEntry{{Status: StatusAccepted, At: created}}
	for _, step := range []struct {
		status string
		after  time.Duration
	}{{StatusConfirmed, b.confirmAfter}, {StatusShipped, b.shipAfter}} {
		at := created.Add(step.after)
		if now.Before(at) {
			break
		}
		h = append(h, statusEntry{Status: step.status, At: at})
	}
	return h
}

// toJSON needs no lock: an order never changes after creation, only the
// clock moves.
func (b *orderBook) toJSON(o *order, now time.Time) orderJSON {
	lines := make([]orderLineJSON, len(o.lines))
	for i, l := range o.lines {
		lines[i] = orderLineJSON{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: formatMoney(l.UnitCents), LineTotal: formatMoney(l.UnitCents * int64(l.Quantity))}
	}
	h := b.history(o.createdAt, now)
	last := h[len(h)-1]
	return orderJSON{
		ID: o.id, Subject: o.req.Subject, RegionOrderRef: o.req.RegionOrderRef,
		ShippingAddressRef: o.req.ShippingAddressRef, Currency: o.req.Currency,
		Lines: lines, Total: formatMoney(o.totalCents),
		Status: last.Status, StatusHistory: h, CreatedAt: o.createdAt, UpdatedAt: last.At,
	}
}

func (b *orderBook) get(id string, now time.Time) (orderJSON, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.byID[id]
	if o == nil {
		return orderJSON{}, false
	}
	return b.toJSON(o, now), true
}

// list returns a subject's orders, newest first.
func (b *orderBook) list(subject string, now time.Time) []orderJSON {
	b.mu.Lock()
	defer b.mu.Unlock()
	orders := b.bySubject[subject]
	out := make([]orderJSON, 0, len(orders))
	for _, o := range slices.Backward(orders) {
		out = append(out, b.toJSON(o, now))
	}
	return out
}

func (s *Sim) handleCreateOrder(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(idempotencyKeyName)
	if key == "" || len(key) > maxIdempotencyKey {
		writeError(w, http.StatusBadRequest, "idempotency_key_missing",
			fmt.Sprintf("an %s header of 1 to %d characters is required", idempotencyKeyName, maxIdempotencyKey))
		return
	}
	var req orderRequest
	if err := decodeJSON(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	now := s.now()
	o, created, err := s.orders.create(key, req, s.md, now, s.newOrderID)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("order created", "id", o.id, "subject", req.Subject, "lines", len(o.lines), "total", formatMoney(o.totalCents))
		// Only a creation is announced: a replay changes nothing.
		s.orderHook.track(o)
	}
	w.Header().Set("Location", "/orders/v1/orders/"+o.id)
	writeJSON(w, status, s.orders.toJSON(o, now))
}

func (s *Sim) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	o, ok := s.orders.get(id, s.now())
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no order with id %q", id))
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Sim) handleListOrders(w http.ResponseWriter, r *http.Request) {
	subject := r.URL.Query().Get("subject")
	if !opaqueRefPattern.MatchString(subject) {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("query parameter subject %q: a subject id is required", subject))
		return
	}
	writeJSON(w, http.StatusOK, orderList{Orders: s.orders.list(subject, s.now())})
}

func (b *orderBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byID)
}
