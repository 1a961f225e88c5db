package session

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// recorder records a handler's response.
func recorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// httptestRequest is a server-side request with a background context.
func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// flag is a switch shared with a transport.
type flag struct{ v atomic.Bool }

func (f *flag) set(v bool) { f.v.Store(v) }

// failingTransport fails every request while down is set.
type failingTransport struct {
	down *flag
	base http.RoundTripper
}

func (t failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.down.v.Load() {
		return nil, errors.New("connection refused (test)")
	}
	return t.base.RoundTrip(r)
}
