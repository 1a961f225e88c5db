package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"meridian/internal/db"
)

// InventorySnapshot is a SKU's available quantity as the product master last
// reported it to the mirror. The gateway serves it as the MIRROR copy of
// CACHED inventory: SourceUpdatedAt says how current the master's figure
// was, MirroredAt when it crossed the border.
type InventorySnapshot struct {
	SKU             string
	Available       int // never negative
	SourceUpdatedAt time.Time
	MirroredAt      time.Time
}

// PriceUpdate is a new authoritative price for the product with SKU.
// Amount is a canonical two-fraction-digit decimal string ("1299.00").
type PriceUpdate struct {
	SKU      string
	Amount   string
	Currency string
}

// SyncStore is the Store plus what the sync jobs need to keep the mirror
// current: lookups by SKU (the master's key), price-only updates, the list
// of mirrored IDs for purges, and inventory snapshots. Implementations must
// be safe for concurrent use.
type SyncStore interface {
	Store
	// ProductsBySKU returns the products that exist among skus, keyed by
	// SKU, with their texts. Unknown SKUs are absent; none is an empty
	// map.
	ProductsBySKU(ctx context.Context, skus []string) (map[string]Product, error)
	// UpdatePrices sets the price and currency of the products with the
	// given SKUs, stamping their MirroredAt, in one transaction, and
	// returns the SKUs no product has, which are otherwise ignored.
	UpdatePrices(ctx context.Context, updates []PriceUpdate, mirroredAt time.Time) (missing []string, err error)
	// ListProductIDs returns the ID of every mirrored product, sorted;
	// none is an empty slice.
	ListProductIDs(ctx context.Context) ([]string, error)
	// UpsertInventory writes snapshots by SKU, stamping MirroredAt; a
	// snapshot older (by SourceUpdatedAt) than the stored one is ignored.
	UpsertInventory(ctx context.Context, snapshots []InventorySnapshot, mirroredAt time.Time) error
	// InventoryBySKU returns the snapshots held among skus, keyed by SKU.
	// Unknown SKUs are absent; none is an empty map.
	InventoryBySKU(ctx context.Context, skus []string) (map[string]InventorySnapshot, error)
	// InventorySKUs returns the SKU of every snapshot, sorted; none is an
	// empty slice.
	InventorySKUs(ctx context.Context) ([]string, error)
	// DeleteInventory removes snapshots by SKU; unknown SKUs are ignored.
	DeleteInventory(ctx context.Context, skus []string) error
}

var _ SyncStore = (*SQLStore)(nil)

