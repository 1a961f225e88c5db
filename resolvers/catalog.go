package resolvers

import (
	"context"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"meridian/adapters/catalog"
	"meridian/internal/apierr"
	"meridian/internal/locale"
	"meridian/resolvers/model"
)

// requestLocale is the locale a top-level field answers in: its explicit
// `locale` argument when given, else the one negotiated for the request.
func requestLocale(ctx context.Context, arg *string) (locale.Locale, error) {
	if arg == nil {
		return locale.FromContext(ctx), nil
	}
	loc, err := locale.Parse(*arg)
	if err != nil {
		return locale.Locale{}, apierr.Wrap(apierr.BadUserInput, err, "locale: %v", err)
	}
	return loc, nil
}

// cursorPrefix versions the cursor format so it can change without old
// cursors being misread.
const cursorPrefix = "v1:"

func encodeCursor(productID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + productID))
}

func decodeCursor(cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) || len(raw) == len(cursorPrefix) {
		return "", apierr.New(apierr.BadUserInput, "after: %q is not a cursor returned by this API", truncate(cursor, 64))
	}
	return string(raw[len(cursorPrefix):]), nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// categoryIndex maps category IDs to their GraphQL models in one locale.
type categoryIndex map[string]*model.Category

// productView is how products are answered below one field: in which
// locale, and which of their parts the query selects, read from the
// selection once. Parts it does not select are not built, categories are
// read only when selected (or needed to check a category filter), and
// inventory is prefetched only in the consistencies asked for.
type productView struct {
	loc                 locale.Locale
	images, description bool
	cats                categoryIndex // nil unless needed
	// cachedStock and liveStock say in which consistencies the query asks
	// for inventory, for prefetchInventory.
	cachedStock, liveStock bool
}

// productView works out the view for products below the current field
// along path (for example "edges", "node" under search).
func (r *Resolver) productView(ctx context.Context, loc locale.Locale, needCategories bool, path ...string) (productView, error) {
	v := productView{loc: loc}
	for _, f := range selectedBelow(ctx, path) {
		switch f.Name {
		case "images":
			v.images = true
		case "description":
			v.description = true
		case "category":
			needCategories = true
		case "inventory":
			if isLive(ctx, f) {
				v.liveStock = true
			} else {
				v.cachedStock = true
			}
		}
	}
	if needCategories {
		cats, err := r.categoryIndex(ctx, loc)
		if err != nil {
			return v, err
		}
		v.cats = cats
	}
	return v, nil
}

func (r *Resolver) categoryIndex(ctx context.Context, loc locale.Locale) (categoryIndex, error) {
	cats, err := r.catalog.Categories(ctx)
	if err != nil {
		return nil, err
	}
	idx := make(categoryIndex, len(cats))
	for _, c := range cats {
		idx[c.ID] = &model.Category{ID: c.ID, Name: loc.Pick(c.Name), Position: c.Position}
	}
	return idx, nil
}

// model maps a mirrored product to its GraphQL model. The work is done
// once per product so the generated code reads plain fields.
func (v productView) model(p catalog.Product) *model.Product {
	m := &model.Product{
		ID:       p.ID,
		Sku:      p.SKU,
		Name:     v.loc.Pick(p.Name),
		Price:    model.NewMoney(p.PriceAmount, p.Currency, v.loc),
		Category: v.cats[p.CategoryID],
		Freshness: &model.Freshness{
			Source: model.DataSourceMirror,
			AsOf:   p.MirroredAt.UTC(),
		},
	}
	if v.description {
		if d := v.loc.Pick(p.Description); d != "" {
			m.Description = &d
		}
	}
	if v.images {
		m.Images = make([]*model.Image, len(p.Images))
		for i, img := range p.Images {
			m.Images[i] = &model.Image{URL: img.URL}
			if alt := v.loc.Pick(img.Alt); alt != "" {
				m.Images[i].Alt = &alt
			}
		}
	}
	return m
}
