package idpsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// pruneEvery is how often expired codes, refresh tokens and revocations
// are swept, on the next request that stores a grant.
const pruneEvery = time.Minute

// tokenHash keys codes and refresh tokens by their SHA-256, so the maps
// never hold a usable credential and a lookup's timing reveals nothing
// about one.
type tokenHash [sha256.Size]byte

func hashToken(s string) tokenHash { return sha256.Sum256([]byte(s)) }

// authCode is an issued authorization code. A code is consumed by the
// first token request that presents it, whatever the outcome, and kept as
// used until it expires, so a replay is recognised and revokes the tokens
// the code already produced (RFC 6749 §4.1.2).
type authCode struct {
	clientID, redirectURI, challenge, nonce, subject, scope string
	authTime, expires                                       time.Time
	used                                                    bool
	family                                                  string // set once tokens were issued from it
}

// refreshGrant is an issued refresh token. Every sign-in starts a family;
// each refresh rotates to a new member and marks the old one used.
// Presenting a used member means two parties hold the family, so the whole
// family is revoked.
type refreshGrant struct {
	clientID, subject, scope, family string
	authTime, expires                time.Time
	used                             bool
}

// tokenResponse is the successful token response of RFC 6749 §5.1 with the
// id_token of OpenID Connect Core §3.1.3.3.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// accessClaims are every claim of an access token (RFC 9068 with roles).
type accessClaims struct {
	Issuer       string   `json:"iss"`
	Subject      string   `json:"sub"`
	Audience     []string `json:"aud"`
	Expiry       int64    `json:"exp"`
	IssuedAt     int64    `json:"iat"`
	NotBefore    int64    `json:"nbf"`
	ID           string   `json:"jti"`
	ClientID     string   `json:"client_id"`
	Scope        string   `json:"scope,omitempty"`
	Roles        []string `json:"roles"`
	ConsultantID string   `json:"consultant_id,omitempty"`
}

// idClaims are every claim of an ID token.
type idClaims struct {
	Issuer       string   `json:"iss"`
	Subject      string   `json:"sub"`
	Audience     []string `json:"aud"`
	Expiry       int64    `json:"exp"`
	IssuedAt     int64    `json:"iat"`
	NotBefore    int64    `json:"nbf"`
	AuthTime     int64    `json:"auth_time"`
	Nonce        string   `json:"nonce,omitempty"`
	Roles        []string `json:"roles"`
	ConsultantID string   `json:"consultant_id,omitempty"`
}

func (p *IdP) accessToken(u identity, clientID, scope string, now time.Time) (string, error) {
	return p.sign(typAccessToken, accessClaims{
		Issuer: p.Issuer(), Subject: u.subject, Audience: []string{clientID, p.apiAudience},
		Expiry: now.Add(p.accessTTL).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ID: rand.Text(), ClientID: clientID, Scope: scope, Roles: u.roles, ConsultantID: u.consultantID,
	})
}

func (p *IdP) idToken(u identity, clientID, nonce string, authTime, now time.Time) (string, error) {
	return p.sign(typJWT, idClaims{
		Issuer: p.Issuer(), Subject: u.subject, Audience: []string{clientID},
		Expiry: now.Add(p.accessTTL).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		AuthTime: authTime.Unix(), Nonce: nonce, Roles: u.roles, ConsultantID: u.consultantID,
	})
}

// issued is what a redeemed grant entitles the client to; the JWTs are
// signed after the grant lock is released.
type issued struct {
	user            identity
	clientID, scope string
	nonce           string
	authTime        time.Time
	refreshToken    string
}

func (p *IdP) respond(is issued, now time.Time) (*tokenResponse, *oauthError) {
	at, err := p.accessToken(is.user, is.clientID, is.scope, now)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, Code: "server_error", Desc: "the token could not be signed"}
	}
	it, err := p.idToken(is.user, is.clientID, is.nonce, is.authTime, now)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, Code: "server_error", Desc: "the token could not be signed"}
	}
	return &tokenResponse{
		AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(p.accessTTL / time.Second),
		RefreshToken: is.refreshToken, IDToken: it, Scope: is.scope,
	}, nil
}

// redeemCode runs the authorization_code grant (RFC 6749 §4.1.3, RFC 7636
// §4.6).
func (p *IdP) redeemCode(client *Client, form url.Values) (*tokenResponse, *oauthError) {
	if form.Get("code") == "" {
		return nil, errInvalidRequest("code is required")
	}
	if form.Get("code_verifier") == "" {
		return nil, errInvalidRequest("code_verifier is required: PKCE")
	}
	now := p.now()
	is, e := p.consumeCode(client, form, now)
	if e != nil {
		return nil, e
	}
	return p.respond(is, now)
}

