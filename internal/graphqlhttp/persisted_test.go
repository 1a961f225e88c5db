package graphqlhttp

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"meridian/internal/cache"
	"meridian/internal/persisted"
)

// The test schema (gqlgen's testserver): Query { name find(id: Int!) },
// Mutation { name }.
var (
	opName   = manifestOp("Name", persisted.Query, "query Name { name }")
	opFind   = manifestOp("Find", persisted.Query, "query Find($id: Int!) { find(id: $id) }")
	opRename = manifestOp("Rename", persisted.Mutation, "mutation Rename { name }")
)

func manifestOp(name string, typ persisted.OperationType, body string) persisted.Operation {
	return persisted.Operation{ID: persisted.HashBody(body), Name: name, Type: typ, Body: body}
}

const publicCC = "public, max-age=60, stale-while-revalidate=300"

// edge is the handler as the gateway assembles it: a gqlgen server with the
// persisted-query extension behind this package's Handler, itself behind a
// middleware that sets Vary first (as the locale middleware does) and
// records the URL the layers outside see.
type edge struct {
	t       *testing.T
	handler http.Handler
	seenURL string
}

func newEdge(t *testing.T) *edge {
	t.Helper()
	m, err := persisted.NewManifest([]persisted.Operation{opName, opFind, opRename})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := cache.NewMemory(cache.MemoryConfig{MaxEntries: 100, MaxBytes: 1 << 20})
	ext, err := persisted.NewExtension(persisted.Options{Manifest: m, APQ: store, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.New()
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.Use(ext)
	inner := Handler(srv, Options{
		MaxBodyBytes: 1 << 16, ExecutionTimeout: 5 * time.Second,
		PersistedGET: PersistedGET{Lookup: m.Lookup, MaxAge: time.Minute, StaleWhileRevalidate: 5 * time.Minute},
	})
	e := &edge{t: t}
	e.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Language")
		w.Header().Add("Vary", "Origin")
		inner.ServeHTTP(w, r)
		e.seenURL = r.URL.String()
	})
	return e
}

type reply struct {
	status int
	header http.Header
	body   string
	Data   map[string]any
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (r reply) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func (e *edge) do(req *http.Request) reply {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	return r
}

func (e *edge) get(params url.Values, headers ...string) reply {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/graphql?"+params.Encode(), nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return e.do(req)
}

func (e *edge) post(body string, headers ...string) reply {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return e.do(req)
}

func pqParam(id string) string {
	b, _ := json.Marshal(map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": id}})
	return string(b)
}

func wantPublic(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != publicCC {
		t.Errorf("Cache-Control %q, want %q", got, publicCC)
	}
	vary := strings.Join(r.header.Values("Vary"), ", ")
	for _, name := range []string{"Accept-Language", "Origin", "Accept", "Authorization", "Cookie"} {
		if !slices.Contains(strings.Split(vary, ", "), name) {
			t.Errorf("Vary %q lacks %s", vary, name)
		}
	}
	if strings.Count(vary, "Accept-Language") != 1 {
		t.Errorf("Vary %q repeats Accept-Language", vary)
	}
}

func wantPrivate(t *testing.T, r reply) {
	t.Helper()
	if got := r.header.Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("Cache-Control %q, want private, no-store (status %d, body %s)", got, r.status, r.body)
	}
}

func TestPersistedGETIsPublicOnlyWhenAnonymousPersistedAndAQuery(t *testing.T) {
	e := newEdge(t)

	t.Run("documentId, anonymous", func(t *testing.T) {
		r := e.get(url.Values{"documentId": {"sha256:" + opName.ID}})
		wantPublic(t, r)
		if r.Data["name"] != "test" {
			t.Errorf("data %v", r.Data)
		}
		if !strings.Contains(e.seenURL, "documentId=") {
			t.Errorf("outer layers saw the rewritten URL %s", e.seenURL)
		}
	})
	t.Run("persistedQuery hash, anonymous", func(t *testing.T) {
		wantPublic(t, e.get(url.Values{"extensions": {pqParam(opName.ID)}}))
	})
	t.Run("with variables", func(t *testing.T) {
		wantPublic(t, e.get(url.Values{"documentId": {opFind.ID}, "variables": {`{"id":1}`}}))
	})
	t.Run("graphql-response+json", func(t *testing.T) {
		r := e.get(url.Values{"documentId": {"sha256:" + opName.ID}}, "Accept", "application/graphql-response+json")
		wantPublic(t, r)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/graphql-response+json") {
			t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
		}
	})

	for _, tt := range []struct {
		name    string
		params  url.Values
		headers []string
	}{
		{"bearer token", url.Values{"documentId": {"sha256:" + opName.ID}}, []string{"Authorization", "Bearer abc"}},
		{"any cookie", url.Values{"documentId": {"sha256:" + opName.ID}}, []string{"Cookie", "theme=dark"}},
		{"hash with a token", url.Values{"extensions": {pqParam(opName.ID)}}, []string{"Authorization", "Bearer abc"}},
		{"ad-hoc query", url.Values{"query": {"{ name }"}}, nil},
		{"the manifest's text as a query", url.Values{"query": {opName.Body}}, nil},
		{"APQ hash, not in the manifest", url.Values{"extensions": {pqParam(persisted.HashBody("{ name }"))}}, nil},
		{"manifest query that fails", url.Values{"documentId": {"sha256:" + opFind.ID}}, nil}, // $id missing
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantPrivate(t, e.get(tt.params, tt.headers...))
		})
	}

	t.Run("authenticated still gets data", func(t *testing.T) {
		r := e.get(url.Values{"documentId": {"sha256:" + opName.ID}}, "Authorization", "Bearer abc")
		if r.status != http.StatusOK || r.Data["name"] != "test" {
			t.Errorf("status %d, body %s", r.status, r.body)
		}
	})

	t.Run("mutation by GET stays refused", func(t *testing.T) {
		r := e.get(url.Values{"documentId": {"sha256:" + opRename.ID}})
		if r.status != http.StatusNotAcceptable {
			t.Errorf("status %d, want 406: %s", r.status, r.body)
		}
		wantPrivate(t, r)
	})

	t.Run("POST of a manifest query", func(t *testing.T) {
		r := e.post(`{"documentId":"sha256:` + opName.ID + `"}`)
		if r.Data["name"] != "test" {
			t.Errorf("body %s", r.body)
		}
		wantPrivate(t, r)
		wantPrivate(t, e.post(`{"query":"{ name }"}`))
	})
}

