package session

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"meridian/internal/db"
	"meridian/internal/idpsim"
)

// TestSignInRefreshSignOut walks a browser through the whole life of a
// session, hop by hop: sign-in at the provider, use, a refresh that rotates
// the refresh token, sign-out.
func TestSignInRefreshSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)

	if got := e.me(t, b); got != "" {
		t.Fatalf("before sign-in: subject %q, want anonymous", got)
	}

	// Hop 1: the app sends the browser to the provider.
	authz := e.login(t, b, url.Values{"return_to": {"/orders?tab=open"}, "login_hint": {"cust-0001"}}.Encode())
	q := authz.Query()
	for param, want := range map[string]string{
		"response_type":         "code",
		"client_id":             idpsim.DemoClientID,
		"redirect_uri":          e.app.URL + "/auth/callback",
		"scope":                 "openid offline_access",
		"code_challenge_method": "S256",
		"login_hint":            "cust-0001",
	} {
		if got := q.Get(param); got != want {
			t.Errorf("authorize %s = %q, want %q", param, got, want)
		}
	}
	for _, param := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(param)) < 43 {
			t.Errorf("authorize %s = %q, want at least 256 bits", param, q.Get(param))
		}
	}
	if q.Has("code_verifier") {
		t.Error("the PKCE verifier left the server")
	}
	loginCookie := b.cookie(e.app.URL, "meridian_session_login")
	if loginCookie == "" {
		t.Fatal("login set no pre-login cookie")
	}
	for _, secret := range []string{q.Get("state"), q.Get("nonce"), "/orders"} {
		if strings.Contains(loginCookie, secret) {
			t.Errorf("pre-login cookie shows %q in the clear", secret)
		}
	}

	// Hop 2: the provider signs cust-0001 in and sends the browser back.
	cb := e.authorize(t, b, authz)
	code := cb.Query().Get("code")

	// Hop 3: the callback creates the session.
	r := b.get(cb.String())
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: got %d %s, want 303", r.status, r.body)
	}
	if got := r.header.Get("Location"); got != "/orders?tab=open" {
		t.Errorf("callback redirected to %q, want the return_to path", got)
	}
	set := r.setCookie(DefaultCookieName)
	for _, attr := range []string{"Path=/", "Max-Age=604800", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(set, "; "+attr) {
			t.Errorf("session cookie %q lacks %s", set, attr)
		}
	}
	if strings.Contains(set, "Secure") || strings.Contains(set, "Domain") {
		t.Errorf("session cookie %q: plain-http loopback wants neither Secure nor Domain", set)
	}
	if !strings.Contains(r.setCookie("meridian_session_login"), "Max-Age=0") {
		t.Errorf("callback did not clear the pre-login cookie: %v", r.header.Values("Set-Cookie"))
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("callback Cache-Control %q", got)
	}
	id := e.sessionID(t, b)

	// Signed in.
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("after sign-in: subject %q, want cust-0001", got)
	}
	before := e.stored(t, e.m, id)
	if before.Subject != "cust-0001" || before.RefreshToken == "" || before.IDToken == "" {
		t.Fatalf("stored session %+v lacks tokens", before)
	}
	if !before.AccessExpiry.Equal(testEpoch.Add(idpsim.DefaultAccessTTL)) {
		t.Errorf("access expiry %v, want %v", before.AccessExpiry, testEpoch.Add(idpsim.DefaultAccessTTL))
	}

	// Well within the access token's life: no refresh.
	e.clock.Advance(10 * time.Minute)
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("10 minutes in: subject %q", got)
	}
	if n := e.refreshGrants.Load(); n != 0 {
		t.Fatalf("%d refreshes before the access token was due", n)
	}

	// Past the access token's expiry: the next request refreshes, and the
	// provider rotates the refresh token.
	e.clock.Advance(6 * time.Minute)
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("after expiry: subject %q, want cust-0001 via a refresh", got)
	}
	if n := e.refreshGrants.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	after := e.stored(t, e.m, id)
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken {
		t.Error("the refresh did not store the rotated tokens")
	}
	if want := e.clock.Now().Add(idpsim.DefaultAccessTTL); !after.AccessExpiry.Equal(want) {
		t.Errorf("refreshed access expiry %v, want %v", after.AccessExpiry, want)
	}
	if got := e.me(t, b); got != "cust-0001" || e.refreshGrants.Load() != 1 {
		t.Errorf("the next request refreshed again (or lost the session: %q)", got)
	}

	// Sign out. A GET cannot; a plain form post cannot either.
	if r := b.get(e.app.URL + "/auth/logout"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET /auth/logout: %d Allow %q, want 405 Allow POST", r.status, r.header.Get("Allow"))
	}
	if r := b.post(e.app.URL+"/auth/logout", "application/x-www-form-urlencoded", ""); r.status != http.StatusForbidden || r.errorCode() != "FORBIDDEN" {
		t.Errorf("form POST /auth/logout: %d %s, want 403 FORBIDDEN", r.status, r.body)
	}
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("a refused sign-out signed out anyway (%q)", got)
	}
	r = b.post(e.app.URL+"/auth/logout", "", "", CSRFHeader, "1")
	if r.status != http.StatusNoContent {
		t.Fatalf("logout: got %d %s, want 204", r.status, r.body)
	}
	if c := r.setCookie(DefaultCookieName); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("logout did not clear the cookie: %q", c)
	}
	if got := e.me(t, b); got != "" {
		t.Errorf("after logout: subject %q, want anonymous", got)
	}
	if e.stored(t, e.m, id) != nil {
		t.Error("logout left the session in the store")
	}
	// The old cookie, replayed, is worth nothing.
	p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(testContext(t), id.String()))
	if p != nil || ok || err != nil {
		t.Errorf("replayed cookie after logout: %v %v %v, want anonymous", p, ok, err)
	}

	// Nothing secret reached the logs.
	logs := e.logs.String()
	for name, secret := range map[string]string{
		"access token": before.AccessToken, "refresh token": before.RefreshToken, "ID token": before.IDToken,
		"new access token": after.AccessToken, "new refresh token": after.RefreshToken,
		"session id": id.String(), "code": code, "state": q.Get("state"), "nonce": q.Get("nonce"),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	if !strings.Contains(logs, "signed in") || !strings.Contains(logs, "signed out") {
		t.Errorf("sign-in and sign-out are not logged:\n%s", logs)
	}
}

