package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"meridian/internal/apierr"
	"meridian/internal/idpsim"
)

// signWith signs claims with a key of the test's own, under kid (none when
// empty).
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsigned is an "alg: none" token over claims.
func unsigned(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// providerPublicKeyPEM is the provider's current public key as PEM, which
// is what a confused verifier would use as an HMAC secret.
func providerPublicKeyPEM(t *testing.T, e *env) []byte {
	t.Helper()
	resp, err := e.srv.Client().Get(e.iss + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(set.Keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	foreignRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	foreignEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := e.idp.CurrentKeyID()
	customer := e.devToken(t, "cust-0001")

	tests := []struct {
		name  string
		token func(t *testing.T) string
		skew  time.Duration // the verifier's clock minus the provider's
		want  *Principal    // nil: refused with wantReason
		// wantReason is the client-safe message of the refusal.
		wantReason string
	}{
		{name: "valid customer", token: func(t *testing.T) string { return customer },
			want: &Principal{Subject: "cust-0001", Roles: []string{"customer"}}},
		{name: "valid consultant", token: func(t *testing.T) string { return e.devToken(t, "cons-0001") },
			want: &Principal{Subject: "cons-0001", Roles: []string{"consultant"}, ConsultantID: "cons-0001"}},
		{name: "valid a second before expiry", token: func(t *testing.T) string { return customer }, skew: 15*time.Minute - time.Second,
			want: &Principal{Subject: "cust-0001", Roles: []string{"customer"}}},
		{name: "audience as a single string", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["aud"] = "meridian" })
		}, want: &Principal{Subject: "cust-0001", Roles: []string{"customer"}}},
		{name: "no roles", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { delete(c, "roles") })
		}, want: &Principal{Subject: "cust-0001"}},

		{name: "expired", token: func(t *testing.T) string { return customer }, skew: 15*time.Minute + time.Second, wantReason: reasonExpired},
		{name: "no expiry", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { delete(c, "exp") })
		}, wantReason: reasonExpired},
		{name: "not yet valid, beyond the skew allowance", token: func(t *testing.T) string { return customer }, skew: -6 * time.Minute, wantReason: reasonNotYetValid},
		{name: "nbf in the future", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) {
				c["nbf"] = e.clock.Now().Add(time.Hour).Unix()
				c["exp"] = e.clock.Now().Add(2 * time.Hour).Unix()
			})
		}, wantReason: reasonNotYetValid},
		{name: "wrong issuer", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["iss"] = "https://idp.elsewhere.example" })
		}, wantReason: reasonIssuer},
		{name: "issuer with trailing slash", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["iss"] = e.iss + "/" })
		}, wantReason: reasonIssuer},
		{name: "wrong audience", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["aud"] = []string{"another-api"} })
		}, wantReason: reasonAudience},
		{name: "ID token: the client's audience only", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["aud"] = []string{idpsim.DemoClientID}; c["nonce"] = "n" })
		}, wantReason: reasonAudience},
		{name: "alg none", token: func(t *testing.T) string { return unsigned(e.claims()) }, wantReason: reasonAlgorithm},
		{name: "HS256 keyed with the provider's public key", token: func(t *testing.T) string {
			return signWith(t, jose.HS256, providerPublicKeyPEM(t, e), kid, e.claims())
		}, wantReason: reasonAlgorithm},
		{name: "HS256 keyed with the public key's DER", token: func(t *testing.T) string {
			block, _ := pem.Decode(providerPublicKeyPEM(t, e))
			return signWith(t, jose.HS256, block.Bytes, kid, e.claims())
		}, wantReason: reasonAlgorithm},
		{name: "RS384, not on the list", token: func(t *testing.T) string {
			return signWith(t, jose.RS384, foreignRSA, kid, e.claims())
		}, wantReason: reasonAlgorithm},
		{name: "unknown kid", token: func(t *testing.T) string {
			return signWith(t, jose.RS256, foreignRSA, "no-such-key", e.claims())
		}, wantReason: reasonSignature},
		{name: "another key under the provider's kid", token: func(t *testing.T) string {
			return signWith(t, jose.RS256, foreignRSA, kid, e.claims())
		}, wantReason: reasonSignature},
		{name: "another key without kid", token: func(t *testing.T) string {
			return signWith(t, jose.RS256, foreignRSA, "", e.claims())
		}, wantReason: reasonSignature},
		{name: "ES256 from a key the provider never published", token: func(t *testing.T) string {
			return signWith(t, jose.ES256, foreignEC, kid, e.claims())
		}, wantReason: reasonSignature},
		{name: "payload swapped", token: func(t *testing.T) string {
			parts := strings.Split(customer, ".")
			other := strings.Split(e.devToken(t, "cons-0001"), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}, wantReason: reasonSignature},
		{name: "no subject", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { delete(c, "sub") })
		}, wantReason: reasonNoSubject},
		{name: "roles not an array", token: func(t *testing.T) string {
			return e.sign(t, func(c map[string]any) { c["roles"] = "admin" })
		}, wantReason: reasonClaims},
	}
	for _, garbage := range []string{
		"", "garbage", "a.b.c", "..", "...", "Bearer x",
		"eyJhbGciOiJSUzI1NiJ9.e30",           // two parts
		"eyJhbGciOiJSUzI1NiJ9.e30.sig.x.y",   // five parts, a JWE's shape
		"eyJhbGciOiJSUzI1NiJ9.!!!.c2ln",      // not base64url
		"bm90IGpzb24.e30.c2ln",               // header not JSON
		`{"payload":"e30","signatures":[]}`,  // JSON serialization
		strings.Repeat("A", MaxTokenBytes+1), // too long
	} {
		tests = append(tests, struct {
			name       string
			token      func(t *testing.T) string
			skew       time.Duration
			want       *Principal
			wantReason string
		}{name: "garbage " + garbage[:min(len(garbage), 24)], token: func(*testing.T) string { return garbage }, wantReason: reasonMalformed})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.token(t)
			v := e.verifier(t, func(c *VerifierConfig) {
				c.Now = func() time.Time { return e.clock.Now().Add(tt.skew) }
			})
			p, err := v.Verify(context.Background(), raw)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(tt.want, p); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			ae, ok := apierr.As(err)
			if !ok || ae.Kind != apierr.Unauthenticated || ae.Message != tt.wantReason {
				t.Errorf("got %v want Unauthenticated %q", err, tt.wantReason)
			}
			assertNoToken(t, "error", err.Error(), raw)
		})
	}
}

