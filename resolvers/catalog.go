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

// productModel maps a mirrored product to its GraphQL model in loc. The work
// is done once per product so the generated code reads plain fields.
func productModel(p catalog.Product, loc locale.Locale, cats categoryIndex) *model.Product {
	m := &model.Product{
		ID:       p.ID,
		Sku:      p.SKU,
		Name:     loc.Pick(p.Name),
		Price:    model.NewMoney(p.PriceAmount, p.Currency, loc),
		Images:   make([]*model.Image, len(p.Images)),
		Category: cats[p.CategoryID],
		Freshness: &model.Freshness{
			Source: model.DataSourceMirror,
			AsOf:   p.MirroredAt.UTC(),
		},
	}
	if d := loc.Pick(p.Description); d != "" {
		m.Description = &d
	}
	for i, img := range p.Images {
		m.Images[i] = &model.Image{URL: img.URL}
		if alt := loc.Pick(img.Alt); alt != "" {
			m.Images[i].Alt = &alt
		}
	}
	return m
}
