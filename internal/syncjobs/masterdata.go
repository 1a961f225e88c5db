package syncjobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/masterdata"
	"meridian/internal/apierr"
	"meridian/internal/originhttp"
)

// MasterdataSource is what the master data job reads from the Product &
// Inventory Master; *masterdata.Client implements it.
type MasterdataSource interface {
	Products(ctx context.Context, cursor string, limit int) (masterdata.ProductPage, error)
	Product(ctx context.Context, sku string) (masterdata.Product, error)
	Inventory(ctx context.Context, skus []string) (map[string]masterdata.Inventory, error)
	Changes(ctx context.Context, cursor string, limit int) (masterdata.ChangePage, error)
}

var _ MasterdataSource = (*masterdata.Client)(nil)

// ChangeDeleted is the master data change kind of a SKU that left the
// master. The masterdata client passes kinds it does not model through with
// only the SKU, which is all a deletion carries.
const ChangeDeleted masterdata.ChangeKind = "deleted"

// MasterdataJobName is the name of the job NewMasterdataJob returns.
const MasterdataJobName = "masterdata"

// Page sizes of the master data job. A listing page is one inventory batch
// as well, so it is masterdata.MaxBatch; feed pages of whole products stay
// well under the client's response size bound.
const (
	listingPageSize = masterdata.MaxBatch
	feedPageSize    = 500
	// headScanPageSize reads the feed to its end in as few round trips
	// as the origin allows; nothing of those pages is kept.
	headScanPageSize = originhttp.MaxPageLimit
)

// MasterdataJob keeps the catalog mirror (products, prices and inventory
// snapshots) current from the Product & Inventory Master.
//
// Full sync: read the change feed to its end (see scanToHead), then page
// through the whole product listing, upserting each page's products and
// their inventory (one batch lookup per page), then, only once the listing
// has been read to its end, delete the products and snapshots it did not
// contain, and position the cursor where the feed ended before the listing
// began. Incremental run: read the feed from the cursor, page by page; each
// page's changes are folded per SKU in feed order and applied: deletions,
// whole products, price-only updates (a price for a product the mirror
// lacks fetches that product), inventory snapshots. An expired cursor
// falls back to a full sync within the same run. Change kinds the job does
// not know are skipped.
//
// Categories are not part of the master's feed and are left alone.
type MasterdataJob struct {
	src   MasterdataSource
	store catalog.SyncStore
}

var _ Job = (*MasterdataJob)(nil)

// NewMasterdataJob returns the job syncing store from src. Both are
// required.
func NewMasterdataJob(src MasterdataSource, store catalog.SyncStore) (*MasterdataJob, error) {
	if src == nil || store == nil {
		return nil, errors.New("syncjobs: master data job: source and store are required")
	}
	return &MasterdataJob{src: src, store: store}, nil
}

// Name implements Job: "masterdata".
func (j *MasterdataJob) Name() string { return MasterdataJobName }

// Run implements Job.
func (j *MasterdataJob) Run(ctx context.Context, p RunParams) (RunResult, error) {
	return runFeed(ctx, p.withDefaults(), MasterdataJobName, j.full, j.incremental)
}

