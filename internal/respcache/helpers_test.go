package respcache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/cachecontrol"
	"meridian/internal/degraded"
	"meridian/internal/graphqlhttp"
	"meridian/internal/locale"
	"meridian/internal/middleware"
	"meridian/internal/testenv"
)

const testSchema = `
directive @cacheControl(maxAge: Int, scope: CacheControlScope = PUBLIC) on FIELD_DEFINITION | OBJECT
enum CacheControlScope { PUBLIC PRIVATE }

type Query {
  product(id: ID!): Product @cacheControl(maxAge: 60)
  page(ids: [ID!]!): Page @cacheControl(maxAge: 60)
  me: User
  account: User @cacheControl(maxAge: 60, scope: PRIVATE)
  leaky: String @cacheControl(maxAge: 60)
  version: String
  fails: String @cacheControl(maxAge: 60)
  stock(id: ID!): Int @cacheControl(maxAge: 60)
  live(id: ID!): Int @cacheControl(maxAge: 60)
  big(size: Int!): String @cacheControl(maxAge: 60)
  whoami: String @cacheControl(maxAge: 60)
}

type Mutation {
  touch(id: ID!): Product
}

type Product @cacheControl(maxAge: 300) {
  id: ID!
  name: String!
  inventory: Int @cacheControl(maxAge: 30)
}

type Page @cacheControl(maxAge: 60) { items: [Product!]! }

type User { name: String! }
`

func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
}

// resolver answers one root field: a value made of map[string]any,
// []any and scalars, projected onto the selection like GraphQL would.
type resolver func(ctx context.Context, args map[string]any) (any, error)

// harness is a GraphQL stack shaped like the gateway's, around a Cache:
//
//	fake auth → locale → cache → degraded report → edge → counter → gqlgen
//
// gqlgen runs a mock executable schema whose root fields are resolvers;
// Observe and the degraded extension are its response middlewares.
type harness struct {
	t      testing.TB
	clock  *testenv.Clock
	cache  *Cache
	h      http.Handler
	schema *ast.Schema

	executions atomic.Int64 // requests that reached gqlgen
	version    atomic.Int64 // part of every product name: tells executions apart
	// gate, when set, holds every execution until it is closed.
	gate atomic.Pointer[chan struct{}]
	// refreshSeen records what executions saw: principal and locale.
	mu        sync.Mutex
	lastWho   string
	lastLocal string
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphqls", Input: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: newClock(), schema: schema}
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	h.cache = c
	h.h = h.stack(c)
	return h
}

// stack builds the handler chain around c.
func (h *harness) stack(c *Cache) http.Handler {
	analyzer, err := cachecontrol.NewAnalyzer(h.schema, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return h.schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: h.exec,
	}
	srv := handler.New(es)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: graphql.MapCache[string]{}})
	srv.AroundResponses(reportDegraded)
	srv.AroundResponses(Observe(analyzer))
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.executions.Add(1)
		srv.ServeHTTP(w, r)
	})
	edge, err := graphqlhttp.NewHandler(counted, graphqlhttp.Options{MaxBodyBytes: 1 << 20, ExecutionTimeout: 10 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := degraded.WithReport(r.Context())
		edge.ServeHTTP(w, r.WithContext(ctx))
	})
	return fakeAuth(middleware.Locale(c.Middleware(next)))
}

