package globalsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"meridian/internal/idpsim"
)

// Defaults applied to a zero Config field.
const (
	DefaultConfirmAfter   = 2 * time.Second  // accepted → confirmed
	DefaultShipAfter      = 10 * time.Second // accepted → shipped
	DefaultRequestLogSize = 10_000           // requests kept by the request log
	DefaultFeedRetention  = 100_000          // changes kept by each change feed

	// DefaultOrderWebhookInterval is how often, by default, the simulator
	// looks for order status changes to announce to Config.OrderWebhook.
	DefaultOrderWebhookInterval = 250 * time.Millisecond
)

// MaxRequestBody is the largest request body the simulator reads; a larger
// one is answered 413.
const MaxRequestBody = 1 << 20

// Config configures a Sim. Only Catalog is required; every other zero field
// takes the documented default.
type Config struct {
	// Catalog is the catalog seed, in the format of testdata/catalog.json:
	// the products the master data service knows, with their list prices.
	Catalog []byte
	// Content is the CMS seed, in the format of testdata/content.json. Nil
	// or empty gives a CMS without pages.
	Content []byte
	// Latency and Jitter are every origin's default delay: each request waits
	// Latency plus a uniform offset in [-Jitter, +Jitter], never less than
	// zero. Zero means no delay. Both can be changed per origin at run time
	// through PUT /admin/faults; DELETE /admin/faults restores these.
	Latency, Jitter time.Duration
	// Now is the clock behind every timestamp and the order status
	// progression. Nil means time.Now. Latency is real time regardless.
	Now func() time.Time
	// Seed seeds the random sources behind jitter, injected errors and order
	// ids, so a test with a fixed seed sees fixed values.
	Seed uint64
	// ConfirmAfter and ShipAfter are how long after creation an order
	// becomes confirmed and shipped. Zero means DefaultConfirmAfter and
	// DefaultShipAfter; ShipAfter must not be shorter than ConfirmAfter.
	ConfirmAfter, ShipAfter time.Duration
	// RequestLogSize is how many requests GET /admin/requests keeps. Zero
	// means DefaultRequestLogSize.
	RequestLogSize int
	// FeedRetention is how many changes each change feed keeps; a cursor
	// older than that is answered 410. Zero means DefaultFeedRetention.
	FeedRetention int
	// Logger receives operator-facing events (faults changed, orders
	// created, data patched, webhook deliveries that failed). Nil discards
	// them.
	Logger *slog.Logger
	// Webhook, when its URL is set, is notified after every admin edit
	// that changes master data or content (PATCH and DELETE under
	// /admin/masterdata and /admin/cms): a signed POST of
	// {"origin":"masterdata"|"cms","changes":N}, sent in the background
	// with a short timeout and two retries, so the admin call never waits
	// for it; failures are logged. The signature's timestamp comes from
	// Now.
	Webhook WebhookConfig
	// OrderWebhook, when its URL is set, is told of every order status
	// change: a signed POST (the same scheme as Webhook) of
	// {"orderId":"…","regionOrderRef":"…","status":"accepted"|"confirmed"|"shipped","at":"…"}
	// when an order is created and again when it becomes confirmed and
	// when it becomes shipped, "at" being when the order reached the
	// status. Each status of each order is sent once, with Webhook's
	// timeout and retries; a delivery that still fails is logged and
	// dropped, since the receiver can always poll the order. One order's
	// notifications are delivered one after the other, in status order;
	// different orders' are independent. Order creation never waits for
	// its notification.
	OrderWebhook WebhookConfig
	// OrderWebhookInterval is how often a background ticker compares each
	// order's status by Now with the last one announced (see
	// Sim.NotifyOrderTransitions); a status is announced within one
	// interval of Now reaching it. It is real time even when Now is not.
	// Zero means DefaultOrderWebhookInterval. Without OrderWebhook no
	// ticker runs.
	OrderWebhookInterval time.Duration
	// Identities, in the format of testdata/identities.json, turns on the
	// demo OpenID Connect identity provider (package idpsim) under
	// IdPPath. Nil or empty runs without one.
	Identities []byte
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ConfirmAfter == 0 {
		c.ConfirmAfter = DefaultConfirmAfter
	}
	if c.ShipAfter == 0 {
		c.ShipAfter = DefaultShipAfter
	}
	if c.RequestLogSize == 0 {
		c.RequestLogSize = DefaultRequestLogSize
	}
	if c.FeedRetention == 0 {
		c.FeedRetention = DefaultFeedRetention
	}
	if c.OrderWebhookInterval == 0 {
		c.OrderWebhookInterval = DefaultOrderWebhookInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config after defaults are applied.
func (c Config) validate() error {
	var errs []error
	if len(bytes.TrimSpace(c.Catalog)) == 0 {
		errs = append(errs, errors.New("catalog seed is required"))
	}
	if err := (faultSetting{Latency: c.Latency, Jitter: c.Jitter}).validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ConfirmAfter < 0 || c.ShipAfter < c.ConfirmAfter {
		errs = append(errs, fmt.Errorf("confirm after %v and ship after %v: want 0 <= confirm <= ship", c.ConfirmAfter, c.ShipAfter))
	}
	if c.RequestLogSize < 0 || c.FeedRetention < 0 {
		errs = append(errs, fmt.Errorf("request log size %d and feed retention %d must not be negative", c.RequestLogSize, c.FeedRetention))
	}
	if err := c.Webhook.validate("webhook"); err != nil {
		errs = append(errs, err)
	}
	if err := c.OrderWebhook.validate("order webhook"); err != nil {
		errs = append(errs, err)
	}
	if c.OrderWebhookInterval < 0 {
		errs = append(errs, fmt.Errorf("order webhook interval %v must not be negative", c.OrderWebhookInterval))
	}
	return errors.Join(errs...)
}

// Sim is the simulated global side: master data, order management and CMS
// behind one http.Handler, plus the /admin API that steers them. A Sim is
// safe for concurrent use. With Config.OrderWebhook it runs a ticker
// goroutine from New until Close; otherwise it starts none that outlive a
// request or a webhook delivery. Close releases the requests it is holding
// and stops everything it started.
type Sim struct {
	now    func() time.Time
	log    *slog.Logger
	md     *masterdata
	orders *orderBook
	cms    *cms
	faults *faultTable
	reqlog *requestLog
	hook   *notifier // nil without Config.Webhook
	// orderHook announces order status changes; nil without
	// Config.OrderWebhook.
	orderHook *orderNotifier
	mux       *http.ServeMux
	routes    map[string]bool // "METHOD /path" patterns of routeTable

	idp *idpsim.IdP // under IdPPath; nil without Config.Identities

	idMu  sync.Mutex
	idRng *rand.Rand // guarded by idMu

	lifeMu   sync.Mutex
	closed   bool
	closing  chan struct{} // closed by Close
	inflight sync.WaitGroup
}

// New builds a Sim from cfg, loading the seeds. It fails if cfg is invalid
// or a seed does not parse.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("globalsim: config: %w", err)
	}
	s := &Sim{
		log:     cfg.Logger,
		orders:  newOrderBook(cfg.ConfirmAfter, cfg.ShipAfter),
		faults:  newFaultTable(faultSetting{Latency: cfg.Latency, Jitter: cfg.Jitter}, rand.New(rand.NewPCG(cfg.Seed, 1))),
		reqlog:  newRequestLog(cfg.RequestLogSize),
		idRng:   rand.New(rand.NewPCG(cfg.Seed, 2)),
		closing: make(chan struct{}),
	}
	clock := cfg.Now
	s.now = func() time.Time { return clock().UTC() }
	s.hook = newNotifier(cfg.Webhook, s.now, s.log)
	var err error
	if len(bytes.TrimSpace(cfg.Identities)) > 0 {
		if s.idp, err = idpsim.New(idpsim.Config{Identities: cfg.Identities, Now: s.now}); err != nil {
			return nil, fmt.Errorf("globalsim: %w", err)
		}
	}
	if s.md, err = newMasterdata(cfg.Catalog, s.now(), cfg.FeedRetention); err != nil {
		return nil, fmt.Errorf("globalsim: %w", err)
	}
	if s.cms, err = newCMS(cfg.Content, cfg.FeedRetention); err != nil {
		return nil, fmt.Errorf("globalsim: %w", err)
	}
	s.mux, s.routes = s.buildMux()
	// Last, so that a failed New leaves no ticker running.
	s.orderHook = newOrderNotifier(cfg.OrderWebhook, cfg.OrderWebhookInterval, s.orders.history, s.now, s.log)
	return s, nil
}

