package idpsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestDiscoveryDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	r := h.get(t, "/idp/.well-known/openid-configuration")
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	var d discovery
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	want := discovery{
		Issuer:                            h.iss,
		AuthorizationEndpoint:             h.iss + "/authorize",
		TokenEndpoint:                     h.iss + "/token",
		JWKSURI:                           h.iss + "/jwks",
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   []string{"openid", "offline_access"},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "roles", "consultant_id"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseIss:          true,
	}
	got, _ := json.Marshal(d)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("discovery:\n got %s\nwant %s", got, wantJSON)
	}
	// A real client library accepts it: the issuer matches the URL it was
	// fetched under.
	p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), h.srv.Client()), h.iss)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	if p.Endpoint().TokenURL != h.iss+"/token" {
		t.Errorf("token URL %q", p.Endpoint().TokenURL)
	}
}

func TestJWKSPublishesOnlyPublicKeysWithKid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(h.get(t, "/idp/jwks").body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("got %d keys want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] != h.idp.CurrentKeyID() || k["kid"] == "" {
		t.Errorf("key %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("JWKS publishes private member %q", private)
		}
	}
}

// TestAuthorizationCodeFlow signs in a consultant through the flow a web
// client runs, with golang.org/x/oauth2 as the client and go-oidc checking
// the ID token.
func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cfg := h.oauth2Config()
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce"), oauth2.SetAuthURLParam("login_hint", "cons-0001"))
	r := h.get(t, strings.TrimPrefix(authURL, h.srv.URL))
	if r.status != http.StatusFound {
		t.Fatalf("authorize: got %d %s", r.status, r.body)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if loc.Host != "127.0.0.1:8080" || loc.Path != "/callback" {
		t.Errorf("redirected to %s", loc)
	}
	q := loc.Query()
	if q.Get("state") != "st4te" || q.Get("iss") != h.iss || q.Get("code") == "" {
		t.Fatalf("redirect query %v", q)
	}
	tok, err := cfg.Exchange(h.clientContext(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Errorf("token %+v", tok)
	}
	rawID, _ := tok.Extra("id_token").(string)
	provider, err := oidc.NewProvider(oidc.ClientContext(context.Background(), h.srv.Client()), h.iss)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: DemoClientID, Now: h.clock.Now}).Verify(context.Background(), rawID)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	if idt.Nonce != "n0nce" || idt.Subject != "cons-0001" {
		t.Errorf("id token nonce %q subject %q", idt.Nonce, idt.Subject)
	}
	if !slices.Equal(idt.Audience, []string{DemoClientID}) {
		t.Errorf("id token audience %v want the client only", idt.Audience)
	}
	at, err := provider.Verifier(&oidc.Config{ClientID: DefaultAPIAudience, Now: h.clock.Now}).Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("verify access token for the API audience: %v", err)
	}
	var claims struct {
		Roles        []string `json:"roles"`
		ConsultantID string   `json:"consultant_id"`
	}
	if err := at.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(at.Audience, []string{DemoClientID, DefaultAPIAudience}) || !slices.Equal(claims.Roles, []string{"consultant"}) || claims.ConsultantID != "cons-0001" {
		t.Errorf("access token aud %v claims %+v", at.Audience, claims)
	}
	header, _ := jwtParts(t, tok.AccessToken)
	if header["typ"] != "at+jwt" || header["kid"] != h.idp.CurrentKeyID() || header["alg"] != "RS256" {
		t.Errorf("access token header %v", header)
	}
}

func TestAuthorizeDefaultsToCust0001AndOmitsEmptyState(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	verifier := oauth2.GenerateVerifier()
	q := h.authorize(t, url.Values{"state": {""}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
	if q.Has("state") {
		t.Errorf("state echoed though none was sent: %v", q)
	}
	tok := h.exchange(t, q.Get("code"), verifier, "http://127.0.0.1:8080/callback")
	if _, claims := jwtParts(t, tok["access_token"].(string)); claims["sub"] != "cust-0001" {
		t.Errorf("sub %v want cust-0001", claims["sub"])
	}
}

// exchange redeems a code for the demo client and fails unless it works.
func (h *harness) exchange(t testing.TB, code, verifier, redirectURI string) map[string]any {
	t.Helper()
	r := h.postForm(t, "/idp/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}, "client_id": {DemoClientID},
	})
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q want no-store", r.header.Get("Cache-Control"))
	}
	return r.json(t)
}

func TestTokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	const redirectURI = "http://127.0.0.1:8080/callback"
	newCode := func(t *testing.T) (code, verifier string) {
		verifier = oauth2.GenerateVerifier()
		q := h.authorize(t, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
		return q.Get("code"), verifier
	}
	redeem := func(code, verifier, redirect string) response {
		return h.postForm(t, "/idp/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {DemoClientID},
		})
	}
	t.Run("wrong verifier, and the code is gone after", func(t *testing.T) {
		code, verifier := newCode(t)
		if r := redeem(code, oauth2.GenerateVerifier(), redirectURI); r.status != http.StatusBadRequest || r.oauthErr() != "invalid_grant" {
			t.Errorf("wrong verifier: got %d %s want 400 invalid_grant", r.status, r.body)
		}
		if r := redeem(code, verifier, redirectURI); r.oauthErr() != "invalid_grant" {
			t.Errorf("after a failed attempt: got %d %s want invalid_grant", r.status, r.body)
		}
	})
	t.Run("reused code revokes the refresh token it produced", func(t *testing.T) {
		code, verifier := newCode(t)
		first := h.exchange(t, code, verifier, redirectURI)
		if r := redeem(code, verifier, redirectURI); r.oauthErr() != "invalid_grant" {
			t.Errorf("reuse: got %d %s want invalid_grant", r.status, r.body)
		}
		if r := h.refreshWith(t, first["refresh_token"].(string)); r.oauthErr() != "invalid_grant" {
			t.Errorf("refresh after code reuse: got %d %s want invalid_grant", r.status, r.body)
		}
	})
	t.Run("redirect_uri differs from the authorization request", func(t *testing.T) {
		code, verifier := newCode(t)
		if r := redeem(code, verifier, "http://127.0.0.1:8080/other"); r.oauthErr() != "invalid_grant" {
			t.Errorf("got %d %s want invalid_grant", r.status, r.body)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		code, _ := newCode(t)
		if r := redeem(code, "", redirectURI); r.oauthErr() != "invalid_request" {
			t.Errorf("got %d %s want invalid_request", r.status, r.body)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		h := newHarness(t, nil)
		verifier := oauth2.GenerateVerifier()
		q := h.authorize(t, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
		h.clock.Advance(codeTTL)
		r := h.postForm(t, "/idp/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {redirectURI}, "client_id": {DemoClientID},
		})
		if r.oauthErr() != "invalid_grant" {
			t.Errorf("got %d %s want invalid_grant", r.status, r.body)
		}
	})
	t.Run("code of another client", func(t *testing.T) {
		code, verifier := newCode(t)
		r := h.postForm(t, "/idp/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI},
		}, confidentialClient.ID, confidentialClient.Secret)
		if r.oauthErr() != "invalid_grant" {
			t.Errorf("got %d %s want invalid_grant", r.status, r.body)
		}
	})
	t.Run("unsupported grant type", func(t *testing.T) {
		r := h.postForm(t, "/idp/token", url.Values{"grant_type": {"password"}, "client_id": {DemoClientID}})
		if r.oauthErr() != "unsupported_grant_type" {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("parameters in the URL", func(t *testing.T) {
		r := h.postForm(t, "/idp/token?code=x", url.Values{"grant_type": {"authorization_code"}, "client_id": {DemoClientID}})
		if r.oauthErr() != "invalid_request" {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("repeated parameter", func(t *testing.T) {
		r := h.postForm(t, "/idp/token", url.Values{"grant_type": {"refresh_token", "authorization_code"}, "client_id": {DemoClientID}})
		if r.oauthErr() != "invalid_request" {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("GET", func(t *testing.T) {
		if r := h.get(t, "/idp/token"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("got %d Allow %q", r.status, r.header.Get("Allow"))
		}
	})
}

func (h *harness) refreshWith(t testing.TB, refreshToken string) response {
	t.Helper()
	return h.postForm(t, "/idp/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {DemoClientID}})
}

func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	// Refused with an error redirected to the client, state echoed.
	redirected := []struct {
		name   string
		params url.Values
		want   string
	}{
		{"plain method", url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}}, "invalid_request"},
		{"no method means plain", url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {""}}, "invalid_request"},
		{"no challenge", url.Values{}, "invalid_request"},
		{"challenge not S256-shaped", url.Values{"code_challenge": {"short"}}, "invalid_request"},
		{"implicit flow", url.Values{"code_challenge": {challenge}, "response_type": {"token"}}, "unsupported_response_type"},
		{"no openid scope", url.Values{"code_challenge": {challenge}, "scope": {"offline_access"}}, "invalid_scope"},
		{"personal data scope", url.Values{"code_challenge": {challenge}, "scope": {"openid email"}}, "invalid_scope"},
		{"unknown demo user", url.Values{"code_challenge": {challenge}, "login_hint": {"nobody"}}, "access_denied"},
	}
	for _, tt := range redirected {
		t.Run(tt.name, func(t *testing.T) {
			q := h.authorize(t, tt.params)
			if q.Get("error") != tt.want || q.Get("state") != "st4te" || q.Has("code") {
				t.Errorf("got %v want error=%s with state and no code", q, tt.want)
			}
		})
	}
	// Refused on the spot: the redirect URI cannot be trusted.
	direct := []struct {
		name, clientID, redirectURI string
	}{
		{"unknown client", "nobody", "http://127.0.0.1:8080/callback"},
		{"no redirect_uri", DemoClientID, ""},
		{"non-loopback redirect", DemoClientID, "https://evil.example/callback"},
		{"loopback look-alike", DemoClientID, "http://127.0.0.1.evil.example/callback"},
		{"fragment", DemoClientID, "http://127.0.0.1:8080/callback#x"},
		{"unregistered for a confidential client", confidentialClient.ID, "http://127.0.0.1:8080/callback"},
	}
	for _, tt := range direct {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {tt.clientID}, "redirect_uri": {tt.redirectURI},
				"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			r := h.get(t, "/idp/authorize?"+q.Encode())
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || r.oauthErr() != "invalid_request" {
				t.Errorf("got %d Location %q %s want 400 without redirect", r.status, r.header.Get("Location"), r.body)
			}
		})
	}
	for _, ok := range []string{"http://localhost:3000/cb", "http://[::1]:9/cb?x=1", "http://127.0.0.1/cb"} {
		t.Run("loopback "+ok, func(t *testing.T) {
			q := h.authorize(t, url.Values{"redirect_uri": {ok}, "code_challenge": {challenge}})
			if q.Get("code") == "" {
				t.Errorf("got %v want a code", q)
			}
		})
	}
}

func TestConfidentialClientAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	redirectURI := confidentialClient.RedirectURIs[0]
	newCode := func(t *testing.T) (url.Values, string) {
		verifier := oauth2.GenerateVerifier()
		q := h.authorize(t, url.Values{"client_id": {confidentialClient.ID}, "redirect_uri": {redirectURI}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
		return url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}}, verifier
	}
	t.Run("client_secret_basic", func(t *testing.T) {
		form, _ := newCode(t)
		if r := h.postForm(t, "/idp/token", form, confidentialClient.ID, confidentialClient.Secret); r.status != http.StatusOK {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		form, _ := newCode(t)
		form.Set("client_id", confidentialClient.ID)
		form.Set("client_secret", confidentialClient.Secret)
		if r := h.postForm(t, "/idp/token", form); r.status != http.StatusOK {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("golang.org/x/oauth2 with auto-detected style", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		cfg := &oauth2.Config{ClientID: confidentialClient.ID, ClientSecret: confidentialClient.Secret, RedirectURL: redirectURI,
			Endpoint: oauth2.Endpoint{AuthURL: h.iss + "/authorize", TokenURL: h.iss + "/token"}, Scopes: []string{"openid"}}
		q := h.authorize(t, url.Values{"client_id": {confidentialClient.ID}, "redirect_uri": {redirectURI}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
		if _, err := cfg.Exchange(h.clientContext(), q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("exchange: %v", err)
		}
	})
	refusals := []struct {
		name       string
		id, secret string // sent by Basic when basic
		basic      bool
		post       url.Values
		wantStatus int
		wantErr    string
	}{
		{"wrong secret, basic", confidentialClient.ID, "wrong", true, nil, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret, post", "", "", false, url.Values{"client_id": {confidentialClient.ID}, "client_secret": {"wrong"}}, http.StatusUnauthorized, "invalid_client"},
		{"no secret", "", "", false, url.Values{"client_id": {confidentialClient.ID}}, http.StatusUnauthorized, "invalid_client"},
		{"secret prefix", "", "", false, url.Values{"client_id": {confidentialClient.ID}, "client_secret": {confidentialClient.Secret[:5]}}, http.StatusUnauthorized, "invalid_client"},
		{"two methods", confidentialClient.ID, confidentialClient.Secret, true, url.Values{"client_secret": {confidentialClient.Secret}}, http.StatusBadRequest, "invalid_request"},
		{"unknown client", "", "", false, url.Values{"client_id": {"nobody"}}, http.StatusUnauthorized, "invalid_client"},
		{"public client sending a secret", "", "", false, url.Values{"client_id": {DemoClientID}, "client_secret": {"x"}}, http.StatusUnauthorized, "invalid_client"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			form, _ := newCode(t)
			for k, v := range tt.post {
				form[k] = v
			}
			var r response
			if tt.basic {
				r = h.postForm(t, "/idp/token", form, tt.id, tt.secret)
			} else {
				r = h.postForm(t, "/idp/token", form)
			}
			if r.status != tt.wantStatus || r.oauthErr() != tt.wantErr {
				t.Errorf("got %d %s want %d %s", r.status, r.body, tt.wantStatus, tt.wantErr)
			}
			if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	verifier := oauth2.GenerateVerifier()
	q := h.authorize(t, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "login_hint": {"cons-0002"}, "nonce": {"n1"}})
	first := h.exchange(t, q.Get("code"), verifier, "http://127.0.0.1:8080/callback")
	r1 := first["refresh_token"].(string)

	h.clock.Advance(10 * time.Minute)
	r := h.refreshWith(t, r1)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: got %d %s", r.status, r.body)
	}
	second := r.json(t)
	r2, _ := second["refresh_token"].(string)
	if r2 == "" || r2 == r1 {
		t.Fatalf("refresh token not rotated: %q", r2)
	}
	_, access := jwtParts(t, second["access_token"].(string))
	if access["sub"] != "cons-0002" || access["iat"].(float64) != float64(h.clock.Now().Unix()) {
		t.Errorf("refreshed access token claims %v", access)
	}
	if _, id := jwtParts(t, second["id_token"].(string)); id["nonce"] != nil || id["auth_time"].(float64) != float64(testEpoch.Unix()) {
		t.Errorf("refreshed ID token: nonce %v auth_time %v want no nonce and the original sign-in time", id["nonce"], id["auth_time"])
	}

	if r := h.refreshWith(t, r1); r.oauthErr() != "invalid_grant" {
		t.Errorf("old refresh token: got %d %s want invalid_grant", r.status, r.body)
	}
	// The replay above means two parties hold the sign-in: the current
	// token is revoked too.
	if r := h.refreshWith(t, r2); r.oauthErr() != "invalid_grant" {
		t.Errorf("refresh token after a replay: got %d %s want invalid_grant", r.status, r.body)
	}
}

func TestRefreshTokenExpiresAndNarrowsScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.RefreshTTL = time.Hour })
	verifier := oauth2.GenerateVerifier()
	q := h.authorize(t, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "scope": {"openid offline_access"}})
	tok := h.exchange(t, q.Get("code"), verifier, "http://127.0.0.1:8080/callback")
	r := h.postForm(t, "/idp/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {DemoClientID}, "scope": {"openid email"}})
	if r.oauthErr() != "invalid_scope" {
		t.Errorf("wider scope: got %d %s want invalid_scope", r.status, r.body)
	}
	r = h.postForm(t, "/idp/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {DemoClientID}, "scope": {"openid"}})
	if r.status != http.StatusOK || r.json(t)["scope"] != "openid" {
		t.Fatalf("narrower scope: got %d %s", r.status, r.body)
	}
	h.clock.Advance(time.Hour)
	if r := h.refreshWith(t, r.json(t)["refresh_token"].(string)); r.oauthErr() != "invalid_grant" {
		t.Errorf("expired refresh token: got %d %s want invalid_grant", r.status, r.body)
	}
}

func TestDevToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		sub              string
		wantRoles        []any
		wantConsultantID any
	}{
		{"cust-0001", []any{"customer"}, nil},
		{"cons-0001", []any{"consultant"}, "cons-0001"},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			r := h.get(t, "/idp/dev/token?sub="+tt.sub)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d (Cache-Control %q) %s", r.status, r.header.Get("Cache-Control"), r.body)
			}
			body := r.json(t)
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(900) {
				t.Errorf("body %v", body)
			}
			_, claims := jwtParts(t, body["access_token"].(string))
			if claims["sub"] != tt.sub || claims["iss"] != h.iss || !slices.Equal(claims["roles"].([]any), tt.wantRoles) || claims["consultant_id"] != tt.wantConsultantID {
				t.Errorf("claims %v", claims)
			}
			if aud := claims["aud"].([]any); !slices.Equal(aud, []any{DemoClientID, DefaultAPIAudience}) {
				t.Errorf("aud %v", aud)
			}
			if claims["exp"].(float64)-claims["iat"].(float64) != 900 || claims["nbf"] != claims["iat"] {
				t.Errorf("times iat %v nbf %v exp %v", claims["iat"], claims["nbf"], claims["exp"])
			}
		})
	}
	t.Run("POST", func(t *testing.T) {
		if r := h.postForm(t, "/idp/dev/token", url.Values{"sub": {"cust-0050"}}); r.status != http.StatusOK {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("unknown subject", func(t *testing.T) {
		r := h.get(t, "/idp/dev/token?sub=cust-9999")
		if r.status != http.StatusNotFound || r.oauthErr() != "unknown_subject" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
	t.Run("no subject", func(t *testing.T) {
		if r := h.get(t, "/idp/dev/token"); r.status != http.StatusBadRequest || r.oauthErr() != "invalid_request" {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
}

// TestTokensCarryNoPersonalData decodes every kind of token the provider
// issues and checks each claim is one of the documented, non-personal ones.
func TestTokensCarryNoPersonalData(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	allowed := map[string]bool{
		"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
		"client_id": true, "scope": true, "roles": true, "consultant_id": true, "auth_time": true, "nonce": true,
	}
	var tokens []string
	for _, sub := range []string{"cust-0001", "cons-0001"} {
		tokens = append(tokens, h.get(t, "/idp/dev/token?sub="+sub).json(t)["access_token"].(string))
		verifier := oauth2.GenerateVerifier()
		q := h.authorize(t, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "login_hint": {sub}, "nonce": {"n"}})
		tok := h.exchange(t, q.Get("code"), verifier, "http://127.0.0.1:8080/callback")
		tokens = append(tokens, tok["access_token"].(string), tok["id_token"].(string))
		refreshed := h.refreshWith(t, tok["refresh_token"].(string)).json(t)
		tokens = append(tokens, refreshed["access_token"].(string), refreshed["id_token"].(string))
	}
	for i, raw := range tokens {
		header, claims := jwtParts(t, raw)
		for k := range claims {
			if !allowed[k] {
				t.Errorf("token %d carries claim %q (%v)", i, k, claims[k])
			}
		}
		for k := range header {
			if k != "alg" && k != "kid" && k != "typ" {
				t.Errorf("token %d header carries %q", i, k)
			}
		}
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	old := h.idp.CurrentKeyID()
	if r := h.get(t, "/idp/admin/rotate-key"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET rotate-key: got %d want 405", r.status)
	}
	r := h.postForm(t, "/idp/admin/rotate-key", nil)
	if r.status != http.StatusOK {
		t.Fatalf("rotate: got %d %s", r.status, r.body)
	}
	fresh, _ := r.json(t)["kid"].(string)
	if fresh == "" || fresh == old || h.idp.CurrentKeyID() != fresh {
		t.Fatalf("new kid %q old %q current %q", fresh, old, h.idp.CurrentKeyID())
	}
	if got := h.kids(t); !slices.Equal(got, []string{fresh, old}) {
		t.Errorf("JWKS during grace: %v want [%s %s]", got, fresh, old)
	}
	header, _ := jwtParts(t, h.get(t, "/idp/dev/token?sub=cust-0001").json(t)["access_token"].(string))
	if header["kid"] != fresh {
		t.Errorf("token signed with kid %v want %s", header["kid"], fresh)
	}
	h.clock.Advance(DefaultAccessTTL) // the default grace
	if got := h.kids(t); !slices.Equal(got, []string{fresh}) {
		t.Errorf("JWKS after grace: %v want [%s]", got, fresh)
	}
}

func (h *harness) kids(t testing.TB) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(h.get(t, "/idp/jwks").body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestHandlerServesUnderTheIssuerPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, path := range []string{"/jwks", "/idpx/jwks", "/idp", "/idp/nothing", "/masterdata/v1/products"} {
		if r := h.get(t, path); r.status != http.StatusNotFound || r.oauthErr() != "not_found" {
			t.Errorf("GET %s: got %d %s want 404 not_found", path, r.status, r.body)
		}
	}
}

func TestIssuerUnsetAnswers503(t *testing.T) {
	t.Parallel()
	idp, err := New(Config{Identities: demoIdentities(t)})
	if err != nil {
		t.Fatal(err)
	}
	if idp.Issuer() != "" {
		t.Errorf("Issuer %q want empty", idp.Issuer())
	}
	req, _ := http.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)
	rec := httptest.NewRecorder()
	idp.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d want 503", rec.Code)
	}
	for _, bad := range []string{"", "ftp://x", "http://x/idp/", "http://x/idp?x=1", "/idp", "http://u:p@x/idp"} {
		if err := idp.SetIssuer(bad); err == nil {
			t.Errorf("SetIssuer(%q) accepted", bad)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ids := string(demoIdentities(t))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no identities", Config{}, "identities file is required"},
		{"personal data field", Config{Identities: []byte(`{"customers":[{"subject":"c1","roles":["customer"],"email":"a@b.example"}]}`)}, "unknown field"},
		{"e-mail as subject", Config{Identities: []byte(`{"customers":[{"subject":"a@b.example","roles":["customer"]}]}`)}, "not an opaque id"},
		{"duplicate subject", Config{Identities: []byte(`{"customers":[{"subject":"c1","roles":[]},{"subject":"c1","roles":[]}]}`)}, "listed twice"},
		{"unknown consultant", Config{Identities: []byte(`{"customers":[{"subject":"c1","roles":["customer"],"consultant":"cons-9"}]}`)}, "unknown consultant"},
		{"bad role", Config{Identities: []byte(`{"customers":[{"subject":"c1","roles":["Big Boss"]}]}`)}, "not a role id"},
		{"trailing data", Config{Identities: []byte(`{"customers":[]} {}`)}, "trailing data"},
		{"grace shorter than tokens live", Config{Identities: []byte(ids), AccessTTL: time.Hour, KeyGrace: time.Minute}, "key grace"},
		{"duplicate client", Config{Identities: []byte(ids), Clients: []Client{{ID: "a", AllowLoopback: true}, {ID: "a", AllowLoopback: true}}}, "registered twice"},
		{"client without redirects", Config{Identities: []byte(ids), Clients: []Client{{ID: "a"}}}, "no redirect URI"},
		{"bad issuer", Config{Identities: []byte(ids), Issuer: "http://x/idp/"}, "trailing slash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestIdentitiesFileParses(t *testing.T) {
	t.Parallel()
	users, err := parseIdentities(demoIdentities(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 55 {
		t.Errorf("got %d users want 5 consultants and 50 customers", len(users))
	}
	if u := users["cons-0003"]; u.consultantID != "cons-0003" || !slices.Equal(u.roles, []string{"consultant"}) {
		t.Errorf("cons-0003: %+v", u)
	}
	if u := users["cust-0001"]; u.consultantID != "" || !slices.Equal(u.roles, []string{"customer"}) {
		t.Errorf("cust-0001: %+v", u)
	}
}

func TestSignClaims(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	raw, err := h.idp.SignClaims(map[string]any{"iss": "https://elsewhere.example", "sub": "x"})
	if err != nil {
		t.Fatal(err)
	}
	header, claims := jwtParts(t, raw)
	if header["kid"] != h.idp.CurrentKeyID() || claims["iss"] != "https://elsewhere.example" {
		t.Errorf("header %v claims %v", header, claims)
	}
	if _, err := h.idp.SignClaims(map[string]any{"bad": func() {}}); err == nil {
		t.Error("unencodable claims signed")
	}
}
