package originhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"meridian/internal/apierr"
)

// upstreamSecret stands for what an origin writes in its error messages:
// it must reach the logs (the error's text) and never a client (the apierr
// message).
const upstreamSecret = "UPSTREAM-DETAIL-7f3a"

// serve starts a server running h and returns a client for it under the
// base path "/masterdata".
func serve(t *testing.T, h http.HandlerFunc, edit func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{BaseURL: srv.URL + "/masterdata", Origin: "masterdata"}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// answer returns a handler that answers status with body as JSON.
func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func envelope(code string) string {
	return fmt.Sprintf(`{"error":{"code":%q,"message":"%s: details only the origin knows"}}`, code, upstreamSecret)
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for a valid config
	}{
		{"http with path", Config{BaseURL: "http://127.0.0.1:9090/masterdata", Origin: "masterdata"}, ""},
		{"https with trailing slash", Config{BaseURL: "https://md.example/masterdata/", Origin: "masterdata"}, ""},
		{"host only", Config{BaseURL: "https://md.example", Origin: "masterdata"}, ""},
		{"no origin name", Config{BaseURL: "https://md.example"}, "Origin is required"},
		{"ftp", Config{BaseURL: "ftp://md.example/x", Origin: "masterdata"}, "scheme"},
		{"no scheme", Config{BaseURL: "md.example/masterdata", Origin: "masterdata"}, "scheme"},
		{"no host", Config{BaseURL: "http:///masterdata", Origin: "masterdata"}, "host"},
		{"port without host", Config{BaseURL: "http://:9090/masterdata", Origin: "masterdata"}, "host"},
		{"credentials", Config{BaseURL: "https://user:pw@md.example/", Origin: "masterdata"}, "user info"},
		{"query", Config{BaseURL: "https://md.example/?a=b", Origin: "masterdata"}, "query"},
		{"fragment", Config{BaseURL: "https://md.example/#x", Origin: "masterdata"}, "fragment"},
		{"negative limit", Config{BaseURL: "https://md.example", Origin: "masterdata", MaxResponseBytes: -1}, "MaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v want none", err)
				}
				if c.maxBytes != DefaultMaxResponseBytes {
					t.Errorf("got max response bytes %d want default %d", c.maxBytes, DefaultMaxResponseBytes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(fmt.Sprint(err), "pw@") {
				t.Errorf("error %q repeats the credentials", err)
			}
		})
	}
}

func TestNewTransportIsTunedForFarHosts(t *testing.T) {
	tr := NewTransport()
	if got, want := tr.MaxIdleConnsPerHost, 64; got != want {
		t.Errorf("MaxIdleConnsPerHost: got %d want %d", got, want)
	}
	if got, want := tr.IdleConnTimeout, 90*time.Second; got != want {
		t.Errorf("IdleConnTimeout: got %v want %v", got, want)
	}
	if got, want := tr.TLSHandshakeTimeout, 5*time.Second; got != want {
		t.Errorf("TLSHandshakeTimeout: got %v want %v", got, want)
	}
	if tr.ResponseHeaderTimeout != 0 {
		t.Errorf("ResponseHeaderTimeout: got %v want 0 (callers' deadlines bound calls)", tr.ResponseHeaderTimeout)
	}
	c, err := New(Config{BaseURL: "https://md.example", Origin: "masterdata"})
	if err != nil {
		t.Fatal(err)
	}
	if c.http.Timeout != 0 {
		t.Errorf("client timeout: got %v want 0", c.http.Timeout)
	}
}

func TestGetJSONBuildsRequest(t *testing.T) {
	type seen struct {
		Path, RawPath, Query, Accept, UserAgent, ContentType string
	}
	echo := func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(seen{
			Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Accept: r.Header.Get("Accept"), UserAgent: r.Header.Get("User-Agent"), ContentType: r.Header.Get("Content-Type"),
		})
	}
	tests := []struct {
		name  string
		path  string
		query url.Values
		ua    string
		want  seen
	}{
		{"plain path", "/v1/products", nil, "", seen{Path: "/masterdata/v1/products", RawPath: "/masterdata/v1/products", Accept: "application/json", UserAgent: DefaultUserAgent}},
		{"colon kept", "/v1/inventory:batchGet", nil, "", seen{Path: "/masterdata/v1/inventory:batchGet", RawPath: "/masterdata/v1/inventory:batchGet", Accept: "application/json", UserAgent: DefaultUserAgent}},
		{"escaped segment", "/v1/products/" + url.PathEscape("A/B C"), nil, "", seen{Path: "/masterdata/v1/products/A/B C", RawPath: "/masterdata/v1/products/A%2FB%20C", Accept: "application/json", UserAgent: DefaultUserAgent}},
		{"query and agent", "/v1/changes", url.Values{"cursor": {"bWQ6MA"}, "limit": {"5"}}, "meridian-test", seen{Path: "/masterdata/v1/changes", RawPath: "/masterdata/v1/changes", Query: "cursor=bWQ6MA&limit=5", Accept: "application/json", UserAgent: "meridian-test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, echo, func(cfg *Config) { cfg.UserAgent = tt.ua })
			var got seen
			if err := c.GetJSON(t.Context(), tt.path, tt.query, &got); err != nil {
				t.Fatalf("GetJSON: %v", err)
			}
			if got != tt.want {
				t.Errorf("got request %+v want %+v", got, tt.want)
			}
		})
	}
}

