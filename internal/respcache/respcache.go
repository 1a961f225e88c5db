package respcache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"

	"meridian/internal/auth"
	"meridian/internal/cache"
	"meridian/internal/cachecontrol"
	"meridian/internal/locale"
	"meridian/internal/metrics"
)

// Defaults of Config, used for fields left zero.
const (
	// DefaultMaxEntries is Config.MaxEntries' default.
	DefaultMaxEntries = 10_000
	// DefaultMaxBytes is Config.MaxBytes' default: 64 MiB.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxEntryBytes is Config.MaxEntryBytes' default: 1 MiB.
	DefaultMaxEntryBytes = 1 << 20
	// DefaultDegradedTTL is Config.DegradedTTL's default.
	DefaultDegradedTTL = 5 * time.Second
	// DefaultStaleWhileRevalidate is Config.StaleWhileRevalidate's
	// default.
	DefaultStaleWhileRevalidate = 10 * time.Second
	// DefaultRedisPrefix is Config.RedisPrefix' default.
	DefaultRedisPrefix = "meridian:respcache:"
)

// Fixed limits of background work.
const (
	// maxRefreshes bounds concurrent stale-while-revalidate refreshes: on
	// two cores, a burst of expiring entries must not crowd out requests.
	// A stale entry whose refresh finds no slot is refreshed by a later
	// request.
	maxRefreshes = 4
	// refreshTimeout bounds a refresh's context (the GraphQL edge adds
	// its own, shorter, execution deadline).
	refreshTimeout = 30 * time.Second
	// sharedTimeout bounds each write to and purge of the shared tier.
	sharedTimeout = 2 * time.Second
	// subscribeWait is how long New waits for the purge subscription to be
	// confirmed before it carries on (and keeps trying in the
	// background).
	subscribeWait = 2 * time.Second
	// maxVerdicts bounds the documents remembered as never storable.
	maxVerdicts = 4096
	// warnEvery spaces repeated warnings about the shared tier, which
	// would otherwise come once per request while Redis is down.
	warnEvery = 10 * time.Second
)

// Config configures a Cache. The zero value of every field but the
// optional ones means its default.
type Config struct {
	// MaxEntries and MaxBytes bound the in-process tier (defaults 10,000
	// and 64 MiB); bytes count the stored pieces plus about 256 bytes of
	// bookkeeping per entry. Least recently used entries are evicted
	// first. Not negative.
	MaxEntries int
	MaxBytes   int64
	// MaxEntryBytes is the largest response body kept (default 1 MiB);
	// larger responses are answered as usual and not stored. At most
	// MaxBytes.
	MaxEntryBytes int
	// Shared is the tier every replica reads, normally cache.NewRedis with
	// a prefix of its own ("meridian:resp:"); nil keeps entries in process
	// only. A local miss reads it before executing, and a stored entry is
	// written to it in the background. Requires Redis, which indexes its
	// entries by tag for purges.
	Shared cache.Store
	// Redis, optional, carries purges to every replica over pub/sub and
	// holds the per-tag sets of shared keys. The Cache neither opens nor
	// closes it.
	Redis redis.UniversalClient
	// RedisPrefix names the tag sets (prefix + "tag:" + tag) and the purge
	// channel (prefix + "purge"); default "meridian:respcache:". Every
	// replica of one deployment must use the same prefix.
	RedisPrefix string
	// DegradedTTL is how long a response that contains values served from
	// fallback copies (extensions.degraded) stays fresh, at most; default
	// 5s, not negative. The origin may be back any moment: a stored
	// fallback answer must not keep serving old values long after it is.
	DegradedTTL time.Duration
	// StaleWhileRevalidate is how long past its max-age an entry is still
	// served, at once, while one background refresh recomputes it; default
	// 10s. Not negative.
	StaleWhileRevalidate time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives warnings about the shared tier and the purge
	// channel; nil discards them.
	Logger *slog.Logger
	// Metrics, optional, receives meridian_response_cache_*.
	Metrics *metrics.Metrics
}

