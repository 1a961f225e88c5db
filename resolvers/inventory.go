package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"meridian/internal/apierr"
	"meridian/internal/degraded"
	"meridian/internal/guard"
	"meridian/internal/loaders"
	"meridian/internal/respcache"
	"meridian/resolvers/model"

	gqlmodel "meridian/graph/model"
)

// lowStockThreshold is the most units still shown as LOW_STOCK.
const lowStockThreshold = 10

// inventory loads one product's inventory through the request's loaders
// and reports a fallback in the response's degraded list.
func inventory(ctx context.Context, sku string, consistency *gqlmodel.Consistency) (*gqlmodel.Inventory, error) {
	ls := loaders.For(ctx)
	if ls == nil {
		return nil, apierr.New(apierr.Internal, "inventory loaders are not installed")
	}
	loader := ls.InventoryCached
	if consistency != nil && *consistency == gqlmodel.ConsistencyLive {
		loader = ls.InventoryLive
		// A cache hint cannot depend on an argument: keep a response
		// that asked for live stock out of the response cache.
		respcache.NoStore(ctx)
	}
	item, err := loader.Load(ctx, sku)()
	if err != nil {
		return nil, err
	}
	if item.Err != nil { // primed items carry their error inside
		return nil, item.Err
	}
	if !item.Found {
		return nil, apierr.New(apierr.NotFound, "master data has no inventory for %s", sku)
	}
	if item.Stale {
		degraded.Add(ctx, degraded.Field{
			Path:   graphql.GetFieldContext(ctx).Path().String(),
			Origin: "masterdata",
			Reason: string(item.Reason),
			AsOf:   item.AsOf.UTC(),
		})
	}
	return &gqlmodel.Inventory{
		Available: item.Value.Available,
		Status:    stockStatus(item.Value.Available),
		Freshness: &model.Freshness{Source: source(item.Source), AsOf: item.AsOf.UTC(), Stale: item.Stale},
	}, nil
}

func stockStatus(available int) gqlmodel.StockStatus {
	switch {
	case available <= 0:
		return gqlmodel.StockStatusOutOfStock
	case available <= lowStockThreshold:
		return gqlmodel.StockStatusLowStock
	default:
		return gqlmodel.StockStatusInStock
	}
}

func source(s guard.Source) model.DataSource {
	switch s {
	case guard.SourceLive:
		return model.DataSourceLive
	case guard.SourceMirror:
		return model.DataSourceMirror
	}
	return model.DataSourceCache
}

// prefetchInventory starts the inventory of a list of products in one
// batch per consistency the query selects under fieldPath (for example
// "edges", "node" under search). A failed prefetch is not an error: the
// per-field loads then fetch (and report) on their own.
func prefetchInventory(ctx context.Context, products []*model.Product, fieldPath ...string) {
	ls := loaders.For(ctx)
	if ls == nil || len(products) == 0 {
		return
	}
	cached, live := selectedConsistencies(ctx, fieldPath)
	if !cached && !live {
		return
	}
	skus := make([]string, 0, len(products))
	for _, p := range products {
		if p != nil {
			skus = append(skus, p.Sku)
		}
	}
	if cached {
		_ = ls.PrefetchInventory(ctx, skus, false)
	}
	if live {
		_ = ls.PrefetchInventory(ctx, skus, true)
	}
}

// selectedConsistencies reports which consistencies the query asks
// `inventory` in, below the current field along path.
func selectedConsistencies(ctx context.Context, path []string) (cached, live bool) {
	opCtx := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	for _, name := range path {
		var next []graphql.CollectedField
		for _, f := range fields {
			if f.Name == name {
				next = append(next, graphql.CollectFields(opCtx, f.Selections, nil)...)
			}
		}
		fields = next
	}
	for _, f := range fields {
		if f.Name != "inventory" {
			continue
		}
		args := f.ArgumentMap(opCtx.Variables)
		if c, _ := args["consistency"].(string); c == string(gqlmodel.ConsistencyLive) {
			live = true
		} else {
			cached = true
		}
	}
	return cached, live
}
