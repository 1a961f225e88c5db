package persisted

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"meridian/internal/cache"
	"meridian/internal/testenv"
)

// failingStore is a cache.Store whose every call fails, like Redis when it
// is down.
type failingStore struct{}

func (failingStore) Get(context.Context, string) (cache.Entry, bool, error) {
	return cache.Entry{}, false, errors.New("connection refused")
}

func (failingStore) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("connection refused")
}

func (failingStore) Delete(context.Context, ...string) error { return errors.New("connection refused") }

// harness is a gqlgen test server (schema: Query { name find(id) },
// Mutation { name }) with the extension installed.
type harness struct {
	t     *testing.T
	srv   http.Handler
	store cache.Store
	clock *testenv.Clock
	logs  *logBuffer

	mu   sync.Mutex
	info *Info // what FromContext saw in the last response
}

type harnessOpts struct {
	persistedOnly bool
	store         cache.Store // default: a fresh Memory
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	manifest, err := NewManifest([]Operation{opName, opFind, opRename})
	if err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	store := o.store
	if store == nil {
		mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		store = mem
	}
	log, logs := testLogger(t)
	ext, err := NewExtension(Options{
		Manifest: manifest, PersistedOnly: o.persistedOnly, APQ: store,
		APQTTL: time.Hour, Log: log, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, clock: clock, logs: logs}
	srv := testserver.New()
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.GET{})
	srv.Use(ext)
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		info, ok := FromContext(ctx)
		h.mu.Lock()
		h.info = nil
		if ok {
			h.info = &info
		}
		h.mu.Unlock()
		return next(ctx)
	})
	h.srv = srv
	return h
}

