package session

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meridian/internal/idpsim"
)

// storedRows returns every row of the session table.
func (e *env) storedRows(t *testing.T) map[string][]byte {
	t.Helper()
	rows, err := e.db.QueryContext(testContext(t), "SELECT id_hash, value FROM session_entries")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoredSessionIsNotReadable: the store holds neither the cookie nor
// anything of the tokens in the clear, and a stored value opens only under
// its own session.
func TestStoredSessionIsNotReadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	id := e.sessionID(t, b)
	rec := e.stored(t, e.m, id)

	rows := e.storedRows(t)
	if len(rows) != 1 {
		t.Fatalf("%d stored rows, want 1", len(rows))
	}
	value, ok := rows[id.key()]
	if !ok {
		t.Fatalf("the row is not keyed by the SHA-256 of the session id: %v", rows)
	}
	if id.key() == id.String() {
		t.Fatal("the store key is the session id")
	}
	needles := map[string]string{
		"session id": id.String(), "subject": rec.Subject,
		"access token": rec.AccessToken, "refresh token": rec.RefreshToken, "ID token": rec.IDToken,
	}
	for name, tok := range map[string]string{"access token": rec.AccessToken, "ID token": rec.IDToken} {
		parts := strings.Split(tok, ".")
		needles[name+" payload"], needles[name+" signature"] = parts[1], parts[2]
		if claims, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			needles[name+" claims"] = string(claims)
		}
	}
	for name, needle := range needles {
		if bytes.Contains(value, []byte(needle)) || strings.Contains(base64.StdEncoding.EncodeToString(value), needle) {
			t.Errorf("the stored value contains the %s", name)
		}
	}
	if value[0] != sealVersion || !bytes.Equal(value[1:sealHeaderLen], e.m.keys.keys[0].id[:]) {
		t.Errorf("stored header % x, want version 1 and the current key id", value[:sealHeaderLen])
	}

	ctx := testContext(t)
	// Moved to another session id, the value does not open.
	other := newSessionID()
	if err := e.store.Put(ctx, other.key(), value, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(ctx, other.String())); p != nil || ok || err != nil {
		t.Errorf("a value moved to another session: %v %v %v, want anonymous", p, ok, err)
	}
	// Altered in place, it does not open either.
	for _, i := range []int{0, 1, sealHeaderLen, sealHeaderLen + gcmNonceLen, len(value) - 1} {
		altered := bytes.Clone(value)
		altered[i] ^= 0x80
		if err := e.store.Put(ctx, id.key(), altered, e.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if p, ok, err := e.m.PrincipalFromRequest(e.requestWithCookie(ctx, id.String())); p != nil || ok || err != nil {
			t.Errorf("byte %d altered: %v %v %v, want anonymous", i, p, ok, err)
		}
	}
}

// TestKeyRotation: a key moved to second place still opens the sessions it
// sealed; the next write reseals them with the new key, after which the old
// key can go.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	e := newEnv(t, func(c *Config) { c.EncryptionKeys = [][]byte{oldKey} })
	b := newBrowser(t)
	e.signIn(t, b, "cust-0003", "/")
	id := e.sessionID(t, b)
	ctx := testContext(t)
	resolve := func(m *Manager) string {
		t.Helper()
		p, ok, err := m.PrincipalFromRequest(e.requestWithCookie(ctx, id.String()))
		if err != nil {
			t.Fatalf("PrincipalFromRequest: %v", err)
		}
		if !ok {
			return ""
		}
		return p.Subject
	}

	rotated := e.manager(t, func(c *Config) { c.EncryptionKeys = [][]byte{newKey, oldKey} })
	newOnly := e.manager(t, func(c *Config) { c.EncryptionKeys = [][]byte{newKey} })
	unrelated := e.manager(t, func(c *Config) { c.EncryptionKeys = [][]byte{testKey(3)} })

	if got := resolve(rotated); got != "cust-0003" {
		t.Fatalf("new key first, old key second: subject %q, want cust-0003", got)
	}
	if got := resolve(newOnly); got != "" {
		t.Fatalf("without the sealing key: subject %q, want anonymous", got)
	}
	// A refresh rewrites the session, sealed with the new key.
	e.clock.Advance(idpsim.DefaultAccessTTL)
	if got := resolve(rotated); got != "cust-0003" {
		t.Fatalf("refresh after rotation: subject %q", got)
	}
	if v := e.storedRows(t)[id.key()]; !bytes.Equal(v[1:sealHeaderLen], rotated.keys.keys[0].id[:]) {
		t.Error("the rewritten session is not sealed with the new key")
	}
	if got := resolve(newOnly); got != "cust-0003" {
		t.Errorf("old key dropped after the reseal: subject %q, want cust-0003", got)
	}
	if got := resolve(unrelated); got != "" {
		t.Errorf("an unrelated key: subject %q, want anonymous", got)
	}
	if !strings.Contains(e.logs.String(), "does not open") {
		t.Errorf("a session that does not open is not logged:\n%s", e.logs)
	}
}

