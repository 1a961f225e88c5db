// Package webhook signs and verifies the webhooks the global systems send to
// the gateway: POST /hooks/changes when catalog or content changes and,
// later, POST /hooks/orders when an order's status changes.
//
// A webhook carries two headers:
//
//	X-Meridian-Timestamp: 1767225600
//	X-Meridian-Signature: v1=<64 lowercase hex digits>
//
// The timestamp is unix seconds in decimal. The signature is "v1=" followed
// by the lowercase hex HMAC-SHA256, keyed with a secret shared by sender and
// gateway, of the timestamp header exactly as sent, a ".", and the raw body
// bytes. Signing the timestamp with the body is what makes the timestamp
// trustworthy, and the timestamp is what lets the gateway refuse a captured
// request replayed long after the fact.
//
// Senders use Sign or SignRequest. The gateway checks requests with a
// Verifier, which refuses a timestamp outside a window around its own clock
// (5 minutes by default), a signature that matches none of its secrets (more
// than one secret allows rotation without downtime), and a signature it has
// already accepted (see ReplayStore). Handler wraps a Verifier into the
// HTTP endpoint.
//
// A signature is recorded as used before the body is processed, so two
// deliveries of the same signed request racing each other are processed
// once. If processing then fails, Handler forgets the signature again (see
// Verifier.Forget): the sender may retry with the same signed bytes while
// the timestamp is within the window, which matters when a retry comes
// within the same second and so carries the same signature even when
// signed afresh. A delivery accepted earlier, or still being processed, is
// refused as a replay (409): for the sender that means "already
// delivered".
//
// No error or response from this package contains a secret or the signature
// the gateway expected.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The headers that carry a webhook's timestamp and signature.
const (
	HeaderTimestamp = "X-Meridian-Timestamp"
	HeaderSignature = "X-Meridian-Signature"
)

// signaturePrefix names the scheme: HMAC-SHA256 over "<timestamp>.<body>".
// A future scheme gets a new prefix so both can be accepted during a change.
const signaturePrefix = "v1="

// The errors Verify wraps. Each tells the sender what to fix; Handler maps
// them to HTTP statuses.
var (
	// ErrMissingSignature means X-Meridian-Timestamp or
	// X-Meridian-Signature is absent or empty (401).
	ErrMissingSignature = errors.New("webhook: missing signature")
	// ErrMalformed means a signature header is present but not in the
	// contract's format, or appears more than once (401).
	ErrMalformed = errors.New("webhook: malformed signature header")
	// ErrExpired means the signed timestamp is further from the gateway's
	// clock than the verifier's MaxAge, in the past or in the future (401).
	ErrExpired = errors.New("webhook: timestamp outside the accepted window")
	// ErrBadSignature means the signature matches none of the verifier's
	// secrets for this timestamp and body (401).
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrReplayed means this signature was already accepted within the
	// window (409).
	ErrReplayed = errors.New("webhook: signature already used")
)

// Sign returns the values of the X-Meridian-Timestamp and
// X-Meridian-Signature headers for body sent at ts with secret. ts is
// truncated to whole seconds; a ts before 1970 gives a negative timestamp,
// which every Verifier refuses. body must be exactly the bytes sent.
func Sign(secret []byte, ts time.Time, body []byte) (timestampHeader, signatureHeader string) {
	timestampHeader = strconv.FormatInt(ts.Unix(), 10)
	return timestampHeader, signaturePrefix + hex.EncodeToString(mac(secret, timestampHeader, body))
}

// SignRequest sets req's X-Meridian-Timestamp and X-Meridian-Signature
// headers for body, replacing any already there (see Sign). It does not
// touch req.Body: body must be exactly the bytes req sends. Call it once per
// delivery attempt, with the attempt's time.
func SignRequest(req *http.Request, secret []byte, ts time.Time, body []byte) {
	tsHeader, sigHeader := Sign(secret, ts, body)
	req.Header.Set(HeaderTimestamp, tsHeader)
	req.Header.Set(HeaderSignature, sigHeader)
}