func TestPersistedGETRefusesDegradedAndErrorResponses(t *testing.T) {
	m, _ := persisted.NewManifest([]persisted.Operation{opName})
	for _, tt := range []struct {
		name, body string
		status     int
		public     bool
	}{
		{"plain data", `{"data":{"name":"x"}}`, 200, true},
		{"empty errors list", `{"data":{"name":"x"},"errors":[]}`, 200, true},
		{"other extensions", `{"data":{"name":"x"},"extensions":{"cost":3}}`, 200, true},
		{"degraded", `{"data":{"name":"x"},"extensions":{"degraded":[{"path":"name"}]}}`, 200, false},
		{"field error", `{"data":{"name":null},"errors":[{"message":"ORIGIN_UNAVAILABLE"}]}`, 200, false},
		{"no data", `{"data":null}`, 200, false},
		{"not JSON", `oops`, 200, false},
		{"server error", `{"data":{"name":"x"}}`, 500, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body[:len(tt.body)/2])
				io.WriteString(w, tt.body[len(tt.body)/2:])
			})
			h := Handler(exec, Options{MaxBodyBytes: 1024, ExecutionTimeout: time.Second,
				PersistedGET: PersistedGET{Lookup: m.Lookup, MaxAge: 30 * time.Second}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql?documentId=sha256:"+opName.ID, nil))
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("response changed: %d %s", rec.Code, rec.Body)
			}
			cc := rec.Header().Get("Cache-Control")
			if tt.public && cc != "public, max-age=30" {
				t.Errorf("Cache-Control %q, want public, max-age=30 (no stale-while-revalidate when 0)", cc)
			}
			if !tt.public && cc != "private, no-store" {
				t.Errorf("Cache-Control %q, want private, no-store", cc)
			}
		})
	}
}