// Cache is the whole-response cache. Use New; it is safe for concurrent
// use. See the package documentation for what it stores and serves.
type Cache struct {
	front         *front
	shared        cache.Store
	redis         redis.UniversalClient
	tagPrefix     string
	channel       string
	maxEntryBytes int
	degradedTTL   time.Duration
	swr           time.Duration
	now           func() time.Time
	log           *slog.Logger
	purges        *purgeLog
	verdicts      verdicts
	flights       flights
	instance      string
	scratch       sync.Pool // *scratch

	hits, misses, stales, bypasses prometheus.Counter
	localPurges, remotePurges      prometheus.Counter

	refreshMu    sync.Mutex
	refreshing   map[key]struct{}
	refreshSlots chan struct{}

	ctx      context.Context // cancelled by Close; parent of background work
	cancel   context.CancelFunc
	closed   atomic.Bool // read on every request
	bgMu     sync.Mutex  // orders goBackground's Add before Close's Wait
	bg       sync.WaitGroup
	pubsub   *redis.PubSub
	lastWarn atomic.Int64
}

// New returns a Cache for cfg after checking it; every problem is reported
// at once. With Redis set it subscribes to the purge channel and waits up
// to two seconds for the subscription to be confirmed; if it is not, New
// logs a warning and returns anyway, and the subscription keeps being
// retried in the background (entries stored until it is confirmed are
// dropped then, since purges may have been missed).
func New(cfg Config) (*Cache, error) {
	var errs []error
	if cfg.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("MaxEntries must not be negative, got %d", cfg.MaxEntries))
	}
	if cfg.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBytes must not be negative, got %d", cfg.MaxBytes))
	}
	if cfg.MaxEntryBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxEntryBytes must not be negative, got %d", cfg.MaxEntryBytes))
	}
	if cfg.DegradedTTL < 0 {
		errs = append(errs, fmt.Errorf("DegradedTTL must not be negative, got %v", cfg.DegradedTTL))
	}
	if cfg.StaleWhileRevalidate < 0 {
		errs = append(errs, fmt.Errorf("StaleWhileRevalidate must not be negative, got %v", cfg.StaleWhileRevalidate))
	}
	if cfg.Shared != nil && cfg.Redis == nil {
		errs = append(errs, errors.New("a Shared tier needs Redis: without pub/sub and the tag sets, a purge would leave other replicas' copies in place"))
	}
	cfg = withDefaults(cfg)
	if int64(cfg.MaxEntryBytes) > cfg.MaxBytes {
		errs = append(errs, fmt.Errorf("MaxEntryBytes (%d) must not exceed MaxBytes (%d)", cfg.MaxEntryBytes, cfg.MaxBytes))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("respcache: %w", errors.Join(errs...))
	}

	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		shared:        cfg.Shared,
		redis:         cfg.Redis,
		tagPrefix:     cfg.RedisPrefix + "tag:",
		channel:       cfg.RedisPrefix + "purge",
		maxEntryBytes: cfg.MaxEntryBytes,
		degradedTTL:   cfg.DegradedTTL,
		swr:           cfg.StaleWhileRevalidate,
		now:           cfg.Now,
		log:           cfg.Logger,
		purges:        newPurgeLog(),
		verdicts:      verdicts{max: maxVerdicts},
		instance:      randomID(),
		refreshing:    make(map[key]struct{}),
		refreshSlots:  make(chan struct{}, maxRefreshes),
		ctx:           ctx,
		cancel:        cancel,
	}
	c.scratch.New = func() any { return new(scratch) }
	var onBytes func(int64)
	if m := cfg.Metrics; m != nil {
		c.hits = m.ResponseCacheRequests.WithLabelValues("hit")
		c.misses = m.ResponseCacheRequests.WithLabelValues("miss")
		c.stales = m.ResponseCacheRequests.WithLabelValues("stale")
		c.bypasses = m.ResponseCacheRequests.WithLabelValues("bypass")
		c.localPurges = m.ResponseCachePurges.WithLabelValues("local")
		c.remotePurges = m.ResponseCachePurges.WithLabelValues("remote")
		gauge := m.ResponseCacheBytes
		onBytes = func(n int64) { gauge.Set(float64(n)) }
	}
	c.front = newFront(cfg.MaxEntries, cfg.MaxBytes, onBytes)
	if c.redis != nil {
		c.subscribe()
	}
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxEntryBytes == 0 {
		cfg.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if cfg.DegradedTTL == 0 {
		cfg.DegradedTTL = DefaultDegradedTTL
	}
	if cfg.StaleWhileRevalidate == 0 {
		cfg.StaleWhileRevalidate = DefaultStaleWhileRevalidate
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = DefaultRedisPrefix
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

// Close stops the purge subscription and waits for background work
// (shared-tier writes, refreshes) to end; refreshes in flight are
// cancelled. Afterwards the middleware passes every request through
// untouched. Close is idempotent and returns the subscription's close
// error, if any.
func (c *Cache) Close() error {
	c.bgMu.Lock()
	if c.closed.Load() {
		c.bgMu.Unlock()
		return nil
	}
	c.closed.Store(true)
	c.bgMu.Unlock()
	c.cancel()
	var err error
	if c.pubsub != nil {
		err = c.pubsub.Close()
	}
	c.bg.Wait()
	return err
}

// goBackground runs fn on its own goroutine unless the Cache is closed,
// and reports whether it did.
func (c *Cache) goBackground(fn func()) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
	return true
}

// Middleware returns next behind the cache. Place it in front of the
// GraphQL edge, after authentication and locale negotiation (it reads the
// principal and the locale from the context) and before anything that
// prepares an execution (per-request dataloaders, the degraded report):
// a background refresh re-runs a request through next with a context that
// carries the locale and nothing else. Middleware panics on a nil next, a
// wiring mistake caught at start-up.
func (c *Cache) Middleware(next http.Handler) http.Handler {
	if next == nil {
		panic("respcache: Middleware needs a next handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, next)
	})
}

// scratch is per-request working memory, pooled: the body read for the
// key and the key's input.
type scratch struct {
	body  bytes.Buffer
	limit io.LimitedReader
	kb    keyBuilder
}

func (c *Cache) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if c.closed.Load() {
		next.ServeHTTP(w, r)
		return
	}
	s := c.scratch.Get().(*scratch)
	defer c.putScratch(s)

	rq, body, r, ok := c.prepare(s, r)
	if ok && c.verdicts.has(rq.doc) {
		ok = false
		if body != nil {
			r = withBody(r, body)
		}
	}
	if !ok {
		inc(c.bypasses)
		w.Header().Set("X-Cache", "BYPASS")
		next.ServeHTTP(w, r)
		return
	}
	// Credentialed means anything that could make the answer personal to
	// this client, judged like the edge does: a principal, or any
	// Authorization or Cookie header (an expired session's cookie still
	// marks a browser that must not get a publicly cacheable answer).
	p, _ := auth.FromContext(r.Context())
	credentialed := p != nil || r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != ""

	now := c.now()
	if e := c.lookup(r.Context(), rq.key, now); e != nil && (!credentialed || e.scope == cachecontrol.Public) {
		if now.Before(e.freshUntil) {
			inc(c.hits)
			c.writeHit(w, e, "HIT", now, credentialed, rq)
			return
		}
		if now.Before(e.freshUntil.Add(c.swr)) {
			inc(c.stales)
			c.writeHit(w, e, "STALE", now, credentialed, rq)
			c.startRefresh(r, rq, body, next)
			return
		}
	}
	c.miss(w, r, next, rq, body, credentialed)
}

