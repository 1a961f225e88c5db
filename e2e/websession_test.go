package e2e

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestWebSignInFlow signs a browser in through the demo IdP and out again,
// hop by hop with a cookie jar, against the real binary in demo mode.
func TestWebSignInFlow(t *testing.T) {
	addr := freeAddr(t)
	g := startAt(t, addr, "PUBLIC_URL=http://"+addr)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	hop := func(method, target, contentType, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// Login → IdP authorize → callback → back to the app.
	resp := hop("GET", g.url+"/auth/login?login_hint=cust-0001&return_to=/", "", "")
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("/auth/login = %d, want a redirect to the IdP", resp.StatusCode)
	}
	authorize := resp.Header.Get("Location")
	if !strings.Contains(authorize, "/idp/authorize") || !strings.Contains(authorize, "code_challenge=") {
		t.Fatalf("login redirects to %q, want the IdP's authorize endpoint with PKCE", authorize)
	}
	resp = hop("GET", authorize, "", "")
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, g.url+"/auth/callback?") {
		t.Fatalf("IdP redirects to %q, want the gateway's callback", callback)
	}
	resp = hop("GET", callback, "", "")
	if resp.StatusCode >= 400 {
		t.Fatalf("callback = %d", resp.StatusCode)
	}
	u, _ := url.Parse(g.url)
	var session *http.Cookie
	for _, c := range jar.Cookies(u) {
		if c.Name == "meridian_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie after the callback")
	}
	if strings.Count(session.Value, ".") == 2 {
		t.Error("the session cookie looks like a JWT: tokens must stay on the server")
	}

	// The cookie signs GraphQL requests in; JSON requests pass the CSRF rule.
	post := func(contentType string) (int, string) {
		req, _ := http.NewRequest("POST", g.url+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
		req.Header.Set("Content-Type", contentType)
		r, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		return r.StatusCode, b.String()
	}
	if status, body := post("application/json"); status != 200 || !strings.Contains(body, `"id":"cust-0001"`) {
		t.Errorf("me with the session cookie: %d %s", status, body)
	}
	if status, _ := post("text/plain"); status != http.StatusForbidden {
		t.Errorf("a cross-site-style text/plain POST with the cookie: %d, want 403", status)
	}

	// Logout: GET is refused, POST with the CSRF header signs out.
	if resp := hop("GET", g.url+"/auth/logout", "", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /auth/logout = %d, want 405", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", g.url+"/auth/logout", nil)
	req.Header.Set("X-Meridian-CSRF", "1")
	if r, err := browser.Do(req); err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /auth/logout: %v %v", r, err)
	}
	if status, body := post("application/json"); !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("me after logout: %d %s, want UNAUTHENTICATED", status, body)
	}
}