type response struct {
	status int
	Data   map[string]any
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (r response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// pq is the persisted-query extension a client sends.
func pq(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func (h *harness) post(body map[string]any) response {
	h.t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return h.serve(req)
}

func (h *harness) serve(req *http.Request) response {
	h.t.Helper()
	h.mu.Lock()
	h.info = nil
	h.mu.Unlock()
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	r := response{status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		h.t.Fatalf("not JSON (%d): %s", rec.Code, rec.Body)
	}
	return r
}

func (h *harness) lastInfo() *Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
}

func (h *harness) stored(id string) (cache.Entry, bool) {
	e, ok, _ := h.store.Get(context.Background(), DefaultAPQPrefix+id)
	return e, ok
}

func wantData(t *testing.T, r response) {
	t.Helper()
	if len(r.Errors) > 0 || r.Data["name"] != "test" {
		t.Fatalf("want data, got status %d, data %v, errors %+v", r.status, r.Data, r.Errors)
	}
}

func wantCode(t *testing.T, r response, code string) {
	t.Helper()
	if r.code() != code || r.Data != nil {
		t.Fatalf("want %s and no data, got data %v, errors %+v", code, r.Data, r.Errors)
	}
}

func TestTrustedDocuments(t *testing.T) {
	for _, persistedOnly := range []bool{false, true} {
		name := "apq mode"
		if persistedOnly {
			name = "persisted-only"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{persistedOnly: persistedOnly})

			wantData(t, h.post(map[string]any{"extensions": pq(opName.ID)}))
			if got := h.lastInfo(); got == nil || *got != (Info{ID: opName.ID, Name: "Name", Type: Query, FromManifest: true}) {
				t.Errorf("recorded %+v", got)
			}
			wantData(t, h.post(map[string]any{"extensions": pq("sha256:" + strings.ToUpper(opName.ID))}))

			// The query sent along is the manifest's: fine.
			wantData(t, h.post(map[string]any{"query": opName.Body, "extensions": pq(opName.ID)}))
			if got := h.lastInfo(); got == nil || !got.SentQuery || !got.FromManifest {
				t.Errorf("recorded %+v, want a manifest operation whose query was sent", got)
			}
			// Another query under a manifest id: refused, never run.
			wantCode(t, h.post(map[string]any{"query": "{ find(id: 1) }", "extensions": pq(opName.ID)}), CodeHashMismatch)

			// A raw document that is a manifest operation is that operation.
			wantData(t, h.post(map[string]any{"query": opName.Body}))
			if got := h.lastInfo(); got == nil || got.ID != opName.ID || !got.FromManifest {
				t.Errorf("raw manifest document recorded %+v", got)
			}
			// Variables work with manifest operations.
			r := h.post(map[string]any{"extensions": pq(opFind.ID), "variables": map[string]any{"id": 1}})
			if len(r.Errors) > 0 {
				t.Errorf("Find with variables: %+v", r.Errors)
			}
			if _, ok := h.stored(opName.ID); ok {
				t.Error("a manifest operation was written to the APQ store")
			}
		})
	}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const q = "query Adhoc { name }"
	id := HashBody(q)

	// Apollo's round trip: hash only, not found, then hash and query.
	r := h.post(map[string]any{"extensions": pq(id)})
	wantCode(t, r, CodeNotFound)
	if r.Errors[0].Message != "PersistedQueryNotFound" || r.status != http.StatusOK {
		t.Errorf("not found: status %d, message %q; Apollo clients expect 200 and PersistedQueryNotFound", r.status, r.Errors[0].Message)
	}
	wantData(t, h.post(map[string]any{"query": q, "extensions": pq(id)}))
	if got := h.lastInfo(); got == nil || *got != (Info{ID: id, SentQuery: true}) {
		t.Errorf("registration recorded %+v", got)
	}
	if e, ok := h.stored(id); !ok || string(e.Value) != q {
		t.Fatalf("registration not stored: %q, %v", e.Value, ok)
	}
	wantData(t, h.post(map[string]any{"extensions": pq(id)}))
	if got := h.lastInfo(); got == nil || *got != (Info{ID: id}) {
		t.Errorf("hash-only recorded %+v", got)
	}

	// GET with the hash only, as useGETForHashedQueries sends it.
	ext, _ := json.Marshal(pq(id))
	wantData(t, h.serve(httptest.NewRequest(http.MethodGet, "/graphql?extensions="+url.QueryEscape(string(ext)), nil)))

	// A query under someone else's hash is refused and stored nowhere.
	wantCode(t, h.post(map[string]any{"query": "{ find(id: 2) }", "extensions": pq(id)}), CodeHashMismatch)
	if e, _ := h.stored(id); string(e.Value) != q {
		t.Error("a mismatched registration overwrote the stored query")
	}

	// Ad-hoc documents without an id still run, and are not stored.
	wantData(t, h.post(map[string]any{"query": "{ name }"}))
	if h.lastInfo() != nil {
		t.Errorf("an ad-hoc document recorded %+v", h.lastInfo())
	}
	if _, ok := h.stored(HashBody("{ name }")); ok {
		t.Error("an ad-hoc document was stored")
	}
}

func TestAPQStoresOnlyValidDocuments(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, q := range []string{"{ nope }", "{ name", "query Q($id: Int!) { find(id: $id) }"} {
		id := HashBody(q)
		r := h.post(map[string]any{"query": q, "extensions": pq(id)})
		if len(r.Errors) == 0 {
			t.Errorf("%q: no error", q)
		}
		if _, ok := h.stored(id); ok {
			t.Errorf("%q was stored though it failed (%s)", q, r.code())
		}
	}
}

func TestAPQExpiryIsRefreshedOnUse(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const q = "query Kept { name }"
	id := HashBody(q)
	wantData(t, h.post(map[string]any{"query": q, "extensions": pq(id)}))
	registered, _ := h.stored(id)

	h.clock.Advance(20 * time.Minute) // a third of the TTL: no write
	wantData(t, h.post(map[string]any{"extensions": pq(id)}))
	if e, _ := h.stored(id); !e.StoredAt.Equal(registered.StoredAt) {
		t.Error("refreshed before half the TTL had passed")
	}
	h.clock.Advance(20 * time.Minute) // past half: refreshed
	wantData(t, h.post(map[string]any{"extensions": pq(id)}))
	if e, _ := h.stored(id); !e.StoredAt.Equal(h.clock.Now()) {
		t.Errorf("not refreshed: stored at %v, now %v", e.StoredAt, h.clock.Now())
	}
	h.clock.Advance(50 * time.Minute) // 90 minutes after registration, 50 after use
	wantData(t, h.post(map[string]any{"extensions": pq(id)}))

	h.clock.Advance(61 * time.Minute)
	wantCode(t, h.post(map[string]any{"extensions": pq(id)}), CodeNotFound)
}

