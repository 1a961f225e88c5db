package session

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"meridian/internal/auth"
)

// Defaults applied to zero Config fields.
const (
	DefaultCookieName        = "meridian_session"
	DefaultSessionTTL        = 12 * time.Hour
	DefaultMaxSessionAge     = 7 * 24 * time.Hour
	DefaultRefreshBefore     = 60 * time.Second
	DefaultPostLoginRedirect = "/"
)

// defaultScopes are requested when Config.Scopes is empty: the ID token,
// and a refresh token so the session outlives one access token.
func defaultScopes() []string { return []string{"openid", "offline_access"} }

// Bounds that are not configurable.
const (
	// loginTTL is how long a sign-in may take between Login and Callback:
	// the pre-login cookie and its sealed contents expire after it.
	loginTTL = 10 * time.Minute
	// providerTimeout bounds each call to the identity provider when
	// Config.HTTPClient is nil.
	providerTimeout = 10 * time.Second
	// maxLoginHint bounds the login_hint passed through to the provider.
	maxLoginHint = 256
)

// Config configures a Manager. Issuer, ClientID, RedirectURL, Store,
// EncryptionKeys and Verifier are required.
type Config struct {
	// Issuer is the identity provider's issuer URL, exactly as its
	// discovery document states it, such as "http://127.0.0.1:9090/idp".
	Issuer string
	// ClientID is the gateway's OAuth client id at the provider
	// ("meridian-demo" in the demo).
	ClientID string
	// ClientSecret authenticates the gateway at the token endpoint
	// (client_secret_basic). Empty means a public client, which sends its
	// client_id in the form and relies on PKCE alone.
	ClientSecret string
	// RedirectURL is the absolute URL of the Callback handler as the
	// browser reaches it, such as "http://localhost:8080/auth/callback",
	// and must be registered with the provider. It must be https, except
	// on a loopback host (localhost, 127.0.0.0/8, [::1]) for development.
	RedirectURL string
	// Scopes are requested at sign-in; empty means "openid" and
	// "offline_access" (for a refresh token). They must include "openid".
	Scopes []string
	// Store keeps the sessions, sealed.
	Store Store
	// EncryptionKeys are 32-byte AES-256 keys. The first seals everything
	// new; the others only open what they sealed before. To rotate, put
	// a new key first and keep the old one second for SessionTTL: every
	// session in use is resealed with the new key at its next renewal
	// (at least every SessionTTL/12), and one unused for SessionTTL has
	// ended anyway. A leaked key is dropped at once, which signs out the
	// sessions it sealed. See ParseKeys.
	EncryptionKeys [][]byte
	// CookieName names the session cookie; empty means
	// DefaultCookieName. A name starting with "__Host-" or "__Secure-"
	// requires the cookie to be Secure; "__Host-meridian_session" is the
	// better choice on https, as it stops a sibling subdomain from
	// planting its own session cookie.
	CookieName string
	// Secure sets the Secure attribute on the cookies. It is forced on
	// whenever RedirectURL is https, and may be left off only for
	// development over plain http on a loopback host, where browsers
	// would drop a Secure cookie. (Plain http anywhere else is refused by
	// New: the cookie is a bearer credential.)
	Secure bool
	// SessionTTL is the idle timeout: a session not used for this long
	// ends. Zero means DefaultSessionTTL (12h). Use renews it, though at
	// most once per twelfth of it (hourly by default) to spare the store a
	// write per request, so an idle session ends between 11/12 of
	// SessionTTL and SessionTTL after its last request. Keep it below the
	// provider's refresh token lifetime, or idle sessions end at the next
	// refresh instead.
	SessionTTL time.Duration
	// MaxSessionAge is the absolute lifetime: however active, a session
	// ends this long after sign-in and the user signs in again. Zero
	// means DefaultMaxSessionAge (7 days). It is also the session
	// cookie's Max-Age. It must not be shorter than SessionTTL.
	MaxSessionAge time.Duration
	// RefreshBefore is how close to its expiry the session's access token
	// is refreshed. Zero means DefaultRefreshBefore (60s).
	RefreshBefore time.Duration
	// Now is the clock for every expiry the Manager judges (login state,
	// sessions, access tokens, ID tokens). Nil means time.Now.
	Now func() time.Time
	// HTTPClient makes every call to the provider (discovery, keys, token
	// endpoint). Nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives sign-ins, sign-outs, refresh failures and refused
	// callbacks, with pseudonymous subjects and never a token, code or
	// session id. Nil discards them.
	Logger *slog.Logger
	// Verifier turns a session's access token into its Principal, exactly
	// as it does for bearer tokens.
	Verifier *auth.Verifier
	// PostLoginRedirect is where Callback sends the browser when Login
	// had no return_to. Empty means "/". It must be a same-site relative
	// path, like return_to.
	PostLoginRedirect string
}

