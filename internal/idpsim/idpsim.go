// Package idpsim is the demo OpenID Connect identity provider: it stands in
// for the company's global identity provider in the demo, in tests and on
// the playground, beside the simulated systems of record (package
// globalsim).
//
// The real provider is abroad, and personal data must not cross the border,
// so this one, like it, knows people only by pseudonymous subject ids: the
// identities it signs in come from the format of testdata/identities.json
// (subject, roles and, for consultants, a consultant id) and nothing else.
// Its tokens carry exactly that. There is no password page: the demo user to
// sign in is named by the login_hint parameter.
//
// Every endpoint sits under the issuer's path, so the same handler serves at
// the root of a test server or mounted under /idp/ of the simulator:
//
//	GET  /.well-known/openid-configuration  discovery (OpenID Connect Discovery 1.0)
//	GET  /jwks                               public signing keys, RS256, each with a kid
//	GET  /authorize                          authorization code flow with PKCE (S256 only)
//	POST /token                              authorization_code and refresh_token grants
//	GET  /dev/token?sub=SUBJECT              an access token for a demo user, no flow (also POST)
//	POST /admin/rotate-key                   a new signing key becomes current
//
// Tokens are JWTs signed with RS256. Access tokens (header typ "at+jwt",
// RFC 9068) carry iss, sub, aud (the client id and the API audience,
// "meridian" by default), exp, iat, nbf, jti, client_id, scope, roles and,
// for consultants, consultant_id. ID tokens (typ "JWT") carry iss, sub, aud
// (the client id only, so they are refused where the API audience is
// required), exp, iat, nbf, auth_time, roles, consultant_id and the nonce
// of the authorization request. Refresh tokens are opaque and rotate: each
// use returns a new one, and presenting a used one again revokes every
// token descended from the same sign-in.
//
// Errors follow RFC 6749: {"error":"invalid_grant","error_description":"..."}.
// Everything is in memory; codes, refresh tokens and keys are lost with the
// process, which is what a demo wants. Time comes from Config.Now, so tests
// expire codes, tokens and retired keys by moving a clock.
package idpsim

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied to a zero Config field.
const (
	DefaultAccessTTL   = 15 * time.Minute // access and ID tokens
	DefaultRefreshTTL  = 24 * time.Hour   // each refresh token, from its issue
	DefaultAPIAudience = "meridian"       // the gateway's audience, in every access token
	DemoClientID       = "meridian-demo"  // the default client: public, loopback redirects
	DefaultSubject     = "cust-0001"      // signed in when /authorize has no login_hint
)

// codeTTL bounds how long an authorization code can be redeemed. RFC 6749
// recommends at most ten minutes; a redirect takes seconds.
const codeTTL = time.Minute

// rsaKeyBits is the size of every signing key.
const rsaKeyBits = 2048

// Config configures an IdP. Only Identities is required.
type Config struct {
	// Issuer is the provider's public base URL, such as
	// "http://127.0.0.1:9090/idp": the iss of every token, the base of
	// every endpoint in the discovery document, and the path prefix the
	// handler serves under. It must be an absolute http or https URL
	// without query, fragment or trailing slash. It may be left empty and
	// set with SetIssuer once the listener's address is known; until then
	// every endpoint answers 503.
	Issuer string
	// Identities are the demo users, in the format of
	// testdata/identities.json. Unknown fields are refused, so personal
	// data cannot slip into the file and from there into tokens.
	Identities []byte
	// Clients are the registered OAuth clients. Nil means one public
	// client, DemoClientID, that accepts any loopback redirect URI. The
	// first client is the one /dev/token issues tokens for.
	Clients []Client
	// APIAudience is added to the aud of every access token beside the
	// client id. Empty means DefaultAPIAudience.
	APIAudience string
	// Now is the clock behind every timestamp and expiry. Nil means
	// time.Now.
	Now func() time.Time
	// AccessTTL is the lifetime of access and ID tokens; zero means
	// DefaultAccessTTL. RefreshTTL is the lifetime of each refresh token;
	// zero means DefaultRefreshTTL.
	AccessTTL, RefreshTTL time.Duration
	// KeyGrace is how long a key replaced by RotateKey stays in the JWKS,
	// so tokens it signed keep verifying until they expire. Zero means
	// AccessTTL; shorter than AccessTTL is refused, as it would strand
	// tokens that are still valid.
	KeyGrace time.Duration
}

// Client is a registered OAuth client.
type Client struct {
	// ID is the client_id, and the audience of the client's ID tokens.
	ID string
	// Secret, when set, makes the client confidential: the token endpoint
	// then requires it, by client_secret_basic or client_secret_post.
	// Empty means a public client, which authenticates with nothing but
	// its PKCE verifier and must not send a secret.
	Secret string
	// RedirectURIs are the exact redirect URIs the client may use.
	RedirectURIs []string
	// AllowLoopback also accepts any http or https redirect URI on
	// 127.0.0.1, [::1] or localhost, on any port and path, as native and
	// development clients need (RFC 8252 §7.3).
	AllowLoopback bool
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.KeyGrace == 0 {
		c.KeyGrace = c.AccessTTL
	}
	if c.APIAudience == "" {
		c.APIAudience = DefaultAPIAudience
	}
	if c.Clients == nil {
		c.Clients = []Client{{ID: DemoClientID, AllowLoopback: true}}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Issuer != "" {
		if _, err := parseIssuer(c.Issuer); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AccessTTL < 0 || c.RefreshTTL < 0 {
		errs = append(errs, fmt.Errorf("access TTL %v and refresh TTL %v must not be negative", c.AccessTTL, c.RefreshTTL))
	}
	if c.KeyGrace < c.AccessTTL {
		errs = append(errs, fmt.Errorf("key grace %v is shorter than the access TTL %v", c.KeyGrace, c.AccessTTL))
	}
	if len(c.Clients) == 0 {
		errs = append(errs, errors.New("at least one client is required"))
	}
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		if cl.ID == "" {
			errs = append(errs, fmt.Errorf("client %d: id is required", i))
			continue
		}
		if seen[cl.ID] {
			errs = append(errs, fmt.Errorf("client %q is registered twice", cl.ID))
		}
		seen[cl.ID] = true
		if len(cl.RedirectURIs) == 0 && !cl.AllowLoopback {
			errs = append(errs, fmt.Errorf("client %q: no redirect URI is registered and loopback is not allowed", cl.ID))
		}
		for _, ru := range cl.RedirectURIs {
			if u, err := url.Parse(ru); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
				errs = append(errs, fmt.Errorf("client %q: redirect URI %q must be absolute and without fragment", cl.ID, ru))
			}
		}
	}
	return errors.Join(errs...)
}