// fakeAuth signs in whoever X-Test-User names, with an audit recorder,
// as the gateway does for signed-in requests.
func fakeAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sub := r.Header.Get("X-Test-User"); sub != "" {
			ctx := auth.WithPrincipal(r.Context(), &auth.Principal{Subject: sub})
			ctx, _ = audit.WithRecorder(ctx, sub, "customer", "req")
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// reportDegraded is the gateway's: degraded fields in extensions.degraded.
func reportDegraded(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	if fields := degraded.FromContext(ctx).Fields(); fields != nil {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["degraded"] = fields
	}
	return resp
}

func (h *harness) resolvers() map[string]resolver {
	product := func(ctx context.Context, id string) map[string]any {
		Tag(ctx, "product:"+id)
		return map[string]any{
			"id":        id,
			"name":      fmt.Sprintf("Product %s (%s) v%d", id, locale.FromContext(ctx).Key(), h.version.Load()),
			"inventory": 7,
		}
	}
	return map[string]resolver{
		"product": func(ctx context.Context, args map[string]any) (any, error) {
			return product(ctx, args["id"].(string)), nil
		},
		"touch": func(ctx context.Context, args map[string]any) (any, error) {
			return product(ctx, args["id"].(string)), nil
		},
		"page": func(ctx context.Context, args map[string]any) (any, error) {
			var items []any
			for _, id := range args["ids"].([]any) {
				items = append(items, product(ctx, id.(string)))
			}
			return map[string]any{"items": items}, nil
		},
		"me": func(ctx context.Context, _ map[string]any) (any, error) {
			p, ok := auth.FromContext(ctx)
			if !ok {
				return nil, gqlerror.Errorf("sign in")
			}
			return map[string]any{"name": p.Subject}, nil
		},
		"account": func(ctx context.Context, _ map[string]any) (any, error) {
			p, ok := auth.FromContext(ctx)
			if !ok {
				return nil, gqlerror.Errorf("sign in")
			}
			return map[string]any{"name": p.Subject}, nil
		},
		"leaky": func(ctx context.Context, _ map[string]any) (any, error) {
			// A field hinted PUBLIC by mistake that reads personal data.
			p, ok := auth.FromContext(ctx)
			if !ok {
				return "nobody", nil
			}
			audit.RecorderFrom(ctx).Read(p.Subject, "displayName", "self")
			return p.Subject, nil
		},
		"version": func(context.Context, map[string]any) (any, error) { return "1", nil },
		"fails": func(context.Context, map[string]any) (any, error) {
			return nil, gqlerror.Errorf("origin unavailable")
		},
		"stock": func(ctx context.Context, args map[string]any) (any, error) {
			Tag(ctx, "product:"+args["id"].(string))
			degraded.Add(ctx, degraded.Field{Path: "stock", Origin: "masterdata", Reason: "timeout", AsOf: h.clock.Now().Add(-time.Minute)})
			return 3, nil
		},
		"live": func(ctx context.Context, _ map[string]any) (any, error) {
			NoStore(ctx)
			return int(h.version.Load()), nil
		},
		"big": func(_ context.Context, args map[string]any) (any, error) {
			return strings.Repeat("x", int(args["size"].(int64))), nil
		},
		"whoami": func(ctx context.Context, _ map[string]any) (any, error) {
			who := "anonymous"
			if p, ok := auth.FromContext(ctx); ok {
				who = p.Subject
			}
			h.mu.Lock()
			h.lastWho, h.lastLocal = who, locale.FromContext(ctx).Key()
			h.mu.Unlock()
			return fmt.Sprintf("v%d", h.version.Load()), nil
		},
	}
}

// exec is the mock schema's Exec: it resolves root fields with resolvers
// and projects the values onto the selection.
func (h *harness) exec(ctx context.Context) graphql.ResponseHandler {
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		if g := h.gate.Load(); g != nil {
			select {
			case <-*g:
			case <-ctx.Done():
			}
		}
		oc := graphql.GetOperationContext(ctx)
		resolvers := h.resolvers()
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, f := range fields(oc.Operation.SelectionSet) {
			if i > 0 {
				buf.WriteByte(',')
			}
			name := f.Alias
			if name == "" {
				name = f.Name
			}
			fmt.Fprintf(&buf, "%q:", name)
			var v any
			err := fmt.Errorf("%s is not served here", f.Name) // introspection
			if resolve, ok := resolvers[f.Name]; ok {
				v, err = resolve(ctx, f.ArgumentMap(oc.Variables))
			}
			if err != nil {
				graphql.AddError(ctx, &gqlerror.Error{Message: err.Error(), Path: ast.Path{ast.PathName(name)}})
				v = nil
			}
			project(&buf, f.SelectionSet, v)
		}
		buf.WriteByte('}')
		return &graphql.Response{Data: buf.Bytes()}
	}
}

