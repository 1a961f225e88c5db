package session

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"meridian/internal/apierr"
	"meridian/internal/middleware"
)

// loginState is what Login hands Callback through the pre-login cookie,
// sealed: the browser carries it but can neither read nor alter it.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // unix seconds on the Manager's clock
}

// oauthErrorCode is the syntax of RFC 6749 error codes; anything else in a
// callback's error parameter is not repeated to the client.
var oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Login starts a sign-in: GET /auth/login?return_to=/path&login_hint=SUBJECT.
//
// It answers 302 to the provider's authorization endpoint with a fresh
// state, nonce and PKCE S256 challenge, and sets the pre-login cookie that
// holds them and the PKCE verifier, sealed, for 10 minutes (HttpOnly,
// SameSite=Lax so that it comes back on the provider's redirect, Path=/,
// and Secure with a __Host- name when the cookies are Secure). A second
// Login in the same browser replaces the cookie, so only the latest of two
// sign-ins started in parallel can complete.
//
// return_to, when given, must be a same-site relative path ("/orders?x=1");
// anything that could lead off the site ("//host", "/\host",
// "https://host", control characters) is refused with 400, never silently
// replaced. Without it, the browser lands on Config.PostLoginRedirect.
// login_hint is passed to the provider as it is (at most 256 printable
// characters), so a demo can choose the user. Other methods answer 405;
// repeated parameters answer 400; an unreachable provider answers 502.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if r.Method != http.MethodGet {
		m.methodNotAllowed(w, r, http.MethodGet)
		return
	}
	q, ok := singleValued(r.URL.Query())
	if !ok {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "a sign-in parameter is repeated"))
		return
	}
	returnTo := m.s.PostLoginRedirect
	if q.Has("return_to") {
		p, err := safeReturnPath(q.Get("return_to"))
		if err != nil {
			m.fail(w, r, apierr.Wrap(apierr.BadUserInput, err, "return_to must be a path on this site, such as /orders"))
			return
		}
		returnTo = p
	}
	hint := q.Get("login_hint")
	if !printable(hint, maxLoginHint) {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "login_hint must be at most %d printable characters", maxLoginHint))
		return
	}
	p, err := m.provider(r.Context())
	if err != nil {
		m.fail(w, r, err)
		return
	}
	ls := loginState{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Expires:  m.now().Add(loginTTL).Unix(),
	}
	plain, err := json.Marshal(ls)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	sealed, err := m.keys.seal(purposeLogin, []byte(m.s.loginCookie), plain)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	http.SetCookie(w, m.cookie(m.s.loginCookie, base64.RawURLEncoding.EncodeToString(sealed), loginTTL))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(ls.Nonce), oauth2.S256ChallengeOption(ls.Verifier)}
	if hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	w.Header().Set("Location", p.oauth.AuthCodeURL(ls.State, opts...))
	w.WriteHeader(http.StatusFound)
}

