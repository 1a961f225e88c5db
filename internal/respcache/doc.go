// Package respcache is Meridian's whole-response cache: an HTTP middleware in
// front of the GraphQL endpoint that answers repeated catalog queries
// without running gqlgen at all.
//
// Most catalog traffic is anonymous and identical per locale. Executing a
// page of 50 products costs about a millisecond and a half of CPU; writing
// the same 15 KB from memory costs tens of microseconds. A hit therefore
// skips parsing, validation, execution and serialization: it writes stored
// bytes.
//
// # What is stored
//
// A response is stored only when all of these hold:
//
//   - the operation is a query whose static policy (internal/cachecontrol,
//     from the schema's @cacheControl hints) is cacheable with a positive
//     maxAge and scope PUBLIC. A PRIVATE operation is never stored at all;
//   - the response is a 200 with data and no errors, fully captured (at
//     most Config.MaxEntryBytes), read no personal data, and no resolver
//     called NoStore;
//   - every entity it shows could be tagged (see Tag), and none of those
//     tags was purged while it was being computed.
//
// It is fresh for the policy's maxAge, or at most Config.DegradedTTL when
// it contains values served from fallback copies (extensions.degraded).
//
// The policy and the tags reach the middleware through a per-request
// collector in the context, the way internal/degraded reports degraded
// fields: Observe, a gqlgen response middleware, records the operation and
// its policy; resolvers call Tag for each entity they return.
//
// # Keys, and why a signed-in person never gets someone else's data
//
// The key is the SHA-256 of the method, the path, the Accept header (it
// picks the response media type), the negotiated locale
// (locale.FromContext(ctx).Key()), and the canonical request: the document
// (or the persisted id, from documentId or extensions.persistedQuery, which
// share entries), the operation name, the variables and any other
// extensions re-marshalled with sorted keys. Variables that differ only in
// key order or whitespace share an entry; anything that can change the
// response gets its own.
//
// Requests with credentials (a principal in the context) are looked up like
// anonymous ones, and hit entries of PUBLIC operations. They never receive
// another person's data from a shared entry:
//
//   - nothing PRIVATE is stored at all. Every entry is the response to an
//     operation whose every field the schema declares the same for every
//     caller, and root fields without a maxAge (me, consultant, order)
//     are never cacheable. As a second line, a response whose execution read
//     personal data (it left entries for the audit trail) is not stored
//     whatever the hints say;
//   - keys contain no credentials and nothing else about the caller. An
//     entry is found by what was asked, never by who asked: there are no
//     per-person entries whose keys could collide or be guessed, and no
//     token or session id ever reaches the shared tier.
//
// The schema's half of the bargain: a field whose value depends on who
// asks must be hinted PRIVATE, or be reachable only below such a field.
// Hits to signed-in requests are answered with Cache-Control: private,
// no-store, so no browser or proxy keeps them beyond the request.
//
// # Hits
//
// A hit is written with the stored Content-Type, Age, X-Cache: HIT,
// Cache-Control and a body that says it came from the cache. Cache-Control
// is public, max-age=<remaining freshness> for anonymous GETs of persisted
// operations, private, no-store for POSTs, for requests with credentials
// and for degraded entries (as the GraphQL edge answers them), and
// private, max-age=<remaining> for GETs that carry their document in the
// URL (the edge lets shared caches keep only GETs of persisted
// operations). The body:
//
//	{"data":…,"extensions":{…,"cache":{"status":"HIT","storedAt":"2026-11-23T09:00:00.000Z","ageSeconds":4}}}
//
// data is byte for byte what the execution produced: freshness values in it
// (asOf) are those the response was computed with, and ageSeconds says how
// much older it has become since. A miss is the next handler's response,
// unchanged, with X-Cache: MISS.
//
// # Concurrency
//
// Concurrent misses on one key run the next handler once; the others wait
// and answer with the same data. A waiter whose client goes away abandons
// its wait and nothing else; the execution is cancelled only when every
// request waiting for it has gone. When the response may not be shared
// (errors, a private operation, personal data read), waiters run their
// own execution.
//
// An entry past its maxAge but within Config.StaleWhileRevalidate is served
// at once (X-Cache: STALE, cache.status STALE) while one background refresh
// re-runs the request through the next handler. The refresh is anonymous:
// it keeps only the method, URL, body, Accept, Accept-Language and
// Content-Type of the request, on a context with the locale and nothing
// else.
//
// # Storage and purges
//
// Entries live in a bounded in-process LRU (Config.MaxEntries,
// Config.MaxBytes) and, when configured, in a shared tier every replica
// reads (Config.Shared, normally Redis). Shared entries are a small binary
// header followed by the raw pieces.
//
// Purge(ctx, "product:prod-0001") removes every entry tagged with it: on
// this replica at once; in the shared tier through a per-tag Redis set of
// keys; on every other replica through a Redis pub/sub message. Pub/sub is
// at-most-once, so a replica that misses a message keeps its copies until
// it notices the lost subscription (it then drops them all) or, at worst,
// until they expire: every entry's lifetime, maxAge plus the
// stale-while-revalidate window, bounds how long a missed purge can
// matter. Keep maxAge hints short for data that must change quickly.
//
// A page lists the entities it shows, not the ones it might show: a
// product that newly matches a search does not purge the search pages that
// do not show it yet. Those follow within their maxAge.
//
// # Wiring
//
// Observe goes on the gqlgen server (AroundResponses), Middleware in front
// of the GraphQL edge after authentication and locale negotiation and
// before the per-request dataloaders and degraded report, Tag in the
// resolvers, Purge in the sync jobs' change callback.
package respcache
