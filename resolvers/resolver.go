// Package resolvers implements the GraphQL schema: argument checks, locale
// selection, and mapping domain values to GraphQL models. Resolvers stay
// thin: no SQL and no HTTP here, only calls to small interfaces that the
// adapters satisfy.
package resolvers

import (
	"context"
	"errors"

	"meridian/adapters/catalog"
)

// CatalogReader is the part of the catalog mirror the resolvers read.
type CatalogReader interface {
	ProductsByID(ctx context.Context, ids []string) (map[string]catalog.Product, error)
	Search(ctx context.Context, q catalog.SearchQuery) (catalog.SearchPage, error)
	Categories(ctx context.Context) ([]catalog.Category, error)
}

var _ CatalogReader = catalog.Store(nil)

// Resolver is the root resolver; gqlgen calls its methods.
type Resolver struct {
	catalog     CatalogReader
	maxPageSize int
	maxQueryLen int
}

// Config is what the resolvers need.
type Config struct {
	Catalog CatalogReader
	// MaxPageSize caps `first` on connections and the length of id lists.
	MaxPageSize int
}

// New returns a root resolver, refusing an incomplete configuration.
func New(cfg Config) (*Resolver, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("resolvers: Catalog is required")
	}
	if cfg.MaxPageSize < 1 {
		return nil, errors.New("resolvers: MaxPageSize must be at least 1")
	}
	return &Resolver{catalog: cfg.Catalog, maxPageSize: cfg.MaxPageSize, maxQueryLen: 100}, nil
}
