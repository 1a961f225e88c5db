package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/internal/cache"
	"meridian/internal/metrics"
)

const productQuery = `query P($id: ID!) { product(id: $id) { id name } }`

func TestHitIsServedFromTheCacheAndSaysSo(t *testing.T) {
	m := metrics.New()
	h := newHarness(t, Config{Metrics: m})
	miss := h.do(gql(productQuery, `{"id":"1"}`))
	h.expect(miss, "MISS", 1)
	if miss.Header().Get("Cache-Control") != "private, no-store" {
		t.Errorf("miss Cache-Control = %q: the edge's, unchanged", miss.Header().Get("Cache-Control"))
	}
	missResp := parse(t, miss)
	if missResp.Extensions.Cache != nil {
		t.Errorf("a miss carries extensions.cache: %s", miss.Body.String())
	}

	h.clock.Advance(12*time.Second + 300*time.Millisecond)
	hit := h.do(gql(productQuery, `{"id":"1"}`))
	h.expect(hit, "HIT", 1)
	hitResp := parse(t, hit)
	if !bytes.Equal(hitResp.Data, missResp.Data) {
		t.Fatalf("data differs:\nmiss %s\nhit  %s", missResp.Data, hitResp.Data)
	}
	c := hitResp.Extensions.Cache
	if c == nil || c.Status != "HIT" || c.AgeSeconds != 12 || c.StoredAt != "2026-11-23T09:00:00.000Z" {
		t.Fatalf("extensions.cache = %+v", c)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		// A POST, so as the edge answers every POST; GETs say how long
		// the entry lasts (TestTTLFollowsThePolicy).
		"Cache-Control":  "private, no-store",
		"Age":            "12",
		"Content-Length": strconv.Itoa(hit.Body.Len()),
	} {
		if got := hit.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	vary := strings.Join(hit.Header().Values("Vary"), ", ")
	for _, v := range []string{"Accept", "Accept-Language", "Authorization", "Cookie"} {
		if !strings.Contains(vary, v) {
			t.Errorf("Vary %q lacks %s", vary, v)
		}
	}
	if got := hit.Header().Get("Content-Language"); got != "zh-Hans-CN" {
		t.Errorf("Content-Language = %q: the locale middleware runs before the cache", got)
	}
	if got := metricValue(t, m, "meridian_response_cache_requests_total", "hit"); got != 1 {
		t.Errorf("hit counter = %v", got)
	}
	if got := metricValue(t, m, "meridian_response_cache_requests_total", "miss"); got != 1 {
		t.Errorf("miss counter = %v", got)
	}
	if got := metricValue(t, m, "meridian_response_cache_bytes"); got <= float64(len(missResp.Data)) {
		t.Errorf("bytes gauge = %v", got)
	}
}

func TestHitKeepsOtherExtensions(t *testing.T) {
	h := newHarness(t, Config{})
	q := gql(`{ stock(id: "1") }`)
	miss := h.do(q)
	h.expect(miss, "MISS", 1)
	hit := h.do(q)
	h.expect(hit, "HIT", 1)
	r := parse(t, hit)
	if len(r.Extensions.Degraded) != 1 || r.Extensions.Cache == nil {
		t.Fatalf("extensions lost: %s", hit.Body.String())
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(miss.Body.Bytes(), &raw)
	var ext map[string]json.RawMessage
	_ = json.Unmarshal(raw["extensions"], &ext)
	var hitRaw, hitExt map[string]json.RawMessage
	_ = json.Unmarshal(hit.Body.Bytes(), &hitRaw)
	_ = json.Unmarshal(hitRaw["extensions"], &hitExt)
	if !bytes.Equal(ext["degraded"], hitExt["degraded"]) {
		t.Fatalf("degraded differs: %s vs %s", ext["degraded"], hitExt["degraded"])
	}
}

func TestKeysDistinguishWhatChangesTheResponse(t *testing.T) {
	h := newHarness(t, Config{})
	two := `query A { product(id: "1") { id } } query B { product(id: "1") { name } }`
	named := func(op string) req {
		q, _ := json.Marshal(two)
		return req{body: `{"query":` + string(q) + `,"operationName":"` + op + `"}`}
	}
	steps := []struct {
		name   string
		r      req
		xcache string
	}{
		{"first", gql(productQuery, `{"id":"1"}`), "MISS"},
		{"same again", gql(productQuery, `{"id":"1"}`), "HIT"},
		{"other locale", gql(productQuery, `{"id":"1"}`).in("en-US"), "MISS"},
		{"other locale again", gql(productQuery, `{"id":"1"}`).in("en-US"), "HIT"},
		{"a header naming the same locale", gql(productQuery, `{"id":"1"}`).in("zh-CN"), "HIT"},
		{"other variables", gql(productQuery, `{"id":"2"}`), "MISS"},
		{"variables with spaces", gql(productQuery, ` { "id" : "2" } `), "HIT"},
		{"other media type", gql(productQuery, `{"id":"1"}`).accepts("application/graphql-response+json"), "MISS"},
		{"operation A", named("A"), "MISS"},
		{"operation B", named("B"), "MISS"},
		{"operation A again", named("A"), "HIT"},
		{"GET is not POST", req{method: http.MethodGet, url: `/graphql?query=` + url.QueryEscape(productQuery) + `&variables=` + url.QueryEscape(`{"id":"1"}`)}, "MISS"},
		{"GET again", req{method: http.MethodGet, url: `/graphql?query=` + url.QueryEscape(productQuery) + `&variables=` + url.QueryEscape(`{"id":"1"}`) + `&cb=1`}, "HIT"},
	}
	executions := int64(0)
	for _, s := range steps {
		rec := h.do(s.r)
		if s.xcache == "MISS" {
			executions++
		}
		if got := rec.Header().Get("X-Cache"); got != s.xcache || h.executions.Load() != executions {
			t.Fatalf("%s: X-Cache %q (want %q), executions %d (want %d): %s", s.name, got, s.xcache, h.executions.Load(), executions, rec.Body.String())
		}
	}
	// The locale is part of the data, so the entries really differ.
	zh := parse(t, h.do(gql(productQuery, `{"id":"1"}`)))
	en := parse(t, h.do(gql(productQuery, `{"id":"1"}`).in("en-US")))
	if !strings.Contains(string(zh.Data), "zh-Hans-CN") || !strings.Contains(string(en.Data), "en-US") {
		t.Fatalf("locales mixed up: %s / %s", zh.Data, en.Data)
	}
}

func TestPersistedIDsInTheKey(t *testing.T) {
	const id = "0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100"
	const other = "1f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100"
	keyOf := func(t *testing.T, method, target, body string) (request, bool) {
		t.Helper()
		var r *http.Request
		if method == http.MethodGet {
			r = httptest.NewRequest(method, target, nil)
		} else {
			r = httptest.NewRequest(method, "/graphql", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
		}
		c := &Cache{}
		rq, _, _, ok := c.prepare(new(scratch), r)
		return rq, ok
	}
	pq := func(hash string) string {
		return `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}}`
	}
	base, ok := keyOf(t, http.MethodPost, "", pq(id))
	if !ok {
		t.Fatal("persisted POST not keyed")
	}
	same := map[string]string{
		"documentId":             `{"documentId":"sha256:` + id + `"}`,
		"upper-case hash":        pq(strings.ToUpper(id)),
		"members in other order": `{"extensions":{"persistedQuery":{"sha256Hash":"` + id + `","version":1}},"variables":null}`,
		"documentId and hash":    `{"documentId":"sha256:` + id + `","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"}}}`,
	}
	for name, body := range same {
		rq, ok := keyOf(t, http.MethodPost, "", body)
		if !ok || rq.key != base.key {
			t.Errorf("%s: ok=%v, key differs from extensions.persistedQuery's", name, ok)
		}
	}
	differ := map[string]string{
		"other id":           pq(other),
		"other version":      `{"extensions":{"persistedQuery":{"version":2,"sha256Hash":"` + id + `"}}}`,
		"another extension":  `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"},"trace":true}}`,
		"with its document":  `{"query":"{ a }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"}}}`,
		"an operation name":  `{"operationName":"X","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"}}}`,
		"variables":          `{"variables":{"a":1},"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"}}}`,
		"a hash sent as GET": "",
	}
	for name, body := range differ {
		var rq request
		if name == "a hash sent as GET" {
			rq, ok = keyOf(t, http.MethodGet, "/graphql?documentId=sha256:"+id, "")
		} else {
			rq, ok = keyOf(t, http.MethodPost, "", body)
		}
		if !ok || rq.key == base.key {
			t.Errorf("%s: ok=%v, same key", name, ok)
		}
	}
	getDoc, _ := keyOf(t, http.MethodGet, "/graphql?documentId=sha256:"+id, "")
	getExt, _ := keyOf(t, http.MethodGet, "/graphql?extensions="+url.QueryEscape(`{"persistedQuery":{"version":1,"sha256Hash":"`+id+`"}}`), "")
	if getDoc.key != getExt.key || getDoc.adhocGET {
		t.Error("GET documentId and GET extensions.persistedQuery differ, or count as ad hoc")
	}
	for name, body := range map[string]string{
		"documentId contradicting the hash": `{"documentId":"sha256:` + other + `","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + id + `"}}}`,
		"malformed documentId":              `{"documentId":"nope"}`,
		"malformed hash and no document":    pq("abc"),
		"nothing to run":                    `{"variables":{}}`,
		"variables not an object":           `{"query":"{ a }","variables":[1]}`,
		"query not a string":                `{"query":1}`,
		"trailing data":                     `{"query":"{ a }"} x`,
	} {
		if _, ok := keyOf(t, http.MethodPost, "", body); ok {
			t.Errorf("%s: keyed", name)
		}
	}
}

func TestCredentialedRequests(t *testing.T) {
	h := newHarness(t, Config{})

	// A PRIVATE operation is never stored: each person executes their own.
	a := h.do(gql(`{ account { name } }`).as("cust-a"))
	h.expect(a, "MISS", 1)
	b := h.do(gql(`{ account { name } }`).as("cust-b"))
	h.expect(b, "BYPASS", 2) // known never to be stored: not even looked up
	if !strings.Contains(b.Body.String(), "cust-b") || strings.Contains(b.Body.String(), "cust-a") {
		t.Fatalf("cust-b got %s", b.Body.String())
	}
	if h.cache.front.len() != 0 {
		t.Fatalf("%d entries stored", h.cache.front.len())
	}

	// Unhinted root fields (me) are never cacheable either.
	h.expect(h.do(gql(`{ me { name } }`).as("cust-a")), "MISS", 3)
	h.expect(h.do(gql(`{ me { name } }`).as("cust-b")), "BYPASS", 4)

	// A PUBLIC operation is shared with signed-in requests, privately.
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "MISS", 5)
	hit := h.do(gql(productQuery, `{"id":"1"}`).as("cust-a"))
	h.expect(hit, "HIT", 5)
	if got := hit.Header().Get("Cache-Control"); got != "private, no-store" {
		t.Fatalf("signed-in hit Cache-Control = %q", got)
	}

	// A response that read personal data is not stored, even when its
	// hints (by mistake) say PUBLIC.
	h.expect(h.do(gql(`{ leaky }`).as("cust-a")), "MISS", 6)
	leak := h.do(gql(`{ leaky }`).as("cust-b"))
	h.expect(leak, "MISS", 7)
	if strings.Contains(leak.Body.String(), "cust-a") {
		t.Fatalf("leaked: %s", leak.Body.String())
	}
}

func TestTTLFollowsThePolicy(t *testing.T) {
	h := newHarness(t, Config{StaleWhileRevalidate: 10 * time.Second})
	// Product is 60s, but inventory (30s) lowers the whole response.
	// GETs, whose Cache-Control tells the remaining lifetime.
	q := getQuery(`{ product(id: "1") { name inventory } }`)
	h.expect(h.do(q), "MISS", 1)
	h.clock.Advance(29 * time.Second)
	hit := h.do(q)
	h.expect(hit, "HIT", 1)
	if got := hit.Header().Get("Cache-Control"); got != "private, max-age=1" {
		t.Fatalf("Cache-Control = %q", got)
	}
	h.clock.Advance(time.Second) // 30s: no longer fresh
	stale := h.do(q)
	if got := stale.Header().Get("X-Cache"); got != "STALE" {
		t.Fatalf("X-Cache = %q", got)
	}
	if got := stale.Header().Get("Cache-Control"); got != "private, max-age=0" {
		t.Fatalf("stale Cache-Control = %q", got)
	}
	waitFor(t, "the refresh", func() bool { return h.executions.Load() == 2 })
	waitFor(t, "the refresh to be stored", func() bool { return h.do(q).Header().Get("X-Cache") == "HIT" })

	// Without the short field, the product's own 60s.
	q60 := gql(`{ product(id: "1") { name } }`)
	h.expect(h.do(q60), "MISS", 3)
	h.clock.Advance(59 * time.Second)
	h.expect(h.do(q60), "HIT", 3)
	h.clock.Advance(71 * time.Second) // past the SWR window too
	h.expect(h.do(q60), "MISS", 4)
}

func TestStaleWhileRevalidateRefreshesOnceAnonymously(t *testing.T) {
	h := newHarness(t, Config{StaleWhileRevalidate: 10 * time.Second})
	q := gql(`{ whoami }`).in("en-US")
	h.expect(h.do(q), "MISS", 1)
	h.version.Store(1)
	h.clock.Advance(61 * time.Second)

	gate := make(chan struct{})
	h.gate.Store(&gate)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := h.do(q.as("cust-" + strconv.Itoa(i)))
			r := parse(t, rec)
			if rec.Header().Get("X-Cache") != "STALE" || r.Extensions.Cache == nil || r.Extensions.Cache.Status != "STALE" {
				t.Errorf("not served stale: %v %s", rec.Header(), rec.Body.String())
			}
			if !strings.Contains(string(r.Data), "v0") {
				t.Errorf("stale data changed: %s", r.Data)
			}
			if rec.Header().Get("Cache-Control") != "private, no-store" {
				t.Errorf("signed-in stale Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
		}()
	}
	wg.Wait()
	waitFor(t, "one refresh to start", func() bool { return h.executions.Load() == 2 })
	h.gate.Store(nil)
	close(gate)
	waitFor(t, "the refreshed entry", func() bool { return h.do(q).Header().Get("X-Cache") == "HIT" })
	if got := h.executions.Load(); got != 2 {
		t.Fatalf("%d executions, want the miss and exactly one refresh", got)
	}
	r := parse(t, h.do(q))
	if !strings.Contains(string(r.Data), "v1") {
		t.Fatalf("not refreshed: %s", r.Data)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastWho != "anonymous" || h.lastLocal != "en-US" {
		t.Fatalf("refresh ran as %q in %q; want anonymous in en-US", h.lastWho, h.lastLocal)
	}
}

func TestDegradedResponsesGetTheShortTTL(t *testing.T) {
	h := newHarness(t, Config{DegradedTTL: 5 * time.Second, StaleWhileRevalidate: 10 * time.Second})
	q := gql(`{ stock(id: "1") }`)
	h.expect(h.do(q), "MISS", 1)
	h.clock.Advance(4 * time.Second)
	hit := h.do(q)
	h.expect(hit, "HIT", 1)
	if got := hit.Header().Get("Cache-Control"); got != "private, no-store" {
		t.Fatalf("degraded hit Cache-Control = %q", got)
	}
	h.clock.Advance(time.Second)
	// 5s: no longer fresh, well before the policy's 60s.
	if got := h.do(q).Header().Get("X-Cache"); got != "STALE" {
		t.Fatalf("X-Cache = %q", got)
	}
}

func TestResponsesWithErrorsAreNeverStored(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 3 {
		rec := h.do(gql(`{ fails product(id: "1") { id } }`))
		h.expect(rec, "MISS", int64(i+1))
		if len(parse(t, rec).Errors) == 0 {
			t.Fatal("no errors")
		}
	}
	// Unparsable and invalid documents, too.
	h.expect(h.do(gql(`{ product(`)), "MISS", 4)
	h.expect(h.do(gql(`{ product(`)), "MISS", 5)
	h.expect(h.do(gql(`{ nope }`)), "MISS", 6)
	h.expect(h.do(gql(`{ nope }`)), "MISS", 7)
	if n := h.cache.front.len(); n != 0 {
		t.Fatalf("%d entries stored", n)
	}
}

func TestWhatIsNeverStored(t *testing.T) {
	h := newHarness(t, Config{MaxEntryBytes: 4096})
	steps := []struct {
		name string
		q    req
	}{
		{"mutation", gql(`mutation { touch(id: "1") { id } }`)},
		{"unhinted root scalar", gql(`{ version }`)},
		{"NoStore", gql(`{ live(id: "1") }`)},
		{"larger than MaxEntryBytes", gql(`{ big(size: 5000) }`)},
		{"introspection", gql(`{ __schema { queryType { name } } product(id: "1") { id } }`)},
	}
	for _, s := range steps {
		before := h.executions.Load()
		first := h.do(s.q)
		second := h.do(s.q)
		if h.executions.Load() != before+2 {
			t.Errorf("%s: executed %d times for 2 requests", s.name, h.executions.Load()-before)
		}
		if first.Code != 200 || second.Body.String() == "" {
			t.Errorf("%s: %d %s", s.name, first.Code, first.Body.String())
		}
	}
	if n := h.cache.front.len(); n != 0 {
		t.Fatalf("%d entries stored", n)
	}
	big := h.do(gql(`{ big(size: 5000) }`))
	if len(parse(t, big).Data) < 5000 {
		t.Fatalf("large response cut: %d bytes", big.Body.Len())
	}
}

func TestPurgeByTagOnThisReplica(t *testing.T) {
	m := metrics.New()
	h := newHarness(t, Config{Metrics: m})
	page := gql(`{ page(ids: ["1", "2"]) { items { id name } } }`)
	p1 := gql(productQuery, `{"id":"1"}`)
	p3 := gql(productQuery, `{"id":"3"}`)
	h.expect(h.do(page), "MISS", 1)
	h.expect(h.do(p1), "MISS", 2)
	h.expect(h.do(p3), "MISS", 3)

	h.version.Store(1)
	if err := h.cache.Purge(context.Background(), "product:1", ""); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Millisecond)
	h.expect(h.do(p3), "HIT", 3) // untouched
	fresh := h.do(page)
	h.expect(fresh, "MISS", 4)
	if !strings.Contains(fresh.Body.String(), "v1") {
		t.Fatalf("old page after purge: %s", fresh.Body.String())
	}
	h.expect(h.do(p1), "MISS", 5)
	h.expect(h.do(page), "HIT", 5)
	if got := metricValue(t, m, "meridian_response_cache_purges_total", "local"); got != 1 {
		t.Fatalf("purge counter = %v", got)
	}
	if err := h.cache.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// An execution that read the data before a purge must not store it after.
func TestPurgeDuringExecutionVoidsTheResponse(t *testing.T) {
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	h.gate.Store(&gate)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- h.do(gql(productQuery, `{"id":"1"}`)) }()
	waitFor(t, "the execution", func() bool { return h.executions.Load() == 1 })
	if err := h.cache.Purge(context.Background(), "product:1"); err != nil {
		t.Fatal(err)
	}
	h.gate.Store(nil)
	close(gate)
	h.expect(<-done, "MISS", 1)
	h.clock.Advance(time.Millisecond)
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "MISS", 2)
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "HIT", 2)
}

