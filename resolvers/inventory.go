package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"meridian/internal/apierr"
	"meridian/internal/degraded"
	"meridian/internal/guard"
	"meridian/internal/loaders"
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
	}
	item, err := loader.Load(ctx, sku)()
	if err != nil {
		return nil, err
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