func (s *Sim) buildMux() (*http.ServeMux, map[string]bool) {
	mux := http.NewServeMux()
	known := map[string]bool{}
	for _, rs := range routeTable() {
		handle := rs.handle
		mux.HandleFunc(rs.String(), func(w http.ResponseWriter, r *http.Request) { handle(s, w, r) })
		known[rs.String()] = true
	}
	return mux, known
}

// Handler returns the handler serving every system on one listener:
// /masterdata/, /orders/, /cms/ and /admin/. Mount it on any server,
// httptest.NewServer included; call Close before shutting that server down,
// or a blackholed request keeps the server's shutdown waiting.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Close releases every request the simulator is holding or delaying (they
// are answered 503), makes every later request answer 503, stops the order
// webhook's ticker, abandons webhook deliveries still in progress or
// queued, and returns once no request is inside the simulator and no
// goroutine it started is running any more. It is idempotent.
func (s *Sim) Close() {
	s.lifeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.lifeMu.Unlock()
	s.inflight.Wait()
	// After the requests: a request finishing an edit or creating an
	// order may still notify.
	s.hook.close()
	s.orderHook.close()
}

// enter admits a request unless the simulator is closed. Adding to inflight
// under lifeMu guarantees no Add races with the Wait in Close.
func (s *Sim) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Stats is a snapshot of what a Sim holds.
type Stats struct {
	Products int // SKUs in the master data
	Pages    int // CMS pages
	Orders   int // orders created since New
}

