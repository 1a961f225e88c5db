// Package masterdata is Meridian's client of the global Product & Inventory
// Master: live stock and authoritative prices of many SKUs in one call, single
// products, the full product listing and the change feed that keeps the
// in-country catalog mirror (adapters/catalog) current.
//
// The master is abroad, a long and lossy link away. Calls are bounded by the
// caller's context and make as few round trips as the master allows: a
// lookup of up to MaxBatch SKUs is one request. Errors carry the apierr
// kinds of internal/originhttp; SKUs the master does not know are not an
// error, they are absent from the answer.
package masterdata

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/originhttp"
)

// MaxBatch is the most SKUs the master accepts in one inventory or price
// lookup. Longer lookups are split into requests of at most MaxBatch.
const MaxBatch = 500

// maxParallelBatches bounds the requests one long lookup has in flight at
// once: enough that a few batches cost one round trip, not so many that one
// caller crowds the connection pool.
const maxParallelBatches = 4

// Client calls the Product & Inventory Master. It is safe for concurrent use.
type Client struct {
	origin *originhttp.Client
}

// New returns a client that reaches the master through c, whose base URL is
// the master's (GLOBAL_MASTERDATA_URL, such as ".../masterdata").
func New(c *originhttp.Client) *Client { return &Client{origin: c} }

// Inventory is a SKU's available quantity as the master last recorded it.
type Inventory struct {
	SKU       string
	Available int // units that can be ordered now, never negative
	UpdatedAt time.Time
}

// Price is a SKU's authoritative price. Amount is a decimal string with two
// fraction digits ("1299.00"): money is never a float in Meridian.
type Price struct {
	SKU       string
	Amount    string
	Currency  string // ISO 4217
	UpdatedAt time.Time
}

// LocalizedText maps a content locale key ("zh-Hans", "zh-Hant", "en") to the
// text in that language.
type LocalizedText map[string]string

// Image is a product picture.
type Image struct {
	URL string
	Alt LocalizedText // may be empty
}

// Product is one SKU's master record without its stock. UpdatedAt is the last
// change of texts, category or images; the price has its own clock (see
// Prices) and is carried here as of the same read.
type Product struct {
	ID          string
	SKU         string
	Category    string
	Name        LocalizedText
	Description LocalizedText
	PriceAmount string // decimal string, as Price.Amount
	Currency    string
	Images      []Image
	UpdatedAt   time.Time
}

// ProductPage is one page of the full product listing, ordered by SKU.
// NextCursor is empty on the last page, where HasMore is false.
type ProductPage struct {
	Products   []Product
	NextCursor string
	HasMore    bool
}

// ChangeKind says what a change feed entry changed.
type ChangeKind string

// The kinds of master data change.
const (
	ChangeProduct   ChangeKind = "product"   // texts, category or images: Change.Product is set
	ChangePrice     ChangeKind = "price"     // the authoritative price: Change.Price is set
	ChangeInventory ChangeKind = "inventory" // the available quantity: Change.Inventory is set
)

// Change is one entry of the master data change feed. Exactly one of
// Product, Price and Inventory is set, as Kind says; the others are zero.
// A Kind this package does not know (one the master added later) comes with
// only ID, SKU and ChangedAt, so a reader can skip it knowingly.
type Change struct {
	ID        string
	Kind      ChangeKind
	SKU       string
	ChangedAt time.Time
	Product   Product   // ChangeProduct: the whole product after the change
	Price     Price     // ChangePrice: UpdatedAt is ChangedAt
	Inventory Inventory // ChangeInventory: UpdatedAt is ChangedAt
}

// ChangePage is one read of the change feed. NextCursor is always set: store
// it and pass it to the next read, also after an empty page. HasMore says
// more changes are available right now.
type ChangePage struct {
	Changes    []Change
	NextCursor string
	HasMore    bool
}

// Inventory returns the available quantity of each SKU the master knows,
// keyed by SKU. SKUs the master does not know, and empty strings, are absent
// from the map; repeats are looked up once; no SKUs is an empty map without
// a request. Up to MaxBatch distinct SKUs take one request; more are split
// into batches of MaxBatch sent a few at a time, and any batch failing fails
// the whole lookup.
func (c *Client) Inventory(ctx context.Context, skus []string) (map[string]Inventory, error) {
	out, err := lookup(ctx, c, "/v1/inventory:batchGet", skus, inventoryItem.decode)
	if err != nil {
		return nil, fmt.Errorf("inventory of %d SKUs: %w", len(skus), err)
	}
	return out, nil
}

// Prices returns the authoritative price of each SKU the master knows, keyed
// by SKU, under the same batching rules as Inventory.
func (c *Client) Prices(ctx context.Context, skus []string) (map[string]Price, error) {
	out, err := lookup(ctx, c, "/v1/prices:batchGet", skus, priceItem.decode)
	if err != nil {
		return nil, fmt.Errorf("prices of %d SKUs: %w", len(skus), err)
	}
	return out, nil
}

// Product returns one product by SKU. An unknown SKU is an apierr.NotFound
// error; an empty or malformed one is apierr.BadUserInput, without a request.
func (c *Client) Product(ctx context.Context, sku string) (Product, error) {
	seg, err := originhttp.PathSegment("SKU", sku)
	if err != nil {
		return Product{}, err
	}
	var pj productJSON
	if err := c.origin.GetJSON(ctx, "/v1/products/"+seg, nil, &pj); err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			return Product{}, apierr.Wrap(apierr.NotFound, err, "no product with SKU %q", sku)
		}
		return Product{}, fmt.Errorf("product %q: %w", sku, err)
	}
	p, err := pj.decode()
	if err == nil && p.SKU != sku {
		err = fmt.Errorf("answered with SKU %q", p.SKU)
	}
	if err != nil {
		return Product{}, badAnswer(fmt.Errorf("product %q: %w", sku, err))
	}
	return p, nil
}