func (c *Cache) putScratch(s *scratch) {
	if s.body.Cap() > 2*maxKeyedBody {
		return // grown by an odd request; let it go
	}
	s.body.Reset()
	c.scratch.Put(s)
}

// prepare computes the request's key. ok is false for requests the cache
// does not handle; the returned request then still carries its whole body.
// body is the POST body (nil for GET), valid until s is put back.
func (c *Cache) prepare(s *scratch, r *http.Request) (rq request, body []byte, _ *http.Request, ok bool) {
	var (
		p   params
		err error
	)
	switch r.Method {
	case http.MethodGet:
		p, err = fromGET(r)
		rq.adhocGET = len(p.query) > 0
	case http.MethodPost:
		rq.post = true
		if !isJSON(r.Header.Get("Content-Type")) {
			return rq, nil, r, false // the edge answers 415
		}
		s.limit = io.LimitedReader{R: r.Body, N: maxKeyedBody + 1}
		n, readErr := s.body.ReadFrom(&s.limit)
		s.limit.R = nil
		if readErr != nil || n > maxKeyedBody {
			// Hand the next handler the body as it came: what was read,
			// then the rest (or the read error).
			read := bytes.Clone(s.body.Bytes())
			rest := r.Body
			if readErr != nil {
				rest = io.NopCloser(errReader{readErr})
			}
			r = r.Clone(r.Context())
			r.Body = readCloser{io.MultiReader(bytes.NewReader(read), rest), r.Body}
			return rq, nil, r, false
		}
		body = s.body.Bytes()
		p, err = fromPOST(body)
		if err != nil {
			// s outlives the next handler's run: no copy needed.
			return rq, nil, withBody(r, body), false
		}
	default:
		return rq, nil, r, false
	}
	if err != nil {
		return rq, nil, r, false
	}
	rq.key, rq.doc = s.kb.keys(r, p)
	return rq, body, r, true
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.Reader
	io.Closer
}