// TestVerifyFollowsKeyRotation rotates the provider's key under a running
// Verifier: new tokens verify at once, old ones until their key's grace
// ends, and the JWKS is fetched only when an unknown kid shows up.
func TestVerifyFollowsKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.verifier(t, nil)
	before := e.devToken(t, "cust-0001")
	if _, err := v.Verify(context.Background(), before); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if n := e.jwksFetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for the first token, want 1", n)
	}

	e.rotateKey(t)
	after := e.devToken(t, "cons-0002")
	p, err := v.Verify(context.Background(), after)
	if err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	if p.Subject != "cons-0002" {
		t.Errorf("subject %q", p.Subject)
	}
	if n := e.jwksFetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times after the new kid appeared, want 2", n)
	}
	e.clock.Advance(10 * time.Minute) // within the grace period
	for _, raw := range []string{before, after} {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Errorf("within grace: %v", err)
		}
	}
	if n := e.jwksFetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times for known kids, want still 2", n)
	}

	// A verifier started after the grace period never sees the old key.
	e.clock.Advance(6 * time.Minute)
	late := e.verifier(t, func(c *VerifierConfig) { c.Now = func() time.Time { return e.clock.Now().Add(-16 * time.Minute) } })
	_, err = late.Verify(context.Background(), before)
	if ae, _ := apierr.As(err); ae == nil || ae.Message != reasonSignature {
		t.Errorf("token of a key past its grace: got %v want %q", err, reasonSignature)
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		cfg  VerifierConfig
		want string
	}{
		{"no issuer", VerifierConfig{Audience: "meridian"}, "issuer"},
		{"relative issuer", VerifierConfig{Issuer: "/idp", Audience: "meridian"}, "issuer"},
		{"no audience", VerifierConfig{Issuer: e.iss}, "audience is required"},
		{"alg none", VerifierConfig{Issuer: e.iss, Audience: "meridian", Algorithms: []string{"RS256", "none"}}, `"none" is not accepted`},
		{"HMAC", VerifierConfig{Issuer: e.iss, Audience: "meridian", Algorithms: []string{"HS256"}}, `"HS256" is not accepted`},
		{"issuer differs from the discovered one", VerifierConfig{Issuer: e.iss + "/", Audience: "meridian", HTTPClient: e.srv.Client()}, "did not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, %v want an error mentioning %q", v, err, tt.want)
			}
		})
	}
	t.Run("context already ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := NewVerifier(ctx, VerifierConfig{Issuer: e.iss, Audience: "meridian", HTTPClient: e.srv.Client()}); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v want context.Canceled", err)
		}
	})
}