// Callback completes a sign-in: GET on the path of Config.RedirectURL,
// where the provider sends the browser back with code and state.
//
// It requires the pre-login cookie Login set, unexpired and opening with a
// configured key, and a state equal to the one in it (compared in constant
// time); when the provider names itself (iss, RFC 9207), that must be the
// configured issuer. It then redeems the code with the PKCE verifier,
// verifies the ID token (signature, issuer, audience = client id, expiry,
// and the nonce, in constant time) and the access token (with
// Config.Verifier, for the same subject), stores a new session, sets the
// session cookie (HttpOnly; SameSite=Lax; Path=/; Max-Age=MaxSessionAge;
// Secure per Config) and answers 303 to the return_to path. A session the
// browser already had is deleted: a sign-in always gets a new id, so an id
// planted before it (session fixation) is worthless.
//
// The pre-login cookie is cleared whatever the outcome: a state is used
// once. Failures answer with a GraphQL-shaped JSON error: 400 for a
// missing or expired pre-login cookie, a state mismatch or a missing code;
// 401 when the provider reports an error (such as access_denied), refuses
// the code, or a token does not verify; 502 when the provider cannot be
// reached; a masked 500 when it refuses the gateway's own client
// credentials. Other methods answer 405.
func (m *Manager) Callback(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	// The URL holds the code: keep it out of any Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet {
		m.methodNotAllowed(w, r, http.MethodGet)
		return
	}
	ls, lerr := m.readLoginState(r)
	http.SetCookie(w, m.cookie(m.s.loginCookie, "", -1))
	if lerr != nil {
		m.fail(w, r, apierr.Wrap(apierr.BadUserInput, lerr, "this sign-in was not started in this browser or took too long; sign in again"))
		return
	}
	q, ok := singleValued(r.URL.Query())
	if !ok {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "a callback parameter is repeated"))
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(ls.State)) != 1 {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "the sign-in state does not match; sign in again"))
		return
	}
	p, err := m.provider(r.Context())
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if iss := q.Get("iss"); (iss != "" || p.issParam) && iss != m.s.Issuer {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "the sign-in response does not come from the configured identity provider"))
		return
	}
	if code := q.Get("error"); code != "" {
		if !oauthErrorCode.MatchString(code) {
			code = "error"
		}
		m.fail(w, r, apierr.New(apierr.Unauthenticated, "the identity provider did not sign you in (%s)", code))
		return
	}
	code := q.Get("code")
	if code == "" {
		m.fail(w, r, apierr.New(apierr.BadUserInput, "the sign-in response has no code"))
		return
	}
	rec, err := m.redeem(r.Context(), p, code, ls)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if old, err := r.Cookie(m.s.CookieName); err == nil {
		if oldID, ok := parseSessionID(old.Value); ok {
			if err := m.s.Store.Delete(r.Context(), oldID.key()); err != nil {
				m.log.Warn("previous session could not be deleted at sign-in", logKey(oldID.key()), "err", err)
			}
		}
	}
	id := newSessionID()
	sealed, err := m.seal(id, rec)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if err := m.s.Store.Put(r.Context(), id.key(), sealed, rec.expires(m.s)); err != nil {
		m.fail(w, r, err)
		return
	}
	http.SetCookie(w, m.cookie(m.s.CookieName, id.String(), m.s.MaxSessionAge))
	m.log.Info("signed in", logKey(id.key()), "subject", rec.Subject)
	w.Header().Set("Location", ls.ReturnTo)
	w.WriteHeader(http.StatusSeeOther)
}

// redeem exchanges the code and checks what comes back.
func (m *Manager) redeem(ctx context.Context, p *provider, code string, ls *loginState) (*record, error) {
	cctx := m.clientContext(ctx)
	tok, err := p.oauth.Exchange(cctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		re := (*oauth2.RetrieveError)(nil)
		if !errors.As(err, &re) {
			return nil, apierr.Wrap(apierr.OriginUnavailable, err, reasonUnavailable)
		}
		switch re.ErrorCode {
		case "", "server_error", "temporarily_unavailable":
			return nil, apierr.Wrap(apierr.OriginUnavailable, err, reasonUnavailable)
		case "invalid_client", "unauthorized_client":
			// The gateway's own credentials are wrong: nothing the
			// user can fix, so an internal error, logged as such.
			return nil, err
		default:
			return nil, apierr.Wrap(apierr.Unauthenticated, err, "the identity provider refused the sign-in; sign in again")
		}
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, apierr.New(apierr.Unauthenticated, "the identity provider returned no ID token")
	}
	idt, err := p.ids.Verify(cctx, rawID)
	if err != nil {
		return nil, apierr.Wrap(apierr.Unauthenticated, err, "the ID token was refused")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return nil, apierr.New(apierr.Unauthenticated, "the ID token was not issued for this sign-in")
	}
	principal, err := m.s.Verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if principal.Subject != idt.Subject {
		return nil, apierr.New(apierr.Unauthenticated, "the access token and the ID token name different users")
	}
	now := m.now()
	return &record{
		Subject:      idt.Subject,
		AccessToken:  tok.AccessToken,
		AccessExpiry: accessExpiry(tok, now),
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		Created:      now,
		Touched:      now,
	}, nil
}

