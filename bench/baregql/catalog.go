package baregql

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"meridian/bench/baregql/graph/model"
	"meridian/internal/globalsim"
)

// The locales the server answers in. Every request picks one; the catalog
// holds a complete copy of its answers per locale.
const (
	localeHans = iota // zh-Hans, the default
	localeHant        // zh-Hant
	localeEn          // en
	localeCount
)

// localeKeys are the seed's keys of the locales, indexed like the constants.
func localeKeys() [localeCount]string { return [...]string{"zh-Hans", "zh-Hant", "en"} }

// pickLocale maps the `locale` argument to a locale the catalog holds:
// Traditional Chinese for zh-Hant and the regions that write it, English
// for any en tag, and zh-Hans for everything else, absent included.
func pickLocale(arg *string) int {
	if arg == nil {
		return localeHans
	}
	tag := strings.ToLower(*arg)
	switch {
	case strings.HasPrefix(tag, "zh-hant"), strings.HasPrefix(tag, "zh-tw"),
		strings.HasPrefix(tag, "zh-hk"), strings.HasPrefix(tag, "zh-mo"):
		return localeHant
	case tag == "en" || strings.HasPrefix(tag, "en-"):
		return localeEn
	}
	return localeHans
}

// lowStockThreshold is the most units still shown as LOW_STOCK.
const lowStockThreshold = 10

// maxPageSize is the most products one search page may ask for.
const maxPageSize = 100

// priceFormat is a seed price: digits, a point and two digits.
var priceFormat = regexp.MustCompile(`^(0|[1-9][0-9]*)\.[0-9]{2}$`)

// seedFile is the part of catalog.json the server reads.
type seedFile struct {
	Currency   string         `json:"currency"`
	Categories []seedCategory `json:"categories"`
	Products   []seedProduct  `json:"products"`
}

type seedCategory struct {
	ID       string            `json:"id"`
	Position int               `json:"position"`
	Name     map[string]string `json:"name"`
}

type seedProduct struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Category    string            `json:"category"`
	Name        map[string]string `json:"name"`
	Description map[string]string `json:"description"`
	Price       string            `json:"price"`
	Currency    string            `json:"currency"`
	Images      []struct {
		URL string            `json:"url"`
		Alt map[string]string `json:"alt"`
	} `json:"images"`
}

// catalog is every answer the server gives, built once: a request only
// picks and slices.
type catalog struct {
	// views holds one copy of the catalog per locale.
	views [localeCount]view
	// inventory is each product's stock by product id, the same in every
	// locale.
	inventory map[string]*model.Inventory
}

// view is the catalog in one locale.
type view struct {
	// edges are every product, ordered by id, with its cursor.
	edges []*model.ProductEdge
	// byID finds a product by id.
	byID map[string]*model.Product
	// folded are the names of edges' products in lower case, for search.
	folded []string
}