func (j *MasterdataJob) full(ctx context.Context, p RunParams) (RunResult, error) {
	var res RunResult
	head, err := scanToHead(ctx, p, MasterdataJobName, func(ctx context.Context, cursor string) (string, bool, error) {
		page, err := j.src.Changes(ctx, cursor, headScanPageSize)
		return page.NextCursor, page.HasMore, err
	})
	if err != nil {
		return res, fmt.Errorf("full sync: %w", err)
	}

	changed := idSet{}
	listedIDs, listedSKUs := map[string]bool{}, map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages == p.MaxPages {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("full sync: product listing: %w (%d pages of %d)", errPageCap, p.MaxPages, listingPageSize)
		}
		page, err := call(ctx, p.CallTimeout, func(ctx context.Context) (masterdata.ProductPage, error) {
			return j.src.Products(ctx, cursor, listingPageSize)
		})
		if err != nil {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("full sync: product listing page %d: %w", pages+1, err)
		}
		skus := make([]string, 0, len(page.Products))
		for _, mp := range page.Products {
			skus = append(skus, mp.SKU)
			listedIDs[mp.ID], listedSKUs[mp.SKU] = true, true
		}
		stock, err := call(ctx, p.CallTimeout, func(ctx context.Context) (map[string]masterdata.Inventory, error) {
			return j.src.Inventory(ctx, skus)
		})
		if err != nil {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("full sync: inventory of listing page %d: %w", pages+1, err)
		}
		n, through, err := j.applyListingPage(ctx, p, page.Products, stock, changed)
		res.Applied += n
		res.SyncedThrough = later(res.SyncedThrough, through)
		if err != nil {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("full sync: listing page %d: %w", pages+1, err)
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}

	// The listing was read to its end: whatever the mirror holds beyond
	// it has left the master.
	n, err := j.purge(ctx, listedIDs, listedSKUs, changed)
	res.Applied += n
	res.Changes = changed.change(ChangeProduct)
	if err != nil {
		return res, fmt.Errorf("full sync: purge: %w", err)
	}
	res.Cursor, res.Full = head, true
	return res, nil
}

// applyListingPage writes one page of the full listing and its stock.
func (j *MasterdataJob) applyListingPage(ctx context.Context, p RunParams, products []masterdata.Product, stock map[string]masterdata.Inventory, changed idSet) (int, time.Time, error) {
	var through time.Time
	rows := make([]catalog.Product, 0, len(products))
	for _, mp := range products {
		rows = append(rows, toCatalogProduct(mp))
		through = later(through, mp.UpdatedAt)
	}
	written, err := j.upsertProducts(ctx, p, rows)
	if err != nil {
		return 0, through, err
	}
	for _, r := range written {
		changed.add(r.ID)
	}
	snaps := make([]catalog.InventorySnapshot, 0, len(stock))
	for _, mp := range products {
		if inv, ok := stock[mp.SKU]; ok {
			snaps = append(snaps, toSnapshot(inv))
			through = later(through, inv.UpdatedAt)
		}
	}
	if err := j.store.UpsertInventory(ctx, snaps, p.Now()); err != nil {
		return len(written), through, err
	}
	return len(written) + len(snaps), through, nil
}

// purge deletes the products and snapshots a complete listing did not
// contain.
func (j *MasterdataJob) purge(ctx context.Context, listedIDs, listedSKUs map[string]bool, changed idSet) (int, error) {
	ids, err := j.store.ListProductIDs(ctx)
	if err != nil {
		return 0, err
	}
	var gone []string
	for _, id := range ids {
		if !listedIDs[id] {
			gone = append(gone, id)
		}
	}
	if err := j.store.DeleteProducts(ctx, gone); err != nil {
		return 0, err
	}
	changed.add(gone...)
	skus, err := j.store.InventorySKUs(ctx)
	if err != nil {
		return len(gone), err
	}
	var goneSKUs []string
	for _, sku := range skus {
		if !listedSKUs[sku] {
			goneSKUs = append(goneSKUs, sku)
		}
	}
	if err := j.store.DeleteInventory(ctx, goneSKUs); err != nil {
		return len(gone), err
	}
	return len(gone) + len(goneSKUs), nil
}

func (j *MasterdataJob) incremental(ctx context.Context, p RunParams) (RunResult, error) {
	var res RunResult
	changed := idSet{}
	cursor := p.Cursor
	for pages := 0; pages < p.MaxPages; pages++ {
		page, err := call(ctx, p.CallTimeout, func(ctx context.Context) (masterdata.ChangePage, error) {
			return j.src.Changes(ctx, cursor, feedPageSize)
		})
		if err != nil {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("change feed: %w", err)
		}
		n, through, err := j.applyChanges(ctx, p, page.Changes, changed)
		res.Applied += n
		res.SyncedThrough = later(res.SyncedThrough, through)
		if err != nil {
			res.Changes = changed.change(ChangeProduct)
			return res, fmt.Errorf("applying changes: %w", err)
		}
		// The page is committed: later runs start after it.
		cursor, res.Cursor = page.NextCursor, page.NextCursor
		if !page.HasMore {
			res.Changes = changed.change(ChangeProduct)
			return res, nil
		}
	}
	res.More = true
	res.Changes = changed.change(ChangeProduct)
	return res, nil
}