func TestStampedeRunsTheHandlerOnce(t *testing.T) {
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	h.gate.Store(&gate)
	const n = 200
	q := gql(productQuery, `{"id":"1"}`)
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = h.do(q)
		}()
	}
	waitFor(t, "every request to join", func() bool {
		h.cache.flights.mu.Lock()
		defer h.cache.flights.mu.Unlock()
		for _, f := range h.cache.flights.m {
			f.mu.Lock()
			w := f.waiters
			f.mu.Unlock()
			return w == n-1
		}
		return false
	})
	h.gate.Store(nil)
	close(gate)
	wg.Wait()
	if got := h.executions.Load(); got != 1 {
		t.Fatalf("next handler ran %d times", got)
	}
	first := parse(t, recs[0]).Data
	misses := 0
	for _, rec := range recs {
		if rec.Header().Get("X-Cache") == "MISS" {
			misses++
		}
		if !bytes.Equal(parse(t, rec).Data, first) {
			t.Fatalf("different data: %s", rec.Body.String())
		}
	}
	if misses != 1 {
		t.Fatalf("%d MISS answers, want the leader's only", misses)
	}
}

func TestStampedeCancellation(t *testing.T) {
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	h.gate.Store(&gate)
	q := gql(productQuery, `{"id":"1"}`)

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leader := make(chan *httptest.ResponseRecorder)
	go func() { leader <- h.do(q.withCtx(leaderCtx)) }()
	waitFor(t, "the leader", func() bool { return h.executions.Load() == 1 })

	waiterCtx, cancelWaiter := context.WithCancel(context.Background())
	quitter := make(chan *httptest.ResponseRecorder)
	go func() { quitter <- h.do(q.withCtx(waiterCtx)) }()
	patient := make(chan *httptest.ResponseRecorder)
	go func() { patient <- h.do(q) }()
	waiters := func() int {
		h.cache.flights.mu.Lock()
		defer h.cache.flights.mu.Unlock()
		for _, f := range h.cache.flights.m {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.waiters
		}
		return -1
	}
	waitFor(t, "two waiters", func() bool { return waiters() == 2 })

	cancelWaiter()
	if rec := <-quitter; rec.Body.Len() != 0 {
		t.Fatalf("a cancelled waiter wrote: %s", rec.Body.String())
	}
	cancelLeader() // a waiter remains: the execution goes on
	h.gate.Store(nil)
	close(gate)
	<-leader
	rec := <-patient
	h.expect(rec, "HIT", 1)
	if parse(t, rec).Data == nil {
		t.Fatal("no data")
	}
	h.expect(h.do(q), "HIT", 1)
}

