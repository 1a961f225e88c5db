package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"meridian/internal/apierr"
)

// MaxTokenBytes is the longest token Verify looks at. Real access tokens
// are well under 2 KiB; anything longer is refused before it is parsed.
const MaxTokenBytes = 8 << 10

// Bounds of provider discovery.
const (
	discoveryTimeout    = 5 * time.Second  // one attempt, the border included
	discoveryBackoffMin = time.Second      // after the first failure
	discoveryBackoffMax = time.Minute      // the longest wait between attempts
	defaultHTTPTimeout  = 10 * time.Second // every call to the provider
	nbfLeeway           = 5 * time.Minute  // go-oidc's, restated to name the failure
)

// defaultAlgorithms are the signature algorithms accepted when
// VerifierConfig.Algorithms is empty.
var defaultAlgorithms = []string{string(jose.RS256), string(jose.ES256)}

// asymmetric is every algorithm VerifierConfig.Algorithms may name. The
// HMAC algorithms are missing on purpose: with them, anyone holding the
// provider's public key could mint tokens. So is "none".
var asymmetric = []string{
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.EdDSA),
}

// Client-safe reasons a token is refused. They are a contract with the
// apps, which show some of them: change them only with care.
const (
	reasonMalformed   = "malformed bearer token"
	reasonAlgorithm   = "token signing algorithm not accepted"
	reasonSignature   = "token signature not recognised"
	reasonExpired     = "token expired"
	reasonNotYetValid = "token not yet valid"
	reasonIssuer      = "token not issued by the trusted identity provider"
	reasonAudience    = "token not issued for this API"
	reasonNoSubject   = "token has no subject"
	reasonClaims      = "token claims are invalid"
	reasonUnavailable = "the identity provider cannot be reached; try again shortly"
)

// VerifierConfig configures a Verifier. Issuer and Audience are required.
type VerifierConfig struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document and its tokens state it (no trailing slash unless theirs
	// has one), such as "http://127.0.0.1:9090/idp" in the demo.
	Issuer string
	// Audience is what a token's aud must contain: the API audience
	// (OIDC_AUDIENCE, "meridian"), or the client id where the provider
	// has no API audience.
	Audience string
	// Algorithms are the accepted signature algorithms; empty means RS256
	// and ES256. Only asymmetric algorithms may be named: "none" and
	// HS256/384/512 are refused by NewVerifier.
	Algorithms []string
	// Now is the clock for expiry and the discovery backoff. Nil means
	// time.Now.
	Now func() time.Time
	// HTTPClient makes every call to the provider (discovery and JWKS).
	// Nil means a client with a 10s timeout. A client without a timeout
	// lets a silent provider hold a key fetch open for good; requests
	// waiting on it still give up with their own context.
	HTTPClient *http.Client
	// Logger receives discovery failures and recoveries and the reasons
	// tokens are refused (never the tokens). Nil discards them.
	Logger *slog.Logger
}

// Verifier verifies access tokens of one issuer for one audience. It is
// safe for concurrent use; create one per process, as it caches the
// provider's keys.
type Verifier struct {
	issuer   string
	audience string
	algs     []string
	joseAlgs []jose.SignatureAlgorithm
	now      func() time.Time
	client   *http.Client
	log      *slog.Logger

	ready atomic.Pointer[oidc.IDTokenVerifier] // set once discovery succeeds

	// discovering admits one discovery attempt at a time; holding it
	// guards failures, retryAt and lastErr.
	discovering chan struct{}
	failures    int
	retryAt     time.Time
	lastErr     error
}