// withBody returns a shallow copy of r that reads body.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.WithContext(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2
}

// lookup returns the entry under k from the in-process tier, or else the
// shared one (filling the in-process tier), or nil. Entries voided by a
// purge this replica knows of are dropped on the way.
func (c *Cache) lookup(ctx context.Context, k key, now time.Time) *entry {
	if e := c.front.get(k, now); e != nil {
		if c.purges.void(e.startedAt, e.tags) {
			c.front.deleteKey(k, e)
			return nil
		}
		return e
	}
	if c.shared == nil {
		return nil
	}
	stored, found, err := c.shared.Get(ctx, hex.EncodeToString(k[:]))
	if err != nil {
		if ctx.Err() == nil { // a client that hung up is no news
			c.warn("response cache: shared tier read failed; executing", "err", err)
		}
		return nil
	}
	if !found {
		return nil
	}
	e, ok, err := decodeEntry(stored.Value)
	if err != nil {
		c.warn("response cache: shared entry unreadable; executing", "err", err)
		return nil
	}
	if !ok || c.purges.void(e.startedAt, e.tags) {
		return nil
	}
	expires := e.freshUntil.Add(c.swr)
	if !now.Before(expires) {
		return nil
	}
	c.purges.keep(expires.Sub(e.startedAt))
	c.front.put(k, e, expires)
	return e
}

// miss executes the request once for every concurrent identical miss.
func (c *Cache) miss(w http.ResponseWriter, r *http.Request, next http.Handler, rq request, body []byte, credentialed bool) {
	f, leader := c.flights.join(rq.key, r.Context())
	if !leader {
		select {
		case <-f.done:
		case <-r.Context().Done():
			f.waiterLeft()
			return
		}
		if e := f.result; e != nil {
			inc(c.hits)
			c.writeHit(w, e, "HIT", c.now(), credentialed, rq)
			return
		}
		// The leader's response may not be shared (an error, a private
		// or uncacheable operation): this request runs on its own.
		inc(c.misses)
		cw, _ := c.run(r.Context(), w, r, next, rq, body)
		cw.replay("MISS")
		return
	}
	inc(c.misses)
	stop := context.AfterFunc(r.Context(), f.leaderLeft)
	finished := false
	defer func() {
		stop()
		if !finished { // next panicked: release the waiters, then go on panicking
			c.flights.finish(rq.key, f, nil)
		}
	}()
	cw, result := c.run(f.ctx, w, r, next, rq, body)
	c.flights.finish(rq.key, f, result)
	finished = true
	cw.replay("MISS")
}

// run executes r through next on ctx, with a collector, capturing the
// response for out (nil for a background refresh), and stores the
// response when it may be kept. It returns the capture and, when the
// response may be shared with concurrent identical requests, its entry.
func (c *Cache) run(ctx context.Context, out http.ResponseWriter, r *http.Request, next http.Handler, rq request, body []byte) (*capture, *entry) {
	col := &collector{}
	req := r.WithContext(withCollector(ctx, col))
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	cw := newCapture(out, c.maxEntryBytes)
	startedAt := c.now()
	next.ServeHTTP(cw, req)
	e, store := c.evaluate(cw, col.report(), startedAt, rq)
	if store {
		c.store(rq.key, e)
	}
	return cw, e
}

// evaluate decides what may become of a response. e is non-nil when the
// response may be shared: a 200 with data and no errors, for a query whose
// policy is cacheable, PUBLIC and has a positive max-age, fully captured,
// that read no personal data.
// store is true when it may also be kept: no resolver asked otherwise, its
// tags are indexable, and none of them was purged since the execution
// began.
func (c *Cache) evaluate(cw *capture, rep report, startedAt time.Time, rq request) (e *entry, store bool) {
	if !rep.hasOp {
		return nil, false // not a GraphQL execution Observe saw
	}
	pol := rep.policy
	if rep.op != ast.Query || !pol.Cacheable || pol.MaxAge <= 0 || pol.Scope != cachecontrol.Public {
		// The policy depends on the document alone: never look this
		// document up again.
		c.verdicts.add(rq.doc)
		return nil, false
	}
	// Personal data belongs to the one person it was read for: neither
	// kept nor handed to the requests waiting on this one.
	if rep.personal || rep.observed != 1 || cw.passing || cw.statusCode() != http.StatusOK {
		return nil, false
	}
	contentType := cw.header.Get("Content-Type")
	if contentType == "" {
		return nil, false
	}
	data, ext, hasDegraded, ok := splitResponse(cw.body.Bytes())
	if !ok {
		return nil, false
	}
	now := c.now()
	fresh := pol.MaxAge
	isDegraded := rep.degraded || hasDegraded
	if isDegraded {
		fresh = min(fresh, c.degradedTTL)
	}
	e = (&entry{
		storedAt:    now,
		freshUntil:  now.Add(fresh),
		startedAt:   startedAt,
		degraded:    isDegraded,
		scope:       cachecontrol.Public,
		contentType: contentType,
		data:        data,
		ext:         ext,
		tags:        sortedTags(rep.tags),
	}).derive()
	return e, !rep.noStore && !c.purges.void(startedAt, e.tags)
}