// Waiters do not take a response that may not be shared: they run their
// own.
func TestStampedeOnUnshareableResponses(t *testing.T) {
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	h.gate.Store(&gate)
	q := gql(`{ fails }`)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); h.do(q) }()
	}
	waitFor(t, "the waiters", func() bool {
		h.cache.flights.mu.Lock()
		defer h.cache.flights.mu.Unlock()
		for _, f := range h.cache.flights.m {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.waiters == 2
		}
		return false
	})
	h.gate.Store(nil)
	close(gate)
	wg.Wait()
	if got := h.executions.Load(); got != 3 {
		t.Fatalf("%d executions, want 3", got)
	}
}

func TestTagAndNoStoreOutsideARequest(t *testing.T) {
	Tag(context.Background(), "product:1") // must not panic
	NoStore(context.Background())
	c := &collector{}
	ctx := withCollector(context.Background(), c)
	Tag(ctx, "b", "a", "b")
	if r := c.report(); len(r.tags) != 2 || r.noStore {
		t.Fatalf("report %+v", r)
	}
	Tag(ctx, strings.Repeat("x", maxTagLen+1))
	if !c.report().noStore {
		t.Fatal("an unindexable tag did not keep the response out")
	}
	c = &collector{}
	ctx = withCollector(context.Background(), c)
	for i := range maxTags + 1 {
		Tag(ctx, "t"+strconv.Itoa(i))
	}
	if !c.report().noStore {
		t.Fatal("too many tags did not keep the response out")
	}
}

