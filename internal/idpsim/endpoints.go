package idpsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// maxEchoed bounds state and nonce, which the provider stores and echoes.
const maxEchoed = 512

// scopes the provider grants. The standard profile, email, phone and
// address scopes are refused outright: this provider holds no personal data
// and must not pretend to release some.
var supportedScopes = []string{"openid", "offline_access"}

// PKCE (RFC 7636): an S256 challenge is 43 base64url characters; a
// verifier is 43 to 128 unreserved characters.
var (
	validChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	validVerifier  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

func (p *IdP) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("/jwks", p.handleJWKS)
	mux.HandleFunc("/authorize", p.handleAuthorize)
	mux.HandleFunc("/token", p.handleToken)
	mux.HandleFunc("/dev/token", p.handleDevToken)
	mux.HandleFunc("/admin/rotate-key", p.handleRotateKey)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

// discovery is the provider metadata of OpenID Connect Discovery 1.0 §3.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIss          bool     `json:"authorization_response_iss_parameter_supported"`
}

func (p *IdP) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	iss := p.Issuer()
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/authorize",
		TokenEndpoint:                     iss + "/token",
		JWKSURI:                           iss + "/jwks",
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   supportedScopes,
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "roles", "consultant_id"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseIss:          true,
	})
}

func (p *IdP) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, p.keys.jwks(p.now()))
}

func (p *IdP) handleRotateKey(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	kid, err := p.RotateKey()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "the new key could not be generated")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"kid": kid})
}

// handleAuthorize runs the authorization endpoint (RFC 6749 §4.1.1, OpenID
// Connect Core §3.1.2). Problems with client_id or redirect_uri are answered
// here, never by redirecting to a URI that is not known to be the
// client's; every other problem is redirected to the client with error and
// state.
func (p *IdP) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if e := parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	q := r.Form
	client := p.clients[q.Get("client_id")]
	if client == nil {
		writeOAuthError(w, errInvalidRequest("unknown client_id"))
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !client.allowsRedirect(redirectURI) {
		writeOAuthError(w, errInvalidRequest("redirect_uri is not registered for this client"))
		return
	}
	iss := p.Issuer()
	state := q.Get("state")
	fail := func(code, desc string) {
		redirect(w, r, redirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {state}, "iss": {iss}})
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		fail("invalid_scope", "scope must include openid")
		return
	}
	for _, s := range scopes {
		if !slices.Contains(supportedScopes, s) {
			fail("invalid_scope", "unsupported scope "+s+"; this provider releases no personal data")
			return
		}
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "":
		fail("invalid_request", "code_challenge is required: PKCE with S256")
		return
	case method != "S256":
		// An absent method means plain (RFC 7636 §4.3), which protects
		// nothing once the authorization request is seen.
		fail("invalid_request", "code_challenge_method must be S256; plain is not supported")
		return
	case !validChallenge.MatchString(challenge):
		fail("invalid_request", "code_challenge is not an S256 challenge")
		return
	}
	nonce := q.Get("nonce")
	if len(state) > maxEchoed || len(nonce) > maxEchoed {
		fail("invalid_request", "state and nonce must not exceed 512 bytes")
		return
	}
	subject := q.Get("login_hint")
	if subject == "" {
		subject = DefaultSubject
	}
	if _, ok := p.users[subject]; !ok {
		fail("access_denied", "login_hint names no demo user")
		return
	}
	code := rand.Text()
	now := p.now()
	p.mu.Lock()
	p.pruneLocked(now)
	p.codes[hashToken(code)] = &authCode{
		clientID: client.ID, redirectURI: redirectURI, challenge: challenge, nonce: nonce,
		subject: subject, scope: strings.Join(scopes, " "), authTime: now, expires: now.Add(codeTTL),
	}
	p.mu.Unlock()
	redirect(w, r, redirectURI, url.Values{"code": {code}, "state": {state}, "iss": {iss}})
}

// redirect sends the user agent to target with params added to its query;
// an empty state is left out rather than echoed as "state=".
func redirect(w http.ResponseWriter, r *http.Request, target string, params url.Values) {
	u, err := url.Parse(target) // validated by allowsRedirect
	if err != nil {
		writeOAuthError(w, errInvalidRequest("redirect_uri does not parse"))
		return
	}
	q := u.Query()
	for k, v := range params {
		if len(v) == 1 && v[0] != "" {
			q.Set(k, v[0])
		}
	}
	u.RawQuery = q.Encode()
	noStore(w)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (c *Client) allowsRedirect(uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.AllowLoopback {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// handleToken runs the token endpoint (RFC 6749 §3.2).
func (p *IdP) handleToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	noStore(w)
	if e := parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	if len(r.URL.RawQuery) > 0 {
		// Codes, verifiers and secrets in a URL end up in access logs.
		writeOAuthError(w, errInvalidRequest("token requests carry their parameters in the body, not the URL"))
		return
	}
	client, e := p.authenticateClient(r)
	if e != nil {
		writeOAuthError(w, e)
		return
	}
	var resp *tokenResponse
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		resp, e = p.redeemCode(client, r.PostForm)
	case "refresh_token":
		resp, e = p.redeemRefresh(client, r.PostForm)
	case "":
		e = errInvalidRequest("grant_type is required")
	default:
		e = &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Desc: "grant_type " + gt + " is not supported"}
	}
	if e != nil {
		writeOAuthError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient identifies the client of a token request by exactly
// one method: client_secret_basic, client_secret_post, or, for a public
// client, client_id alone. Secrets are compared in constant time.
func (p *IdP) authenticateClient(r *http.Request) (*Client, *oauthError) {
	form := r.PostForm
	basicID, basicSecret, hasBasic := r.BasicAuth()
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if hasBasic {
		if form.Has("client_secret") {
			return nil, errInvalidRequest("use one client authentication method, not two")
		}
		// RFC 6749 §2.3.1: both halves are form-encoded before Basic.
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, invalidClient()
		}
		if id != "" && id != basicID {
			return nil, errInvalidRequest("client_id does not match the authenticated client")
		}
		id, secret = basicID, basicSecret
	}
	client := p.clients[id]
	if client == nil {
		return nil, invalidClient()
	}
	if client.Secret == "" {
		if secret != "" {
			return nil, invalidClient() // a public client has no secret to send
		}
		return client, nil
	}
	want, got := sha256.Sum256([]byte(client.Secret)), sha256.Sum256([]byte(secret))
	if secret == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return nil, invalidClient()
	}
	return client, nil
}

func invalidClient() *oauthError {
	return &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Desc: "client authentication failed"}
}

// s256 is the PKCE S256 transform of a verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// handleDevToken issues an access token for a demo user without any flow,
// for tests and the playground's headers editor. The token is exactly what
// the authorization code flow would issue to the first registered client.
func (p *IdP) handleDevToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	noStore(w)
	if e := parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	sub := r.Form.Get("sub")
	if sub == "" {
		writeOAuthError(w, errInvalidRequest("sub is required: a demo subject such as %s", DefaultSubject))
		return
	}
	u, ok := p.users[sub]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_subject", "no demo user has this subject")
		return
	}
	at, err := p.accessToken(u, p.devClient, "openid", p.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "the token could not be signed")
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(p.accessTTL / time.Second)})
}