// ProductsBySKU implements SyncStore with the batching rules of
// ProductsByID: duplicates and empty SKUs are ignored, any number may be
// passed, and everything is read in one read transaction.
func (s *SQLStore) ProductsBySKU(ctx context.Context, skus []string) (map[string]Product, error) {
	skus = uniqueNonEmpty(skus)
	out := make(map[string]Product, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		for batch := range slices.Chunk(skus, maxIDsPerQuery) {
			products, _, err := selectProducts(ctx, tx,
				"WHERE p.sku IN ("+placeholders(len(batch))+")", anySlice(batch))
			if err != nil {
				return err
			}
			if err := attachTexts(ctx, tx, products); err != nil {
				return err
			}
			for _, p := range products {
				out[p.SKU] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: products by sku: %w", err)
	}
	return out, nil
}

// UpdatePrices implements SyncStore. The batch fails as a whole, writing
// nothing, with an error wrapping ErrInvalidProduct when an update has no
// SKU or currency, a price that is not canonical (see UpsertProducts), or
// repeats a SKU of the batch. An empty batch is a no-op. Texts, images and
// search are untouched, so a price change never costs a product rewrite.
func (s *SQLStore) UpdatePrices(ctx context.Context, updates []PriceUpdate, mirroredAt time.Time) ([]string, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	seen := make(map[string]bool, len(updates))
	for i, u := range updates {
		switch {
		case u.SKU == "":
			return nil, fmt.Errorf("catalog: update prices: %w: update #%d has no sku", ErrInvalidProduct, i)
		case seen[u.SKU]:
			return nil, fmt.Errorf("catalog: update prices: %w: sku %q appears twice", ErrInvalidProduct, u.SKU)
		case u.Currency == "":
			return nil, fmt.Errorf("catalog: update prices: %w: sku %q: no currency", ErrInvalidProduct, u.SKU)
		case !priceFormat.MatchString(u.Amount):
			return nil, fmt.Errorf("catalog: update prices: %w: sku %q: price %q is not a decimal with two fraction digits like 1299.00", ErrInvalidProduct, u.SKU, u.Amount)
		}
		seen[u.SKU] = true
	}
	at := s.db.Dialect().TimeArg(mirroredAt)
	var missing []string
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		missing = nil
		for _, u := range updates {
			res, err := tx.ExecContext(ctx,
				"UPDATE catalog_products SET price_amount = ?, currency = ?, mirrored_at = ?, revision = ? WHERE sku = ?",
				u.Amount, u.Currency, at, newRevision(), u.SKU)
			if err != nil {
				return fmt.Errorf("update sku %q: %w", u.SKU, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("update sku %q: %w", u.SKU, err)
			}
			if n == 0 {
				missing = append(missing, u.SKU)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: update prices: %w", err)
	}
	return missing, nil
}

// ListProductIDs implements SyncStore. IDs come in byte order on both
// engines (see the "C" collation in the migrations).
func (s *SQLStore) ListProductIDs(ctx context.Context) ([]string, error) {
	ids, err := s.listStrings(ctx, "SELECT id FROM catalog_products ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("catalog: list product ids: %w", err)
	}
	return ids, nil
}

// UpsertInventory implements SyncStore, in one transaction. A snapshot
// without a SKU, with a negative quantity or a zero SourceUpdatedAt, or two
// with the same SKU, fail the whole batch with an error wrapping
// ErrInvalidProduct. An empty batch is a no-op.
//
// A snapshot whose SourceUpdatedAt is before the stored one's leaves the row
// as it is, MirroredAt included: the mirror never goes back in the master's
// time when a sync replays older changes. Timestamps are kept in UTC at
// microsecond precision.
func (s *SQLStore) UpsertInventory(ctx context.Context, snapshots []InventorySnapshot, mirroredAt time.Time) error {
	if len(snapshots) == 0 {
		return nil
	}
	d := s.db.Dialect()
	at := d.TimeArg(mirroredAt)
	seen := make(map[string]bool, len(snapshots))
	rows := make([][]any, 0, len(snapshots))
	for i, snap := range snapshots {
		switch {
		case snap.SKU == "":
			return fmt.Errorf("catalog: upsert inventory: %w: snapshot #%d has no sku", ErrInvalidProduct, i)
		case seen[snap.SKU]:
			return fmt.Errorf("catalog: upsert inventory: %w: sku %q appears twice", ErrInvalidProduct, snap.SKU)
		case snap.Available < 0:
			return fmt.Errorf("catalog: upsert inventory: %w: sku %q: available %d is negative", ErrInvalidProduct, snap.SKU, snap.Available)
		case snap.SourceUpdatedAt.IsZero():
			return fmt.Errorf("catalog: upsert inventory: %w: sku %q: no source time", ErrInvalidProduct, snap.SKU)
		}
		seen[snap.SKU] = true
		rows = append(rows, []any{snap.SKU, snap.Available, d.TimeArg(snap.SourceUpdatedAt), at})
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		return insertRows(ctx, tx, "INSERT INTO catalog_inventory (sku, available, source_updated_at, mirrored_at) VALUES ", rows,
			" ON CONFLICT (sku) DO UPDATE SET available = excluded.available, source_updated_at = excluded.source_updated_at, mirrored_at = excluded.mirrored_at"+
				" WHERE excluded.source_updated_at >= catalog_inventory.source_updated_at")
	})
	if err != nil {
		return fmt.Errorf("catalog: upsert inventory: %w", err)
	}
	return nil
}

// InventoryBySKU implements SyncStore, in batches of maxIDsPerQuery SKUs
// read in one transaction. Both timestamps come back in UTC.
func (s *SQLStore) InventoryBySKU(ctx context.Context, skus []string) (map[string]InventorySnapshot, error) {
	skus = uniqueNonEmpty(skus)
	out := make(map[string]InventorySnapshot, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	var err error
	if len(skus) <= maxIDsPerQuery {
		// One statement reads one snapshot: no transaction needed, and a
		// catalog page (its inventory is read like this on every
		// request) saves its BEGIN and COMMIT.
		err = selectInventory(ctx, s.db, skus, out)
	} else {
		err = s.db.ReadTx(ctx, func(tx *db.Tx) error {
			for batch := range slices.Chunk(skus, maxIDsPerQuery) {
				if err := selectInventory(ctx, tx, batch, out); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: inventory by sku: %w", err)
	}
	return out, nil
}

// querier is what *db.DB and *db.Tx have in common for reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func selectInventory(ctx context.Context, q querier, skus []string, out map[string]InventorySnapshot) error {
	rows, err := q.QueryContext(ctx,
		"SELECT sku, available, source_updated_at, mirrored_at FROM catalog_inventory WHERE sku IN ("+placeholders(len(skus))+")",
		anySlice(skus)...)
	if err != nil {
		return fmt.Errorf("select inventory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var snap InventorySnapshot
		var available int64
		var source, mirrored db.Timestamp
		if err := rows.Scan(&snap.SKU, &available, &source, &mirrored); err != nil {
			return fmt.Errorf("select inventory: %w", err)
		}
		snap.Available = int(available)
		snap.SourceUpdatedAt, snap.MirroredAt = source.Time, mirrored.Time
		out[snap.SKU] = snap
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("select inventory: %w", err)
	}
	return nil
}

// InventorySKUs implements SyncStore, in byte order on both engines.
func (s *SQLStore) InventorySKUs(ctx context.Context) ([]string, error) {
	skus, err := s.listStrings(ctx, "SELECT sku FROM catalog_inventory ORDER BY sku")
	if err != nil {
		return nil, fmt.Errorf("catalog: inventory skus: %w", err)
	}
	return skus, nil
}

// DeleteInventory implements SyncStore, in one transaction, in batches of
// maxIDsPerQuery SKUs.
func (s *SQLStore) DeleteInventory(ctx context.Context, skus []string) error {
	skus = uniqueNonEmpty(skus)
	if len(skus) == 0 {
		return nil
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		for batch := range slices.Chunk(skus, maxIDsPerQuery) {
			if _, err := tx.ExecContext(ctx, "DELETE FROM catalog_inventory WHERE sku IN ("+placeholders(len(batch))+")", anySlice(batch)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: delete inventory: %w", err)
	}
	return nil
}

// listStrings runs a query of one text column and collects it.
func (s *SQLStore) listStrings(ctx context.Context, query string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
