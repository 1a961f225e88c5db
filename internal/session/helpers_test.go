package session

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian/internal/auth"
	"meridian/internal/db"
	"meridian/internal/idpsim"
	"meridian/internal/testenv"
)

// testEpoch is where the fake clock starts.
var testEpoch = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// logBuffer collects log output from concurrent requests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testKey returns a deterministic 32-byte key; distinct seeds give distinct
// keys.
func testKey(seed byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// env is a real idpsim provider under /idp of one test server and a
// Meridian app (the session handlers and a /me endpoint behind
// auth.Middleware) on another, sharing one fake clock.
type env struct {
	clock    *testenv.Clock
	idp      *idpsim.IdP
	idpSrv   *httptest.Server
	iss      string
	app      *httptest.Server
	verifier *auth.Verifier
	db       *db.DB
	store    *SQLStore
	m        *Manager
	logs     *logBuffer

	refreshGrants atomic.Int32                  // refresh_token grants the IdP received
	codeGrants    atomic.Int32                  // authorization_code grants the IdP received
	tokenDown     atomic.Bool                   // the token endpoint answers 503
	tokenGate     atomic.Pointer[chan struct{}] // when set, token requests wait for it to close
}

// newEnv builds the environment; edit adjusts the Manager's config, and
// idpEdit the provider's.
func newEnv(t *testing.T, edit func(*Config), idpEdit ...func(*idpsim.Config)) *env {
	t.Helper()
	ids, err := os.ReadFile("../../testdata/identities.json")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clock: testenv.NewClock(testEpoch), logs: &logBuffer{}}
	idpCfg := idpsim.Config{Identities: ids, Now: e.clock.Now}
	for _, edit := range idpEdit {
		edit(&idpCfg)
	}
	e.idp, err = idpsim.New(idpCfg)
	if err != nil {
		t.Fatal(err)
	}
	idpHandler := e.idp.Handler()
	e.idpSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") && r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			switch form.Get("grant_type") {
			case "refresh_token":
				e.refreshGrants.Add(1)
			case "authorization_code":
				e.codeGrants.Add(1)
			}
			if gate := e.tokenGate.Load(); gate != nil {
				<-*gate
			}
			if e.tokenDown.Load() {
				http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
				return
			}
		}
		idpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(e.idpSrv.Close)
	e.iss = e.idpSrv.URL + "/idp"
	if err := e.idp.SetIssuer(e.iss); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	e.verifier, err = auth.NewVerifier(ctx, auth.VerifierConfig{
		Issuer: e.iss, Audience: idpsim.DefaultAPIAudience, Now: e.clock.Now, HTTPClient: e.idpSrv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.db, err = db.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.store, err = NewSQLStore(ctx, e.db, WithStoreClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}

	var handler atomic.Pointer[http.Handler]
	e.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.app.Close)
	e.m = e.manager(t, edit)
	var h http.Handler = e.mux(e.m)
	handler.Store(&h)
	return e
}

// config is the Manager config of the environment.
func (e *env) config() Config {
	return Config{
		Issuer:         e.iss,
		ClientID:       idpsim.DemoClientID,
		RedirectURL:    e.app.URL + "/auth/callback",
		Store:          e.store,
		EncryptionKeys: [][]byte{testKey(1)},
		Now:            e.clock.Now,
		HTTPClient:     e.idpSrv.Client(),
		Logger:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Verifier:       e.verifier,
	}
}