func TestRequestPathMustStayUnderBase(t *testing.T) {
	calls := 0
	c := serve(t, func(w http.ResponseWriter, _ *http.Request) { calls++; io.WriteString(w, "{}") }, nil)
	for _, path := range []string{"", "v1/products", "/v1/products?limit=1", "/v1/products#x"} {
		t.Run(path, func(t *testing.T) {
			var out map[string]any
			if err := c.GetJSON(t.Context(), path, nil, &out); err == nil {
				t.Errorf("GetJSON(%q): got no error want one", path)
			}
		})
	}
	if calls != 0 {
		t.Errorf("got %d requests sent want 0", calls)
	}
}

func TestPostJSON(t *testing.T) {
	var gotBody, gotType, gotKey string
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType, gotKey = string(b), r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key")
		answer(http.StatusCreated, `{"id":"ord_1"}`)(w, r)
	}, nil)
	var out struct{ ID string }
	status, err := c.PostJSON(t.Context(), "/v1/orders", http.Header{"Idempotency-Key": {"k-1"}}, map[string]int{"quantity": 2}, &out)
	if err != nil {
		t.Fatalf("PostJSON: %v", err)
	}
	for _, chk := range []struct{ what, got, want string }{
		{"status", fmt.Sprint(status), "201"},
		{"id", out.ID, "ord_1"},
		{"body", gotBody, `{"quantity":2}`},
		{"content type", gotType, "application/json"},
		{"idempotency key", gotKey, "k-1"},
	} {
		if chk.got != chk.want {
			t.Errorf("%s: got %q want %q", chk.what, chk.got, chk.want)
		}
	}
}

func TestBatchGetJSONSendsNoIdempotencyKey(t *testing.T) {
	var keys []string
	present := false
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		keys, present = r.Header["Idempotency-Key"]
		answer(http.StatusOK, `{"items":[]}`)(w, r)
	}, nil)
	var out map[string]any
	if err := c.BatchGetJSON(t.Context(), "/v1/inventory:batchGet", map[string][]string{"skus": {"A"}}, &out); err != nil {
		t.Fatalf("BatchGetJSON: %v", err)
	}
	if present {
		t.Errorf("got Idempotency-Key %q on the wire want none (the key only marks the request replayable)", keys)
	}
}