func TestAPQStoreFailuresDegradeToNotFound(t *testing.T) {
	h := newHarness(t, harnessOpts{store: failingStore{}})
	const q = "query Q { name }"
	id := HashBody(q)
	wantCode(t, h.post(map[string]any{"extensions": pq(id)}), CodeNotFound)
	// The registration still runs: the client gets its answer.
	wantData(t, h.post(map[string]any{"query": q, "extensions": pq(id)}))
	if !strings.Contains(h.logs.String(), "not stored") || !strings.Contains(h.logs.String(), "store unavailable") {
		t.Errorf("store failures not logged:\n%s", h.logs)
	}
}

func TestAPQRefusesCorruptEntries(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := HashBody("query Real { name }")
	if err := h.store.Set(context.Background(), DefaultAPQPrefix+id, []byte("mutation Evil { name }"), time.Hour); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.post(map[string]any{"extensions": pq(id)}), CodeNotFound)
	if _, ok := h.stored(id); ok {
		t.Error("a corrupt entry was kept")
	}
}

func TestPersistedOnlyRefusesTheRest(t *testing.T) {
	h := newHarness(t, harnessOpts{persistedOnly: true})
	const q = "query Adhoc { name }"
	id := HashBody(q)
	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"ad-hoc document", map[string]any{"query": q}},
		{"manifest document, reformatted", map[string]any{"query": opName.Body + "\n"}},
		{"unknown id", map[string]any{"extensions": pq(id)}},
		{"APQ registration", map[string]any{"query": q, "extensions": pq(id)}},
		{"no document at all", map[string]any{"query": ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, h.post(tt.body), CodeNotAllowed)
		})
	}
	if _, ok := h.stored(id); ok {
		t.Error("persisted-only stored an APQ registration")
	}
	// A mutation from the manifest is allowed over POST.
	r := h.post(map[string]any{"extensions": pq(opRename.ID)})
	if r.code() == CodeNotAllowed {
		t.Errorf("manifest mutation refused: %+v", r.Errors)
	}
}

func TestMalformedPersistedQueryExtension(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for name, ext := range map[string]any{
		"not an object":  map[string]any{"persistedQuery": "abc"},
		"version 2":      map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": opName.ID}},
		"no version":     map[string]any{"persistedQuery": map[string]any{"sha256Hash": opName.ID}},
		"short hash":     pq(opName.ID[:40]),
		"hash not a hex": pq(strings.Repeat("z", 64)),
		"no hash":        map[string]any{"persistedQuery": map[string]any{"version": 1}},
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, h.post(map[string]any{"extensions": ext}), CodeBadRequest)
		})
	}
	// null is the same as absent.
	wantData(t, h.post(map[string]any{"query": "{ name }", "extensions": map[string]any{"persistedQuery": nil}}))
}

func TestNewExtensionChecks(t *testing.T) {
	log, _ := testLogger(t)
	mem, _ := cache.NewMemory(cache.MemoryConfig{MaxEntries: 1, MaxBytes: 1024})
	m, _ := NewManifest(nil)
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"no manifest", Options{APQ: mem, Log: log}, "manifest source"},
		{"no APQ store", Options{Manifest: m, Log: log}, "APQ store"},
		{"no logger", Options{Manifest: m, APQ: mem}, "logger"},
		{"tiny TTL", Options{Manifest: m, APQ: mem, Log: log, APQTTL: time.Millisecond}, "TTL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewExtension(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := NewExtension(Options{Manifest: m, PersistedOnly: true, Log: log}); err != nil {
		t.Errorf("persisted-only needs no APQ store: %v", err)
	}
	if err := (&Extension{}).Validate(nil); err == nil {
		t.Error("Validate accepted an extension not built by NewExtension")
	}
	ext, _ := NewExtension(Options{Manifest: m, APQ: mem, Log: log})
	if err := ext.Validate(nil); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestFromContextOutsideAnOperation(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found something outside an operation")
	}
}
