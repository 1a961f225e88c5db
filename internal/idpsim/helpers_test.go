package idpsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"meridian/internal/testenv"
)

// testEpoch is where the fake clock starts.
var testEpoch = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// demoIdentities is the repository's identities file, the one the demo
// runs with.
func demoIdentities(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/identities.json")
	if err != nil {
		t.Fatalf("read identities: %v", err)
	}
	return b
}

// confidentialClient is registered beside the demo client in every test
// provider.
var confidentialClient = Client{ID: "meridian-bff", Secret: "s3cret:with/odd+chars", RedirectURIs: []string{"https://app.meridian.example/auth/callback"}}

// harness is an IdP mounted under /idp of a test server, as the simulator
// mounts it.
type harness struct {
	idp   *IdP
	srv   *httptest.Server
	clock *testenv.Clock
	iss   string
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	clock := testenv.NewClock(testEpoch)
	cfg := Config{
		Identities: demoIdentities(t),
		Now:        clock.Now,
		Clients:    []Client{{ID: DemoClientID, AllowLoopback: true}, confidentialClient},
	}
	if edit != nil {
		edit(&cfg)
	}
	idp, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(idp.Handler())
	t.Cleanup(srv.Close)
	if err := idp.SetIssuer(srv.URL + "/idp"); err != nil {
		t.Fatalf("SetIssuer: %v", err)
	}
	return &harness{idp: idp, srv: srv, clock: clock, iss: srv.URL + "/idp"}
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

// oauthErr returns the RFC 6749 error code of a body, or "".
func (r response) oauthErr() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// do sends a request without following redirects.
func (h *harness) do(t testing.TB, req *http.Request) response {
	t.Helper()
	client := h.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (h *harness) get(t testing.TB, pathAndQuery string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.do(t, req)
}

// postForm posts form to path; basic, when set, is "id:secret" sent as
// client_secret_basic.
func (h *harness) postForm(t testing.TB, path string, form url.Values, basic ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return h.do(t, req)
}

// authorize runs /authorize with params on top of a valid request for the
// demo client and returns the redirect's query (failing unless the answer
// is a redirect to redirect_uri).
func (h *harness) authorize(t testing.TB, params url.Values) url.Values {
	t.Helper()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {DemoClientID},
		"redirect_uri":          {"http://127.0.0.1:8080/callback"},
		"scope":                 {"openid"},
		"state":                 {"st4te"},
		"code_challenge_method": {"S256"},
	}
	for k, v := range params {
		q[k] = v
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	r := h.get(t, "/idp/authorize?"+q.Encode())
	if r.status != http.StatusFound {
		t.Fatalf("authorize: got %d %s want 302", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	want, _ := url.Parse(q.Get("redirect_uri"))
	if loc.Scheme != want.Scheme || loc.Host != want.Host || loc.Path != want.Path {
		t.Fatalf("redirected to %s want %s", loc, want)
	}
	for k, v := range want.Query() {
		if loc.Query().Get(k) != v[0] {
			t.Errorf("redirect dropped the redirect URI's own %s=%s: %s", k, v[0], loc)
		}
	}
	return loc.Query()
}

// oauth2Config is the demo client as golang.org/x/oauth2 sees it.
func (h *harness) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:    DemoClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: h.iss + "/authorize", TokenURL: h.iss + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"openid"},
	}
}

func (h *harness) clientContext() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, h.srv.Client())
}

// jwtParts decodes a compact JWS's header and claims without verifying it.
func jwtParts(t testing.TB, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("token segment: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("token segment: %v", err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}
