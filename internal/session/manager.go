package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"meridian/internal/apierr"
	"meridian/internal/auth"
)

// Bounds of provider discovery, as in package auth: a provider that cannot
// be reached at start-up does not stop the gateway.
const (
	discoveryTimeout    = 5 * time.Second
	discoveryBackoffMin = time.Second
	discoveryBackoffMax = time.Minute
)

// Bounds of token refreshes.
const (
	// renewTimeout bounds one renewal (store reads and writes and the
	// call to the token endpoint). It is not tied to the request that
	// started it, as other requests share its outcome.
	renewTimeout = 15 * time.Second
	// refreshPause is how long refreshes are not attempted after the
	// token endpoint failed for a reason other than refusing the grant,
	// so an outage costs each request one fast answer instead of a
	// timeout.
	refreshPause = 5 * time.Second
)

// reasonUnavailable is the client-safe message of every refusal caused by
// an unreachable provider.
const reasonUnavailable = "the identity provider cannot be reached; try again shortly"

// Manager signs browsers in and out and resolves their sessions. It is safe
// for concurrent use; create one per process and share it between the
// handlers, the auth middleware (as its SessionResolver) and CSRFGuard.
type Manager struct {
	s    *settings
	keys *keyring
	log  *slog.Logger
	now  func() time.Time

	ready atomic.Pointer[provider] // set once discovery succeeds

	// discovering admits one discovery attempt at a time; holding it
	// guards failures, retryAt and lastErr.
	discovering chan struct{}
	failures    int
	retryAt     time.Time
	lastErr     error

	// flights collapses concurrent renewals of one session, keyed by its
	// store key, into one.
	flights singleflight.Group

	pauseMu     sync.Mutex // guards pausedUntil
	pausedUntil time.Time  // no refresh attempts before this
}

var _ auth.SessionResolver = (*Manager)(nil)

// provider is what discovery yields.
type provider struct {
	oauth *oauth2.Config
	ids   *oidc.IDTokenVerifier
	// issParam is set when the provider says it names itself in every
	// authorization response (RFC 9207): a callback without iss is then
	// refused, as it cannot come from this provider.
	issParam bool
}

// New validates cfg and discovers the provider, waiting at most 5 seconds.
// When the provider cannot be reached, New still returns a working Manager
// (and logs the failure) that retries discovery on first use, no more often
// than a backoff from 1s doubling to 1m allows; until then Login answers
// 502 ORIGIN_UNAVAILABLE and sessions whose tokens need refreshing are
// refused the same way. New fails for an invalid cfg (bad URLs, keys that
// are not 32 bytes, a missing store or verifier, an http redirect URL off
// loopback), when the discovery document names another issuer, or when ctx
// ends first.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	s, err := cfg.settle()
	if err != nil {
		return nil, fmt.Errorf("session: config: %w", err)
	}
	keys, err := newKeyring(cfg.EncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("session: config: %w", err)
	}
	m := &Manager{
		s:           s,
		keys:        keys,
		log:         s.Logger,
		now:         s.Now,
		discovering: make(chan struct{}, 1),
	}
	err = m.discover(ctx)
	if err == nil {
		return m, nil
	}
	if mismatch := (*oidc.IssuerMismatchError)(nil); errors.As(err, &mismatch) {
		return nil, fmt.Errorf("session: %w", err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("session: discovery of %s: %w", s.Issuer, err)
	}
	m.discovering <- struct{}{}
	m.recordFailure(err)
	<-m.discovering
	return m, nil
}

// CallbackPath is the path of Config.RedirectURL, where Callback must be
// mounted, such as "/auth/callback".
func (m *Manager) CallbackPath() string { return m.s.callbackPath }

// clientContext carries the configured HTTP client to go-oidc and oauth2.
func (m *Manager) clientContext(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, m.s.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, m.s.HTTPClient)
}

