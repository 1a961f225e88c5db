package persisted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"meridian/internal/cache"
)

// Error codes, part of the public error contract. NotFound is Apollo's code
// and message: Apollo clients react to it by sending the query along.
const (
	// CodeNotFound: an id neither the manifest nor the APQ store knows, sent
	// without its query. Message "PersistedQueryNotFound".
	CodeNotFound = "PERSISTED_QUERY_NOT_FOUND"
	// CodeNotAllowed: persisted-only mode and the operation is not in the
	// manifest (an ad-hoc document, an unknown id, an APQ registration).
	CodeNotAllowed = "PERSISTED_QUERY_NOT_ALLOWED"
	// CodeHashMismatch: a query was sent with an id that is not its SHA-256.
	CodeHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH"
	// CodeBadRequest: extensions.persistedQuery is malformed (not an
	// object, version other than 1, a hash that is not 64 hex digits).
	CodeBadRequest = "BAD_REQUEST"
)

// notFoundMessage is what Apollo clients match on, besides the code.
const notFoundMessage = "PersistedQueryNotFound"

// Defaults of Options.
const (
	DefaultAPQPrefix = "apq:"
	DefaultAPQTTL    = 24 * time.Hour
)

// Source finds persisted operations by id; *Manifest and *Registry are
// Sources.
type Source interface {
	Lookup(id string) (Operation, bool)
}

// Options configures an Extension.
type Options struct {
	// Manifest is where trusted documents come from: a *Registry in the
	// gateway, a *Manifest in tests. Required; it may hold no operations.
	Manifest Source
	// PersistedOnly refuses every operation that is not in Manifest.
	PersistedOnly bool
	// APQ stores automatically persisted queries (Redis shared by the
	// replicas, or in-process). Required unless PersistedOnly, where APQ is
	// off and it is not used.
	APQ cache.Store
	// APQPrefix is put before the id in APQ store keys; default
	// DefaultAPQPrefix.
	APQPrefix string
	// APQTTL is how long a registered query lives without use; default
	// DefaultAPQTTL. A query used at least every APQTTL/2 never expires.
	APQTTL time.Duration
	// Log receives APQ store failures (the request then goes on as if the
	// store had missed). Required.
	Log *slog.Logger
	// Now is the clock for refreshing APQ entries; nil means time.Now.
	Now func() time.Time
}

// Extension resolves persisted queries for gqlgen: trusted documents from a
// manifest, Automatic Persisted Queries, and persisted-only mode (see the
// package documentation). Build it with NewExtension and add it with
// handler.Server.Use; it is safe for concurrent use.
//
// It reads extensions.persistedQuery ({"version": 1, "sha256Hash": hex}) as
// Apollo clients send it; the HTTP edge maps GraphQL-over-HTTP documentId
// onto it. Its errors carry the codes above and answer with HTTP 200, as
// gqlgen's own APQ errors do (the body says what happened, and Apollo
// clients read it from there).
//
// APQ registrations are stored only once the document has parsed and
// validated, so the store cannot be filled with junk: add the Extension
// after the query-limit extensions so a document they refuse is not
// stored either.
type Extension struct {
	source        Source
	persistedOnly bool
	apq           cache.Store
	prefix        string
	ttl           time.Duration
	log           *slog.Logger
	now           func() time.Time
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*Extension)(nil)

