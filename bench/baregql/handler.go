// Package baregql is a bare gqlgen server with the shape of Meridian's
// catalog schema, answering from memory: the baseline Meridian's executed
// pages are measured against.
//
// It is what a gqlgen user would write for the same page: the schema's
// catalog types (bench/baregql/schema.graphqls), the models gqlgen
// generates (graph/model), resolvers in the layout gqlgen generates, and
// the handler set up as gqlgen's former handler.NewDefaultServer did. The
// catalog is read once, at construction, and every answer for every locale
// is built then, so a request costs gqlgen's execution and nothing else:
// no database, no origin, no cache lookup, no authentication, no
// per-request loaders. Both inventory consistencies answer from the same
// memory.
package baregql

import (
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"meridian/bench/baregql/graph"
)

// NewHandler returns the GraphQL handler over the catalog in catalogJSON
// (the format of testdata/catalog.json), answering at whatever path it is
// mounted. It accepts queries by GET, POST and multipart form, answers
// CORS preflights, caches 1,000 parsed documents, serves introspection and
// keeps 100 automatic persisted queries. It refuses a catalog that does not
// parse, has no products, or has a product without an id, with a duplicate
// id or with a malformed price.
func NewHandler(catalogJSON []byte) (http.Handler, error) {
	c, err := newCatalog(catalogJSON, time.Now())
	if err != nil {
		return nil, err
	}
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{catalog: c}}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.MultipartForm{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	return srv, nil
}