func mac(secret []byte, timestampHeader string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestampHeader))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Limits on a VerifierConfig.
const (
	// DefaultMaxAge is the window used when VerifierConfig.MaxAge is zero:
	// long enough for a retry queue and modest clock skew, short enough
	// that a captured request is soon useless.
	DefaultMaxAge = 5 * time.Minute
	// MaxMaxAge is the longest window accepted. Every accepted signature
	// is remembered for twice the window, so a very long one would make the
	// replay store hold days of traffic.
	MaxMaxAge = 24 * time.Hour
	// MinSecretLen is the shortest secret accepted, in bytes. A short
	// secret can be found by brute force from a single captured request.
	MinSecretLen = 16
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Secrets are the shared secrets a signature may be made with,
	// current first; at least one, each at least MinSecretLen bytes. During
	// a rotation list the new and the old secret, move senders to the new
	// one, then drop the old one. The Verifier keeps its own copy.
	Secrets [][]byte
	// MaxAge is how far the signed timestamp may be from the gateway's
	// clock, in either direction; zero means DefaultMaxAge. Negative or
	// longer than MaxMaxAge is refused.
	MaxAge time.Duration
	// Now is the clock the window is measured on; nil means time.Now.
	Now func() time.Time
	// Replays remembers accepted signatures; required. Use a
	// NewRedisReplays store when several gateway replicas receive
	// webhooks, so a request accepted by one is refused by the others, and
	// NewMemoryReplays when a single process does.
	Replays ReplayStore
}

// Verifier checks signed webhooks. Use NewVerifier. It is safe for
// concurrent use.
type Verifier struct {
	secrets [][]byte
	maxAge  time.Duration
	now     func() time.Time
	replays ReplayStore
}

// NewVerifier returns a Verifier for cfg, or an error naming what is wrong
// with cfg (never a secret's value).
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("webhook: verifier needs at least one secret")
	}
	secrets := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("webhook: secret %d is %d bytes, want at least %d", i, len(s), MinSecretLen)
		}
		secrets[i] = append([]byte(nil), s...)
	}
	maxAge := cfg.MaxAge
	switch {
	case maxAge == 0:
		maxAge = DefaultMaxAge
	case maxAge < 0:
		return nil, fmt.Errorf("webhook: negative MaxAge %s", maxAge)
	case maxAge > MaxMaxAge:
		return nil, fmt.Errorf("webhook: MaxAge %s is longer than the %s allowed", maxAge, MaxMaxAge)
	}
	if cfg.Replays == nil {
		return nil, errors.New("webhook: verifier needs a replay store")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{secrets: secrets, maxAge: maxAge, now: now, replays: cfg.Replays}, nil
}

// verifyError is a refusal: one of the sentinels plus a detail for the
// sender. The detail never contains a secret, the expected signature or
// the received header values.
type verifyError struct {
	kind   error
	detail string
}

func (e *verifyError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *verifyError) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &verifyError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// maxTimestampDigits bounds the timestamp header: int64 has 19 digits.
const maxTimestampDigits = 19