// TestSignInWithoutReturnTo lands on PostLoginRedirect, and a second
// sign-in replaces the browser's session rather than keeping both.
func TestSignInWithoutReturnTo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.PostLoginRedirect = "/welcome" })
	b := newBrowser(t)
	r := e.signIn(t, b, "cust-0002", "")
	if got := r.header.Get("Location"); got != "/welcome" {
		t.Errorf("landed on %q, want /welcome", got)
	}
	first := e.sessionID(t, b)
	if got := e.me(t, b); got != "cust-0002" {
		t.Fatalf("subject %q", got)
	}
	e.signIn(t, b, "cons-0001", "")
	second := e.sessionID(t, b)
	if second == first {
		t.Fatal("a new sign-in kept the session id")
	}
	if e.stored(t, e.m, first) != nil {
		t.Error("the replaced session is still stored")
	}
	if got := e.me(t, b); got != "cons-0001" {
		t.Errorf("subject %q after the second sign-in, want cons-0001", got)
	}
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	t.Run("tampered state", func(t *testing.T) {
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		original := cb.RawQuery
		q := cb.Query()
		state := []byte(q.Get("state"))
		state[0] ^= 1
		q.Set("state", string(state))
		cb.RawQuery = q.Encode()
		r := b.get(cb.String())
		if r.status != http.StatusBadRequest || r.errorCode() != "BAD_USER_INPUT" {
			t.Errorf("got %d %s, want 400 BAD_USER_INPUT", r.status, r.body)
		}
		if b.cookie(e.app.URL, DefaultCookieName) != "" {
			t.Error("a session cookie was set")
		}
		// The state is spent: the untouched callback no longer works either.
		cb.RawQuery = original
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("retry after a refused callback: %d, want 400", r.status)
		}
	})

	t.Run("missing pre-login cookie", func(t *testing.T) {
		// The attacker starts a sign-in and hands the callback URL to a
		// victim's browser, which never started one (login CSRF).
		attacker, victim := newBrowser(t), newBrowser(t)
		cb := e.authorize(t, attacker, e.login(t, attacker, "login_hint=cust-0001"))
		r := victim.get(cb.String())
		if r.status != http.StatusBadRequest || r.errorCode() != "BAD_USER_INPUT" {
			t.Errorf("got %d %s, want 400", r.status, r.body)
		}
		if victim.cookie(e.app.URL, DefaultCookieName) != "" {
			t.Error("the victim got a session")
		}
	})

	t.Run("tampered pre-login cookie", func(t *testing.T) {
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		v := []byte(b.cookie(e.app.URL, "meridian_session_login"))
		v[len(v)/2] ^= 0x01
		if v[len(v)/2] == '-' || v[len(v)/2] == '_' || v[len(v)/2] > 'z' {
			v[len(v)/2] = 'A'
		}
		b.setCookie(e.app.URL, "meridian_session_login", string(v))
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("got %d %s, want 400", r.status, r.body)
		}
	})

	t.Run("pre-login cookie of another key", func(t *testing.T) {
		other := e.manager(t, func(c *Config) { c.EncryptionKeys = [][]byte{testKey(9)} })
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		req, _ := http.NewRequest(http.MethodGet, cb.String(), nil)
		req.AddCookie(&http.Cookie{Name: "meridian_session_login", Value: b.cookie(e.app.URL, "meridian_session_login")})
		w := recorder()
		other.Callback(w, req)
		if w.Code != http.StatusBadRequest {
			t.Errorf("got %d %s, want 400", w.Code, w.Body)
		}
	})

	t.Run("sign-in took too long", func(t *testing.T) {
		e := newEnv(t, nil)
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		e.clock.Advance(loginTTL)
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("got %d %s, want 400", r.status, r.body)
		}
	})

	t.Run("nonce not of this sign-in", func(t *testing.T) {
		b := newBrowser(t)
		authz := e.login(t, b, "login_hint=cust-0001")
		q := authz.Query()
		q.Set("nonce", "another-sign-in-s-nonce")
		authz.RawQuery = q.Encode()
		cb := e.authorize(t, b, authz)
		r := b.get(cb.String())
		if r.status != http.StatusUnauthorized || r.errorCode() != "UNAUTHENTICATED" {
			t.Errorf("got %d %s, want 401 UNAUTHENTICATED", r.status, r.body)
		}
	})

	t.Run("PKCE challenge not of this sign-in", func(t *testing.T) {
		b := newBrowser(t)
		authz := e.login(t, b, "login_hint=cust-0001")
		q := authz.Query()
		q.Set("code_challenge", strings.Repeat("A", 43))
		authz.RawQuery = q.Encode()
		cb := e.authorize(t, b, authz)
		if r := b.get(cb.String()); r.status != http.StatusUnauthorized {
			t.Errorf("got %d %s, want 401", r.status, r.body)
		}
	})

	t.Run("provider reports an error", func(t *testing.T) {
		b := newBrowser(t)
		authz := e.login(t, b, "login_hint=nobody-0000")
		r := b.get(authz.String())
		cb := r.location(t)
		if cb.Query().Get("error") != "access_denied" {
			t.Fatalf("provider answered %s", cb)
		}
		r = b.get(cb.String())
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "access_denied") {
			t.Errorf("got %d %s, want 401 naming access_denied", r.status, r.body)
		}
	})

	t.Run("response from another issuer", func(t *testing.T) {
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		q := cb.Query()
		q.Set("iss", "https://idp.attacker.example")
		cb.RawQuery = q.Encode()
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("got %d %s, want 400", r.status, r.body)
		}
	})

	t.Run("code replayed", func(t *testing.T) {
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		if r := b.get(cb.String()); r.status != http.StatusSeeOther {
			t.Fatalf("first callback: %d %s", r.status, r.body)
		}
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("replayed callback: %d %s, want 400 (no pre-login cookie left)", r.status, r.body)
		}
	})

	t.Run("repeated parameters and methods", func(t *testing.T) {
		b := newBrowser(t)
		cb := e.authorize(t, b, e.login(t, b, "login_hint=cust-0001"))
		cb.RawQuery += "&code=second"
		if r := b.get(cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("repeated code: %d %s, want 400", r.status, r.body)
		}
		if r := b.post(e.app.URL+"/auth/callback", "application/json", "{}"); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST /auth/callback: %d, want 405", r.status)
		}
	})
}

func TestLoginRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for name, returnTo := range map[string]string{
		"absolute URL":                "https://evil.example/",
		"scheme without slashes":      "http:evil.example",
		"protocol-relative":           "//evil.example",
		"protocol-relative with path": "//evil.example/orders",
		"three slashes":               "///evil.example",
		"slash backslash":             `/\evil.example`,
		"backslashes":                 `\\evil.example`,
		"tab":                         "/\t/evil.example",
		"newline":                     "/\n/evil.example",
		"space":                       "/ /evil.example",
		"javascript":                  "javascript:alert(1)",
		"host only":                   "evil.example",
		"relative path":               "orders",
		"empty":                       "",
		"raw non-ASCII":               "/ürün",
		"too long":                    "/" + strings.Repeat("a", maxReturnPath),
	} {
		t.Run(name, func(t *testing.T) {
			b := newBrowser(t)
			r := b.get(e.app.URL + "/auth/login?" + url.Values{"return_to": {returnTo}}.Encode())
			if r.status != http.StatusBadRequest || r.errorCode() != "BAD_USER_INPUT" {
				t.Errorf("got %d %s, want 400 BAD_USER_INPUT", r.status, r.body)
			}
			if r.header.Get("Location") != "" || len(r.header.Values("Set-Cookie")) != 0 {
				t.Errorf("refused login still redirected or set a cookie: %v", r.header)
			}
		})
	}
	for _, returnTo := range []string{"/", "/orders", "/orders?tab=open&page=2", "/a/b#top", "/%2F%2Fevil.example", "/@evil.example"} {
		t.Run("accepted "+returnTo, func(t *testing.T) {
			b := newBrowser(t)
			r := e.signIn(t, b, "cust-0001", returnTo)
			if got := r.header.Get("Location"); got != returnTo {
				t.Errorf("landed on %q, want %q", got, returnTo)
			}
			if u := r.location(t); u.Host != "" || u.Scheme != "" {
				t.Errorf("%q resolved off the site: %s", returnTo, u)
			}
		})
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	if r := b.post(e.app.URL+"/auth/login", "application/json", "{}"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodGet {
		t.Errorf("POST /auth/login: %d Allow %q, want 405 Allow GET", r.status, r.header.Get("Allow"))
	}
	if r := b.get(e.app.URL + "/auth/login?return_to=/a&return_to=//evil.example"); r.status != http.StatusBadRequest {
		t.Errorf("repeated return_to: %d, want 400", r.status)
	}
	if r := b.get(e.app.URL + "/auth/login?login_hint=" + url.QueryEscape("cust\r\n0001")); r.status != http.StatusBadRequest {
		t.Errorf("login_hint with a line break: %d, want 400", r.status)
	}
}

// TestSessionLifetimes ends an idle session after SessionTTL and an active
// one after MaxSessionAge, and pushes the idle timeout back with use.
func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour; c.MaxSessionAge = 24 * time.Hour })
		b := newBrowser(t)
		e.signIn(t, b, "cust-0001", "/")
		// Used every 50 minutes, the session outlives several idle
		// timeouts.
		for i := range 3 {
			e.clock.Advance(50 * time.Minute)
			if got := e.me(t, b); got != "cust-0001" {
				t.Fatalf("after %d×50m of use: subject %q", i+1, got)
			}
		}
		e.clock.Advance(time.Hour)
		if got := e.me(t, b); got != "" {
			t.Errorf("after an idle hour: subject %q, want anonymous", got)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour; c.MaxSessionAge = 3 * time.Hour })
		b := newBrowser(t)
		r := e.signIn(t, b, "cust-0001", "/")
		if c := r.setCookie(DefaultCookieName); !strings.Contains(c, "Max-Age=10800") {
			t.Errorf("cookie %q, want Max-Age=10800", c)
		}
		for e.clock.Now().Before(testEpoch.Add(3*time.Hour - 30*time.Minute)) {
			e.clock.Advance(30 * time.Minute)
			if got := e.me(t, b); got != "cust-0001" {
				t.Fatalf("at %v: subject %q", e.clock.Now().Sub(testEpoch), got)
			}
		}
		e.clock.Advance(30 * time.Minute)
		if got := e.me(t, b); got != "" {
			t.Errorf("after the absolute lifetime: subject %q, want anonymous", got)
		}
	})
}