// TestVerifierStartsWithoutTheProvider starts a Verifier while discovery
// fails, then checks it retries lazily, within its backoff, and recovers.
func TestVerifierStartsWithoutTheProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.keysDown.Store(true)
	var logs logBuffer
	v := e.verifier(t, func(c *VerifierConfig) { c.Logger = logs.logger() })
	if !strings.Contains(logs.String(), "discovery failed") {
		t.Errorf("start-up failure not logged: %s", logs.String())
	}
	token := e.devToken(t, "cust-0001")
	verify := func() error {
		_, err := v.Verify(context.Background(), token)
		return err
	}
	wantUnavailable := func(when string) {
		t.Helper()
		err := verify()
		if ae, ok := apierr.As(err); !ok || ae.Kind != apierr.OriginUnavailable || ae.Message != reasonUnavailable {
			t.Errorf("%s: got %v want OriginUnavailable", when, err)
		}
	}
	wantAttempts := func(want int32, when string) {
		t.Helper()
		if n := e.discoveries.Load(); n != want {
			t.Errorf("%s: %d discovery attempts, want %d", when, n, want)
		}
	}
	wantAttempts(1, "at start")
	wantUnavailable("within the first backoff")
	wantAttempts(1, "within the first backoff")
	e.clock.Advance(time.Second)
	wantUnavailable("second attempt, provider still down")
	wantAttempts(2, "after the first backoff")
	e.clock.Advance(time.Second)
	wantUnavailable("one second into a two-second backoff")
	wantAttempts(2, "one second into a two-second backoff")

	e.keysDown.Store(false)
	wantUnavailable("provider back, backoff not over")
	wantAttempts(2, "provider back, backoff not over")
	e.clock.Advance(time.Second)
	if err := verify(); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
	wantAttempts(3, "after the backoff")
	if err := verify(); err != nil {
		t.Errorf("once discovered: %v", err)
	}
	wantAttempts(3, "once discovered")
	if !strings.Contains(logs.String(), "identity provider discovered") {
		t.Errorf("recovery not logged: %s", logs.String())
	}
	assertNoToken(t, "log", logs.String(), token)
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	var anon *Principal
	if anon.HasRole("customer") {
		t.Error("nil principal has a role")
	}
	p := &Principal{Subject: "cons-0001", Roles: []string{"consultant"}, ConsultantID: "cons-0001"}
	if !p.HasRole("consultant") || p.HasRole("Consultant") || p.HasRole("") {
		t.Error("HasRole compares exactly")
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("principal in an empty context")
	}
	if got, ok := FromContext(WithPrincipal(context.Background(), p)); !ok || got != p {
		t.Errorf("FromContext: %v %v", got, ok)
	}
	if got, ok := FromContext(WithPrincipal(context.Background(), nil)); ok || got != nil {
		t.Errorf("nil principal: %v %v", got, ok)
	}
}
