// Package session signs browsers in to Meridian and keeps them signed in,
// without ever handing them a token: the gateway is the token handler of
// the backend-for-frontend pattern. The browser holds one opaque,
// HttpOnly cookie; the identity provider's access, refresh and ID tokens
// stay on the server, encrypted at rest, and each request's Principal is
// derived from the session's access token exactly as for a bearer token.
//
// # Flow
//
//	GET  /auth/login?return_to=/path[&login_hint=SUBJECT]   Manager.Login
//	GET  /auth/callback?code=...&state=...                   Manager.Callback, at Manager.CallbackPath
//	POST /auth/logout                                        Manager.Logout
//
// Login answers 302 to the provider's authorization endpoint (OpenID
// Connect authorization code flow with PKCE S256, a state and a nonce) and
// keeps the state, nonce, PKCE verifier and return path in a sealed
// pre-login cookie for ten minutes. Callback checks the state against the
// cookie, redeems the code with the verifier, verifies the ID token (nonce
// included) and the access token, stores a new session and answers 303 to
// the return path. Logout deletes the session and clears the cookie.
// return_to accepts same-site relative paths only, so sign-in cannot be
// turned into an open redirect.
//
// Manager.PrincipalFromRequest implements auth.SessionResolver: give the
// Manager to auth.Middleware with auth.WithSessionResolver. It refreshes
// the access token when it expires within Config.RefreshBefore, once per
// session however many requests arrive together, and stores the rotated
// refresh token. A refresh the provider refuses ends the session; an
// unreachable provider does not, and the current token serves until it
// expires.
//
// Wrap every state-changing endpoint that honours the cookie (the GraphQL
// endpoint) in Manager.CSRFGuard; Logout applies the same rule itself.
//
// # Cookies
//
// The session cookie (Config.CookieName, "meridian_session" by default)
// holds 32 random bytes in unpadded base64url and nothing else. It is
// HttpOnly (scripts cannot read it), SameSite=Lax (other sites' subrequests
// and forms do not carry it; top-level links do), Path=/, Max-Age =
// MaxSessionAge, and Secure unless the gateway runs on plain http on a
// loopback host for development. The pre-login cookie is named after it
// with "_login" appended and the __Host- prefix when Secure
// ("__Host-meridian_session_login"), has the same attributes and lives ten
// minutes.
//
// # Lifetimes
//
// A session ends after SessionTTL (12h) without use, and in any case
// MaxSessionAge (7 days) after sign-in: an idle timeout for a shared or
// forgotten computer, and a weekly sign-in so that a stolen cookie does not
// last for ever. The provider's refresh tokens must outlive SessionTTL
// (the demo's live 24h), or an idle session ends at its next refresh.
//
// # Storage
//
// A Store (SQLStore on PostgreSQL or SQLite, RedisStore) keeps each
// session under the SHA-256 of its id, so a copy of the store holds no
// cookie that could be replayed. The value is a JSON record (subject,
// access token and its expiry, refresh token, ID token, sign-in and last
// renewal times) sealed with AES-256-GCM:
//
//	0x01 | key id (8 bytes) | nonce (12 bytes) | ciphertext and tag
//
// The key id is a fingerprint of the configured key that sealed it, so
// values sealed before a key rotation still open (Config.EncryptionKeys:
// the first key seals, the others only open). The AES key is derived with
// HKDF-SHA256 from the configured key and the session id, and the
// associated data is the header followed by the session id: a value opens
// only under its own session, and the store's contents and the keys
// together still open nothing without the ids, which only the browsers
// hold. The pre-login cookie is sealed the same way, bound to its cookie
// name instead of a session id.
//
// # Limits
//
// Refreshes are collapsed per process. Two replicas refreshing the same
// session at the same instant would both present its refresh token; the
// provider's reuse detection then revokes the sign-in and the user signs
// in again. Each replica reads the session again just before refreshing,
// which narrows that window to the length of one call to the token
// endpoint. Logout does not revoke the refresh token at the provider, which
// the demo provider cannot do; it expires there unused. Logging out of the
// provider itself (RP-initiated logout) is not offered.
//
// Nothing in this package logs a token, a code, a PKCE verifier or a
// session id; log lines name a session by a prefix of its store key and
// the user by the pseudonymous subject.
package session