// TestSecureCookies: with an https redirect URL, every cookie is Secure and
// the pre-login cookie is a __Host- cookie.
func TestSecureCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	m := e.manager(t, func(c *Config) {
		c.RedirectURL = "https://shop.meridian.example/auth/callback"
		c.CookieName = "__Host-meridian_session"
	})
	w := httptest.NewRecorder()
	m.Login(w, httptest.NewRequest(http.MethodGet, "https://shop.meridian.example/auth/login?return_to=/cart", nil))
	if w.Code != http.StatusFound {
		t.Fatalf("Login: %d %s", w.Code, w.Body)
	}
	set := w.Header().Get("Set-Cookie")
	want := []string{"__Host-meridian_session_login=", "; Path=/", "; Max-Age=600", "; HttpOnly", "; Secure", "; SameSite=Lax"}
	for _, part := range want {
		if !strings.Contains(set, part) {
			t.Errorf("pre-login cookie %q lacks %q", set, part)
		}
	}
	if strings.Contains(set, "Domain=") {
		t.Errorf("pre-login cookie %q has a Domain", set)
	}

	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "https://shop.meridian.example/auth/logout", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-meridian_session", Value: newSessionID().String()})
	r.Header.Set(CSRFHeader, "1")
	m.Logout(w, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("Logout: %d %s", w.Code, w.Body)
	}
	if got, want := w.Header().Get("Set-Cookie"), "__Host-meridian_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"; got != want {
		t.Errorf("Logout cookie %q, want %q", got, want)
	}
}

func TestCSRFGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cookie := "meridian_session=" + newSessionID().String()
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string][]string
		pass    bool
	}{
		{"cookie, text/plain POST", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"text/plain"}}, false},
		{"cookie, form POST", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/x-www-form-urlencoded"}}, false},
		{"cookie, multipart POST", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"multipart/form-data; boundary=x"}}, false},
		{"cookie, POST without Content-Type", "POST", map[string][]string{"Cookie": {cookie}}, false},
		{"cookie, two Content-Types", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json", "text/plain"}}, false},
		{"cookie, text/plain PUT", "PUT", map[string][]string{"Cookie": {cookie}, "Content-Type": {"text/plain"}}, false},
		{"cookie, DELETE", "DELETE", map[string][]string{"Cookie": {cookie}}, false},
		{"cookie, application/json POST", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json"}}, true},
		{"cookie, JSON with charset", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json; charset=utf-8"}}, true},
		{"cookie, JSON in capitals", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"Application/JSON"}}, true},
		{"cookie, CSRF header", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"text/plain"}, CSRFHeader: {"1"}}, true},
		{"cookie, CSRF header not 1", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"text/plain"}, CSRFHeader: {"true"}}, false},
		{"cookie, JSON, cross-site", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json"}, "Sec-Fetch-Site": {"cross-site"}}, false},
		{"cookie, CSRF header, cross-site", "POST", map[string][]string{"Cookie": {cookie}, CSRFHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, false},
		{"cookie, JSON, same-origin", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-origin"}}, true},
		{"cookie, JSON, same-site", "POST", map[string][]string{"Cookie": {cookie}, "Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-site"}}, true},
		{"cookie with any value", "POST", map[string][]string{"Cookie": {"meridian_session=garbage"}, "Content-Type": {"text/plain"}}, false},
		{"cookie and bearer, text/plain", "POST", map[string][]string{"Cookie": {cookie}, "Authorization": {"Bearer abc"}, "Content-Type": {"text/plain"}}, false},
		{"cookie, text/plain GET", "GET", map[string][]string{"Cookie": {cookie}, "Content-Type": {"text/plain"}, "Sec-Fetch-Site": {"cross-site"}}, true},
		{"cookie, HEAD", "HEAD", map[string][]string{"Cookie": {cookie}}, true},
		{"cookie, OPTIONS", "OPTIONS", map[string][]string{"Cookie": {cookie}, "Sec-Fetch-Site": {"cross-site"}}, true},
		{"bearer without cookie, text/plain", "POST", map[string][]string{"Authorization": {"Bearer abc"}, "Content-Type": {"text/plain"}}, true},
		{"bearer without cookie, cross-site", "POST", map[string][]string{"Authorization": {"Bearer abc"}, "Sec-Fetch-Site": {"cross-site"}}, true},
		{"other cookies only, text/plain", "POST", map[string][]string{"Cookie": {"theme=dark"}, "Content-Type": {"text/plain"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			h := e.m.CSRFGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.WriteHeader(http.StatusOK)
			}))
			r := httptest.NewRequest(tc.method, "/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if called != tc.pass {
				t.Fatalf("passed=%v, want %v (status %d %s)", called, tc.pass, w.Code, w.Body)
			}
			if tc.pass {
				return
			}
			if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("refusal: %d %q", w.Code, w.Header().Get("Content-Type"))
			}
			body, _ := io.ReadAll(w.Body)
			var got graphQLErrors
			if err := json.Unmarshal(body, &got); err != nil || len(got.Errors) != 1 ||
				got.Errors[0].Message == "" || got.Errors[0].Extensions["code"] != "FORBIDDEN" || len(got.Errors[0].Extensions) != 1 {
				t.Errorf("refusal body %s, want one FORBIDDEN error", body)
			}
		})
	}
}

// TestCSRFThroughTheMiddleware: the guard in front of a cookie-authenticated
// endpoint, as the gateway mounts it.
func TestCSRFThroughTheMiddleware(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.signIn(t, b, "cust-0001", "/")
	if r := b.post(e.app.URL+"/me", "text/plain", `{"query":"mutation { x }"}`); r.status != http.StatusForbidden {
		t.Errorf("cookie + text/plain: %d %s, want 403", r.status, r.body)
	}
	r := b.post(e.app.URL+"/me", "application/json", `{}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "cust-0001") {
		t.Errorf("cookie + application/json: %d %s, want 200 as cust-0001", r.status, r.body)
	}
	if r := b.post(e.app.URL+"/me", "application/json", `{}`, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cookie + cross-site: %d %s, want 403", r.status, r.body)
	}
	// A bearer client without the cookie is not affected.
	tok := devToken(t, e, "cons-0001")
	req, _ := http.NewRequest(http.MethodPost, e.app.URL+"/me", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "cons-0001") {
		t.Errorf("bearer + text/plain: %d %s, want 200 as cons-0001", resp.StatusCode, body)
	}
}

// devToken fetches an access token for subject from the provider's
// development endpoint.
func devToken(t *testing.T, e *env, subject string) string {
	t.Helper()
	resp, err := e.idpSrv.Client().Get(e.iss + "/dev/token?sub=" + subject)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("dev token: %v", err)
	}
	return body.AccessToken
}