// manager builds a Manager of the environment; edit adjusts its config.
func (e *env) manager(t *testing.T, edit func(*Config)) *Manager {
	t.Helper()
	cfg := e.config()
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(testContext(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// mux is the app: the session endpoints, and /me, which reports the
// caller, behind the auth middleware and the CSRF guard.
func (e *env) mux(m *Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/login", m.Login)
	mux.HandleFunc("/auth/callback", m.Callback)
	mux.HandleFunc("/auth/logout", m.Logout)
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			_, _ = w.Write([]byte(`{"subject":""}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"subject": p.Subject, "roles": p.Roles})
	})
	mux.Handle("/me", auth.Middleware(e.verifier, m.CSRFGuard(me), auth.WithSessionResolver(m)))
	return mux
}

// browser is a user agent with a cookie jar that follows no redirect by
// itself: every hop is driven, and checked, by the test.
type browser struct {
	t      *testing.T
	jar    *cookiejar.Jar
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, jar: jar, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) location(t *testing.T) *url.URL {
	t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location in %d response: %s", r.status, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q: %v", loc, err)
	}
	return u
}

// errorCode returns extensions.code of a GraphQL-shaped error body.
func (r response) errorCode() string {
	var b graphQLErrors
	if json.Unmarshal(r.body, &b) != nil || len(b.Errors) != 1 {
		return ""
	}
	return b.Errors[0].Extensions["code"]
}

// setCookie returns the Set-Cookie header for name, or "".
func (r response) setCookie(name string) string {
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (b *browser) get(rawURL string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends body with contentType and the extra headers (name, value
// pairs).
func (b *browser) post(rawURL, contentType, body string, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// cookie returns the value of the jar's cookie name for u, or "".
func (b *browser) cookie(u, name string) string {
	parsed, _ := url.Parse(u)
	for _, c := range b.jar.Cookies(parsed) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie puts a cookie into the jar for u.
func (b *browser) setCookie(u, name, value string) {
	parsed, _ := url.Parse(u)
	b.jar.SetCookies(parsed, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// login drives GET /auth/login to its redirect and checks that it goes to
// the provider's authorization endpoint; it returns that URL.
func (e *env) login(t *testing.T, b *browser, query string) *url.URL {
	t.Helper()
	r := b.get(e.app.URL + "/auth/login?" + query)
	if r.status != http.StatusFound {
		t.Fatalf("login: got %d %s, want 302", r.status, r.body)
	}
	loc := r.location(t)
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, e.iss+"/authorize"; got != want {
		t.Fatalf("login redirected to %s, want the authorization endpoint %s", got, want)
	}
	return loc
}

// authorize drives the provider's authorization endpoint and checks that it
// sends the browser back to the callback; it returns that URL.
func (e *env) authorize(t *testing.T, b *browser, authorizeURL *url.URL) *url.URL {
	t.Helper()
	r := b.get(authorizeURL.String())
	if r.status != http.StatusFound {
		t.Fatalf("authorize: got %d %s, want 302", r.status, r.body)
	}
	loc := r.location(t)
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, e.app.URL+"/auth/callback"; got != want {
		t.Fatalf("provider redirected to %s, want the callback %s", got, want)
	}
	return loc
}

// signIn runs the whole flow for subject and returns the callback's
// response.
func (e *env) signIn(t *testing.T, b *browser, subject, returnTo string) response {
	t.Helper()
	q := url.Values{"login_hint": {subject}}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	cb := e.authorize(t, b, e.login(t, b, q.Encode()))
	r := b.get(cb.String())
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: got %d %s, want 303", r.status, r.body)
	}
	return r
}

// me asks the app who the browser is: the subject, or "" when anonymous.
func (e *env) me(t *testing.T, b *browser) string {
	t.Helper()
	r := b.get(e.app.URL + "/me")
	if r.status != http.StatusOK {
		t.Fatalf("/me: got %d %s", r.status, r.body)
	}
	var body struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("/me: %v: %s", err, r.body)
	}
	return body.Subject
}

// sessionID returns the browser's session cookie, decoded.
func (e *env) sessionID(t *testing.T, b *browser) sessionID {
	t.Helper()
	v := b.cookie(e.app.URL, DefaultCookieName)
	id, ok := parseSessionID(v)
	if !ok {
		t.Fatalf("session cookie %q is not a session id", v)
	}
	return id
}

// stored returns the session record of id as the store holds it, opened
// with m's keys; nil when there is none.
func (e *env) stored(t *testing.T, m *Manager, id sessionID) *record {
	t.Helper()
	rec, err := m.load(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// requestWithCookie is a request to the app carrying the session cookie
// value.
func (e *env) requestWithCookie(ctx context.Context, value string) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, e.app.URL+"/me", nil)
	r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: value})
	return r
}