func TestDocumentIDBecomesThePersistedQueryExtension(t *testing.T) {
	var got map[string]any
	var gotQuery url.Values
	exec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotQuery = nil, r.URL.Query()
		if r.Method == http.MethodPost {
			_ = json.NewDecoder(r.Body).Decode(&got)
		} else {
			got = map[string]any{}
			_ = json.Unmarshal([]byte(gotQuery.Get("extensions")), &got)
			got = map[string]any{"extensions": got}
		}
		w.WriteHeader(http.StatusOK)
	})
	h := Handler(exec, Options{MaxBodyBytes: 4096, ExecutionTimeout: time.Second})
	wantExt := map[string]any{"version": float64(1), "sha256Hash": opName.ID}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/graphql",
		strings.NewReader(`{"documentId":"sha256:`+strings.ToUpper(opName.ID)+`","variables":{"a":1},"operationName":"Name","extensions":{"trace":true}}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	exts, _ := got["extensions"].(map[string]any)
	if !jsonEqual(exts["persistedQuery"], wantExt) || exts["trace"] != true {
		t.Errorf("POST extensions %v", exts)
	}
	if _, left := got["documentId"]; left || got["operationName"] != "Name" || got["variables"] == nil {
		t.Errorf("POST body %v", got)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql?documentId="+opName.ID+"&operationName=Name", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	exts, _ = got["extensions"].(map[string]any)
	if !jsonEqual(exts["persistedQuery"], wantExt) || gotQuery.Has("documentId") || gotQuery.Get("operationName") != "Name" {
		t.Errorf("GET parameters %v", gotQuery)
	}

	// The same id in both places is fine.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql?documentId=sha256:"+opName.ID+"&extensions="+url.QueryEscape(pqParam(opName.ID)), nil))
	if rec.Code != http.StatusOK {
		t.Errorf("same id twice: %d %s", rec.Code, rec.Body)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestMalformedPersistedRequestsAreRefused(t *testing.T) {
	passed := false
	exec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { passed = true })
	h := Handler(exec, Options{MaxBodyBytes: 4096, ExecutionTimeout: time.Second})
	other := persisted.HashBody("{ other }")
	for _, tt := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"GET documentId not a hash", httptest.NewRequest(http.MethodGet, "/graphql?documentId=CatalogPage", nil), "documentId must be"},
		{"GET documentId of another scheme", httptest.NewRequest(http.MethodGet, "/graphql?documentId=md5:"+opName.ID, nil), "documentId must be"},
		{"GET documentId twice", httptest.NewRequest(http.MethodGet, "/graphql?documentId="+opName.ID+"&documentId="+opName.ID, nil), "one documentId"},
		{"GET documentId and query", httptest.NewRequest(http.MethodGet, "/graphql?documentId="+opName.ID+"&query=%7Bname%7D", nil), "not both"},
		{"GET documentId against the hash", httptest.NewRequest(http.MethodGet, "/graphql?documentId="+opName.ID+"&extensions="+url.QueryEscape(pqParam(other)), nil), "different documents"},
		{"GET extensions not an object", httptest.NewRequest(http.MethodGet, "/graphql?extensions=%5B%5D", nil), `"extensions" must be a JSON object`},
		{"GET extensions not JSON", httptest.NewRequest(http.MethodGet, "/graphql?extensions=%7B", nil), `"extensions" must be a JSON object`},
		{"GET extensions without a hash", httptest.NewRequest(http.MethodGet, "/graphql?extensions=%7B%7D", nil), "needs a query or documentId"},
		{"GET nothing", httptest.NewRequest(http.MethodGet, "/graphql", nil), "needs a query or documentId"},
		{"POST documentId and query", postJSON(`{"documentId":"` + opName.ID + `","query":"{ name }"}`), "not both"},
		{"POST documentId not a hash", postJSON(`{"documentId":"abc"}`), "documentId must be"},
		{"POST documentId a number", postJSON(`{"documentId":1}`), `"documentId"`},
		{"POST documentId against the hash", postJSON(`{"documentId":"` + opName.ID + `","extensions":` + pqParam(other) + `}`), "different documents"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			passed = false
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req)
			var out reply
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if passed || rec.Code != http.StatusBadRequest || out.code() != "BAD_REQUEST" ||
				len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, tt.want) {
				t.Errorf("passed=%v, %d %s; want 400 BAD_REQUEST saying %q", passed, rec.Code, rec.Body, tt.want)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("refusal Cache-Control %q", cc)
			}
		})
	}
	// An APQ GET with only the hash reaches the executor.
	passed = false
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql?extensions="+url.QueryEscape(pqParam(other)), nil))
	if !passed {
		t.Errorf("hash-only GET refused: %d %s", rec.Code, rec.Body)
	}
}

func postJSON(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestOptionsAreChecked(t *testing.T) {
	exec := http.NotFoundHandler()
	lookup := func(string) (persisted.Operation, bool) { return persisted.Operation{}, false }
	for _, tt := range []struct {
		name string
		exec http.Handler
		opts Options
		want string
	}{
		{"no executor", nil, Options{MaxBodyBytes: 1, ExecutionTimeout: time.Second}, "executor"},
		{"no body limit", exec, Options{ExecutionTimeout: time.Second}, "MaxBodyBytes"},
		{"no timeout", exec, Options{MaxBodyBytes: 1}, "ExecutionTimeout"},
		{"public without max-age", exec, Options{MaxBodyBytes: 1, ExecutionTimeout: time.Second,
			PersistedGET: PersistedGET{Lookup: lookup}}, "MaxAge"},
		{"negative stale-while-revalidate", exec, Options{MaxBodyBytes: 1, ExecutionTimeout: time.Second,
			PersistedGET: PersistedGET{Lookup: lookup, MaxAge: time.Minute, StaleWhileRevalidate: -time.Second}}, "StaleWhileRevalidate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHandler(tt.exec, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %s", err, tt.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("Handler accepted invalid options")
		}
	}()
	Handler(exec, Options{})
}
