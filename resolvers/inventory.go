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
	live := consistency != nil && *consistency == gqlmodel.ConsistencyLive
	if live {
		// A cache hint cannot depend on an argument: keep a response
		// that asked for live stock out of the response cache.
		respcache.NoStore(ctx)
	}
	item, err := ls.Inventory(ctx, sku, live)
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
// batch per consistency the view's selection asks for. A failed prefetch
// is not an error: the per-field loads then fetch (and report) on their
// own.
func (v productView) prefetchInventory(ctx context.Context, products []*model.Product) {
	ls := loaders.For(ctx)
	if ls == nil || len(products) == 0 || (!v.cachedStock && !v.liveStock) {
		return
	}
	skus := make([]string, 0, len(products))
	for _, p := range products {
		if p != nil {
			skus = append(skus, p.Sku)
		}
	}
	if v.cachedStock {
		_ = ls.PrefetchInventory(ctx, skus, false)
	}
	if v.liveStock {
		_ = ls.PrefetchInventory(ctx, skus, true)
	}
}

// isLive reports whether a selected `inventory` field asks for LIVE stock.
func isLive(ctx context.Context, inventory graphql.CollectedField) bool {
	args := inventory.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	c, _ := args["consistency"].(string)
	return c == string(gqlmodel.ConsistencyLive)
}

// selectedBelow returns the fields the query selects below the current
// field along path (for example "edges", "node" under search), fragments
// and directives applied.
func selectedBelow(ctx context.Context, path []string) []graphql.CollectedField {
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
	return fields
}

// selects reports whether the query selects field directly below the
// current one (under any alias, fragments and directives applied).
func selects(ctx context.Context, field string) bool {
	for _, f := range selectedBelow(ctx, nil) {
		if f.Name == field {
			return true
		}
	}
	return false
}