// newCatalog parses seedJSON (testdata/catalog.json's format) and builds
// every answer, stamping catalog freshness with loadedAt. It refuses a seed
// without products, with a product lacking an id, with an id used twice or
// with a price that is not a decimal with two fraction digits.
func newCatalog(seedJSON []byte, loadedAt time.Time) (*catalog, error) {
	var seed seedFile
	if err := json.Unmarshal(seedJSON, &seed); err != nil {
		return nil, fmt.Errorf("catalog seed: %w", err)
	}
	if len(seed.Products) == 0 {
		return nil, errors.New("catalog seed: no products")
	}
	products := slices.Clone(seed.Products)
	slices.SortFunc(products, func(a, b seedProduct) int { return cmp.Compare(a.ID, b.ID) })
	var problems []error
	for i, p := range products {
		switch {
		case p.ID == "":
			problems = append(problems, fmt.Errorf("product #%d has no id", i))
		case i > 0 && products[i-1].ID == p.ID:
			problems = append(problems, fmt.Errorf("product id %q is used twice", p.ID))
		}
		if !priceFormat.MatchString(p.Price) {
			problems = append(problems, fmt.Errorf("product %q: price %q is not a decimal like 1299.00", p.ID, p.Price))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("catalog seed: %w", errors.Join(problems...))
	}

	asOf := loadedAt.UTC()
	c := &catalog{inventory: make(map[string]*model.Inventory, len(products))}
	for _, p := range products {
		available := globalsim.InitialAvailable(p.SKU)
		c.inventory[p.ID] = &model.Inventory{
			Available: available,
			Status:    stockStatus(available),
			Freshness: &model.Freshness{Source: model.DataSourceCache, AsOf: asOf},
		}
	}
	for loc := range localeCount {
		categories := make(map[string]*model.Category, len(seed.Categories))
		for _, sc := range seed.Categories {
			categories[sc.ID] = &model.Category{ID: sc.ID, Name: localized(sc.Name, loc), Position: sc.Position}
		}
		v := view{
			edges:  make([]*model.ProductEdge, len(products)),
			byID:   make(map[string]*model.Product, len(products)),
			folded: make([]string, len(products)),
		}
		for i, p := range products {
			currency := cmp.Or(p.Currency, seed.Currency)
			node := &model.Product{
				ID:    p.ID,
				Sku:   p.SKU,
				Name:  localized(p.Name, loc),
				Price: &model.Money{Amount: p.Price, Currency: currency, Formatted: formatMoney(p.Price, currency, loc)},
				// A product whose category the seed does not list has
				// none, as the schema allows.
				Category:  categories[p.Category],
				Freshness: &model.Freshness{Source: model.DataSourceMirror, AsOf: asOf},
				Images:    make([]*model.Image, len(p.Images)),
			}
			if d := localized(p.Description, loc); d != "" {
				node.Description = &d
			}
			for j, img := range p.Images {
				node.Images[j] = &model.Image{URL: img.URL}
				if alt := localized(img.Alt, loc); alt != "" {
					node.Images[j].Alt = &alt
				}
			}
			v.edges[i] = &model.ProductEdge{Cursor: encodeCursor(p.ID), Node: node}
			v.byID[p.ID] = node
			v.folded[i] = strings.ToLower(node.Name)
		}
		c.views[loc] = v
	}
	return c, nil
}

// localized returns texts in the locale, falling back to zh-Hans and then
// en; "" when it has none of them.
func localized(texts map[string]string, loc int) string {
	keys := localeKeys()
	return cmp.Or(texts[keys[loc]], texts[keys[localeHans]], texts[keys[localeEn]])
}

// searchRequest is a search's arguments, with the defaults applied.
type searchRequest struct {
	locale   int
	query    string // "" matches every product
	category string // "" matches every category
	first    int
	after    string // a cursor, "" for the first page
}

// search answers one page of a search. The edges of the answer are shared
// with every other answer and must not be changed.
func (c *catalog) search(req searchRequest) (*model.ProductConnection, error) {
	if req.first < 1 || req.first > maxPageSize {
		return nil, fmt.Errorf("first must be between 1 and %d", maxPageSize)
	}
	v := &c.views[req.locale]
	matches := v.edges
	if req.query != "" || req.category != "" {
		query := strings.ToLower(req.query)
		matches = nil
		for i, e := range v.edges {
			if query != "" && !strings.Contains(v.folded[i], query) {
				continue
			}
			if req.category != "" && (e.Node.Category == nil || e.Node.Category.ID != req.category) {
				continue
			}
			matches = append(matches, e)
		}
	}
	start := 0
	if req.after != "" {
		afterID, err := decodeCursor(req.after)
		if err != nil {
			return nil, err
		}
		// The first product after the cursor's, whether or not that one
		// is still in the catalog.
		start, _ = slices.BinarySearchFunc(matches, afterID, func(e *model.ProductEdge, id string) int {
			return cmp.Compare(e.Node.ID, id)
		})
		if start < len(matches) && matches[start].Node.ID == afterID {
			start++
		}
	}
	end := min(start+req.first, len(matches))
	page := &model.ProductConnection{
		Edges:      matches[start:end:end],
		PageInfo:   &model.PageInfo{HasNextPage: end < len(matches)},
		TotalCount: len(matches),
	}
	if end > start {
		page.PageInfo.EndCursor = &matches[end-1].Cursor
	}
	return page, nil
}

// product returns one product, or nil when the catalog has no such id.
func (c *catalog) product(id string, locale int) *model.Product {
	return c.views[locale].byID[id]
}

// encodeCursor makes the opaque cursor of a product.
func encodeCursor(productID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(productID))
}

func decodeCursor(cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) == 0 {
		return "", errors.New("after is not a cursor this server gave out")
	}
	return string(raw), nil
}

func stockStatus(available int) model.StockStatus {
	switch {
	case available <= 0:
		return model.StockStatusOutOfStock
	case available <= lowStockThreshold:
		return model.StockStatusLowStock
	default:
		return model.StockStatusInStock
	}
}

// formatMoney writes a seed price (validated by priceFormat) with its
// currency's symbol and grouped thousands, as CLDR does for these
// locales: "¥1,299.00" in zh-Hans, "CN¥1,299.00" where the yuan is not the
// home currency. Currencies without a symbol here are written with their
// code.
func formatMoney(amount, currency string, loc int) string {
	symbol := currency + "\u00a0"
	if currency == "CNY" {
		symbol = "CN¥"
		if loc == localeHans {
			symbol = "¥"
		}
	}
	whole, fraction, _ := strings.Cut(amount, ".")
	var b strings.Builder
	b.WriteString(symbol)
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	b.WriteByte('.')
	b.WriteString(fraction)
	return b.String()
}