func TestStatusMapping(t *testing.T) {
	fourXX := map[apierr.Kind]bool{apierr.BadUserInput: true, apierr.NotFound: true, apierr.Conflict: true, apierr.Forbidden: true, apierr.Unauthenticated: true}
	tests := []struct {
		name       string
		status     int
		body       string
		header     []string
		plain      bool        // no apierr in the chain: an origin failure
		kind       apierr.Kind // when not plain
		is         error       // a sentinel the error must match, or nil
		wantCode   string      // StatusError.Code
		wantRetry  time.Duration
		wantLogged bool // the upstream message is in the error's text
	}{
		{name: "400", status: 400, body: envelope("invalid_request"), kind: apierr.BadUserInput, wantCode: "invalid_request", wantLogged: true},
		{name: "422", status: 422, body: envelope("price_mismatch"), kind: apierr.BadUserInput, wantCode: "price_mismatch", wantLogged: true},
		{name: "404 not found", status: 404, body: envelope("not_found"), kind: apierr.NotFound, wantCode: "not_found", wantLogged: true},
		{name: "404 no route", status: 404, body: envelope("no_route"), kind: apierr.Internal, wantCode: "no_route", wantLogged: true},
		{name: "404 not the envelope", status: 404, body: "<html>" + upstreamSecret + "</html>", kind: apierr.Internal, wantLogged: true},
		{name: "409", status: 409, body: envelope("idempotency_key_reused"), kind: apierr.Conflict, wantCode: "idempotency_key_reused", wantLogged: true},
		{name: "401 our credentials", status: 401, body: envelope("unauthenticated"), kind: apierr.Internal, wantCode: "unauthenticated", wantLogged: true},
		{name: "403 our credentials", status: 403, body: envelope("forbidden"), kind: apierr.Internal, wantCode: "forbidden", wantLogged: true},
		{name: "410 cursor expired", status: 410, body: envelope("cursor_expired"), kind: apierr.Internal, is: ErrCursorExpired, wantCode: "cursor_expired", wantLogged: true},
		{name: "413", status: 413, body: envelope("request_too_large"), kind: apierr.Internal, wantCode: "request_too_large", wantLogged: true},
		{name: "429", status: 429, body: envelope("rate_limited"), header: []string{"Retry-After", "3"}, plain: true, is: ErrUnavailable, wantCode: "rate_limited", wantRetry: 3 * time.Second, wantLogged: true},
		{name: "500", status: 500, body: envelope("internal"), plain: true, is: ErrUnavailable, wantCode: "internal", wantLogged: true},
		{name: "502 from a proxy", status: 502, body: "bad gateway", plain: true, is: ErrUnavailable},
		{name: "503", status: 503, body: envelope("unavailable"), header: []string{"Retry-After", "1"}, plain: true, is: ErrUnavailable, wantCode: "unavailable", wantRetry: time.Second, wantLogged: true},
		{name: "302 is not followed", status: 302, body: "{}", header: []string{"Location", "https://elsewhere.example/"}, kind: apierr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, answer(tt.status, tt.body, tt.header...), nil)
			out := map[string]any{"untouched": true}
			status, err := c.PostJSON(t.Context(), "/v1/orders", nil, map[string]string{}, &out)
			if err == nil {
				t.Fatal("got no error want one")
			}
			if status != tt.status {
				t.Errorf("got status %d want %d", status, tt.status)
			}
			if !out["untouched"].(bool) || len(out) != 1 {
				t.Errorf("got out %v want it untouched", out)
			}
			ae, classified := apierr.As(err)
			if tt.plain {
				if classified {
					t.Errorf("got apierr %v (kind %v) want a plain error", ae, ae.Kind)
				}
				if fourXX[apierr.KindOf(err)] {
					t.Errorf("got a 4xx kind %v want an origin failure", apierr.KindOf(err))
				}
			} else {
				if !classified {
					t.Fatalf("got plain error %v want kind %v", err, tt.kind)
				}
				if ae.Kind != tt.kind {
					t.Errorf("got kind %v want %v", ae.Kind, tt.kind)
				}
				if strings.Contains(ae.Message, upstreamSecret) || strings.Contains(ae.Message, "origin knows") {
					t.Errorf("client-facing message %q repeats the upstream body", ae.Message)
				}
				if !strings.Contains(ae.Message, "masterdata") {
					t.Errorf("client-facing message %q does not name the origin", ae.Message)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v): got false want true", tt.is)
			}
			for _, s := range []error{ErrUnavailable, ErrCursorExpired} {
				if s != tt.is && errors.Is(err, s) {
					t.Errorf("errors.Is(err, %v): got true want false", s)
				}
			}
			se, ok := AsStatusError(err)
			if !ok {
				t.Fatalf("AsStatusError: got false want true for %v", err)
			}
			if se.Status != tt.status || se.Code != tt.wantCode || se.RetryAfter != tt.wantRetry || se.Origin != "masterdata" {
				t.Errorf("got StatusError{Status %d, Code %q, RetryAfter %v, Origin %q} want {%d, %q, %v, masterdata}",
					se.Status, se.Code, se.RetryAfter, se.Origin, tt.status, tt.wantCode, tt.wantRetry)
			}
			if got := strings.Contains(err.Error(), upstreamSecret); got != tt.wantLogged {
				t.Errorf("upstream message in the logged text %q: got %v want %v", err.Error(), got, tt.wantLogged)
			}
		})
	}
}

func TestResponseSizeBound(t *testing.T) {
	const limit = 1024
	body := func(n int) string { // valid JSON of exactly n bytes
		return `{"pad":"` + strings.Repeat("x", n-len(`{"pad":""}`)) + `"}`
	}
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"at the limit", limit, false},
		{"one byte over", limit + 1, true},
		{"far over", 64 * limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, answer(http.StatusOK, body(tt.size)), func(cfg *Config) { cfg.MaxResponseBytes = limit })
			var out struct{ Pad string }
			err := c.GetJSON(t.Context(), "/v1/products", nil, &out)
			if !tt.wantErr {
				if err != nil || len(out.Pad) != tt.size-len(`{"pad":""}`) {
					t.Fatalf("got error %v and %d bytes of pad want none and the whole body", err, len(out.Pad))
				}
				return
			}
			if err == nil {
				t.Fatal("got no error want one")
			}
			if out.Pad != "" {
				t.Errorf("got a decoded pad of %d bytes want nothing decoded", len(out.Pad))
			}
			ae, ok := apierr.As(err)
			if !ok || ae.Kind != apierr.Internal {
				t.Fatalf("got %v want kind Internal", err)
			}
			if !strings.Contains(ae.Message, "masterdata") {
				t.Errorf("message %q does not name the origin", ae.Message)
			}
		})
	}
}