// store keeps e under k in process and, in the background, in the shared
// tier with its tags indexed.
func (c *Cache) store(k key, e *entry) {
	expires := e.freshUntil.Add(c.swr)
	c.purges.keep(expires.Sub(e.startedAt))
	c.front.put(k, e, expires)
	if c.shared == nil {
		return
	}
	c.goBackground(func() { c.storeShared(k, e, expires) })
}

func (c *Cache) storeShared(k key, e *entry, expires time.Time) {
	ctx, cancel := context.WithTimeout(c.ctx, sharedTimeout)
	defer cancel()
	ttl := expires.Sub(c.now())
	if ttl <= 0 {
		return
	}
	hexKey := hex.EncodeToString(k[:])
	if err := c.shared.Set(ctx, hexKey, e.encode(), ttl); err != nil {
		c.warn("response cache: shared tier write failed; entry kept in process only", "err", err)
		return
	}
	if err := c.indexShared(ctx, hexKey, e.tags, ttl); err != nil {
		// A shared entry no tag set names cannot be purged there: take it
		// back out.
		c.warn("response cache: tag index write failed; shared entry removed", "err", err)
		_ = c.shared.Delete(ctx, hexKey)
		return
	}
	// A purge may have run between the check in evaluate and the write.
	if c.purges.void(e.startedAt, e.tags) {
		_ = c.shared.Delete(ctx, hexKey)
	}
}

// startRefresh recomputes a stale entry in the background, once per key
// at a time and at most maxRefreshes at once. The refresh re-runs the
// request reduced to its method, URL, body, Accept, Accept-Language and
// Content-Type (it has the same key, so it is the same request) on a
// context that carries the locale and nothing else: no credentials, no
// request-scoped state of the client that happened to find the entry
// stale.
func (c *Cache) startRefresh(r *http.Request, rq request, body []byte, next http.Handler) {
	c.refreshMu.Lock()
	if _, busy := c.refreshing[rq.key]; busy {
		c.refreshMu.Unlock()
		return
	}
	select {
	case c.refreshSlots <- struct{}{}:
	default:
		c.refreshMu.Unlock()
		return
	}
	c.refreshing[rq.key] = struct{}{}
	c.refreshMu.Unlock()
	release := func() {
		c.refreshMu.Lock()
		delete(c.refreshing, rq.key)
		c.refreshMu.Unlock()
		<-c.refreshSlots
	}

	loc := locale.FromContext(r.Context())
	body = bytes.Clone(body) // the request's scratch is reused once it returns
	u := *r.URL
	u.User = nil
	req := (&http.Request{
		Method:     r.Method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Host:       r.Host,
		Body:       http.NoBody,
	}).WithContext(context.Background())
	for _, h := range [...]string{"Accept", "Accept-Language", "Content-Type"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = append([]string(nil), v...)
		}
	}
	started := c.goBackground(func() {
		defer release()
		defer func() {
			if v := recover(); v != nil {
				c.log.Error("response cache: refresh panicked", "panic", fmt.Sprint(v))
			}
		}()
		ctx, cancel := context.WithTimeout(locale.WithLocale(c.ctx, loc), refreshTimeout)
		defer cancel()
		c.run(ctx, nil, req, next, rq, body)
	})
	if !started {
		release()
	}
}

