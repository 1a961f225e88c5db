// Package degraded collects, per request, the fields that were answered
// from a fallback copy because their origin was slow or down, so the
// response can say so in extensions.degraded.
//
// A client must always be able to tell a live number from an old one: each
// such field also carries freshness { source asOf stale } itself; this
// report is the response-wide summary operators and clients can check
// without walking the data.
package degraded

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Field is one degraded field of a response.
type Field struct {
	Path   string    `json:"path"`   // e.g. search.edges.3.node.inventory
	Origin string    `json:"origin"` // e.g. masterdata
	Reason string    `json:"reason"` // timeout, error or breaker_open
	AsOf   time.Time `json:"asOf"`   // when the served copy was fetched
}

// Report is one request's list of degraded fields; safe for concurrent
// resolvers.
type Report struct {
	mu     sync.Mutex
	fields []Field
}

type reportKey struct{}

// WithReport returns a context carrying a new, empty report.
func WithReport(ctx context.Context) (context.Context, *Report) {
	r := &Report{}
	return context.WithValue(ctx, reportKey{}, r), r
}

// FromContext returns the request's report, or nil outside a request.
func FromContext(ctx context.Context) *Report {
	r, _ := ctx.Value(reportKey{}).(*Report)
	return r
}

// Add records a degraded field in ctx's report; without a report it does
// nothing, so resolvers never need to check.
func Add(ctx context.Context, f Field) {
	r := FromContext(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.fields = append(r.fields, f)
	r.mu.Unlock()
}

// Fields returns the degraded fields sorted by path; nil when none.
func (r *Report) Fields() []Field {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fields) == 0 {
		return nil
	}
	out := append([]Field(nil), r.fields...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