// foldedChanges is one feed page reduced to the last word per SKU.
type foldedChanges struct {
	deleted   map[string]bool
	products  map[string]catalog.Product // whole products, price included
	prices    map[string]catalog.PriceUpdate
	inventory map[string]catalog.InventorySnapshot
	applied   int
	through   time.Time
}

// fold reduces changes, in feed order, to what must be written. A later
// change of a SKU overrides an earlier one of the same aspect; a price
// after a whole product amends that product; a deletion cancels everything
// before it, and any later change of the SKU cancels the deletion (the SKU
// came back).
func fold(changes []masterdata.Change, log func(masterdata.Change)) foldedChanges {
	f := foldedChanges{
		deleted:   map[string]bool{},
		products:  map[string]catalog.Product{},
		prices:    map[string]catalog.PriceUpdate{},
		inventory: map[string]catalog.InventorySnapshot{},
	}
	for _, ch := range changes {
		sku := ch.SKU
		switch ch.Kind {
		case masterdata.ChangeProduct:
			delete(f.deleted, sku)
			delete(f.prices, sku)
			f.products[sku] = toCatalogProduct(ch.Product)
		case masterdata.ChangePrice:
			delete(f.deleted, sku)
			if cp, ok := f.products[sku]; ok {
				cp.PriceAmount, cp.Currency = ch.Price.Amount, ch.Price.Currency
				f.products[sku] = cp
			} else {
				f.prices[sku] = catalog.PriceUpdate{SKU: sku, Amount: ch.Price.Amount, Currency: ch.Price.Currency}
			}
		case masterdata.ChangeInventory:
			delete(f.deleted, sku)
			f.inventory[sku] = toSnapshot(ch.Inventory)
		case ChangeDeleted:
			delete(f.products, sku)
			delete(f.prices, sku)
			delete(f.inventory, sku)
			f.deleted[sku] = true
		default:
			log(ch)
			continue
		}
		f.applied++
		f.through = later(f.through, ch.ChangedAt)
	}
	return f
}

// applyChanges writes one page of the feed. Every write is an idempotent
// upsert or delete, so a page applied twice (a run that failed after
// writing but before its cursor was saved) is harmless.
func (j *MasterdataJob) applyChanges(ctx context.Context, p RunParams, changes []masterdata.Change, changed idSet) (int, time.Time, error) {
	f := fold(changes, func(ch masterdata.Change) {
		p.Logger.Debug("skipping unknown master data change", "job", MasterdataJobName, "kind", ch.Kind, "id", ch.ID)
	})
	now := p.Now()

	// Product IDs of every SKU touched, for deletions and OnChange.
	touched := slices.Concat(slices.Collect(maps.Keys(f.deleted)), slices.Collect(maps.Keys(f.prices)), slices.Collect(maps.Keys(f.inventory)))
	known, err := j.store.ProductsBySKU(ctx, touched)
	if err != nil {
		return 0, f.through, err
	}

	var goneIDs []string
	for sku := range f.deleted {
		if cp, ok := known[sku]; ok {
			goneIDs = append(goneIDs, cp.ID)
		}
	}
	if err := j.store.DeleteProducts(ctx, goneIDs); err != nil {
		return 0, f.through, err
	}
	if err := j.store.DeleteInventory(ctx, slices.Collect(maps.Keys(f.deleted))); err != nil {
		return 0, f.through, err
	}
	changed.add(goneIDs...)

	products := slices.Collect(maps.Values(f.products))
	if _, err := j.upsertProducts(ctx, p, products); err != nil {
		return 0, f.through, err
	}
	for _, cp := range products {
		changed.add(cp.ID)
	}

	prices := slices.Collect(maps.Values(f.prices))
	missing, err := j.store.UpdatePrices(ctx, prices, now)
	if err != nil {
		return 0, f.through, err
	}
	for _, u := range prices {
		changed.add(known[u.SKU].ID)
	}
	// A price for a product the mirror does not have: the mirror missed
	// the product (or it is new), so fetch it whole, price included.
	if err := j.fetchMissing(ctx, p, missing, changed); err != nil {
		return 0, f.through, err
	}

	snaps := slices.Collect(maps.Values(f.inventory))
	if err := j.store.UpsertInventory(ctx, snaps, now); err != nil {
		return 0, f.through, err
	}
	for _, s := range snaps {
		changed.add(known[s.SKU].ID)
	}
	return f.applied, f.through, nil
}