// settings are a validated Config with its defaults applied.
type settings struct {
	Config
	secure       bool
	loginCookie  string
	callbackPath string
}

func (c Config) settle() (*settings, error) {
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if len(c.Scopes) == 0 {
		c.Scopes = defaultScopes()
	}
	c.Scopes = slices.Clone(c.Scopes) // the caller's slice stays the caller's
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxSessionAge == 0 {
		c.MaxSessionAge = DefaultMaxSessionAge
	}
	if c.RefreshBefore == 0 {
		c.RefreshBefore = DefaultRefreshBefore
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: providerTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PostLoginRedirect == "" {
		c.PostLoginRedirect = DefaultPostLoginRedirect
	}

	s := &settings{Config: c}
	var errs []error
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer %q must be an absolute http or https URL", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	u, err := url.Parse(c.RedirectURL)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "":
		errs = append(errs, fmt.Errorf("redirect URL %q must be an absolute URL without credentials, query or fragment", c.RedirectURL))
	case u.Scheme == "https":
		s.secure = true
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		s.secure = c.Secure
	default:
		errs = append(errs, fmt.Errorf("redirect URL %q must be https; plain http is accepted on a loopback host only", c.RedirectURL))
	}
	if err == nil {
		s.callbackPath = u.EscapedPath()
		if s.callbackPath == "" {
			s.callbackPath = "/"
		}
	}
	if !slices.Contains(c.Scopes, "openid") {
		errs = append(errs, fmt.Errorf("scopes %v must include openid", c.Scopes))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("a verifier is required"))
	}
	if !validCookieName(c.CookieName) {
		errs = append(errs, fmt.Errorf("cookie name %q is not a valid cookie name", c.CookieName))
	}
	if hasSecurePrefix(c.CookieName) && !s.secure {
		errs = append(errs, fmt.Errorf("cookie name %q needs a Secure cookie; set Secure or use an https redirect URL", c.CookieName))
	}
	if c.SessionTTL < 0 || c.MaxSessionAge < 0 || c.RefreshBefore < 0 {
		errs = append(errs, errors.New("session TTL, maximum session age and refresh lead time must not be negative"))
	}
	if c.MaxSessionAge < c.SessionTTL {
		errs = append(errs, fmt.Errorf("maximum session age %v is shorter than the idle timeout %v", c.MaxSessionAge, c.SessionTTL))
	}
	if _, err := safeReturnPath(c.PostLoginRedirect); err != nil {
		errs = append(errs, fmt.Errorf("post-login redirect: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.loginCookie = loginCookieName(c.CookieName, s.secure)
	return s, nil
}

// loginCookieName names the pre-login cookie after the session cookie.
// When the cookies are Secure it carries the __Host- prefix, which makes
// browsers refuse it unless it is Secure, host-only and for Path=/: no
// subdomain and no plain-http page can plant or overwrite it.
func loginCookieName(session string, secure bool) string {
	base := strings.TrimPrefix(strings.TrimPrefix(session, "__Host-"), "__Secure-") + "_login"
	if secure {
		return "__Host-" + base
	}
	return base
}

func hasSecurePrefix(name string) bool {
	return strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-")
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseKeys decodes a comma-separated list of base64 keys (standard or
// URL alphabet, padded or not), as an operator writes them into one
// environment variable, current key first. Spaces around each key are
// ignored. It fails unless every key decodes to exactly 32 bytes; a key
// comes from, for example, "head -c 32 /dev/urandom | base64". Errors
// name the key's position, never its value.
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	var errs []error
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimRight(strings.TrimSpace(part), "=")
		var (
			k   []byte
			err error
		)
		if strings.ContainsAny(part, "-_") {
			k, err = base64.RawURLEncoding.DecodeString(part)
		} else {
			k, err = base64.RawStdEncoding.DecodeString(part)
		}
		switch {
		case part == "":
			errs = append(errs, fmt.Errorf("key %d is empty", i))
		case err != nil:
			errs = append(errs, fmt.Errorf("key %d is not base64", i))
		case len(k) != KeySize:
			errs = append(errs, fmt.Errorf("key %d is %d bytes, want %d", i, len(k), KeySize))
		default:
			keys = append(keys, k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("session: keys: %w", err)
	}
	return keys, nil
}
