// Package persisted serves GraphQL operations by id: trusted documents from
// persisted-query manifests, Automatic Persisted Queries (APQ), and a
// persisted-only mode that refuses everything the manifests do not list.
//
// Consultant dashboards and the catalog send the operations they were built
// with as ids instead of documents. Production can then refuse operations
// nobody reviewed, and a regional CDN can cache a GET that names a vetted
// query without ever seeing an ad-hoc one.
//
// # Manifests
//
// A manifest is Apollo's persisted-query manifest:
//
//	{"format": "apollo-persisted-query-manifest", "version": 1,
//	 "operations": [{"id": "<sha256 hex of body>", "name": "CatalogPage",
//	                 "type": "query", "body": "query CatalogPage { … }"}]}
//
// LoadManifests reads one or more of them into a Manifest, refusing any file
// whose ids are not the SHA-256 of their bodies; Registry holds the current
// Manifest and swaps it when the files change. Several files may be loaded
// at once (the operations of the release being rolled out next to those of
// the one still in users' hands); the same operation may appear in more than
// one of them.
//
// Meridian's own manifest, testdata/persisted/manifest.json, is generated from
// testdata/persisted/*.graphql by cmd/pqmanifest (go generate ./internal/persisted);
// a test fails when the committed file is out of date.
//
// # The extension
//
// Extension is a gqlgen handler extension that resolves
// extensions.persistedQuery.sha256Hash in one place:
//
//   - an id in the manifest runs the manifest's body (a query sent alongside
//     must hash to the same id);
//   - otherwise, unless persisted-only, Apollo's APQ protocol: an unknown id
//     without a query answers PERSISTED_QUERY_NOT_FOUND, an id with its query
//     registers the query (once it has validated) in a cache.Store;
//   - persisted-only refuses ad-hoc documents, unknown ids and APQ
//     registrations with PERSISTED_QUERY_NOT_ALLOWED; a document whose hash
//     is a manifest id is the manifest's operation and runs.
//
// The resolved id is recorded on the operation context (FromContext) for the
// layers after it: response caching, metrics, logs.
package persisted

//go:generate go run ../../cmd/pqmanifest -dir ../../testdata/persisted -out ../../testdata/persisted/manifest.json -schema ../../schema.graphqls
