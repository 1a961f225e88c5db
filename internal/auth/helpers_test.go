package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a real idpsim provider mounted under /idp of a test server, the
// way the simulator mounts it, with switches and counters around it.
type env struct {
	idp   *idpsim.IdP
	srv   *httptest.Server
	clock *testenv.Clock
	iss   string

	keysDown    atomic.Bool  // discovery and JWKS answer 503
	discoveries atomic.Int32 // discovery requests, answered or not
	jwksFetches atomic.Int32 // JWKS requests, answered or not
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ids, err := os.ReadFile("../../testdata/identities.json")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clock: testenv.NewClock(testEpoch)}
	e.idp, err = idpsim.New(idpsim.Config{Identities: ids, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	idpHandler := e.idp.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := true
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			e.discoveries.Add(1)
		case strings.HasSuffix(r.URL.Path, "/jwks"):
			e.jwksFetches.Add(1)
		default:
			keys = false
		}
		if keys && e.keysDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		idpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.iss = e.srv.URL + "/idp"
	if err := e.idp.SetIssuer(e.iss); err != nil {
		t.Fatal(err)
	}
	return e
}

// verifier returns a Verifier of e's provider for the API audience, on
// e's clock; edit adjusts the config first.
func (e *env) verifier(t *testing.T, edit func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{Issuer: e.iss, Audience: idpsim.DefaultAPIAudience, Now: e.clock.Now, HTTPClient: e.srv.Client()}
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// devToken fetches an access token for sub from the provider's dev
// endpoint.
func (e *env) devToken(t *testing.T, sub string) string {
	t.Helper()
	resp, err := e.srv.Client().Get(e.iss + "/dev/token?sub=" + sub)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("dev token for %s: status %d, %v", sub, resp.StatusCode, err)
	}
	return body.AccessToken
}

func (e *env) rotateKey(t *testing.T) {
	t.Helper()
	resp, err := e.srv.Client().Post(e.iss+"/admin/rotate-key", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate key: %d", resp.StatusCode)
	}
}

// claims are valid access token claims for cust-0001 at the provider's
// now; tests change one to break it.
func (e *env) claims() map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": e.iss, "sub": "cust-0001", "aud": []string{idpsim.DemoClientID, idpsim.DefaultAPIAudience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "roles": []string{"customer"},
	}
}

// sign signs claims with the provider's current key after edit changes
// them.
func (e *env) sign(t *testing.T, edit func(map[string]any)) string {
	t.Helper()
	c := e.claims()
	edit(c)
	raw, err := e.idp.SignClaims(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertNoToken fails if text contains raw or any sizeable part of it.
func assertNoToken(t *testing.T, what, text, raw string) {
	t.Helper()
	if len(raw) >= 8 && strings.Contains(text, raw) {
		t.Errorf("%s contains the token: %s", what, text)
		return
	}
	for _, part := range strings.Split(raw, ".") {
		if len(part) >= 16 && strings.Contains(text, part) {
			t.Errorf("%s contains part of the token (%.16s...): %s", what, part, text)
		}
	}
}
