package catalog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"meridian/internal/db"
)

// productCacheEntries bounds the decoded products one store keeps: above
// the mirror's size (thousands of products), so a catalog page reads only
// IDs and revisions once the products it shows have been read once.
const productCacheEntries = 20_000

// productRef is a product's ID and the revision of its row: the part of a
// page query that is read on every request.
type productRef struct {
	id       string
	revision int64
}

// cachedProduct is a decoded product and the row revision it was read at.
type cachedProduct struct {
	revision int64
	product  Product
}

// productCache keeps decoded products (row, texts, images) so that a page
// query reads each product's row and texts only when the row changed since
// this store last read it. It is never a source of truth: every read asks
// the database for the revisions of the rows it returns, in the same
// transaction, and takes a cached product only at that exact revision.
// Writes from any replica therefore show at once, with no invalidation
// messages between replicas.
//
// Products handed out share their maps and slices with the cache; the Store
// contract makes them read-only for callers.
type productCache struct {
	mu      sync.RWMutex
	entries map[string]cachedProduct
	max     int
}

func newProductCache(max int) *productCache {
	return &productCache{entries: make(map[string]cachedProduct), max: max}
}

// newRevision returns a revision for a row being written. Revisions are
// random rather than counted so that replicas writing the same database
// need no coordination; two writes of one row colliding has odds of 2^-63.
// Zero is left to rows written before revisions existed.
func newRevision() int64 {
	return rand.Int64N(1<<63-1) + 1
}

// products returns the products refs name, in refs order, from the cache
// where the revision matches and from tx otherwise (and caches those). A ref
// whose row tx cannot find (deleted in between, which one snapshot rules
// out) is skipped.
func (c *productCache) products(ctx context.Context, tx *db.Tx, refs []productRef) ([]Product, error) {
	out, missing := c.lookup(refs)
	if len(missing) == 0 {
		return out, nil
	}
	loaded, err := c.load(ctx, tx, missing)
	if err != nil {
		return nil, err
	}
	return assemble(refs, out, loaded), nil
}

// productsAfter is products for refs read outside a transaction: the
// products not cached at their revision are read in a read transaction of
// their own (rows and texts from one snapshot). A product rewritten between
// the two reads comes back as rewritten; one deleted in between is
// skipped. A page whose products are all cached thus costs one statement.
func (c *productCache) productsAfter(ctx context.Context, database *db.DB, refs []productRef) ([]Product, error) {
	out, missing := c.lookup(refs)
	if len(missing) == 0 {
		return out, nil
	}
	var loaded map[string]cachedProduct
	err := database.ReadTx(ctx, func(tx *db.Tx) error {
		var err error
		loaded, err = c.load(ctx, tx, missing)
		return err
	})
	if err != nil {
		return nil, err
	}
	return assemble(refs, out, loaded), nil
}

// lookup returns, in refs order, the cached products at their refs'
// revisions (zero Products elsewhere) and the IDs of the rest.
func (c *productCache) lookup(refs []productRef) (out []Product, missing []string) {
	out = make([]Product, len(refs))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, ref := range refs {
		if e, ok := c.entries[ref.id]; ok && e.revision == ref.revision {
			out[i] = e.product
		} else {
			missing = append(missing, ref.id)
		}
	}
	return out, missing
}

// load reads the products ids name, rows and texts, from tx and caches
// them.
func (c *productCache) load(ctx context.Context, tx *db.Tx, ids []string) (map[string]cachedProduct, error) {
	loaded := make(map[string]cachedProduct, len(ids))
	for batch := range slices.Chunk(ids, maxIDsPerQuery) {
		products, revisions, err := selectProducts(ctx, tx, "WHERE p.id IN ("+placeholders(len(batch))+")", anySlice(batch))
		if err != nil {
			return nil, err
		}
		if err := attachTexts(ctx, tx, products); err != nil {
			return nil, err
		}
		for i, p := range products {
			loaded[p.ID] = cachedProduct{revision: revisions[i], product: p}
		}
	}
	c.put(loaded)
	return loaded, nil
}

// assemble fills the gaps lookup left in out (zero IDs) from loaded,
// dropping the products loaded no longer holds.
func assemble(refs []productRef, out []Product, loaded map[string]cachedProduct) []Product {
	kept := out[:0]
	for i, ref := range refs {
		switch {
		case out[i].ID != "":
			kept = append(kept, out[i])
		default:
			if e, ok := loaded[ref.id]; ok {
				kept = append(kept, e.product)
			}
		}
	}
	return kept
}

// put stores loaded, evicting arbitrary entries (Go's map order) when the
// cache is full: at the mirror's size eviction is rare, and an evicted
// product costs one row read.
//
// Rows at revision 0 are never kept: they were written by a gateway older
// than revisions (during a rolling upgrade, say), which rewrites a row
// without changing its revision, so a copy at 0 could hide its writes.
func (c *productCache) put(loaded map[string]cachedProduct) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range loaded {
		if e.revision == 0 {
			continue
		}
		if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
			for victim := range c.entries {
				delete(c.entries, victim)
				break
			}
		}
		c.entries[id] = e
	}
}

// forget drops products this store deleted, so their memory goes at once
// rather than at eviction. Correctness does not depend on it.
func (c *productCache) forget(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.entries, id)
	}
}

// selectRefs runs SELECT id, revision with the given tail (WHERE, ORDER BY,
// LIMIT) and returns the refs in row order.
func selectRefs(ctx context.Context, q querier, tail string, args []any) ([]productRef, error) {
	rows, err := q.QueryContext(ctx, "SELECT p.id, p.revision FROM catalog_products p "+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select product ids: %w", err)
	}
	defer rows.Close()
	var refs []productRef
	for rows.Next() {
		var r productRef
		if err := rows.Scan(&r.id, &r.revision); err != nil {
			return nil, fmt.Errorf("select product ids: %w", err)
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select product ids: %w", err)
	}
	return refs, nil
}