// NewExtension checks opts and returns the extension.
func NewExtension(opts Options) (*Extension, error) {
	e := &Extension{
		source:        opts.Manifest,
		persistedOnly: opts.PersistedOnly,
		apq:           opts.APQ,
		prefix:        opts.APQPrefix,
		ttl:           opts.APQTTL,
		log:           opts.Log,
		now:           opts.Now,
	}
	if e.prefix == "" {
		e.prefix = DefaultAPQPrefix
	}
	if e.ttl == 0 {
		e.ttl = DefaultAPQTTL
	}
	if e.now == nil {
		e.now = time.Now
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Extension) check() error {
	var errs []error
	if e.source == nil {
		errs = append(errs, errors.New("a manifest source is required (it may be empty)"))
	}
	if !e.persistedOnly && e.apq == nil {
		errs = append(errs, errors.New("an APQ store is required unless persisted-only"))
	}
	if e.ttl < time.Second {
		errs = append(errs, fmt.Errorf("APQ TTL must be at least 1s, got %v", e.ttl))
	}
	if e.log == nil || e.now == nil {
		errs = append(errs, errors.New("a logger is required; build the extension with NewExtension"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("persisted: %w", errors.Join(errs...))
	}
	return nil
}

// ExtensionName implements graphql.HandlerExtension.
func (e *Extension) ExtensionName() string { return "PersistedQueries" }

// Validate implements graphql.HandlerExtension: it refuses an Extension not
// built by NewExtension or with a configuration NewExtension would refuse.
func (e *Extension) Validate(graphql.ExecutableSchema) error {
	if e == nil {
		return errors.New("persisted: nil extension")
	}
	return e.check()
}

// Info is what the extension learned about the operation; FromContext
// returns it to later layers.
type Info struct {
	// ID is the operation's persisted id (lowercase hex SHA-256 of the
	// document that runs).
	ID string
	// Name and Type are the manifest's, for manifest operations; empty for
	// APQ.
	Name string
	Type OperationType
	// FromManifest is true for a trusted document, false for an APQ one.
	FromManifest bool
	// SentQuery is true when the client sent the document itself (a
	// registration, or a raw document that is a manifest operation), false
	// when it sent only the id.
	SentQuery bool
}

// statsKey names Info in the operation context's extension stats.
const statsKey = "PersistedQuery"

// FromContext returns what the extension recorded for the operation of ctx:
// ok is false outside an operation and for ad-hoc documents that are in no
// manifest.
func FromContext(ctx context.Context) (Info, bool) {
	if !graphql.HasOperationContext(ctx) {
		return Info{}, false
	}
	info, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(statsKey).(Info)
	return info, ok
}

func record(ctx context.Context, info Info) {
	if graphql.HasOperationContext(ctx) {
		graphql.GetOperationContext(ctx).Stats.SetExtension(statsKey, info)
	}
}

// MutateOperationParameters implements graphql.OperationParameterMutator:
// it runs before parsing, replacing a known id with its document or
// refusing the request.
func (e *Extension) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	id, hasID, gerr := requestedID(raw.Extensions)
	if gerr != nil {
		return gerr
	}
	if !hasID {
		return e.document(ctx, raw)
	}
	sentQuery := raw.Query != ""
	if op, ok := e.source.Lookup(id); ok {
		if sentQuery && raw.Query != op.Body && HashBody(raw.Query) != id {
			return hashMismatch()
		}
		raw.Query = op.Body
		record(ctx, Info{ID: id, Name: op.Name, Type: op.Type, FromManifest: true, SentQuery: sentQuery})
		return nil
	}
	if sentQuery && HashBody(raw.Query) != id {
		return hashMismatch()
	}
	if e.persistedOnly {
		return notAllowed("only operations of the persisted query manifest are allowed, and this id is not one of them")
	}
	if !sentQuery {
		body, ok := e.lookupAPQ(ctx, id)
		if !ok {
			return coded(notFoundMessage, CodeNotFound)
		}
		raw.Query = body
	}
	// A registration is stored by MutateOperationContext, once it validated.
	record(ctx, Info{ID: id, SentQuery: sentQuery})
	return nil
}

// document handles a request that sent a document and no id.
func (e *Extension) document(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if raw.Query == "" {
		if e.persistedOnly {
			return notAllowed("only operations of the persisted query manifest are allowed: send extensions.persistedQuery.sha256Hash")
		}
		return nil // gqlgen answers that there is no operation
	}
	id := HashBody(raw.Query)
	if op, ok := e.source.Lookup(id); ok {
		record(ctx, Info{ID: id, Name: op.Name, Type: op.Type, FromManifest: true, SentQuery: true})
		return nil
	}
	if e.persistedOnly {
		return notAllowed("only operations of the persisted query manifest are allowed, and this document is not one of them")
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator: it runs
// after the document parsed and validated, and stores an APQ registration.
// A store failure is logged and the operation still runs; the client
// registers again when the id is not found next time.
func (e *Extension) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	info, ok := opCtx.Stats.GetExtension(statsKey).(Info)
	if !ok || info.FromManifest || !info.SentQuery {
		return nil
	}
	if err := e.apq.Set(ctx, e.prefix+info.ID, []byte(opCtx.RawQuery), e.ttl); err != nil {
		e.log.WarnContext(ctx, "persisted query not stored", "id", info.ID, "err", err)
	}
	return nil
}

// lookupAPQ returns the registered document of id, refreshing its expiry
// when it is past half its life. Failures and corrupt entries count as
// misses: the client then sends the document again.
func (e *Extension) lookupAPQ(ctx context.Context, id string) (string, bool) {
	key := e.prefix + id
	entry, ok, err := e.apq.Get(ctx, key)
	if err != nil {
		e.log.WarnContext(ctx, "persisted query store unavailable; answering not found", "id", id, "err", err)
		return "", false
	}
	if !ok {
		return "", false
	}
	body := string(entry.Value)
	if HashBody(body) != id {
		// Never run a document under an id it does not hash to, whoever
		// wrote it into the shared store.
		e.log.ErrorContext(ctx, "persisted query store entry does not match its id; dropped", "id", id)
		_ = e.apq.Delete(ctx, key)
		return "", false
	}
	// Refreshing on every use would write to Redis on every request;
	// refreshing past half the TTL keeps queries used at least that often
	// alive for good at one write per half TTL.
	if e.now().Sub(entry.StoredAt) > e.ttl/2 {
		if err := e.apq.Set(ctx, key, entry.Value, e.ttl); err != nil {
			e.log.WarnContext(ctx, "persisted query expiry not refreshed", "id", id, "err", err)
		}
	}
	return body, true
}

// requestedID reads extensions.persistedQuery. hasID is false when it is
// absent or null.
func requestedID(exts map[string]any) (id string, hasID bool, gerr *gqlerror.Error) {
	rawPQ, present := exts["persistedQuery"]
	if !present || rawPQ == nil {
		return "", false, nil
	}
	pq, ok := rawPQ.(map[string]any)
	if !ok {
		return "", false, coded("extensions.persistedQuery must be an object", CodeBadRequest)
	}
	if !isVersionOne(pq["version"]) {
		return "", false, coded("extensions.persistedQuery.version must be 1", CodeBadRequest)
	}
	hash, _ := pq["sha256Hash"].(string)
	id, ok = ParseID(hash)
	if !ok {
		return "", false, coded("extensions.persistedQuery.sha256Hash must be 64 hex digits", CodeBadRequest)
	}
	return id, true, nil
}

// isVersionOne accepts the number 1 however the transport decoded it.
func isVersionOne(v any) bool {
	switch n := v.(type) {
	case json.Number:
		return n.String() == "1"
	case float64:
		return n == 1
	case int:
		return n == 1
	case int64:
		return n == 1
	default:
		return false
	}
}

func hashMismatch() *gqlerror.Error {
	return coded("extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it", CodeHashMismatch)
}

func notAllowed(msg string) *gqlerror.Error { return coded(msg, CodeNotAllowed) }

func coded(msg, code string) *gqlerror.Error {
	err := &gqlerror.Error{Message: msg}
	errcode.Set(err, code)
	return err
}
