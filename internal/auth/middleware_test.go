package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/internal/apierr"
	"meridian/internal/middleware"
)

// seen is what the next handler observed.
type seen struct {
	called    bool
	principal *Principal
}

func nextRecorder(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.principal, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
}

func serve(h http.Handler, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	middleware.RequestID(h).ServeHTTP(rec, req)
	return rec
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// wantRefusal checks a whole refused response: status, challenge, body.
func wantRefusal(t *testing.T, rec *httptest.ResponseRecorder, s *seen, status int, challenge, code, message string) {
	t.Helper()
	if s.called {
		t.Error("the request reached the handler")
	}
	if rec.Code != status {
		t.Errorf("status %d want %d", rec.Code, status)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate %q want %q", got, challenge)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body struct {
		Errors []struct {
			Message    string            `json:"message"`
			Extensions map[string]string `json:"extensions"`
		} `json:"errors"`
		Data any `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != code || (message != "" && body.Errors[0].Message != message) {
		t.Errorf("body %s want code %s message %q", rec.Body, code, message)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logs logBuffer
	v := e.verifier(t, func(c *VerifierConfig) { c.Logger = logs.logger() })
	customer := e.devToken(t, "cust-0001")

	t.Run("no header: anonymous", func(t *testing.T) {
		var s seen
		rec := serve(Middleware(v, nextRecorder(&s)), nil)
		if !s.called || s.principal != nil || rec.Code != http.StatusNoContent {
			t.Errorf("called %v principal %v status %d", s.called, s.principal, rec.Code)
		}
		if rec.Header().Get("Vary") != "Authorization" {
			t.Errorf("Vary %q", rec.Header().Values("Vary"))
		}
	})
	for _, h := range []string{"Bearer " + customer, "bearer " + customer, "BEARER  " + customer} {
		t.Run("valid token as "+h[:8], func(t *testing.T) {
			var s seen
			serve(Middleware(v, nextRecorder(&s)), http.Header{"Authorization": {h}})
			want := &Principal{Subject: "cust-0001", Roles: []string{"customer"}}
			if diff := cmp.Diff(want, s.principal); !s.called || diff != "" {
				t.Errorf("called %v, principal (-want +got):\n%s", s.called, diff)
			}
		})
	}

	expiredSoon := e.devToken(t, "cons-0001")
	refused := []struct {
		name    string
		header  http.Header
		token   string // to look for in the logs
		message string
	}{
		{"garbage token", bearer("not-a-jwt"), "not-a-jwt", reasonMalformed},
		{"forged token", bearer(signWith(t, "RS256", mustRSA(t), "x", e.claims())), "", reasonSignature},
		{"alg none", bearer(unsigned(e.claims())), unsigned(e.claims()), reasonAlgorithm},
		{"token of another API", bearer(e.sign(t, func(c map[string]any) { c["aud"] = "other" })), "", reasonAudience},
		{"Basic credentials", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, "dXNlcjpwYXNz", ""},
		{"scheme only", http.Header{"Authorization": {"Bearer"}}, "", ""},
		{"scheme and space", http.Header{"Authorization": {"Bearer "}}, "", ""},
		{"empty header", http.Header{"Authorization": {""}}, "", ""},
		{"two tokens", http.Header{"Authorization": {"Bearer " + customer + " " + customer}}, customer, ""},
		{"token with a forbidden character", http.Header{"Authorization": {"Bearer abc\"def"}}, "", ""},
		{"header repeated", http.Header{"Authorization": {"Bearer " + customer, "Bearer " + customer}}, customer, "more than one Authorization header"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			var s seen
			rec := serve(Middleware(v, nextRecorder(&s)), tt.header)
			wantRefusal(t, rec, &s, http.StatusUnauthorized, `Bearer error="invalid_token"`, "UNAUTHENTICATED", tt.message)
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			for _, h := range tt.header["Authorization"] {
				_, tok, _ := strings.Cut(h, " ")
				assertNoToken(t, "body", rec.Body.String(), strings.TrimSpace(tok))
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		late := e.verifier(t, func(c *VerifierConfig) {
			c.Logger = logs.logger()
			c.Now = func() time.Time { return e.clock.Now().Add(time.Hour) }
		})
		var s seen
		rec := serve(Middleware(late, nextRecorder(&s)), bearer(expiredSoon))
		wantRefusal(t, rec, &s, http.StatusUnauthorized, `Bearer error="invalid_token"`, "UNAUTHENTICATED", reasonExpired)
	})

	// Every refusal above was logged with its reason, and no log line
	// holds a token or a sizeable part of one.
	out := logs.String()
	if !strings.Contains(out, "request refused") || !strings.Contains(out, "reason=\"token expired\"") || !strings.Contains(out, "request_id=") {
		t.Errorf("refusals not logged as expected:\n%s", out)
	}
	for _, tok := range []string{customer, expiredSoon, unsigned(e.claims()), "not-a-jwt", "dXNlcjpwYXNz"} {
		assertNoToken(t, "log", out, tok)
	}
}

func mustRSA(t *testing.T) any {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeSessions is a SessionResolver with a fixed answer.
type fakeSessions struct {
	p     *Principal
	ok    bool
	err   error
	calls int
}

func (f *fakeSessions) PrincipalFromRequest(*http.Request) (*Principal, bool, error) {
	f.calls++
	return f.p, f.ok, f.err
}

func TestMiddlewareSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.verifier(t, nil)
	consultant := &Principal{Subject: "cons-0003", Roles: []string{"consultant"}, ConsultantID: "cons-0003"}

	t.Run("session supplies the principal", func(t *testing.T) {
		var s seen
		sessions := &fakeSessions{p: consultant, ok: true}
		rec := serve(Middleware(v, nextRecorder(&s), WithSessionResolver(sessions)), nil)
		if s.principal != consultant || sessions.calls != 1 {
			t.Errorf("principal %v, %d resolver calls", s.principal, sessions.calls)
		}
		if got := rec.Header().Values("Vary"); !cmp.Equal(got, []string{"Authorization", "Cookie"}) {
			t.Errorf("Vary %q", got)
		}
	})
	t.Run("no session: anonymous", func(t *testing.T) {
		var s seen
		serve(Middleware(v, nextRecorder(&s), WithSessionResolver(&fakeSessions{})), nil)
		if !s.called || s.principal != nil {
			t.Errorf("called %v principal %v", s.called, s.principal)
		}
	})
	t.Run("a bearer token wins; the session is not consulted", func(t *testing.T) {
		var s seen
		sessions := &fakeSessions{p: consultant, ok: true}
		serve(Middleware(v, nextRecorder(&s), WithSessionResolver(sessions)), bearer(e.devToken(t, "cust-0002")))
		if s.principal == nil || s.principal.Subject != "cust-0002" || sessions.calls != 0 {
			t.Errorf("principal %v, %d resolver calls", s.principal, sessions.calls)
		}
	})
	t.Run("session refused", func(t *testing.T) {
		var s seen
		sessions := &fakeSessions{err: apierr.New(apierr.Unauthenticated, "session expired")}
		rec := serve(Middleware(v, nextRecorder(&s), WithSessionResolver(sessions)), nil)
		wantRefusal(t, rec, &s, http.StatusUnauthorized, "Bearer", "UNAUTHENTICATED", "session expired")
	})
	t.Run("session store failing", func(t *testing.T) {
		var s seen
		sessions := &fakeSessions{err: errors.New("redis: connection refused to 10.0.0.7")}
		rec := serve(Middleware(v, nextRecorder(&s), WithSessionResolver(sessions)), nil)
		wantRefusal(t, rec, &s, http.StatusInternalServerError, "", "INTERNAL", "internal error")
		if strings.Contains(rec.Body.String(), "redis") || !strings.Contains(rec.Body.String(), `"requestId"`) {
			t.Errorf("body %s: want internals masked and the request id given", rec.Body)
		}
	})
}

func TestMiddlewareProviderUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.keysDown.Store(true)
	v := e.verifier(t, nil)

	var s seen
	rec := serve(Middleware(v, nextRecorder(&s)), nil)
	if !s.called || rec.Code != http.StatusNoContent {
		t.Errorf("anonymous request during the outage: called %v status %d", s.called, rec.Code)
	}
	s = seen{}
	rec = serve(Middleware(v, nextRecorder(&s)), bearer(e.devToken(t, "cust-0001")))
	wantRefusal(t, rec, &s, apierr.OriginUnavailable.HTTPStatus(), "", "ORIGIN_UNAVAILABLE", reasonUnavailable)
}

func TestMiddlewareNeedsAVerifier(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Middleware(nil, ...) did not panic")
		}
	}()
	Middleware(nil, http.NotFoundHandler())
}
