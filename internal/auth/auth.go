// Package auth establishes who is calling: it verifies the bearer tokens
// of the global OpenID Connect identity provider and puts the caller's
// Principal in the request context.
//
// The identity provider is abroad and tokens cross the border, so they
// carry no personal data: a pseudonymous global subject id, roles and, for
// beauty consultants, a consultant id. A Principal holds exactly that.
// Names, contact details and customer-to-consultant assignments are looked
// up in the country by whoever needs them, keyed by the subject.
//
// # Verification
//
// A Verifier checks a token with github.com/coreos/go-oidc/v3, configured
// from the provider's discovery document:
//
//   - the signature, against the provider's JWKS, with an algorithm from an
//     explicit allow-list (RS256 and ES256 by default). "none" and the HMAC
//     algorithms are never accepted, so neither an unsigned token nor one
//     MAC-ed with the provider's public key as the secret gets through;
//   - iss equals the configured issuer exactly;
//   - aud contains the configured audience;
//   - exp is in the future (no leeway), and nbf, when present, is not more
//     than five minutes ahead (go-oidc's allowance for clock skew);
//   - sub is present, and roles, when present, is an array of strings.
//
// Keys are fetched when first needed and cached; a token signed with a key
// id (kid) the cache does not hold makes the Verifier fetch the JWKS again,
// so a key rotated at the provider is picked up without a restart.
// Concurrent fetches are collapsed into one.
//
// Verify does NOT check: iat, azp, jti (tokens are not tracked, so a
// stolen token is good until it expires), the typ header, scopes, whether
// the subject still exists, or revocation at the provider. It does not
// authorize anything: deciding what a Principal may see is the resolvers'
// job, with HasRole and the consultant id. An ID token whose aud names the
// configured audience is accepted like an access token, so configure the
// API audience ("meridian"), which only access tokens carry, rather than the
// client id wherever the deployment allows.
//
// # Start-up and outages
//
// NewVerifier fetches the discovery document with a bounded timeout. If
// the provider cannot be reached, the gateway keeps starting: the failure
// is logged and discovery is retried on first use, no more often than an
// exponential backoff allows (1s doubling to 1m). Until it succeeds,
// requests with a bearer token are refused as ORIGIN_UNAVAILABLE, and
// anonymous requests are served as usual. Once discovered, the document is
// not fetched again; a provider that moves its JWKS needs a restart. During
// an outage after discovery, tokens signed with a cached key keep
// verifying; tokens with a new kid are refused until the JWKS can be
// fetched.
//
// # Errors
//
// Every refusal is an *apierr.Error of kind Unauthenticated (or
// OriginUnavailable, above) whose Message is a short reason that is safe
// to show the client ("token expired", "token not issued for this API") and
// whose wrapped cause holds the detail for logs. No error and no log line
// ever contains the token itself.
package auth

import (
	"context"
	"slices"
)

// Principal is the authenticated caller: pseudonymous, by design.
type Principal struct {
	// Subject is the global subject id (the token's sub), such as
	// "cust-0001". It is opaque: never parse it.
	Subject string
	// Roles are the roles the provider granted, such as "customer" or
	// "consultant"; nil when the token carries none.
	Roles []string
	// ConsultantID is set for beauty consultants only: the id under which
	// customers are assigned to them.
	ConsultantID string
}

// HasRole reports whether p holds role r, compared exactly. A nil
// Principal (an anonymous caller) holds no role.
func (p *Principal) HasRole(r string) bool {
	return p != nil && slices.Contains(p.Roles, r)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p. A nil p marks the
// request anonymous, as if none were set.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal in ctx and true, or nil and false for
// an anonymous request.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p, p != nil
}