// fields flattens a selection set's fields (fragments included).
func fields(set ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			out = append(out, s)
		case *ast.InlineFragment:
			out = append(out, fields(s.SelectionSet)...)
		case *ast.FragmentSpread:
			out = append(out, fields(s.Definition.SelectionSet)...)
		}
	}
	return out
}

func project(buf *bytes.Buffer, set ast.SelectionSet, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case []any:
		buf.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			project(buf, set, item)
		}
		buf.WriteByte(']')
	case map[string]any:
		buf.WriteByte('{')
		for i, f := range fields(set) {
			if i > 0 {
				buf.WriteByte(',')
			}
			name := f.Alias
			if name == "" {
				name = f.Name
			}
			fmt.Fprintf(buf, "%q:", name)
			project(buf, f.SelectionSet, x[f.Name])
		}
		buf.WriteByte('}')
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

// req describes one test request.
type req struct {
	method   string // default POST
	body     string // POST body
	url      string // default /graphql
	locale   string // Accept-Language
	user     string // signs in when set
	accept   string
	ctx      context.Context
	noHeader bool
}

func gql(query string, vars ...string) req {
	v := "{}"
	if len(vars) > 0 {
		v = vars[0]
	}
	q, _ := json.Marshal(query)
	return req{body: fmt.Sprintf(`{"query":%s,"variables":%s}`, q, v)}
}

// getQuery is query sent as an ad-hoc GET, its document in the URL.
func getQuery(query string) req {
	return req{method: http.MethodGet, url: "/graphql?query=" + url.QueryEscape(query)}
}

func (r req) as(user string) req            { r.user = user; return r }
func (r req) in(locale string) req          { r.locale = locale; return r }
func (r req) accepts(a string) req          { r.accept = a; return r }
func (r req) withCtx(c context.Context) req { r.ctx = c; return r }

func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	return serveWith(h.h, r)
}

func serveWith(hd http.Handler, r req) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hd.ServeHTTP(rec, newRequestFor(r))
	return rec
}

func newRequestFor(r req) *http.Request {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	url := r.url
	if url == "" {
		url = "/graphql"
	}
	var body io.Reader = http.NoBody
	if method == http.MethodPost {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(method, url, body)
	if method == http.MethodPost {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.locale != "" {
		hr.Header.Set("Accept-Language", r.locale)
	}
	if r.user != "" {
		hr.Header.Set("X-Test-User", r.user)
	}
	if r.accept != "" {
		hr.Header.Set("Accept", r.accept)
	}
	if r.ctx != nil {
		hr = hr.WithContext(r.ctx)
	}
	return hr
}

// gqlResponse is a response body, with data kept raw.
type gqlResponse struct {
	Data       json.RawMessage `json:"data"`
	Errors     []any           `json:"errors"`
	Extensions struct {
		Cache *struct {
			Status     string `json:"status"`
			StoredAt   string `json:"storedAt"`
			AgeSeconds int    `json:"ageSeconds"`
		} `json:"cache"`
		Degraded []any `json:"degraded"`
	} `json:"extensions"`
}

func parse(t testing.TB, rec *httptest.ResponseRecorder) gqlResponse {
	t.Helper()
	var r gqlResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, rec.Body.String())
	}
	return r
}

// expect checks the status, X-Cache and executions so far.
func (h *harness) expect(rec *httptest.ResponseRecorder, xcache string, executions int64) {
	h.t.Helper()
	if rec.Code != http.StatusOK {
		h.t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("X-Cache"); got != xcache {
		h.t.Fatalf("X-Cache = %q, want %q (body %s)", got, xcache, rec.Body.String())
	}
	if got := h.executions.Load(); got != executions {
		h.t.Fatalf("executions = %d, want %d", got, executions)
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
