package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"meridian/internal/apierr"
	"meridian/internal/auth"
)

// record is what a session holds, sealed before it reaches the store.
type record struct {
	Subject      string    `json:"sub"`
	AccessToken  string    `json:"at"`
	AccessExpiry time.Time `json:"atx"`
	RefreshToken string    `json:"rt,omitempty"`
	IDToken      string    `json:"it,omitempty"`
	// Created is the sign-in, which MaxSessionAge counts from; Touched
	// is the last renewal, which SessionTTL counts from.
	Created time.Time `json:"ct"`
	Touched time.Time `json:"tt"`
}

// expires is when the session ends unless renewed: the idle timeout after
// the last renewal, capped by the absolute lifetime.
func (rec *record) expires(s *settings) time.Time {
	idle, absolute := rec.Touched.Add(s.SessionTTL), rec.Created.Add(s.MaxSessionAge)
	if absolute.Before(idle) {
		return absolute
	}
	return idle
}

func (rec *record) needsRefresh(now time.Time, s *settings) bool {
	return rec.AccessExpiry.Sub(now) <= s.RefreshBefore
}

// needsTouch reports whether the idle timeout should be pushed back: at
// most once per twelfth of it, so a busy session costs a store write an
// hour, not one per request.
func (rec *record) needsTouch(now time.Time, s *settings) bool {
	return now.Sub(rec.Touched) >= s.SessionTTL/12
}

// load reads and opens the session of id. It returns nil, and no error, for
// a session that is not stored or that does not open: one sealed with a key
// no longer configured, or tampered with, is as good as none.
func (m *Manager) load(ctx context.Context, id sessionID) (*record, error) {
	key := id.key()
	sealed, ok, err := m.s.Store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("session: load: %w", err)
	}
	if !ok {
		return nil, nil
	}
	plain, err := m.keys.open(purposeRecord, id[:], sealed)
	if err != nil {
		m.log.Warn("stored session does not open with the configured keys; treated as signed out", logKey(key))
		return nil, nil
	}
	var rec record
	if err := json.Unmarshal(plain, &rec); err != nil || rec.Subject == "" || rec.AccessToken == "" {
		m.log.Warn("stored session is not a valid record; treated as signed out", logKey(key))
		return nil, nil
	}
	return &rec, nil
}

func (m *Manager) seal(id sessionID, rec *record) ([]byte, error) {
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return m.keys.seal(purposeRecord, id[:], plain)
}

// update rewrites a stored session, and reports false when it is gone (it
// was signed out meanwhile) rather than writing it back.
func (m *Manager) update(ctx context.Context, id sessionID, rec *record) (bool, error) {
	sealed, err := m.seal(id, rec)
	if err != nil {
		return false, err
	}
	return m.s.Store.Update(ctx, id.key(), sealed, rec.expires(m.s))
}

// end deletes a session the provider or its lifetimes have ended.
func (m *Manager) end(ctx context.Context, id sessionID, rec *record, reason string) {
	key := id.key()
	if err := m.s.Store.Delete(ctx, key); err != nil {
		m.log.Error("ended session could not be deleted; it stays unusable", logKey(key), "err", err)
	}
	m.log.Info("session ended", logKey(key), "subject", rec.Subject, "reason", reason)
}

