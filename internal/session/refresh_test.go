package session

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/idpsim"
)

// TestConcurrentRefreshHappensOnce: many requests of one session arriving
// while its access token is due make one refresh between them. Presenting
// the refresh token twice would make the provider revoke the sign-in.
func TestConcurrentRefreshHappensOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cons-0002", "/")
	id := e.sessionID(t, b)
	e.clock.Advance(idpsim.DefaultAccessTTL + time.Second)

	gate := make(chan struct{})
	e.tokenGate.Store(&gate)
	const n = 16
	var wg sync.WaitGroup
	subjects := make([]string, n)
	errs := make([]error, n)
	ctx := testContext(t)
	for i := range n {
		wg.Go(func() {
			p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(ctx, id.String()))
			errs[i] = err
			if ok {
				subjects[i] = p.Subject
			}
		})
	}
	// Hold the token endpoint until the first refresh reached it and the
	// other requests had time to pile up behind it.
	deadline := time.Now().Add(10 * time.Second)
	for e.refreshGrants.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	e.tokenGate.Store(nil)

	for i := range n {
		if errs[i] != nil || subjects[i] != "cons-0002" {
			t.Errorf("request %d: subject %q, err %v", i, subjects[i], errs[i])
		}
	}
	if got := e.refreshGrants.Load(); got != 1 {
		t.Fatalf("%d refreshes for %d concurrent requests, want 1", got, n)
	}
	// The sign-in is intact at the provider: the next refresh works.
	e.clock.Advance(idpsim.DefaultAccessTTL + time.Second)
	if got := e.me(t, b); got != "cons-0002" {
		t.Errorf("after the next refresh: subject %q", got)
	}
	if got := e.refreshGrants.Load(); got != 2 {
		t.Errorf("%d refreshes in all, want 2", got)
	}
}

// TestRefreshRefusedEndsSession: when the provider refuses the refresh
// token (here: it was used elsewhere, so the provider revokes the
// sign-in), the session ends and the browser is anonymous.
func TestRefreshRefusedEndsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	id := e.sessionID(t, b)
	rec := e.stored(t, e.m, id)

	// Someone else redeems the session's refresh token first.
	resp, err := e.idpSrv.Client().PostForm(e.iss+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}, "client_id": {idpsim.DemoClientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("direct refresh: %d", resp.StatusCode)
	}

	e.clock.Advance(idpsim.DefaultAccessTTL)
	p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(testContext(t), id.String()))
	if p != nil || ok || err != nil {
		t.Fatalf("after a refused refresh: %v %v %v, want anonymous", p, ok, err)
	}
	if e.stored(t, e.m, id) != nil {
		t.Error("the session whose refresh was refused is still stored")
	}
	if !strings.Contains(e.logs.String(), "refused the refresh token") {
		t.Errorf("the refusal is not logged:\n%s", e.logs)
	}
	if got := e.me(t, b); got != "" {
		t.Errorf("/me: subject %q, want anonymous", got)
	}
}

// TestProviderOutageDuringRefresh: while the token endpoint is down, the
// current access token serves until it expires; then requests are refused
// as ORIGIN_UNAVAILABLE (not signed out), and the session recovers with the
// provider.
func TestProviderOutageDuringRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	id := e.sessionID(t, b)

	e.tokenDown.Store(true)
	e.clock.Advance(idpsim.DefaultAccessTTL - 30*time.Second) // due, not expired
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("with a valid token during the outage: subject %q", got)
	}
	if got := e.refreshGrants.Load(); got != 1 {
		t.Fatalf("%d refresh attempts, want 1", got)
	}
	if got := e.me(t, b); got != "cust-0001" || e.refreshGrants.Load() != 1 {
		t.Errorf("a second request during the pause tried again (%d attempts) or failed (%q)", e.refreshGrants.Load(), got)
	}

	e.clock.Advance(time.Minute) // the access token has expired now
	r := b.get(e.app.URL + "/me")
	if r.status != http.StatusBadGateway || r.errorCode() != "ORIGIN_UNAVAILABLE" {
		t.Errorf("with an expired token during the outage: %d %s, want 502 ORIGIN_UNAVAILABLE", r.status, r.body)
	}
	if e.stored(t, e.m, id) == nil {
		t.Fatal("an outage ended the session")
	}

	e.tokenDown.Store(false)
	e.clock.Advance(refreshPause)
	if got := e.me(t, b); got != "cust-0001" {
		t.Errorf("after the outage: subject %q", got)
	}
}

// TestProviderUnreachableAtStart: New succeeds without the provider, Login
// answers 502 until discovery succeeds, and discovery is retried with
// backoff.
func TestProviderUnreachableAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var down flag
	down.set(true)
	m := e.manager(t, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: failingTransport{down: &down, base: e.idpSrv.Client().Transport}}
	})
	login := func() int {
		w := recorder()
		m.Login(w, httptestRequest(http.MethodGet, e.app.URL+"/auth/login"))
		return w.Code
	}
	if got := login(); got != http.StatusBadGateway {
		t.Fatalf("Login while the provider is down: %d, want 502", got)
	}
	down.set(false)
	if got := login(); got != http.StatusBadGateway {
		t.Errorf("Login within the backoff: %d, want 502 without a new attempt", got)
	}
	e.clock.Advance(2 * time.Second)
	if got := login(); got != http.StatusFound {
		t.Errorf("Login after the backoff: %d, want 302", got)
	}
	if !strings.Contains(e.logs.String(), "discovery failed") {
		t.Errorf("the failed discovery is not logged:\n%s", e.logs)
	}
}

func TestStoreFailureIsAnInternalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	id := e.sessionID(t, b)
	e.db.Close()
	_, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(testContext(t), id.String()))
	if ok || err == nil || apierr.KindOf(err) != apierr.Internal {
		t.Fatalf("with the store down: ok=%v err=%v, want an internal error", ok, err)
	}
	r := b.get(e.app.URL + "/me")
	var body graphQLErrors
	_ = json.Unmarshal(r.body, &body)
	if r.status != http.StatusInternalServerError || strings.Contains(string(r.body), "sql") {
		t.Errorf("/me with the store down: %d %s, want a masked 500", r.status, r.body)
	}
}