func TestUndecodableAnswerIsInternal(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"html", "<html><body>" + upstreamSecret + "</body></html>"},
		{"truncated", `{"items":[`},
		{"trailing data", `{} {}`},
		{"money as a number", `{"price":1299.00}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, answer(http.StatusOK, tt.body), nil)
			var out struct {
				Items []string `json:"items"`
				Price string   `json:"price"`
			}
			err := c.GetJSON(t.Context(), "/v1/products", nil, &out)
			ae, ok := apierr.As(err)
			if !ok || ae.Kind != apierr.Internal {
				t.Fatalf("got %v want kind Internal", err)
			}
			if strings.Contains(ae.Message, upstreamSecret) {
				t.Errorf("client-facing message %q repeats the body", ae.Message)
			}
			if !strings.Contains(err.Error(), "decoding") || !strings.Contains(err.Error(), "/v1/products") {
				t.Errorf("logged text %q lacks context", err.Error())
			}
		})
	}
}

func TestDeadlineEndsCall(t *testing.T) {
	tests := []struct {
		name    string
		handler func(release <-chan struct{}) http.HandlerFunc
	}{
		{"never answers", func(release <-chan struct{}) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
		}},
		{"stalls mid-body", func(release <-chan struct{}) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"items":[`)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			c := serve(t, tt.handler(release), nil)
			t.Cleanup(func() { close(release) }) // runs before the server's Close
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			var out map[string]any
			err := c.GetJSON(ctx, "/v1/products", nil, &out)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("got a call of %v want it ended near the 100ms deadline", elapsed)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v want an error matching context.DeadlineExceeded", err)
			}
			if _, ok := apierr.As(err); ok {
				t.Errorf("got apierr %v want a plain error (an origin failure)", err)
			}
			if !strings.Contains(err.Error(), "masterdata") {
				t.Errorf("error %q does not name the origin", err)
			}
		})
	}
}

func TestTransportFailureIsPlain(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(Config{BaseURL: base + "/masterdata", Origin: "masterdata"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.GetJSON(t.Context(), "/v1/products", nil, new(map[string]any))
	if err == nil {
		t.Fatal("got no error want one")
	}
	if _, ok := apierr.As(err); ok {
		t.Errorf("got apierr %v want a plain error", err)
	}
	if _, ok := AsStatusError(err); ok {
		t.Errorf("got a StatusError from %v want none: nothing answered", err)
	}
}

func TestPathSegment(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "TST-0001", want: "TST-0001"},
		{in: "a/b c", want: "a%2Fb%20c"},
		{in: "精华", want: "%E7%B2%BE%E5%8D%8E"},
		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "..", wantErr: true},
		{in: "a\nb", wantErr: true},
		{in: strings.Repeat("x", 257), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := PathSegment("SKU", tt.in)
			if tt.wantErr {
				if apierr.KindOf(err) != apierr.BadUserInput {
					t.Fatalf("got %q, %v want a BadUserInput error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v want %q", got, err, tt.want)
			}
		})
	}
}

func TestIsMoney(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"1299.00", true}, {"0.50", true}, {"0.00", true}, {"9999999999.99", true},
		{"1299", false}, {"1299.0", false}, {"1299.000", false}, {"01.00", false},
		{"-1.00", false}, {"1,299.00", false}, {"1e3", false}, {"", false}, {"99999999999.00", false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := IsMoney(tt.in); got != tt.want {
				t.Errorf("IsMoney(%q): got %v want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckPageLimit(t *testing.T) {
	for _, tt := range []struct {
		limit int
		ok    bool
	}{{0, true}, {1, true}, {MaxPageLimit, true}, {-1, false}, {MaxPageLimit + 1, false}} {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			err := CheckPageLimit(tt.limit)
			if tt.ok != (err == nil) {
				t.Errorf("got %v want ok=%v", err, tt.ok)
			}
			if err != nil && apierr.KindOf(err) != apierr.BadUserInput {
				t.Errorf("got kind %v want BadUserInput", apierr.KindOf(err))
			}
		})
	}
}