// writeHit answers from e. The body is the stored data with the stored
// extensions and a "cache" member saying where it came from:
//
//	{"data":…,"extensions":{…,"cache":{"status":"HIT","storedAt":"…","ageSeconds":N}}}
func (c *Cache) writeHit(w http.ResponseWriter, e *entry, status string, now time.Time, credentialed bool, rq request) {
	age := max(0, int64(now.Sub(e.storedAt)/time.Second))
	tail := make([]byte, 0, len(e.ext)+len(e.storedAtText)+96)
	tail = append(tail, `,"extensions":{`...)
	if len(e.ext) > 0 {
		tail = append(tail, e.ext...)
		tail = append(tail, ',')
	}
	tail = append(tail, `"cache":{"status":"`...)
	tail = append(tail, status...)
	tail = append(tail, `","storedAt":"`...)
	tail = append(tail, e.storedAtText...)
	tail = append(tail, `","ageSeconds":`...)
	tail = strconv.AppendInt(tail, age, 10)
	tail = append(tail, "}}}"...)
	const head = `{"data":`

	h := w.Header()
	// A fresh slice per response: a header value shared between
	// responses could be changed in place by any layer above.
	h["Content-Type"] = []string{e.contentType}
	h.Set("Content-Length", strconv.Itoa(len(head)+len(e.data)+len(tail)))
	h.Set("Age", strconv.FormatInt(age, 10))
	h.Set("Cache-Control", c.cacheControl(e, now, credentialed, rq))
	h.Set("X-Cache", status)
	addVary(h)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, head)
	_, _ = w.Write(e.data)
	_, _ = w.Write(tail)
}

// cacheControl says how long others may keep a hit:
//
//   - a POST: private, no-store, as the GraphQL edge answers every POST
//     (executed or not): only GETs of persisted operations are for
//     shared caches, and a client keeps a hit no longer than a miss;
//   - a request with credentials: private, no-store. The entry is PUBLIC,
//     but the answer goes to a signed-in client, whose browser or proxy
//     must not hand it to the next person on the device or network as if
//     it were theirs, nor keep it after sign-out;
//   - a degraded entry: private, no-store, as the GraphQL edge does: an
//     answer from fallback copies must not outlive the failure in a CDN;
//   - an ad-hoc GET (document in the URL): private, max-age=<remaining>.
//     The edge lets shared caches keep only GETs of persisted operations,
//     so a CDN never fills with arbitrary documents;
//   - otherwise public, max-age=<remaining>, the entry's remaining
//     freshness in whole seconds (0 when served stale).
func (c *Cache) cacheControl(e *entry, now time.Time, credentialed bool, rq request) string {
	if credentialed || e.degraded || rq.post {
		return "private, no-store"
	}
	remaining := max(0, int64(e.freshUntil.Sub(now)/time.Second))
	if rq.adhocGET {
		return "private, max-age=" + strconv.FormatInt(remaining, 10)
	}
	return "public, max-age=" + strconv.FormatInt(remaining, 10)
}

// varyNames is what a hit varies on: the media type, the locale, and
// the credentials (so a shared cache never answers a signed-in request with
// an anonymous response, nor the other way round).
const varyNames = "Accept, Accept-Language, Authorization, Cookie"

// addVary adds the names of varyNames that no Vary value lists yet, as
// one value.
func addVary(h http.Header) {
	have := h.Values("Vary")
	if len(have) == 0 {
		h["Vary"] = []string{varyNames}
		return
	}
	var missing []string
	for name := range strings.SplitSeq(varyNames, ", ") {
		if !varyLists(have, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		h.Add("Vary", strings.Join(missing, ", "))
	}
}

func varyLists(values []string, name string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "*" || strings.EqualFold(part, name) {
				return true
			}
		}
	}
	return false
}

// warn logs a shared-tier problem at most once per warnEvery.
func (c *Cache) warn(msg string, args ...any) {
	now := c.now().UnixNano()
	last := c.lastWarn.Load()
	if now-last < int64(warnEvery) || !c.lastWarn.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(msg, args...)
}

func inc(counter prometheus.Counter) {
	if counter != nil {
		counter.Inc()
	}
}

// verdicts remembers documents whose policy forbids storing (mutations,
// PRIVATE or uncacheable queries), so their requests skip the lookup and
// the single flight. Bounded; the oldest verdict is forgotten first.
type verdicts struct {
	max  int
	mu   sync.Mutex
	set  map[key]struct{}
	ring []key
	next int
}

func (v *verdicts) has(k key) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.set[k]
	return ok
}

func (v *verdicts) add(k key) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.set[k]; ok {
		return
	}
	if v.set == nil {
		v.set = make(map[key]struct{})
	}
	if len(v.ring) < v.max {
		v.ring = append(v.ring, k)
	} else {
		delete(v.set, v.ring[v.next])
		v.ring[v.next] = k
		v.next = (v.next + 1) % v.max
	}
	v.set[k] = struct{}{}
}