func (p *IdP) consumeCode(client *Client, form url.Values, now time.Time) (issued, *oauthError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ac := p.codes[hashToken(form.Get("code"))]
	switch {
	case ac == nil || !now.Before(ac.expires):
		return issued{}, errInvalidGrant("the authorization code is invalid or expired")
	case ac.used:
		if ac.family != "" {
			p.revokeLocked(ac.family, now)
		}
		return issued{}, errInvalidGrant("the authorization code was already used; the refresh tokens issued for it are revoked")
	}
	ac.used = true
	verifier := form.Get("code_verifier")
	switch {
	case ac.clientID != client.ID:
		return issued{}, errInvalidGrant("the authorization code was issued to another client")
	case form.Get("redirect_uri") != ac.redirectURI:
		return issued{}, errInvalidGrant("redirect_uri does not match the authorization request")
	case !validVerifier.MatchString(verifier) ||
		subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(ac.challenge)) != 1:
		return issued{}, errInvalidGrant("code_verifier does not match the code_challenge")
	}
	u, ok := p.users[ac.subject]
	if !ok {
		return issued{}, errInvalidGrant("the signed-in user no longer exists")
	}
	ac.family = rand.Text()
	rt := p.storeRefreshLocked(client.ID, ac.subject, ac.scope, ac.family, ac.authTime, now)
	return issued{user: u, clientID: client.ID, scope: ac.scope, nonce: ac.nonce, authTime: ac.authTime, refreshToken: rt}, nil
}

// redeemRefresh runs the refresh_token grant (RFC 6749 §6) with rotation.
func (p *IdP) redeemRefresh(client *Client, form url.Values) (*tokenResponse, *oauthError) {
	if form.Get("refresh_token") == "" {
		return nil, errInvalidRequest("refresh_token is required")
	}
	now := p.now()
	is, e := p.rotateRefresh(client, form, now)
	if e != nil {
		return nil, e
	}
	return p.respond(is, now)
}

func (p *IdP) rotateRefresh(client *Client, form url.Values, now time.Time) (issued, *oauthError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.refresh[hashToken(form.Get("refresh_token"))]
	switch {
	case g == nil || !now.Before(g.expires):
		return issued{}, errInvalidGrant("the refresh token is invalid or expired")
	case g.clientID != client.ID:
		return issued{}, errInvalidGrant("the refresh token was issued to another client")
	case g.used:
		p.revokeLocked(g.family, now)
		return issued{}, errInvalidGrant("the refresh token was already used; every refresh token of this sign-in is revoked")
	case p.isRevokedLocked(g.family, now):
		return issued{}, errInvalidGrant("the refresh token was revoked")
	}
	scope := g.scope
	if s := form.Get("scope"); s != "" {
		granted := strings.Fields(g.scope)
		for _, want := range strings.Fields(s) {
			if !slices.Contains(granted, want) {
				return issued{}, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Desc: "scope exceeds the original grant"}
			}
		}
		scope = s
	}
	u, ok := p.users[g.subject]
	if !ok {
		return issued{}, errInvalidGrant("the signed-in user no longer exists")
	}
	g.used = true
	// The new member keeps the original scope: narrowing one access token
	// does not narrow the sign-in.
	rt := p.storeRefreshLocked(client.ID, g.subject, g.scope, g.family, g.authTime, now)
	return issued{user: u, clientID: client.ID, scope: scope, authTime: g.authTime, refreshToken: rt}, nil
}

func (p *IdP) storeRefreshLocked(clientID, subject, scope, family string, authTime, now time.Time) string {
	p.pruneLocked(now)
	rt := rand.Text() + rand.Text() // 260 bits: refresh tokens live for a day
	p.refresh[hashToken(rt)] = &refreshGrant{
		clientID: clientID, subject: subject, scope: scope, family: family,
		authTime: authTime, expires: now.Add(p.refreshTTL),
	}
	return rt
}

// revokeLocked revokes a family until every member would have expired
// anyway: each was issued at or before now, for at most RefreshTTL.
func (p *IdP) revokeLocked(family string, now time.Time) {
	p.revoked[family] = now.Add(p.refreshTTL)
}

func (p *IdP) isRevokedLocked(family string, now time.Time) bool {
	until, ok := p.revoked[family]
	return ok && now.Before(until)
}

// pruneLocked sweeps what can no longer matter, at most once per
// pruneEvery, so memory stays bounded by the traffic of one RefreshTTL.
func (p *IdP) pruneLocked(now time.Time) {
	if now.Sub(p.lastPrune) < pruneEvery {
		return
	}
	p.lastPrune = now
	for k, c := range p.codes {
		if !now.Before(c.expires) {
			delete(p.codes, k)
		}
	}
	for k, g := range p.refresh {
		if !now.Before(g.expires) {
			delete(p.refresh, k)
		}
	}
	for f, until := range p.revoked {
		if !now.Before(until) {
			delete(p.revoked, f)
		}
	}
}
