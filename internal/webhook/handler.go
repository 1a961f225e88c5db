package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ErrBadPayload is what the function given to Handler wraps when the body
// is signed correctly but cannot be processed as sent (unknown fields, a
// missing id, an event type it does not know). Handler answers 400 and the
// error's text, so the sender learns what to fix and does not retry.
var ErrBadPayload = errors.New("webhook: bad payload")

// retryAfterSeconds is the Retry-After sent with a 503: long enough for a
// restarting dependency, short enough that changes do not wait long.
const retryAfterSeconds = 5

// forgetTimeout bounds the call that drops a failed request's replay
// record, which runs after the request's own context may have ended.
const forgetTimeout = 2 * time.Second

// Handler returns the HTTP endpoint for one kind of webhook. For each
// request it:
//
//   - answers 405 (with Allow: POST) to any method but POST;
//   - reads the body, answering 413 if it is longer than maxBody bytes;
//   - verifies it with v, answering 401 for a missing, malformed, expired or
//     wrong signature, 409 for a replay, and 503 if the replay check could
//     not be made;
//   - calls next with the request's context and the body, answering 202
//     {"accepted":true} when next returns nil, 400 with next's error text
//     when that error wraps ErrBadPayload, and 503 with a Retry-After for any
//     other error, because the sender retries: a signed change that could
//     not be processed now is worth another attempt, not a 500. Before
//     answering 503 it forgets the request's replay record (see
//     Verifier.Forget), so that the retry is accepted even if it carries
//     the same signature.
//
// Errors are JSON, {"error":{"code":"...","message":"..."}}, with codes
// method_not_allowed, payload_too_large, unreadable_body,
// missing_signature, malformed_signature, expired, bad_signature,
// replayed, bad_payload and unavailable. Messages never contain a secret or
// the expected signature; next must not put anything in a bad-payload error
// it would not show the sender. The handler logs nothing: next logs its
// own failures.
//
// next must not keep body after it returns. It may be called again with the
// same body after it failed, when the sender retries.
//
// Handler panics if v or next is nil or maxBody is not positive: those are
// wiring mistakes, caught at startup.
func Handler(v *Verifier, maxBody int64, next func(ctx context.Context, body []byte) error) http.Handler {
	if v == nil {
		panic("webhook: Handler needs a Verifier")
	}
	if maxBody <= 0 {
		panic("webhook: Handler needs a positive body limit")
	}
	if next == nil {
		panic("webhook: Handler needs a function to process webhooks")
	}
	return &handler{v: v, maxBody: maxBody, next: next}
}

type handler struct {
	v       *Verifier
	maxBody int64
	next    func(ctx context.Context, body []byte) error
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are delivered with POST")
		return
	}
	tooLarge := "body is larger than the " + strconv.FormatInt(h.maxBody, 10) + " bytes accepted"
	if r.ContentLength > h.maxBody {
		// Refused before reading anything.
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", tooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, "unreadable_body", "the request body could not be read")
		return
	}

	if err := h.v.Verify(r.Context(), r.Header, body); err != nil {
		status, code := http.StatusServiceUnavailable, "unavailable"
		message := "replay protection is unavailable; retry later"
		switch {
		case errors.Is(err, ErrMissingSignature):
			status, code = http.StatusUnauthorized, "missing_signature"
		case errors.Is(err, ErrMalformed):
			status, code = http.StatusUnauthorized, "malformed_signature"
		case errors.Is(err, ErrBadSignature):
			status, code = http.StatusUnauthorized, "bad_signature"
		case errors.Is(err, ErrExpired):
			status, code = http.StatusUnauthorized, "expired"
		case errors.Is(err, ErrReplayed):
			status, code = http.StatusConflict, "replayed"
		}
		var ve *verifyError
		if errors.As(err, &ve) {
			message = ve.detail
		}
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		}
		writeError(w, status, code, message)
		return
	}

	if err := h.next(r.Context(), body); err != nil {
		if errors.Is(err, ErrBadPayload) {
			writeError(w, http.StatusBadRequest, "bad_payload", err.Error())
			return
		}
		// The request was not processed, so its retry is no replay. The
		// sender may have hung up, which must not keep the record.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), forgetTimeout)
		_ = h.v.Forget(ctx, r.Header) // on failure the retry gets 409 until the record expires
		cancel()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the webhook could not be processed now; retry later")
		return
	}
	writeJSON(w, http.StatusAccepted, acceptedBody{Accepted: true})
}

type acceptedBody struct {
	Accepted bool `json:"accepted"`
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only this file's plain structs are written here; failing to
		// encode one is a programming error.
		panic("webhook: encode response: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the sender may be gone; nothing to do then
}
