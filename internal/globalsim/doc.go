// Package globalsim simulates the global systems of record that Meridian
// reaches across the border: the Product & Inventory Master, Order
// Management and the CMS. The simulator stands in for them in the demo, in
// tests and in benchmarks, with the latency, errors and silences of a long,
// lossy link injected on demand.
//
// One http.Handler serves every system, each under its own path prefix:
//
//	/masterdata/v1/...  batch inventory and price lookups, products, change feed
//	/orders/v1/...      idempotent order creation, lookup, listing by subject
//	/cms/v1/...         localized marketing pages and their change feed
//	/admin/...          the simulator's own controls: faults, request log, edits
//	/idp/...            the demo OpenID Connect identity provider (package idpsim),
//	                    with Config.Identities; documented by its discovery document
//
// Edits through /admin (PATCH a product or page, DELETE a product) append to
// the change feeds exactly as the real systems' back offices would, and,
// with Config.Webhook set, are announced to a receiver by a signed POST so
// that mirrors can sync at once instead of at their next poll. With
// Config.OrderWebhook set, Order Management likewise announces each order
// status change (accepted at creation, then confirmed, then shipped) by a
// signed POST, so the region learns of it without polling the order.
//
// api/global.openapi.yaml is the contract; a test keeps this package and the
// document in step, both ways. Conventions shared by every system: bodies are
// JSON; money is a decimal string with two fraction digits ("1299.00"),
// never a number; timestamps are RFC 3339 in UTC; change feed cursors are
// opaque; every error is {"error":{"code":"...","message":"..."}}. Request
// bodies with unknown fields are refused, which is how the order API keeps
// personal data (names, phone numbers, address text) from being sent abroad:
// customers are pseudonymous subject ids and addresses are opaque references
// to records kept in the country.
//
// Faults apply per origin (masterdata, orders, cms) and never to /admin:
// latency with jitter, a fraction of requests answered 503, and a blackhole
// that holds requests without answering until the client gives up, the
// blackhole is switched off or the Sim is closed. The request log keeps the
// last Config.RequestLogSize requests the origins received (10,000 by
// default), without Authorization, Proxy-Authorization or Cookie headers,
// and a count per route.
//
// Everything is in memory and seeded: the catalog from the seed JSON of
// testdata/catalog.json, initial stock from a hash of each SKU
// (InitialAvailable), pages from testdata/content.json, whose format is
//
//	{"pages":[{"slug":"about-us",
//	           "title":{"zh-Hans":"…","zh-Hant":"…","en":"…"},
//	           "summary":{…}, "body":{…},   // body is Markdown
//	           "images":[{"url":"https://static.meridian.example/…","alt":{…}}],
//	           "updatedAt":"2025-03-01T08:00:00Z"}]}
//
// Time comes from Config.Now, so a test moves orders from accepted to
// confirmed to shipped by moving its clock, without sleeping, and then
// calls Sim.NotifyOrderTransitions to have the moves announced at once.
package globalsim