// PrincipalFromRequest implements auth.SessionResolver: it returns the
// Principal of the session named by r's session cookie.
//
//   - No cookie, a malformed one, or one naming a session that is not
//     stored, has passed its idle or absolute lifetime, or does not open
//     with the configured keys: nil, false and a nil error, so the request
//     is served as anonymous. Nothing is cleared: the cookie is simply not
//     honoured.
//   - When the access token expires within RefreshBefore it is refreshed
//     first, once for all concurrent requests of the session in this
//     process, and the rotated refresh token is stored. If the provider
//     refuses the refresh (invalid_grant: revoked, expired, reused), the
//     session is deleted and the request is anonymous. If the provider
//     cannot be reached, the current access token is used while it is
//     still valid; after that the request is refused with an
//     *apierr.Error of kind OriginUnavailable.
//   - The access token is then verified by Config.Verifier, whose
//     *apierr.Error (Unauthenticated, OriginUnavailable) refuses the
//     request as it would a bearer token.
//
// Store failures are returned as errors without a kind (answered as a
// masked 500). When several cookies carry the session cookie's name, the
// first one the browser sent is used.
func (m *Manager) PrincipalFromRequest(r *http.Request) (*auth.Principal, bool, error) {
	c, err := r.Cookie(m.s.CookieName)
	if err != nil {
		return nil, false, nil
	}
	id, ok := parseSessionID(c.Value)
	if !ok {
		return nil, false, nil
	}
	ctx := r.Context()
	rec, err := m.load(ctx, id)
	if err != nil || rec == nil {
		return nil, false, err
	}
	now := m.now()
	if !now.Before(rec.expires(m.s)) {
		return nil, false, nil
	}
	if rec.needsRefresh(now, m.s) || rec.needsTouch(now, m.s) {
		if rec, err = m.renew(ctx, id); err != nil || rec == nil {
			return nil, false, err
		}
	}
	p, err := m.s.Verifier.Verify(ctx, rec.AccessToken)
	if err != nil {
		return nil, false, err
	}
	if p.Subject != rec.Subject {
		// The provider issued a token for someone else into this
		// session: nothing to trust in it.
		return nil, false, apierr.New(apierr.Unauthenticated, "session does not match its token; sign in again")
	}
	return p, true, nil
}

// renew refreshes or touches a session, once for every concurrent caller.
// The shared attempt runs detached from any one caller's context, bounded
// by renewTimeout; a caller that gives up stops waiting for it.
func (m *Manager) renew(ctx context.Context, id sessionID) (*record, error) {
	ch := m.flights.DoChan(id.key(), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewTimeout)
		defer cancel()
		return m.renewNow(rctx, id)
	})
	select {
	case res := <-ch:
		rec, _ := res.Val.(*record)
		if res.Err != nil || rec == nil {
			return nil, res.Err
		}
		copied := *rec // shared between the callers: hand out copies
		return &copied, nil
	case <-ctx.Done():
		return nil, apierr.Wrap(apierr.Timeout, ctx.Err(), "request ended while the session was being renewed")
	}
}

// renewNow reads the session again before renewing it: a renewal that
// finished just before this one started (in this process or another
// replica) has already rotated the refresh token, and presenting the old one
// would make the provider revoke the whole sign-in.
func (m *Manager) renewNow(ctx context.Context, id sessionID) (*record, error) {
	rec, err := m.load(ctx, id)
	if err != nil || rec == nil {
		return nil, err
	}
	now := m.now()
	switch {
	case !now.Before(rec.expires(m.s)):
		return nil, nil
	case rec.needsRefresh(now, m.s):
		return m.refresh(ctx, id, rec, now)
	case rec.needsTouch(now, m.s):
		next := *rec
		next.Touched = now
		ok, err := m.update(ctx, id, &next)
		switch {
		case err != nil:
			// Only the idle timeout is not pushed back; the
			// session itself is fine.
			m.log.Warn("session could not be renewed in the store", logKey(id.key()), "err", err)
			return rec, nil
		case !ok:
			return nil, nil // signed out meanwhile
		}
		return &next, nil
	}
	return rec, nil
}