// Stats reports how much data the simulator holds.
func (s *Sim) Stats() Stats {
	return Stats{Products: s.md.count(), Pages: s.cms.count(), Orders: s.orders.count()}
}

func (s *Sim) newOrderID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return fmt.Sprintf("ord_%016x", s.idRng.Uint64())
}

// serve is the root handler: it admits the request, records it and applies
// its origin's faults (admin requests get neither), then dispatches.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the simulator is shutting down")
		return
	}
	defer s.inflight.Done()
	if s.idp != nil && isIdPPath(r.URL.Path) {
		s.idp.Handler().ServeHTTP(w, r)
		return
	}
	r, body, err := bufferBody(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	h, pattern := s.mux.Handler(r)
	if !s.routes[pattern] {
		pattern = ""
	}
	if origin, ok := originOf(r.URL.Path); ok {
		s.reqlog.add(s.now(), origin, pattern, r, body)
		if err := s.faults.apply(r.Context(), origin, s.closing); err != nil {
			answerFault(w, err)
			return
		}
	}
	if pattern == "" {
		answerNoRoute(w, r, h)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// bufferBody reads the whole body, bounded by MaxRequestBody, so it can be
// both logged and decoded. It returns a shallow copy of r reading from the
// buffer, leaving the server's request untouched.
func bufferBody(r *http.Request) (*http.Request, []byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		return r, nil, newAPIError(http.StatusBadRequest, "invalid_request", "reading request body: %v", err)
	}
	if len(body) > MaxRequestBody {
		return r, nil, newAPIError(http.StatusRequestEntityTooLarge, "request_too_large", "request body exceeds %d bytes", MaxRequestBody)
	}
	r = r.WithContext(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r, body, nil
}

func answerFault(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errInjected):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is temporarily unavailable (injected fault)")
	case errors.Is(err, errClosing):
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the simulator is shutting down")
	default:
		// The client gave up; nobody is left to answer.
	}
}

// answerNoRoute turns the mux's plain-text 404 or 405 into the JSON error
// envelope, keeping the status and the Allow header.
func answerNoRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	writeError(w, http.StatusNotFound, "no_route", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
}

// statusProbe is a ResponseWriter that keeps only the status and headers.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