func TestNewValidates(t *testing.T) {
	bad := []Config{
		{MaxEntries: -1},
		{MaxBytes: -1},
		{MaxEntryBytes: -1},
		{DegradedTTL: -time.Second},
		{StaleWhileRevalidate: -time.Second},
		{MaxBytes: 1000, MaxEntryBytes: 2000},
		{Shared: fakeStore{}},
	}
	for _, cfg := range bad {
		if c, err := New(cfg); err == nil {
			c.Close()
			t.Errorf("accepted %+v", cfg)
		}
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.swr != DefaultStaleWhileRevalidate || c.degradedTTL != DefaultDegradedTTL || c.maxEntryBytes != DefaultMaxEntryBytes {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	rec := httptest.NewRecorder()
	c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql?query=%7Ba%7D", nil))
	if rec.Code != 204 {
		t.Fatal("a closed cache does not pass requests through")
	}
}

func TestBypassKeepsTheBody(t *testing.T) {
	h := newHarness(t, Config{})
	// Too large to key: the edge still gets the whole body.
	pad := strings.Repeat(" ", maxKeyedBody)
	rec := h.do(req{body: `{"query":"{ product(id: \"1\") { id } }"` + pad + `}`})
	if rec.Header().Get("X-Cache") != "BYPASS" || !strings.Contains(rec.Body.String(), `"id":"1"`) {
		t.Fatalf("%s %s", rec.Header().Get("X-Cache"), rec.Body.String())
	}
	// Malformed: the edge refuses it as it would without the cache.
	rec = h.do(req{body: `{"query": `})
	if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Cache") != "BYPASS" {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	// Known never to be stored: the body still reaches the edge.
	h.do(gql(`mutation { touch(id: "1") { id } }`))
	rec = h.do(gql(`mutation { touch(id: "1") { id } }`))
	if rec.Header().Get("X-Cache") != "BYPASS" || !strings.Contains(rec.Body.String(), `"id":"1"`) {
		t.Fatalf("%s %s", rec.Header().Get("X-Cache"), rec.Body.String())
	}
}

func TestAdHocGETIsNotPublic(t *testing.T) {
	h := newHarness(t, Config{})
	get := req{method: http.MethodGet, url: `/graphql?query=` + url.QueryEscape(productQuery) + `&variables=` + url.QueryEscape(`{"id":"1"}`)}
	h.expect(h.do(get), "MISS", 1)
	hit := h.do(get)
	h.expect(hit, "HIT", 1)
	if got := hit.Header().Get("Cache-Control"); got != "private, max-age=60" {
		t.Fatalf("Cache-Control = %q", got)
	}
}

// fakeStore is a cache.Store that stores nothing.
type fakeStore struct{}

func (fakeStore) Get(context.Context, string) (cache.Entry, bool, error) {
	return cache.Entry{}, false, nil
}
func (fakeStore) Set(context.Context, string, []byte, time.Duration) error { return nil }
func (fakeStore) Delete(context.Context, ...string) error                  { return nil }

// metricValue reads a counter or gauge of m by name and label values; a
// series never set reads 0.
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			var values []string
			for _, l := range metric.GetLabel() {
				values = append(values, l.GetValue())
			}
			if slices.Equal(values, labels) {
				if g := metric.GetGauge(); g != nil {
					return g.GetValue()
				}
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A response that read one person's data is not handed to the others
// waiting for the same query.
func TestStampedeNeverSharesPersonalData(t *testing.T) {
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	h.gate.Store(&gate)
	const n = 4
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = h.do(gql(`{ leaky }`).as("cust-" + strconv.Itoa(i))).Body.String()
		}()
	}
	waitFor(t, "the waiters", func() bool {
		h.cache.flights.mu.Lock()
		defer h.cache.flights.mu.Unlock()
		for _, f := range h.cache.flights.m {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.waiters == n-1
		}
		return false
	})
	h.gate.Store(nil)
	close(gate)
	wg.Wait()
	for i, b := range bodies {
		if want := `"cust-` + strconv.Itoa(i) + `"`; !strings.Contains(b, want) {
			t.Errorf("cust-%d got %s", i, b)
		}
	}
	if got := h.executions.Load(); got != n {
		t.Fatalf("%d executions, want %d", got, n)
	}
}

// TestPersistedGETIsPublic: an anonymous GET of a persisted operation is
// the one answer shared caches may keep, for the entry's remaining
// lifetime; the same operation POSTed is kept by no one but Meridian.
func TestPersistedGETIsPublic(t *testing.T) {
	h := newHarness(t, Config{})
	sum := sha256.Sum256([]byte(productQuery))
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + hex.EncodeToString(sum[:]) + `"}}`
	q, _ := json.Marshal(productQuery)
	register := h.do(req{body: `{"query":` + string(q) + `,"variables":{"id":"1"},"extensions":` + ext + `}`})
	if register.Code != http.StatusOK || strings.Contains(register.Body.String(), "errors") {
		t.Fatalf("registration: %d %s", register.Code, register.Body)
	}
	if got := register.Header().Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("POST Cache-Control = %q, want private, no-store", got)
	}
	get := req{method: http.MethodGet, url: "/graphql?variables=" + url.QueryEscape(`{"id":"1"}`) + "&extensions=" + url.QueryEscape(ext)}
	if miss := h.do(get); miss.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("first persisted GET: X-Cache %q, %s", miss.Header().Get("X-Cache"), miss.Body)
	}
	h.clock.Advance(5 * time.Second)
	hit := h.do(get)
	if hit.Header().Get("X-Cache") != "HIT" {
		t.Fatalf("second persisted GET: X-Cache %q", hit.Header().Get("X-Cache"))
	}
	if got := hit.Header().Get("Cache-Control"); got != "public, max-age=55" {
		t.Errorf("persisted GET hit Cache-Control = %q, want public, max-age=55", got)
	}
	if got := h.do(get.as("cust-a")).Header().Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("signed-in persisted GET hit Cache-Control = %q, want private, no-store", got)
	}
}