// IdP is the demo identity provider. It is safe for concurrent use and
// starts no goroutines.
type IdP struct {
	now         func() time.Time
	accessTTL   time.Duration
	refreshTTL  time.Duration
	keyGrace    time.Duration
	apiAudience string
	users       map[string]identity
	clients     map[string]*Client
	devClient   string // the client id in /dev/token audiences: the first registered
	issuer      atomic.Pointer[url.URL]
	keys        *keyRing
	mux         *http.ServeMux

	mu        sync.Mutex // guards the grants below
	codes     map[tokenHash]*authCode
	refresh   map[tokenHash]*refreshGrant
	revoked   map[string]time.Time // family id → when its last token expires anyway
	lastPrune time.Time
}

// New builds an IdP from cfg, parsing the identities and generating the
// first signing key. It fails if cfg is invalid or the identities do not
// parse.
func New(cfg Config) (*IdP, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("idpsim: config: %w", err)
	}
	users, err := parseIdentities(cfg.Identities)
	if err != nil {
		return nil, fmt.Errorf("idpsim: identities: %w", err)
	}
	clock := cfg.Now
	p := &IdP{
		now:         func() time.Time { return clock().UTC() },
		accessTTL:   cfg.AccessTTL,
		refreshTTL:  cfg.RefreshTTL,
		keyGrace:    cfg.KeyGrace,
		apiAudience: cfg.APIAudience,
		users:       users,
		clients:     map[string]*Client{},
		devClient:   cfg.Clients[0].ID,
		codes:       map[tokenHash]*authCode{},
		refresh:     map[tokenHash]*refreshGrant{},
		revoked:     map[string]time.Time{},
	}
	for _, cl := range cfg.Clients {
		cl.RedirectURIs = append([]string(nil), cl.RedirectURIs...)
		p.clients[cl.ID] = &cl
	}
	if cfg.Issuer != "" {
		if err := p.SetIssuer(cfg.Issuer); err != nil {
			return nil, err
		}
	}
	first, err := newSigningKey()
	if err != nil {
		return nil, fmt.Errorf("idpsim: %w", err)
	}
	p.keys = newKeyRing(first)
	p.mux = p.buildMux()
	return p, nil
}

// SetIssuer sets the public base URL (see Config.Issuer), for a provider
// whose address is known only once its listener is. Tokens issued before
// keep the issuer they were signed with, so a verifier configured with the
// new one refuses them.
func (p *IdP) SetIssuer(issuer string) error {
	u, err := parseIssuer(issuer)
	if err != nil {
		return fmt.Errorf("idpsim: %w", err)
	}
	p.issuer.Store(u)
	return nil
}

// Issuer returns the issuer URL, or "" while none is set.
func (p *IdP) Issuer() string {
	u := p.issuer.Load()
	if u == nil {
		return ""
	}
	return u.String()
}

func parseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") {
		return nil, fmt.Errorf("issuer %q must be an absolute http or https URL without credentials, query, fragment or trailing slash", issuer)
	}
	return u, nil
}

// RotateKey generates a new signing key and makes it current; tokens are
// signed with it from now on. The previous key stays in the JWKS for
// Config.KeyGrace, then disappears. It returns the new key's kid.
func (p *IdP) RotateKey() (string, error) {
	k, err := newSigningKey()
	if err != nil {
		return "", fmt.Errorf("idpsim: %w", err)
	}
	p.keys.rotate(k, p.now().Add(p.keyGrace))
	return k.kid, nil
}

// CurrentKeyID returns the kid of the key tokens are signed with now.
func (p *IdP) CurrentKeyID() string { return p.keys.current().kid }

// SignClaims signs arbitrary claims with the current key, exactly as the
// IdP signs its own tokens (RS256, header typ "JWT" and the key's kid). It
// checks nothing: it exists for tests of verifiers, which need tokens no
// flow issues — another issuer, another audience, no subject, odd times.
func (p *IdP) SignClaims(claims map[string]any) (string, error) {
	return p.sign(typJWT, claims)
}

func newSigningKey() (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return newKey(priv)
}

// Handler returns the handler serving every endpoint under the issuer's
// path: with issuer http://host/idp it answers /idp/jwks and so on, and 404
// outside /idp/. Mount it at that path without stripping the prefix. Until
// an issuer is set it answers 503.
func (p *IdP) Handler() http.Handler { return http.HandlerFunc(p.serve) }

func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	iss := p.issuer.Load()
	if iss == nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the identity provider has no issuer URL yet")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, iss.Path)
	if !ok || !strings.HasPrefix(rest, "/") {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
		return
	}
	http.StripPrefix(iss.Path, p.mux).ServeHTTP(w, r)
}