// TestUnknownCookiesAreAnonymous: whatever the cookie holds, a session that
// does not exist means anonymous, and nothing is cleared.
func TestUnknownCookiesAreAnonymous(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := testContext(t)
	for _, v := range []string{"", "x", strings.Repeat("A", 43), newSessionID().String(), newSessionID().String() + "A", "%%%"} {
		p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(ctx, v))
		if p != nil || ok || err != nil {
			t.Errorf("cookie %q: %v %v %v, want anonymous", v, p, ok, err)
		}
	}
	b := newBrowser(t)
	b.setCookie(e.app.URL, DefaultCookieName, newSessionID().String())
	r := b.get(e.app.URL + "/me")
	if r.status != http.StatusOK || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("unknown session: %d, Set-Cookie %v; want 200 and nothing cleared", r.status, r.header.Values("Set-Cookie"))
	}
}

// TestConfidentialClient signs in and refreshes as a client with a secret,
// which authenticates at the token endpoint with client_secret_basic.
func TestConfidentialClient(t *testing.T) {
	t.Parallel()
	const secret = "s3cret:with/odd+chars"
	bff := idpsim.Client{ID: "meridian-bff", Secret: secret, AllowLoopback: true}
	e := newEnv(t, func(c *Config) {
		c.ClientID, c.ClientSecret = bff.ID, secret
	}, func(c *idpsim.Config) { c.Clients = []idpsim.Client{bff} })
	b := newBrowser(t)
	e.signIn(t, b, "cons-0003", "/")
	if got := e.me(t, b); got != "cons-0003" {
		t.Fatalf("subject %q", got)
	}
	e.clock.Advance(idpsim.DefaultAccessTTL)
	if got := e.me(t, b); got != "cons-0003" || e.refreshGrants.Load() != 1 {
		t.Errorf("after a refresh: subject %q, %d refreshes", got, e.refreshGrants.Load())
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("the client secret reached the logs")
	}

	wrong := e.manager(t, func(c *Config) { c.ClientID, c.ClientSecret = bff.ID, "wrong" })
	w := recorder()
	cb := e.authorize(t, b, e.login(t, b, "login_hint=cons-0003"))
	req := httptestRequest(http.MethodGet, cb.String())
	req.AddCookie(&http.Cookie{Name: "meridian_session_login", Value: b.cookie(e.app.URL, "meridian_session_login")})
	wrong.Callback(w, req)
	// A wrong secret is the gateway's fault, not the user's.
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "invalid_client") {
		t.Errorf("callback with a wrong client secret: %d %s, want a masked 500", w.Code, w.Body)
	}
}