// Verify checks the webhook made of header (as in http.Request.Header, with
// canonical keys) and body, and returns nil if it is to be processed.
//
// The checks run in this order, and the first failure is returned wrapping
// its sentinel: both headers present and non-empty (ErrMissingSignature),
// each present once and well formed — the timestamp only decimal digits,
// the signature "v1=" and 64 lowercase hex digits (ErrMalformed); the
// signature matches one of the secrets, compared in constant time
// (ErrBadSignature); the timestamp is within MaxAge of the clock
// (ErrExpired); the signature was not accepted before (ErrReplayed).
//
// The signature is checked before the window so that a sender with a wrong
// secret is told so whatever its clock says, and before the replay store so
// that only requests made with a secret can take room in it.
//
// A signature that passes every other check is recorded in the replay store
// for twice MaxAge — as long as its timestamp could be accepted by any
// replica whose clock is within MaxAge of this one — before Verify returns
// nil. If the store cannot answer, Verify refuses the request with an error
// wrapping the store's, which wraps none of the sentinels: the sender
// should retry later.
func (v *Verifier) Verify(ctx context.Context, header http.Header, body []byte) error {
	tsValues := header.Values(HeaderTimestamp)
	sigValues := header.Values(HeaderSignature)
	switch {
	case len(tsValues) == 0 || tsValues[0] == "":
		return refuse(ErrMissingSignature, "no %s header", HeaderTimestamp)
	case len(sigValues) == 0 || sigValues[0] == "":
		return refuse(ErrMissingSignature, "no %s header", HeaderSignature)
	case len(tsValues) > 1:
		return refuse(ErrMalformed, "%s appears %d times, want once", HeaderTimestamp, len(tsValues))
	case len(sigValues) > 1:
		return refuse(ErrMalformed, "%s appears %d times, want once", HeaderSignature, len(sigValues))
	}
	tsHeader := tsValues[0]
	ts, ok := parseTimestamp(tsHeader)
	if !ok {
		return refuse(ErrMalformed, "%s: want unix seconds as decimal digits", HeaderTimestamp)
	}
	sig, ok := parseSignature(sigValues[0])
	if !ok {
		return refuse(ErrMalformed, "%s: want v1= followed by 64 lowercase hex digits", HeaderSignature)
	}

	matched := false
	for _, secret := range v.secrets {
		// The MAC is over the header as received, not a re-formatted
		// number, so no other spelling of the same time verifies.
		if hmac.Equal(mac(secret, tsHeader, body), sig) {
			matched = true
			break
		}
	}
	if !matched {
		return refuse(ErrBadSignature, "check the shared secret, and that the signature covers %s, a dot and the body byte for byte", HeaderTimestamp)
	}

	// Sub saturates instead of overflowing, so absurd timestamps land
	// outside the window rather than wrapping into it.
	age := v.now().Sub(time.Unix(ts, 0))
	switch {
	case age > v.maxAge:
		return refuse(ErrExpired, "timestamp is %s old, more than the %s allowed; sign each delivery attempt with the current time and check the sender's clock", age.Truncate(time.Second), v.maxAge)
	case age < -v.maxAge:
		return refuse(ErrExpired, "timestamp is %s in the future, more than the %s allowed; check the sender's clock", (-age).Truncate(time.Second), v.maxAge)
	}

	seen, err := v.replays.Seen(ctx, hex.EncodeToString(sig), 2*v.maxAge)
	if err != nil {
		return fmt.Errorf("webhook: replay check: %w", err)
	}
	if seen {
		return refuse(ErrReplayed, "this signed request was already accepted, or is being processed")
	}
	return nil
}

// Forget undoes the replay record Verify made for the request with this
// header, for a caller whose processing of that request failed, so that the
// sender's retry of the same signed bytes is accepted rather than refused
// as a replay. Call it only after Verify returned nil for header. A replay
// store that does not implement ReplayForgetter makes it a no-op, and a
// header without a well-formed signature is ignored. An error means the
// record stays: the retry will be refused as a replay until it expires.
func (v *Verifier) Forget(ctx context.Context, header http.Header) error {
	f, ok := v.replays.(ReplayForgetter)
	if !ok {
		return nil
	}
	sig, ok := parseSignature(header.Get(HeaderSignature))
	if !ok {
		return nil
	}
	if err := f.Forget(ctx, hex.EncodeToString(sig)); err != nil {
		return fmt.Errorf("webhook: forget replay record: %w", err)
	}
	return nil
}

func parseTimestamp(s string) (int64, bool) {
	if len(s) > maxTimestampDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			// Also refuses the "+" and "-" that ParseInt would take.
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	return ts, err == nil
}

func parseSignature(s string) ([]byte, bool) {
	if len(s) != len(signaturePrefix)+2*sha256.Size || s[:len(signaturePrefix)] != signaturePrefix {
		return nil, false
	}
	h := s[len(signaturePrefix):]
	for i := 0; i < len(h); i++ {
		c := h[i]
		// Only lowercase, so each signature has one spelling and a
		// replay cannot pass as new by changing the case of its digits.
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, false
		}
	}
	sig, err := hex.DecodeString(h)
	return sig, err == nil
}
