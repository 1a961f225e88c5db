package respcache

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"meridian/internal/audit"
	"meridian/internal/cachecontrol"
	"meridian/internal/degraded"
)

// Bounds on what one response may be tagged with. An entry that cannot be
// indexed completely is not stored: a purge must find every entry that
// shows the entity it names.
const (
	maxTags   = 1024
	maxTagLen = 256
)

// collector is one execution's report to the cache: what the operation was,
// its policy, whether it was degraded, and the entities it showed. The
// middleware puts it in the request context; Observe and resolvers fill it.
type collector struct {
	mu       sync.Mutex
	tags     map[string]struct{}
	observed int // responses seen by Observe; more than one is incremental delivery
	hasOp    bool
	op       ast.Operation
	policy   cachecontrol.Result
	degraded bool
	noStore  bool // a resolver asked, or a tag could not be indexed
	personal bool // personal data was read: for one person only
}

type collectorKey struct{}

func withCollector(ctx context.Context, c *collector) context.Context {
	return context.WithValue(ctx, collectorKey{}, c)
}

func collectorFrom(ctx context.Context) *collector {
	c, _ := ctx.Value(collectorKey{}).(*collector)
	return c
}

// Tag records that the response being computed shows the entities named by
// tags, such as "product:prod-0001" or "content:about-us", so that
// Purge(ctx, "product:prod-0001") removes it once that product changes.
// Resolvers call it for every entity they return, lists included; repeated
// tags are recorded once.
//
// Outside a request the cache sees (no collector in ctx) it does nothing,
// so resolvers never need to check. An empty tag, one longer than 256
// bytes, or more than 1024 distinct tags in one response make the response
// unstorable (it is still answered): an entry that a purge could miss must
// not be kept.
func Tag(ctx context.Context, tags ...string) {
	c := collectorFrom(ctx)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags == nil {
		c.tags = make(map[string]struct{}, len(tags))
	}
	for _, t := range tags {
		if t == "" || len(t) > maxTagLen {
			c.noStore = true
			continue
		}
		c.tags[t] = struct{}{}
	}
	if len(c.tags) > maxTags {
		c.noStore = true
	}
}

// NoStore keeps the response being computed out of the cache, whatever its
// policy: the run-time counterpart of a static maxAge of 0, for a value
// that must not be reused even though its field is cacheable in general
// (inventory read with consistency LIVE). Requests waiting for the same
// execution still receive its response, since they asked at the same
// moment. Outside a request the cache sees it does nothing.
func NoStore(ctx context.Context) {
	if c := collectorFrom(ctx); c != nil {
		c.mu.Lock()
		c.noStore = true
		c.mu.Unlock()
	}
}

// Observe returns the gqlgen response middleware that tells the cache what
// the operation of a response was: its type, its cache policy (computed by
// policies from the parsed document, once per document), whether it was
// degraded (extensions.degraded, or the request's degraded report, so the
// order of response middlewares does not matter), and whether it read
// personal data (entries in the request's audit recorder), which keeps it
// out of the cache whatever its policy. Register it with AroundResponses on
// the server the cached handler runs.
//
// Without Observe nothing is ever stored: a response the cache knows
// nothing about is passed through. Responses of requests the cache does not
// handle are untouched. Observe panics on a nil Analyzer, a wiring mistake
// caught at start-up.
func Observe(policies *cachecontrol.Analyzer) graphql.ResponseMiddleware {
	if policies == nil {
		panic("respcache: Observe needs a cachecontrol.Analyzer")
	}
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		c := collectorFrom(ctx)
		if c == nil {
			return resp
		}
		var (
			op     *ast.OperationDefinition
			policy cachecontrol.Result
		)
		if graphql.HasOperationContext(ctx) {
			oc := graphql.GetOperationContext(ctx)
			// Operation is nil when the document did not parse or
			// validate; such responses carry errors and are never kept.
			if op = oc.Operation; op != nil {
				policy = policies.Policy(oc.RawQuery, op)
			}
		}
		isDegraded := degraded.FromContext(ctx).Fields() != nil
		if resp != nil && resp.Extensions["degraded"] != nil {
			isDegraded = true
		}
		// Personal data was read: whatever the hints say, this response
		// belongs to one person.
		personal := len(audit.RecorderFrom(ctx).Entries()) > 0
		c.mu.Lock()
		c.observed++
		if op != nil {
			c.hasOp, c.op, c.policy = true, op.Operation, policy
		}
		c.degraded = c.degraded || isDegraded
		c.personal = c.personal || personal
		c.mu.Unlock()
		return resp
	}
}

// report is a consistent copy of what the collector learned.
type report struct {
	observed int
	hasOp    bool
	op       ast.Operation
	policy   cachecontrol.Result
	degraded bool
	noStore  bool
	personal bool
	tags     []string
}

func (c *collector) report() report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := report{observed: c.observed, hasOp: c.hasOp, op: c.op, policy: c.policy,
		degraded: c.degraded, noStore: c.noStore, personal: c.personal}
	if len(c.tags) > 0 {
		r.tags = make([]string, 0, len(c.tags))
		for t := range c.tags {
			r.tags = append(r.tags, t)
		}
	}
	return r
}
