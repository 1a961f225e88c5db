// Package catalog is the in-country read mirror of the global product master:
// categories, products, their localized texts, images and CNY list prices.
//
// The mirror is what lets Meridian answer catalog pages without crossing the
// border. The same Store contract is implemented on SQLite (the embedded
// default) and PostgreSQL (production); both are exercised by one contract
// test suite.
package catalog

import (
	"context"
	"errors"
	"time"
)

// LocalizedText maps a content locale key ("zh-Hans", "zh-Hant", "en", ...) to
// the text in that language. Which key a reader gets is decided by
// internal/locale, never here.
type LocalizedText map[string]string

// Category groups products for navigation. Position orders categories in menus.
type Category struct {
	ID       string        `json:"id"`
	Position int           `json:"position"`
	Name     LocalizedText `json:"name"`
}

// Image is a product picture served from the in-country static host.
type Image struct {
	URL string        `json:"url"`
	Alt LocalizedText `json:"alt,omitempty"`
}

// Product is one sellable item as mirrored from the global product master.
//
// PriceAmount is a decimal string with two fraction digits ("1299.00"): money
// is never a float anywhere in Meridian.
type Product struct {
	ID          string        `json:"id"`
	SKU         string        `json:"sku"`
	CategoryID  string        `json:"category"`
	Name        LocalizedText `json:"name"`
	Description LocalizedText `json:"description"`
	PriceAmount string        `json:"price"`
	Currency    string        `json:"currency"`
	Images      []Image       `json:"images"`
	// MirroredAt is when this row was last written into the mirror from its
	// source (the seed or a sync job); it is the asOf of MIRROR freshness.
	MirroredAt time.Time `json:"-"`
}

// SearchQuery selects a page of products. Text matches product names in any
// language (case-insensitive for Latin scripts, substring for CJK) and SKUs.
// Results are ordered by product ID, so AfterID gives stable keyset paging.
type SearchQuery struct {
	Text       string // empty: no text filter
	CategoryID string // empty: every category
	First      int    // page size, at least 1
	AfterID    string // empty: from the start
	// SkipTotal spares the count of all matches: SearchPage.TotalCount is
	// then 0. For callers that do not show it.
	SkipTotal bool
}

// SearchPage is one page of search results.
type SearchPage struct {
	Products    []Product
	TotalCount  int  // matches of the whole query, ignoring paging
	HasNextPage bool // more matches exist after the last product of this page
}

// Store is the catalog mirror's API. Implementations must be safe for
// concurrent use.
//
// The products ProductsByID and Search return are read-only: their maps and
// slices may be shared with the store's own cache and with other callers.
type Store interface {
	// ProductsByID returns the products that exist among ids, keyed by ID.
	// Unknown IDs are simply absent; an empty ids slice returns an empty map.
	ProductsByID(ctx context.Context, ids []string) (map[string]Product, error)
	// Search returns one page of matching products.
	Search(ctx context.Context, q SearchQuery) (SearchPage, error)
	// Categories returns every category ordered by Position, then ID.
	Categories(ctx context.Context) ([]Category, error)
	// UpsertCategories inserts or replaces categories by ID.
	UpsertCategories(ctx context.Context, cats []Category) error
	// UpsertProducts inserts or replaces products by ID, with their texts and
	// images, in one transaction, stamping MirroredAt with the given time.
	UpsertProducts(ctx context.Context, products []Product, mirroredAt time.Time) error
	// DeleteProducts removes products by ID; unknown IDs are ignored.
	DeleteProducts(ctx context.Context, ids []string) error
	// CountProducts returns how many products the mirror holds.
	CountProducts(ctx context.Context) (int, error)
}

// ErrInvalidQuery is returned (wrapped) for a SearchQuery the store cannot
// run, such as First < 1.
var ErrInvalidQuery = errors.New("catalog: invalid query")
