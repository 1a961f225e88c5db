package audit

import (
	"context"
	"sort"
	"sync"
)

// Recorder collects one request's reads of personal data, so that a page
// touching many fields of many people becomes one batched Append rather
// than a write per field. Safe for concurrent resolvers.
type Recorder struct {
	mu    sync.Mutex
	reads map[readKey]map[string]bool // fields per (actor, subject, purpose)
	base  Entry                       // actor and request id shared by every entry
}

type readKey struct {
	dataSubject string
	purpose     string
}

type recorderKey struct{}

// WithRecorder returns a context carrying a new recorder for a request by
// actor (subject and role) with the given request id.
func WithRecorder(ctx context.Context, actorSubject, actorRole, requestID string) (context.Context, *Recorder) {
	r := &Recorder{
		reads: map[readKey]map[string]bool{},
		base:  Entry{ActorSubject: actorSubject, ActorRole: actorRole, RequestID: requestID},
	}
	return context.WithValue(ctx, recorderKey{}, r), r
}

// RecorderFrom returns the request's recorder, or nil outside a request.
func RecorderFrom(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Read records that field of dataSubject was read for purpose.
func (r *Recorder) Read(dataSubject, field, purpose string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := readKey{dataSubject: dataSubject, purpose: purpose}
	if r.reads[k] == nil {
		r.reads[k] = map[string]bool{}
	}
	r.reads[k][field] = true
}

// Entries returns one read entry per data subject and purpose, fields
// sorted, in a stable order; nil when nothing was read.
func (r *Recorder) Entries() []Entry {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.reads))
	for k, fields := range r.reads {
		e := r.base
		e.Action = ActionRead
		e.DataSubject = k.dataSubject
		e.Purpose = k.purpose
		for f := range fields {
			e.Fields = append(e.Fields, f)
		}
		sort.Strings(e.Fields)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DataSubject != out[j].DataSubject {
			return out[i].DataSubject < out[j].DataSubject
		}
		return out[i].Purpose < out[j].Purpose
	})
	if len(out) == 0 {
		return nil
	}
	return out
}
