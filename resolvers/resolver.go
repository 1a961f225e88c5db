// Package resolvers implements the GraphQL schema: argument checks, locale
// selection, and mapping domain values to GraphQL models. Resolvers stay
// thin: no SQL and no HTTP here, only calls to small interfaces that the
// adapters satisfy.
package resolvers

import (
	"context"
	"errors"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/content"
)

// CatalogReader is the part of the catalog mirror the resolvers read.
type CatalogReader interface {
	ProductsByID(ctx context.Context, ids []string) (map[string]catalog.Product, error)
	Search(ctx context.Context, q catalog.SearchQuery) (catalog.SearchPage, error)
	Categories(ctx context.Context) ([]catalog.Category, error)
}

var _ CatalogReader = catalog.Store(nil)

// ContentReader is the part of the content mirror the resolvers read.
type ContentReader = content.PageReader

// Resolver is the root resolver; gqlgen calls its methods.
type Resolver struct {
	catalog      CatalogReader
	contentPages ContentReader
	personal     PersonalData
	orders       Orders
	maxPageSize  int
	maxQueryLen  int
	now          func() time.Time
}

// Config is what the resolvers need.
type Config struct {
	Catalog  CatalogReader
	Content  ContentReader
	Personal PersonalData
	Orders   Orders
	// MaxPageSize caps `first` on connections and the length of id lists.
	MaxPageSize int
	// Now is the clock reporting periods end at; nil means time.Now.
	Now func() time.Time
}

// New returns a root resolver, refusing an incomplete configuration.
func New(cfg Config) (*Resolver, error) {
	if cfg.Catalog == nil || cfg.Content == nil {
		return nil, errors.New("resolvers: Catalog and Content are required")
	}
	if cfg.Personal.Profiles == nil || cfg.Personal.Consents == nil || cfg.Personal.Audit == nil {
		return nil, errors.New("resolvers: Personal needs Profiles, Consents and Audit")
	}
	if cfg.Orders.Store == nil || cfg.Orders.Inventory == nil || cfg.Orders.Dashboard == nil {
		return nil, errors.New("resolvers: Orders needs Store, Inventory and Dashboard")
	}
	if cfg.Personal.PolicyVersion == "" {
		return nil, errors.New("resolvers: Personal.PolicyVersion is required")
	}
	if cfg.MaxPageSize < 1 {
		return nil, errors.New("resolvers: MaxPageSize must be at least 1")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Resolver{
		catalog: cfg.Catalog, contentPages: cfg.Content, personal: cfg.Personal, orders: cfg.Orders,
		maxPageSize: cfg.MaxPageSize, maxQueryLen: 100, now: now,
	}, nil
}