// refresh redeems the session's refresh token for new tokens and stores
// them.
func (m *Manager) refresh(ctx context.Context, id sessionID, rec *record, now time.Time) (*record, error) {
	key := id.key()
	if rec.RefreshToken == "" {
		if now.Before(rec.AccessExpiry) {
			return rec, nil // no way to renew: serve until it expires
		}
		m.end(ctx, id, rec, "access token expired and the provider issued no refresh token")
		return nil, nil
	}
	if m.refreshPaused(now) {
		return m.keepOrFail(id, rec, now, errors.New("refreshes are paused after a token endpoint failure"))
	}
	p, err := m.provider(ctx)
	if err != nil {
		return m.keepOrFail(id, rec, now, err)
	}
	tok, err := p.oauth.TokenSource(m.clientContext(ctx), &oauth2.Token{RefreshToken: rec.RefreshToken}).Token()
	if err != nil {
		if !grantRefused(err) {
			m.pauseRefreshes(now)
			return m.keepOrFail(id, rec, now, err)
		}
		// Another replica may have won a race to rotate the token; its
		// result is then in the store, with a new refresh token.
		if cur, lerr := m.load(ctx, id); lerr == nil && cur != nil && cur.RefreshToken != rec.RefreshToken {
			return cur, nil
		}
		m.end(ctx, id, rec, "the identity provider refused the refresh token")
		return nil, nil
	}
	next := *rec
	next.AccessToken = tok.AccessToken
	next.AccessExpiry = accessExpiry(tok, now)
	next.Touched = now
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		// OpenID Connect Core §12.2: a refreshed ID token is for the
		// same subject. The old refresh token is spent by now, so a
		// session that fails this check cannot be kept either.
		idt, err := p.ids.Verify(ctx, raw)
		if err != nil || idt.Subject != rec.Subject {
			m.log.Warn("refreshed ID token refused", logKey(key), "subject", rec.Subject, "err", err)
			m.end(ctx, id, rec, "the refreshed ID token was refused")
			return nil, nil
		}
		next.IDToken = raw
	}
	ok, err := m.update(ctx, id, &next)
	switch {
	case err != nil:
		// This request can still be served; the next refresh will
		// present the spent token and end the session.
		m.log.Error("refreshed tokens could not be stored; the session will end at its next refresh", logKey(key), "err", err)
	case !ok:
		return nil, nil // signed out while refreshing
	default:
		m.log.Debug("session tokens refreshed", logKey(key), "subject", rec.Subject)
	}
	return &next, nil
}

// keepOrFail decides for a refresh that could not happen: the current
// access token serves while it is valid; after that the request is refused,
// without ending the session, as the provider may be back shortly.
func (m *Manager) keepOrFail(id sessionID, rec *record, now time.Time, cause error) (*record, error) {
	if now.Before(rec.AccessExpiry) {
		m.log.Warn("session tokens could not be refreshed; the current access token is used until it expires",
			logKey(id.key()), "subject", rec.Subject, "err", cause)
		return rec, nil
	}
	return nil, apierr.Wrap(apierr.OriginUnavailable, cause, reasonUnavailable)
}

func (m *Manager) refreshPaused(now time.Time) bool {
	m.pauseMu.Lock()
	defer m.pauseMu.Unlock()
	return now.Before(m.pausedUntil)
}

func (m *Manager) pauseRefreshes(now time.Time) {
	m.pauseMu.Lock()
	defer m.pauseMu.Unlock()
	m.pausedUntil = now.Add(refreshPause)
}

// grantRefused reports whether the token endpoint refused the grant itself
// (RFC 6749 §5.2 invalid_grant): the refresh token is revoked, expired or
// was used twice, and retrying cannot help.
func grantRefused(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// fallbackAccessLifetime is assumed for an access token whose lifetime the
// provider states nowhere.
const fallbackAccessLifetime = 5 * time.Minute

// accessExpiry is when tok's access token expires, on the Manager's clock.
// oauth2 computes Token.Expiry from the wall clock, so expires_in is used
// instead; without it, the token's own exp claim (read, not trusted: the
// Verifier checks it on every use) tells when to refresh.
func accessExpiry(tok *oauth2.Token, now time.Time) time.Time {
	if tok.ExpiresIn > 0 {
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			var c struct {
				Exp int64 `json:"exp"`
			}
			if json.Unmarshal(payload, &c) == nil && c.Exp > 0 {
				return time.Unix(c.Exp, 0)
			}
		}
	}
	return now.Add(fallbackAccessLifetime)
}