// discover fetches the discovery document and, on success, makes the
// Manager ready. The key set lives as long as the Manager, so it gets a
// context of its own rather than ctx.
func (m *Manager) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(m.clientContext(ctx), m.s.Issuer)
	if err != nil {
		return err
	}
	var meta struct {
		JWKSURI  string `json:"jwks_uri"`
		IssParam bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return fmt.Errorf("discovery document of %s names no jwks_uri", m.s.Issuer)
	}
	endpoint := p.Endpoint()
	if endpoint.AuthURL == "" || endpoint.TokenURL == "" {
		return fmt.Errorf("discovery document of %s names no authorization or token endpoint", m.s.Issuer)
	}
	// Say how the client authenticates instead of letting oauth2 probe,
	// which would send a public client's request twice on failure.
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	if m.s.ClientSecret != "" {
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	keys := oidc.NewRemoteKeySet(m.clientContext(context.Background()), meta.JWKSURI)
	m.ready.Store(&provider{
		oauth: &oauth2.Config{
			ClientID:     m.s.ClientID,
			ClientSecret: m.s.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  m.s.RedirectURL,
			Scopes:       m.s.Scopes,
		},
		ids: oidc.NewVerifier(m.s.Issuer, keys, &oidc.Config{
			ClientID: m.s.ClientID,
			Now:      m.now,
		}),
		issParam: meta.IssParam,
	})
	return nil
}

// recordFailure schedules the next discovery attempt. The caller holds
// m.discovering.
func (m *Manager) recordFailure(err error) {
	m.failures++
	backoff := discoveryBackoffMax
	if m.failures <= 6 { // 1s << 6 already exceeds the cap
		backoff = min(discoveryBackoffMin<<(m.failures-1), discoveryBackoffMax)
	}
	m.retryAt = m.now().Add(backoff)
	m.lastErr = err
	m.log.Warn("identity provider discovery failed; web sign-in is unavailable until it succeeds",
		"issuer", m.s.Issuer, "err", err, "failures", m.failures, "retry_in", backoff)
}

// provider returns the discovered provider, discovering it first if that
// has not succeeded yet and the backoff allows an attempt. Its error is an
// *apierr.Error of kind OriginUnavailable.
func (m *Manager) provider(ctx context.Context) (*provider, error) {
	if p := m.ready.Load(); p != nil {
		return p, nil
	}
	select {
	case m.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, apierr.Wrap(apierr.OriginUnavailable, ctx.Err(), reasonUnavailable)
	}
	defer func() { <-m.discovering }()
	if p := m.ready.Load(); p != nil {
		return p, nil
	}
	if m.now().Before(m.retryAt) {
		return nil, apierr.Wrap(apierr.OriginUnavailable,
			fmt.Errorf("discovery failed %d times, next attempt at %s: %w", m.failures, m.retryAt.Format(time.RFC3339), m.lastErr),
			reasonUnavailable)
	}
	// The attempt outlives a caller that gives up: others wait on it,
	// and discoveryTimeout bounds it.
	if err := m.discover(context.WithoutCancel(ctx)); err != nil {
		m.recordFailure(err)
		return nil, apierr.Wrap(apierr.OriginUnavailable, err, reasonUnavailable)
	}
	m.log.Info("identity provider discovered", "issuer", m.s.Issuer, "after_failures", m.failures)
	m.failures, m.lastErr = 0, nil
	return m.ready.Load(), nil
}

// sessionIDLen is the number of random bytes in a session id: 256 bits, so
// ids can neither be guessed nor collide.
const sessionIDLen = 32

// sessionID is the secret a session cookie carries, decoded.
type sessionID [sessionIDLen]byte

func newSessionID() sessionID {
	var id sessionID
	rand.Read(id[:]) // crypto/rand.Read never fails; it crashes the program instead
	return id
}

// parseSessionID decodes a cookie value; ok is false for anything that is
// not 32 bytes in unpadded base64url.
func parseSessionID(v string) (sessionID, bool) {
	var id sessionID
	if base64.RawURLEncoding.EncodedLen(sessionIDLen) != len(v) {
		return id, false
	}
	n, err := base64.RawURLEncoding.Decode(id[:], []byte(v))
	return id, err == nil && n == sessionIDLen
}

// String is the cookie value.
func (id sessionID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// key is the id's store key: its SHA-256, in unpadded base64url. The store
// never sees the id itself, so a copy of the store holds no cookie that
// could be replayed. A plain hash suffices because the id is 256 random
// bits: there is nothing to guess.
func (id sessionID) key() string {
	sum := sha256.Sum256(id[:])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// logKey is a short prefix of the store key, enough to follow one session
// through the logs and useless for anything else.
func logKey(key string) slog.Attr { return slog.String("session", key[:10]) }

// randomToken returns 256 random bits, base64url, for state and nonce.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