// fetchMissing reads products the mirror lacks from the origin and writes
// them; a SKU the origin no longer knows is skipped, its deletion being on
// the feed.
func (j *MasterdataJob) fetchMissing(ctx context.Context, p RunParams, skus []string, changed idSet) error {
	var fetched []catalog.Product
	for _, sku := range skus {
		mp, err := call(ctx, p.CallTimeout, func(ctx context.Context) (masterdata.Product, error) {
			return j.src.Product(ctx, sku)
		})
		if apierr.KindOf(err) == apierr.NotFound {
			continue
		}
		if err != nil {
			return fmt.Errorf("product %s for its price change: %w", sku, err)
		}
		fetched = append(fetched, toCatalogProduct(mp))
	}
	written, err := j.upsertProducts(ctx, p, fetched)
	if err != nil {
		return err
	}
	for _, cp := range written {
		changed.add(cp.ID)
	}
	return nil
}

// upsertProducts writes products, first deleting mirrored products whose
// SKU moved to another product ID in the master (the mirror's SKUs are
// unique, so the new owner could not be written otherwise). A batch the
// mirror refuses as invalid is retried product by product, skipping and
// logging the invalid ones, so that one malformed record does not stop the
// sync of every other. It returns the products written.
func (j *MasterdataJob) upsertProducts(ctx context.Context, p RunParams, products []catalog.Product) ([]catalog.Product, error) {
	if len(products) == 0 {
		return nil, nil
	}
	inBatch := make(map[string]bool, len(products))
	skus := make([]string, 0, len(products))
	for _, cp := range products {
		inBatch[cp.ID] = true
		skus = append(skus, cp.SKU)
	}
	holders, err := j.store.ProductsBySKU(ctx, skus)
	if err != nil {
		return nil, err
	}
	var displaced []string
	for _, held := range holders {
		if !inBatch[held.ID] {
			displaced = append(displaced, held.ID)
		}
	}
	if err := j.store.DeleteProducts(ctx, displaced); err != nil {
		return nil, err
	}
	now := p.Now()
	err = j.store.UpsertProducts(ctx, products, now)
	if !errors.Is(err, catalog.ErrInvalidProduct) {
		if err != nil {
			return nil, err
		}
		return products, nil
	}
	var written []catalog.Product
	for _, cp := range products {
		err := j.store.UpsertProducts(ctx, []catalog.Product{cp}, now)
		switch {
		case errors.Is(err, catalog.ErrInvalidProduct):
			p.Logger.Warn("skipping a product the mirror cannot hold", "job", MasterdataJobName, "sku", cp.SKU, "err", err)
		case err != nil:
			return written, err
		default:
			written = append(written, cp)
		}
	}
	return written, nil
}

func toCatalogProduct(mp masterdata.Product) catalog.Product {
	images := make([]catalog.Image, 0, len(mp.Images))
	for _, im := range mp.Images {
		var alt catalog.LocalizedText
		if len(im.Alt) > 0 {
			alt = catalog.LocalizedText(maps.Clone(im.Alt))
		}
		images = append(images, catalog.Image{URL: im.URL, Alt: alt})
	}
	return catalog.Product{
		ID:          mp.ID,
		SKU:         mp.SKU,
		CategoryID:  mp.Category,
		Name:        catalog.LocalizedText(maps.Clone(mp.Name)),
		Description: catalog.LocalizedText(maps.Clone(mp.Description)),
		PriceAmount: mp.PriceAmount,
		Currency:    mp.Currency,
		Images:      images,
	}
}

func toSnapshot(inv masterdata.Inventory) catalog.InventorySnapshot {
	return catalog.InventorySnapshot{SKU: inv.SKU, Available: inv.Available, SourceUpdatedAt: inv.UpdatedAt}
}