// NewVerifier validates cfg and discovers the provider, waiting at most 5
// seconds. When the provider cannot be reached or answers with an error,
// NewVerifier still returns a working Verifier (and logs the failure) that
// retries discovery on first use; see the package documentation. It fails
// for an invalid cfg, when the discovery document names another issuer
// (a misconfiguration no retry fixes), or when ctx ends first.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("auth: config: %w", err)
	}
	v := &Verifier{
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		algs:        slices.Clone(cfg.Algorithms),
		now:         cfg.Now,
		client:      cfg.HTTPClient,
		log:         cfg.Logger,
		discovering: make(chan struct{}, 1),
	}
	if len(v.algs) == 0 {
		v.algs = slices.Clone(defaultAlgorithms)
	}
	for _, a := range v.algs {
		v.joseAlgs = append(v.joseAlgs, jose.SignatureAlgorithm(a))
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	err := v.discover(ctx)
	if err == nil {
		return v, nil
	}
	if mismatch := (*oidc.IssuerMismatchError)(nil); errors.As(err, &mismatch) {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("auth: discovery of %s: %w", v.issuer, err)
	}
	v.discovering <- struct{}{}
	v.recordFailure(err)
	<-v.discovering
	return v, nil
}

func (c VerifierConfig) validate() error {
	var errs []error
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer %q must be an absolute http or https URL", c.Issuer))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(asymmetric, a) {
			errs = append(errs, fmt.Errorf("algorithm %q is not accepted: name asymmetric algorithms only (%v)", a, asymmetric))
		}
	}
	return errors.Join(errs...)
}

// discover fetches the discovery document and, on success, makes the
// Verifier ready. The key set it builds lives as long as the Verifier, so
// it gets a context of its own rather than ctx.
func (v *Verifier) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.issuer)
	if err != nil {
		return err
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return fmt.Errorf("discovery document of %s names no jwks_uri", v.issuer)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.client), meta.JWKSURI)
	v.ready.Store(oidc.NewVerifier(v.issuer, tracingKeySet{keys}, &oidc.Config{
		ClientID:             v.audience,
		SupportedSigningAlgs: v.algs,
		Now:                  v.now,
	}))
	return nil
}

// recordFailure schedules the next discovery attempt. The caller holds
// v.discovering.
func (v *Verifier) recordFailure(err error) {
	v.failures++
	backoff := discoveryBackoffMax
	if v.failures <= 6 { // 1s << 6 already exceeds the cap
		backoff = min(discoveryBackoffMin<<(v.failures-1), discoveryBackoffMax)
	}
	v.retryAt = v.now().Add(backoff)
	v.lastErr = err
	v.log.Warn("identity provider discovery failed; bearer tokens are refused until it succeeds",
		"issuer", v.issuer, "err", err, "failures", v.failures, "retry_in", backoff)
}

// oidcVerifier returns the go-oidc verifier, discovering the provider
// first if that has not succeeded yet and the backoff allows an attempt.
func (v *Verifier) oidcVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if idv := v.ready.Load(); idv != nil {
		return idv, nil
	}
	select {
	case v.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, apierr.Wrap(apierr.OriginUnavailable, ctx.Err(), reasonUnavailable)
	}
	defer func() { <-v.discovering }()
	if idv := v.ready.Load(); idv != nil {
		return idv, nil // another request discovered it while this one waited
	}
	if v.now().Before(v.retryAt) {
		return nil, apierr.Wrap(apierr.OriginUnavailable,
			fmt.Errorf("discovery failed %d times, next attempt at %s: %w", v.failures, v.retryAt.Format(time.RFC3339), v.lastErr),
			reasonUnavailable)
	}
	// The attempt outlives a caller that gives up: others are waiting on
	// its outcome, and it is bounded by discoveryTimeout anyway.
	if err := v.discover(context.WithoutCancel(ctx)); err != nil {
		v.recordFailure(err)
		return nil, apierr.Wrap(apierr.OriginUnavailable, err, reasonUnavailable)
	}
	v.log.Info("identity provider discovered", "issuer", v.issuer, "after_failures", v.failures)
	v.failures, v.lastErr = 0, nil
	return v.ready.Load(), nil
}