// TestUseRenewsIdleTimeout: a session in use has its idle timeout pushed
// back without a token refresh, at most once per SessionTTL/12.
func TestUseRenewsIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour }) // renewed every 5 minutes at most
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	id := e.sessionID(t, b)

	e.clock.Advance(6 * time.Minute)
	if got := e.me(t, b); got != "cust-0001" {
		t.Fatalf("subject %q", got)
	}
	touched := e.stored(t, e.m, id).Touched
	if !touched.Equal(e.clock.Now()) {
		t.Errorf("last renewal %v, want now (%v)", touched, e.clock.Now())
	}
	e.clock.Advance(2 * time.Minute)
	e.me(t, b)
	if got := e.stored(t, e.m, id).Touched; !got.Equal(touched) {
		t.Errorf("renewed again after 2 minutes (%v)", got)
	}
	if n := e.refreshGrants.Load(); n != 0 {
		t.Errorf("%d refreshes, want none", n)
	}
	row, ok, err := e.store.Get(testContext(t), id.key())
	if err != nil || !ok || len(row) == 0 {
		t.Fatalf("stored row: %v %v", ok, err)
	}
	var expires db.Timestamp
	if err := e.db.QueryRowContext(testContext(t), "SELECT expires_at FROM session_entries WHERE id_hash = ?", id.key()).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	if want := touched.Add(time.Hour); !expires.Time.Equal(want) {
		t.Errorf("store expiry %v, want the last renewal plus SessionTTL (%v)", expires.Time, want)
	}
}