// readLoginState opens the pre-login cookie. Its errors are for logs.
func (m *Manager) readLoginState(r *http.Request) (*loginState, error) {
	c, err := r.Cookie(m.s.loginCookie)
	if err != nil {
		return nil, errors.New("no pre-login cookie")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, errors.New("pre-login cookie is not base64url")
	}
	plain, err := m.keys.open(purposeLogin, []byte(m.s.loginCookie), sealed)
	if err != nil {
		return nil, errors.New("pre-login cookie does not open")
	}
	var ls loginState
	if err := json.Unmarshal(plain, &ls); err != nil {
		return nil, errors.New("pre-login cookie holds no login state")
	}
	if !m.now().Before(time.Unix(ls.Expires, 0)) {
		return nil, errors.New("pre-login cookie expired")
	}
	// Sealed by this package, but checked again: the check is cheap and
	// an open redirect is not.
	if _, err := safeReturnPath(ls.ReturnTo); err != nil {
		return nil, err
	}
	return &ls, nil
}

// Logout signs the browser out: POST /auth/logout. It deletes the session
// from the store, clears the session cookie and answers 204, also when
// there was no session (signing out is idempotent). It is guarded like
// CSRFGuard guards other endpoints, so another site cannot sign a user out:
// with the session cookie, it needs Content-Type: application/json or
// X-Meridian-CSRF: 1, and no Sec-Fetch-Site: cross-site (403 otherwise).
// Other methods, GET included, answer 405: a link or an image must not
// sign anyone out. If the store fails, it answers 500 and still clears the
// cookie.
//
// The sign-in at the provider is left alone: the refresh token is no
// longer held by anyone and expires there (the demo provider has no
// revocation endpoint).
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if r.Method != http.MethodPost {
		m.methodNotAllowed(w, r, http.MethodPost)
		return
	}
	if reason := m.csrfRefusal(r); reason != "" {
		m.fail(w, r, apierr.New(apierr.Forbidden, "%s", reason))
		return
	}
	http.SetCookie(w, m.cookie(m.s.CookieName, "", -1))
	if c, err := r.Cookie(m.s.CookieName); err == nil {
		if id, ok := parseSessionID(c.Value); ok {
			if err := m.s.Store.Delete(r.Context(), id.key()); err != nil {
				m.fail(w, r, err)
				return
			}
			m.log.Info("signed out", logKey(id.key()))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// cookie builds one of the package's cookies. maxAge < 0 deletes it.
func (m *Manager) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   m.s.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// singleValued returns q when no parameter is repeated. A repeated state
// or code would leave open which one each layer reads.
func singleValued(q url.Values) (url.Values, bool) {
	for _, v := range q {
		if len(v) > 1 {
			return nil, false
		}
	}
	return q, true
}

// printable reports whether s is at most max printable ASCII characters.
func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func (m *Manager) methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	m.writeError(w, r, http.StatusMethodNotAllowed,
		&apierr.Error{Kind: apierr.BadUserInput, Code: "METHOD_NOT_ALLOWED", Message: r.Method + " is not allowed here; use " + allowed})
}

// graphQLErrors is the body of every refusal: the shape of a GraphQL
// response without data, as package auth answers, so clients parse one
// kind of error.
type graphQLErrors struct {
	Errors []graphQLError `json:"errors"`
}

type graphQLError struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// fail answers with err's kind, status and client-safe message, and logs
// the cause. An error without a kind is masked as an internal error.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apierr.As(err)
	if !ok {
		e = apierr.Wrap(apierr.Internal, err, "internal error")
	}
	m.writeError(w, r, e.Kind.HTTPStatus(), e)
}

// writeError answers status with e and logs it (never a token: causes come
// from this package, oauth2's error responses and the verifiers, none of
// which carry one).
func (m *Manager) writeError(w http.ResponseWriter, r *http.Request, status int, e *apierr.Error) {
	requestID := middleware.RequestIDFrom(r.Context())
	msg, ext := e.Message, map[string]string{"code": e.ClientCode()}
	level := slog.LevelInfo // a browser's failed sign-in is routine
	switch e.Kind {
	case apierr.Internal:
		msg, ext["requestId"], level = "internal error", requestID, slog.LevelError
	case apierr.OriginUnavailable:
		level = slog.LevelWarn
	}
	cause := ""
	if e.Err != nil {
		cause = e.Err.Error()
	}
	m.log.LogAttrs(r.Context(), level, "session request refused",
		slog.String("path", r.URL.Path),
		slog.String("reason", e.Message),
		slog.String("cause", cause),
		slog.String("request_id", requestID),
	)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(graphQLErrors{Errors: []graphQLError{{Message: msg, Extensions: ext}}}) // plain strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may be gone; nothing to do then
}