// Verify checks rawToken (the credential of an "Authorization: Bearer"
// header, without the scheme) and returns its Principal: signature and
// algorithm, iss, aud, exp, nbf, sub and the type of roles, as the package
// documentation details. It does NOT check iat, azp, jti, typ, scopes or
// revocation, and it authorizes nothing. Every refusal is an *apierr.Error
// of kind Unauthenticated with a client-safe reason, or OriginUnavailable
// while the provider has never been discovered; neither the error nor its
// cause contains the token. ctx bounds the wait for a key fetch or
// discovery.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Principal, error) {
	if rawToken == "" || len(rawToken) > MaxTokenBytes {
		return nil, apierr.New(apierr.Unauthenticated, reasonMalformed)
	}
	// Parse before anything else, so that garbage and forbidden
	// algorithms are named as such and never cost a call to the provider.
	jws, err := jose.ParseSignedCompact(rawToken, v.joseAlgs)
	if err != nil {
		if ua := (*jose.ErrUnexpectedSignatureAlgorithm)(nil); errors.As(err, &ua) && ua.Got != "" {
			return nil, apierr.Wrap(apierr.Unauthenticated, fmt.Errorf("alg %q is not one of %v", ua.Got, v.algs), reasonAlgorithm)
		}
		return nil, apierr.Wrap(apierr.Unauthenticated, err, reasonMalformed)
	}
	idv, err := v.oidcVerifier(ctx)
	if err != nil {
		return nil, err
	}
	trace := &sigTrace{}
	tok, err := idv.Verify(context.WithValue(ctx, sigTraceKey{}, trace), rawToken)
	if err != nil {
		return nil, v.classify(err, trace, jws.UnsafePayloadWithoutVerification())
	}
	var claims struct {
		Roles        []string `json:"roles"`
		ConsultantID string   `json:"consultant_id"`
	}
	if err := tok.Claims(&claims); err != nil {
		return nil, apierr.Wrap(apierr.Unauthenticated, err, reasonClaims)
	}
	if tok.Subject == "" {
		return nil, apierr.New(apierr.Unauthenticated, reasonNoSubject)
	}
	return &Principal{Subject: tok.Subject, Roles: claims.Roles, ConsultantID: claims.ConsultantID}, nil
}

// classify names the check a token failed. go-oidc reports most failures
// as plain text, so the reason is derived from what is known instead: the
// trace says whether the signature was checked and held, and once it held,
// the payload is the provider's own and its claims say which check failed.
func (v *Verifier) classify(err error, trace *sigTrace, payload []byte) error {
	var expired *oidc.TokenExpiredError
	switch {
	case !trace.checked:
		return apierr.Wrap(apierr.Unauthenticated, err, reasonMalformed)
	case trace.err != nil:
		return apierr.Wrap(apierr.Unauthenticated, err, reasonSignature)
	case errors.As(err, &expired):
		return apierr.Wrap(apierr.Unauthenticated, err, reasonExpired)
	}
	var c struct {
		Issuer    string   `json:"iss"`
		Audience  audience `json:"aud"`
		NotBefore *float64 `json:"nbf"`
	}
	switch {
	case json.Unmarshal(payload, &c) != nil:
		return apierr.Wrap(apierr.Unauthenticated, err, reasonClaims)
	case c.Issuer != v.issuer:
		return apierr.Wrap(apierr.Unauthenticated, err, reasonIssuer)
	case !slices.Contains(c.Audience, v.audience):
		return apierr.Wrap(apierr.Unauthenticated, err, reasonAudience)
	case c.NotBefore != nil && time.Unix(int64(*c.NotBefore), 0).After(v.now().Add(nbfLeeway)):
		return apierr.Wrap(apierr.Unauthenticated, err, reasonNotYetValid)
	default:
		return apierr.Wrap(apierr.Unauthenticated, err, reasonClaims)
	}
}

// audience is the aud claim, a string or an array of strings (RFC 7519
// §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// sigTrace records, for one Verify call, whether go-oidc reached the
// signature check and how it ended; go-oidc's own error for it is text.
type sigTrace struct {
	checked bool
	err     error
}

type sigTraceKey struct{}

// tracingKeySet is go-oidc's RemoteKeySet, observed: it fills in the
// sigTrace the calling Verify put in the context. The context go-oidc
// passes is forwarded unchanged, as the key set reads the parsed token
// from it.
type tracingKeySet struct{ keys oidc.KeySet }

func (k tracingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.keys.VerifySignature(ctx, jwt)
	if t, ok := ctx.Value(sigTraceKey{}).(*sigTrace); ok {
		t.checked, t.err = true, err
	}
	return payload, err
}
