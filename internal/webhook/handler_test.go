package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(h http.Handler, method string, header http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/hooks/changes", bytes.NewReader(body))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerStatuses(t *testing.T) {
	body := []byte(`{"changes":[{"kind":"product","sku":"MRD-1"}]}`)
	good := signedHeader(secretA, epoch, body)
	const maxBody = 256
	large := bytes.Repeat([]byte("x"), maxBody+1)
	atLimit := bytes.Repeat([]byte("x"), maxBody)

	tests := []struct {
		name       string
		method     string
		header     http.Header
		body       []byte
		next       error
		chunked    bool // no Content-Length, so the limit is found while reading
		wantStatus int
		wantCode   string
		wantNext   bool
	}{
		{name: "accepted", header: good, body: body, wantStatus: 202, wantNext: true},
		{name: "body at the limit", header: signedHeader(secretA, epoch, atLimit), body: atLimit, wantStatus: 202, wantNext: true},
		{name: "GET", method: http.MethodGet, header: good, body: nil, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "PUT", method: http.MethodPut, header: good, body: body, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "too large by Content-Length", header: signedHeader(secretA, epoch, large), body: large, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "too large while reading", header: signedHeader(secretA, epoch, large), body: large, chunked: true, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "no signature", header: http.Header{}, body: body, wantStatus: 401, wantCode: "missing_signature"},
		{name: "malformed signature", header: http.Header{HeaderTimestamp: {"1767225600"}, HeaderSignature: {"sha256=abc"}}, body: body, wantStatus: 401, wantCode: "malformed_signature"},
		{name: "wrong secret", header: signedHeader(secretB, epoch, body), body: body, wantStatus: 401, wantCode: "bad_signature"},
		{name: "tampered body", header: good, body: append([]byte(" "), body...), wantStatus: 401, wantCode: "bad_signature"},
		{name: "expired", header: signedHeader(secretA, epoch.Add(-time.Hour), body), body: body, wantStatus: 401, wantCode: "expired"},
		{name: "bad payload", header: good, body: body, next: fmt.Errorf("%w: unknown change kind %q", ErrBadPayload, "galaxy"), wantStatus: 400, wantCode: "bad_payload", wantNext: true},
		{name: "processing failed", header: good, body: body, next: errors.New("sync: database is locked"), wantStatus: 503, wantCode: "unavailable", wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := Handler(newTestVerifier(t, secretA), maxBody, func(ctx context.Context, got []byte) error {
				called = true
				if !bytes.Equal(got, tt.body) {
					t.Errorf("next got body %q, want %q", got, tt.body)
				}
				return tt.next
			})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/hooks/changes", bytes.NewReader(tt.body))
			if tt.chunked {
				req.Body = io.NopCloser(bytes.NewReader(tt.body))
				req.ContentLength = -1
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if called != tt.wantNext {
				t.Errorf("next called = %v, want %v", called, tt.wantNext)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			if tt.wantStatus == 202 {
				if got := strings.TrimSpace(rec.Body.String()); got != `{"accepted":true}` {
					t.Errorf("body = %s, want {\"accepted\":true}", got)
				}
				return
			}
			var eb struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Fatalf("error body %s: %v", rec.Body, err)
			}
			if eb.Error.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", eb.Error.Code, tt.wantCode)
			}
			if eb.Error.Message == "" {
				t.Error("error message is empty")
			}
			assertNoSecrets(t, rec.Body.String(), tt.header, tt.body)
			if tt.wantStatus == 405 && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
			}
			if tt.wantStatus == 503 {
				if rec.Header().Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				if strings.Contains(eb.Error.Message, "database is locked") {
					t.Errorf("503 message %q leaks the internal error", eb.Error.Message)
				}
			}
			if tt.wantCode == "bad_payload" && !strings.Contains(eb.Error.Message, "galaxy") {
				t.Errorf("bad payload message %q does not say what was wrong", eb.Error.Message)
			}
		})
	}
}

func TestHandlerRefusesReplayWith409(t *testing.T) {
	calls := 0
	h := Handler(newTestVerifier(t, secretA), 1024, func(context.Context, []byte) error {
		calls++
		return nil
	})
	body := []byte(`{"changes":[]}`)
	header := signedHeader(secretA, epoch, body)
	if rec := serve(h, http.MethodPost, header, body); rec.Code != http.StatusAccepted {
		t.Fatalf("first delivery = %d, want 202", rec.Code)
	}
	rec := serve(h, http.MethodPost, header, body)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"replayed"`) {
		t.Fatalf("replay = %d %s, want 409 replayed", rec.Code, rec.Body)
	}
	if calls != 1 {
		t.Errorf("next called %d times, want 1", calls)
	}
}

func TestHandlerPanicsOnBadWiring(t *testing.T) {
	v := newTestVerifier(t, secretA)
	next := func(context.Context, []byte) error { return nil }
	for name, build := range map[string]func(){
		"nil verifier":  func() { Handler(nil, 1, next) },
		"zero maxBody":  func() { Handler(v, 0, next) },
		"nil next func": func() { Handler(v, 1, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Handler did not panic", name)
				}
			}()
			build()
		}()
	}
}

func TestHandlerAcceptsTheSameRequestAfterAFailure(t *testing.T) {
	for name, newStore := range map[string]func(t *testing.T) ReplayStore{
		"memory": func(t *testing.T) ReplayStore {
			s, err := NewMemoryReplays(10)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis": func(t *testing.T) ReplayStore {
			client, prefix := openTestRedis(t)
			s, err := NewRedisReplays(client, prefix)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch }, Replays: newStore(t)})
			if err != nil {
				t.Fatal(err)
			}
			results := []error{errors.New("sync: origin down"), nil}
			h := Handler(v, 1024, func(context.Context, []byte) error {
				err := results[0]
				results = results[1:]
				return err
			})
			// A retry within the same second carries the same
			// signature even when signed afresh.
			body := []byte(`{"changes":[]}`)
			header := signedHeader(secretA, epoch, body)
			for i, want := range []int{503, 202, 409} {
				if rec := serve(h, http.MethodPost, header, body); rec.Code != want {
					t.Fatalf("delivery %d = %d %s, want %d", i+1, rec.Code, rec.Body, want)
				}
			}
		})
	}
}

func TestHandlerKeepsTheRecordOfABadPayload(t *testing.T) {
	calls := 0
	h := Handler(newTestVerifier(t, secretA), 1024, func(context.Context, []byte) error {
		calls++
		return ErrBadPayload
	})
	body := []byte(`{"changes":"nope"}`)
	header := signedHeader(secretA, epoch, body)
	if rec := serve(h, http.MethodPost, header, body); rec.Code != http.StatusBadRequest {
		t.Fatalf("first delivery = %d, want 400", rec.Code)
	}
	// Sending the same bad bytes again cannot succeed; it is a replay.
	if rec := serve(h, http.MethodPost, header, body); rec.Code != http.StatusConflict {
		t.Fatalf("second delivery = %d, want 409", rec.Code)
	}
	if calls != 1 {
		t.Errorf("next called %d times, want 1", calls)
	}
}