// Products returns one page of every product, ordered by SKU, for a full
// resynchronisation of the mirror (after ErrCursorExpired, or on first
// start). Pass "" for the first page, then each NextCursor until HasMore is
// false. limit is the page size, 1 to originhttp.MaxPageLimit; 0 means the
// master's default (100).
func (c *Client) Products(ctx context.Context, cursor string, limit int) (ProductPage, error) {
	if err := originhttp.CheckPageLimit(limit); err != nil {
		return ProductPage{}, err
	}
	var page productPageJSON
	if err := c.origin.GetJSON(ctx, "/v1/products", originhttp.PageQuery(cursor, limit), &page); err != nil {
		return ProductPage{}, fmt.Errorf("product listing: %w", err)
	}
	out := ProductPage{Products: make([]Product, 0, len(page.Products)), NextCursor: page.NextCursor, HasMore: page.HasMore}
	for i, pj := range page.Products {
		p, err := pj.decode()
		if err != nil {
			return ProductPage{}, badAnswer(fmt.Errorf("product listing: product %d: %w", i, err))
		}
		out.Products = append(out.Products, p)
	}
	if page.HasMore && page.NextCursor == "" {
		return ProductPage{}, badAnswer(fmt.Errorf("product listing: more pages but no cursor"))
	}
	return out, nil
}

// Changes reads up to limit changes after cursor, oldest first. Pass "" to
// start from the oldest change the master retains. limit is 1 to
// originhttp.MaxPageLimit, 0 for the master's default (100).
//
// A cursor older than the retained history fails with an error matching
// originhttp.ErrCursorExpired (errors.Is): changes were missed, so
// resynchronise with Products, then read the feed again from "".
func (c *Client) Changes(ctx context.Context, cursor string, limit int) (ChangePage, error) {
	if err := originhttp.CheckPageLimit(limit); err != nil {
		return ChangePage{}, err
	}
	var page changePageJSON
	if err := c.origin.GetJSON(ctx, "/v1/changes", originhttp.PageQuery(cursor, limit), &page); err != nil {
		return ChangePage{}, fmt.Errorf("master data change feed: %w", err)
	}
	if page.NextCursor == "" {
		return ChangePage{}, badAnswer(fmt.Errorf("master data change feed: no next cursor"))
	}
	out := ChangePage{Changes: make([]Change, 0, len(page.Changes)), NextCursor: page.NextCursor, HasMore: page.HasMore}
	for _, cj := range page.Changes {
		ch, err := cj.decode()
		if err != nil {
			return ChangePage{}, badAnswer(fmt.Errorf("master data change feed: change %q: %w", cj.ID, err))
		}
		out.Changes = append(out.Changes, ch)
	}
	return out, nil
}

// lookup runs a batch lookup over distinct SKUs, split into batches of
// MaxBatch, and merges the answers.
func lookup[W interface{ sku() string }, V any](ctx context.Context, c *Client, path string, skus []string, decode func(W) (V, error)) (map[string]V, error) {
	wanted := distinct(skus)
	out := make(map[string]V, len(wanted))
	if len(wanted) == 0 {
		return out, nil
	}
	batches := slices.Collect(slices.Chunk(wanted, MaxBatch))
	answers := make([]batchAnswer[W], len(batches))
	if err := eachBatch(ctx, len(batches), func(ctx context.Context, i int) error {
		return c.origin.BatchGetJSON(ctx, path, skuBatch{SKUs: batches[i]}, &answers[i])
	}); err != nil {
		return nil, err
	}
	asked := make(map[string]bool, len(wanted))
	for _, s := range wanted {
		asked[s] = true
	}
	for _, a := range answers {
		for _, item := range a.Items {
			// An item nobody asked for would be cached under a key no
			// request named; the answer is wrong, not merely generous.
			if !asked[item.sku()] {
				return nil, badAnswer(fmt.Errorf("%s: answered for SKU %q, which was not asked for", path, item.sku()))
			}
			v, err := decode(item)
			if err != nil {
				return nil, badAnswer(fmt.Errorf("%s: SKU %q: %w", path, item.sku(), err))
			}
			out[item.sku()] = v
		}
	}
	return out, nil
}

// eachBatch runs call for batches 0..n-1, one at a time when n is 1 and at
// most maxParallelBatches at once otherwise. The first failure cancels the
// batches still running and is the one returned.
func eachBatch(ctx context.Context, n int, call func(context.Context, int) error) error {
	if n == 1 {
		return call(ctx, 0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		first    error
		launched int
		slots    = make(chan struct{}, maxParallelBatches)
	)
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		launched++
		wg.Go(func() {
			defer func() { <-slots }()
			if err := call(ctx, i); err != nil {
				once.Do(func() { first = fmt.Errorf("batch %d of %d: %w", i+1, n, err); cancel() })
			}
		})
	}
	wg.Wait()
	if first == nil && launched < n {
		// The caller's context ended before every batch was sent.
		first = fmt.Errorf("sending %d batches: %w", n, context.Cause(ctx))
	}
	return first
}

// distinct drops empty strings and repeats, keeping first appearances in
// order.
func distinct(skus []string) []string {
	seen := make(map[string]bool, len(skus))
	out := make([]string, 0, len(skus))
	for _, s := range skus {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// badAnswer marks an answer that decoded but breaks the contract: the
// origin is at fault, so it is internal and counts as an origin failure.
func badAnswer(err error) error {
	return apierr.Wrap(apierr.Internal, fmt.Errorf("masterdata: %w", err), "masterdata answered with malformed data")
}
