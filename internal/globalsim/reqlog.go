package globalsim

import (
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// maxLoggedBody is how much of a request body the request log keeps.
const maxLoggedBody = 64 << 10

// unmatchedRoute is the route a logged request is counted under when no
// route of its origin matches it, so a client calling a wrong path shows up
// in the counts instead of vanishing.
const unmatchedRoute = "unmatched"

// redactedHeaders are never logged: credentials do not belong in a log that
// testers read and paste into bug reports.
func redactedHeaders() []string { return []string{"Authorization", "Proxy-Authorization", "Cookie"} }

// loggedRequest is one request an origin received, as GET /admin/requests
// shows it. Seq numbers requests from 1 and is never reused, not even after a
// clear, so a tester can tell two snapshots of the log apart.
type loggedRequest struct {
	Seq           int64       `json:"seq"`
	At            time.Time   `json:"at"`
	Origin        Origin      `json:"origin"`
	Route         string      `json:"route"`
	Method        string      `json:"method"`
	Path          string      `json:"path"`
	Query         url.Values  `json:"query"`
	Headers       http.Header `json:"headers"`
	Body          string      `json:"body"`
	BodyTruncated bool        `json:"body_truncated"`
}

// requestLogView is the body of GET /admin/requests. Counts are per route
// since the last clear and are not bounded by Capacity; Requests holds the
// last Capacity requests, oldest first, and Dropped says how many older ones
// were let go.
type requestLogView struct {
	Capacity int              `json:"capacity"`
	Total    int64            `json:"total"`
	Dropped  int64            `json:"dropped"`
	Counts   map[string]int64 `json:"counts"`
	Requests []loggedRequest  `json:"requests"`
}

// requestLog records what the origins received, keeping the last entries
// of a fixed capacity and a count per route.
type requestLog struct {
	mu      sync.Mutex
	entries *ring[loggedRequest]
	counts  map[string]int64
	total   int64
}

func newRequestLog(capacity int) *requestLog {
	return &requestLog{entries: newRing[loggedRequest](capacity), counts: map[string]int64{}}
}

func (l *requestLog) add(at time.Time, o Origin, route string, r *http.Request, body []byte) {
	headers := r.Header.Clone()
	for _, h := range redactedHeaders() {
		headers.Del(h)
	}
	if route == "" {
		route = unmatchedRoute
	}
	e := loggedRequest{
		At: at, Origin: o, Route: route, Method: r.Method, Path: r.URL.Path,
		Query: r.URL.Query(), Headers: headers,
		Body: string(body[:min(len(body), maxLoggedBody)]), BodyTruncated: len(body) > maxLoggedBody,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.entries.next + 1
	l.entries.push(e)
	l.counts[route]++
	l.total++
}

func (l *requestLog) view() requestLogView {
	l.mu.Lock()
	defer l.mu.Unlock()
	return requestLogView{
		Capacity: l.entries.size,
		Total:    l.total,
		Dropped:  l.total - int64(l.entries.count),
		Counts:   maps.Clone(l.counts),
		Requests: l.entries.slice(l.entries.oldest(), l.entries.size),
	}
}

func (l *requestLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries.reset()
	l.counts = map[string]int64{}
	l.total = 0
}

func (s *Sim) handleGetRequests(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.reqlog.view())
}

func (s *Sim) handleClearRequests(w http.ResponseWriter, _ *http.Request) {
	s.reqlog.clear()
	w.WriteHeader(http.StatusNoContent)
}
