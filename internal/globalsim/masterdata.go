package globalsim

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxBatchSKUs is the most SKUs one inventory or price batch lookup may name.
// The real master data service enforces such a bound; a client that needs
// more splits its batch.
const MaxBatchSKUs = 500

// Change kinds of the master data feed.
const (
	ChangeProduct   = "product"   // names, descriptions, category or images changed
	ChangePrice     = "price"     // the authoritative price changed
	ChangeInventory = "inventory" // the available quantity changed
	ChangeDeleted   = "deleted"   // the SKU left the master: it is gone from lookups and the listing
)

var (
	currencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
	localeKeyPattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
)

// image is a product or page picture.
type image struct {
	URL string            `json:"url"`
	Alt map[string]string `json:"alt,omitempty"`
}

// seedCatalog is the catalog seed format of testdata/catalog.json. Fields the
// simulator does not serve (categories) are ignored.
type seedCatalog struct {
	Currency string        `json:"currency"`
	Products []seedProduct `json:"products"`
}

type seedProduct struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Category    string            `json:"category"`
	Name        map[string]string `json:"name"`
	Description map[string]string `json:"description"`
	Price       string            `json:"price"`
	Currency    string            `json:"currency"`
	Images      []image           `json:"images"`
}

// mdProduct is the master record of one SKU: product texts, authoritative
// price and inventory, each with the time it last changed.
type mdProduct struct {
	ID, SKU, Category  string
	Name, Description  map[string]string
	Images             []image
	PriceCents         int64
	Currency           string
	Available          int
	UpdatedAt          time.Time // texts, category, images
	PriceUpdatedAt     time.Time
	InventoryUpdatedAt time.Time
}

// productJSON is a product as the master data service returns it.
type productJSON struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Category    string            `json:"category"`
	Name        map[string]string `json:"name"`
	Description map[string]string `json:"description"`
	Price       string            `json:"price"`
	Currency    string            `json:"currency"`
	Images      []image           `json:"images"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

type inventoryItem struct {
	SKU       string    `json:"sku"`
	Available int       `json:"available"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type priceItem struct {
	SKU       string    `json:"sku"`
	Price     string    `json:"price"`
	Currency  string    `json:"currency"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// mdChange is one entry of the master data change feed. Which of Product,
// Price/Currency and Available is set depends on Kind; a deletion carries
// none of them.
type mdChange struct {
	ID        string       `json:"id"`
	Kind      string       `json:"kind"`
	SKU       string       `json:"sku"`
	ChangedAt time.Time    `json:"changedAt"`
	Product   *productJSON `json:"product,omitempty"`
	Price     string       `json:"price,omitempty"`
	Currency  string       `json:"currency,omitempty"`
	Available *int         `json:"available,omitempty"`
}

// masterdata is the simulated Product & Inventory Master.
type masterdata struct {
	mu      sync.Mutex
	bySKU   map[string]*mdProduct
	skus    []string // sorted, for stable listing
	changes *feed[mdChange]
}

// InitialAvailable returns the quantity a SKU starts with. It is a pure
// function of the SKU, so every run, test and demo sees the same shelves:
// about one SKU in ten is out of stock (0), about three in twenty are low
// (1 to 5), the rest hold 6 to 250 units.
func InitialAvailable(sku string) int {
	h := fnv.New64a()
	h.Write([]byte(sku))
	sum := h.Sum64()
	bucket, rest := sum%100, sum/100
	switch {
	case bucket < 10:
		return 0
	case bucket < 25:
		return 1 + int(rest%5)
	default:
		return 6 + int(rest%245)
	}
}

func newMasterdata(seed []byte, now time.Time, retention int) (*masterdata, error) {
	var sc seedCatalog
	if err := json.Unmarshal(seed, &sc); err != nil {
		return nil, fmt.Errorf("catalog seed: %w", err)
	}
	if len(sc.Products) == 0 {
		return nil, errors.New("catalog seed: no products")
	}
	md := &masterdata{
		bySKU:   make(map[string]*mdProduct, len(sc.Products)),
		changes: newFeed[mdChange]("md", retention),
	}
	ids := make(map[string]bool, len(sc.Products))
	for i, sp := range sc.Products {
		p, err := sp.toProduct(sc.Currency, now)
		if err != nil {
			return nil, fmt.Errorf("catalog seed: product %d: %w", i, err)
		}
		if md.bySKU[p.SKU] != nil || ids[p.ID] {
			return nil, fmt.Errorf("catalog seed: product %d: duplicate id %q or sku %q", i, p.ID, p.SKU)
		}
		ids[p.ID] = true
		md.bySKU[p.SKU] = p
		md.skus = append(md.skus, p.SKU)
	}
	slices.Sort(md.skus)
	return md, nil
}

func (sp seedProduct) toProduct(defaultCurrency string, now time.Time) (*mdProduct, error) {
	if sp.ID == "" || strings.TrimSpace(sp.SKU) != sp.SKU || sp.SKU == "" {
		return nil, fmt.Errorf("id %q, sku %q: both are required and the sku has no surrounding spaces", sp.ID, sp.SKU)
	}
	cents, err := parseMoney(sp.Price)
	if err != nil {
		return nil, fmt.Errorf("sku %s: price: %w", sp.SKU, err)
	}
	currency := cmp.Or(sp.Currency, defaultCurrency)
	if !currencyPattern.MatchString(currency) {
		return nil, fmt.Errorf("sku %s: currency %q is not an ISO 4217 code", sp.SKU, currency)
	}
	return &mdProduct{
		ID: sp.ID, SKU: sp.SKU, Category: sp.Category,
		Name: nonNil(sp.Name), Description: nonNil(sp.Description), Images: sp.Images,
		PriceCents: cents, Currency: currency,
		Available: InitialAvailable(sp.SKU),
		UpdatedAt: now, PriceUpdatedAt: now, InventoryUpdatedAt: now,
	}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (p *mdProduct) toJSON() productJSON {
	images := p.Images
	if images == nil {
		images = []image{}
	}
	return productJSON{
		ID: p.ID, SKU: p.SKU, Category: p.Category,
		Name: maps.Clone(p.Name), Description: maps.Clone(p.Description),
		Price: formatMoney(p.PriceCents), Currency: p.Currency,
		Images: slices.Clone(images), UpdatedAt: p.UpdatedAt,
	}
}

func (p *mdProduct) inventory() inventoryItem {
	return inventoryItem{SKU: p.SKU, Available: p.Available, UpdatedAt: p.InventoryUpdatedAt}
}

func (p *mdProduct) price() priceItem {
	return priceItem{SKU: p.SKU, Price: formatMoney(p.PriceCents), Currency: p.Currency, UpdatedAt: p.PriceUpdatedAt}
}

// skuBatch is the request body of the batch lookups: {"skus":[...]}.
type skuBatch struct {
	SKUs []string `json:"skus"`
}

// distinct validates the batch and returns its SKUs without repeats, in the
// order of first appearance.
func (b skuBatch) distinct() ([]string, error) {
	if len(b.SKUs) == 0 {
		return nil, newAPIError(http.StatusBadRequest, "invalid_request", "skus: at least one SKU is required")
	}
	if len(b.SKUs) > MaxBatchSKUs {
		return nil, newAPIError(http.StatusBadRequest, "batch_too_large",
			"skus: %d SKUs in one batch, at most %d are allowed; split the batch", len(b.SKUs), MaxBatchSKUs)
	}
	seen := make(map[string]bool, len(b.SKUs))
	out := make([]string, 0, len(b.SKUs))
	for _, s := range b.SKUs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// batchResult is the response of the batch lookups: the items found, in
// request order, and the requested SKUs the master does not know.
type batchResult[T any] struct {
	Items   []T      `json:"items"`
	Missing []string `json:"missing"`
}

func batchLookup[T any](md *masterdata, skus []string, item func(*mdProduct) T) batchResult[T] {
	md.mu.Lock()
	defer md.mu.Unlock()
	res := batchResult[T]{Items: make([]T, 0, len(skus)), Missing: []string{}}
	for _, s := range skus {
		if p := md.bySKU[s]; p != nil {
			res.Items = append(res.Items, item(p))
		} else {
			res.Missing = append(res.Missing, s)
		}
	}
	return res
}

func (s *Sim) handleBatchGetInventory(w http.ResponseWriter, r *http.Request) {
	serveBatch(s.md, w, r, (*mdProduct).inventory)
}

func (s *Sim) handleBatchGetPrices(w http.ResponseWriter, r *http.Request) {
	serveBatch(s.md, w, r, (*mdProduct).price)
}

func serveBatch[T any](md *masterdata, w http.ResponseWriter, r *http.Request, item func(*mdProduct) T) {
	var b skuBatch
	if err := decodeJSON(r, &b); err != nil {
		writeErr(w, err)
		return
	}
	skus, err := b.distinct()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, batchLookup(md, skus, item))
}

func (s *Sim) handleGetProduct(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	s.md.mu.Lock()
	p := s.md.bySKU[sku]
	var out productJSON
	if p != nil {
		out = p.toJSON()
	}
	s.md.mu.Unlock()
	if p == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no product with sku %q", sku))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// productPage is one page of the full product listing, ordered by SKU.
// NextCursor is empty on the last page.
type productPage struct {
	Products   []productJSON `json:"products"`
	NextCursor string        `json:"nextCursor"`
	HasMore    bool          `json:"hasMore"`
}

const productCursorTag = "products:"

func (s *Sim) handleListProducts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q, defaultPageLimit)
	if err != nil {
		writeErr(w, err)
		return
	}
	after, err := decodeProductCursor(q.Get("cursor"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.md.listProducts(after, limit))
}

func decodeProductCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	after, ok := strings.CutPrefix(string(raw), productCursorTag)
	if err != nil || !ok {
		return "", newAPIError(http.StatusBadRequest, "cursor_invalid", "cursor %q was not issued by the product listing", c)
	}
	return after, nil
}

func (md *masterdata) listProducts(after string, limit int) productPage {
	md.mu.Lock()
	defer md.mu.Unlock()
	start, found := slices.BinarySearch(md.skus, after)
	if found {
		start++
	}
	end := min(start+limit, len(md.skus))
	page := productPage{Products: make([]productJSON, 0, end-start)}
	for _, sku := range md.skus[start:end] {
		page.Products = append(page.Products, md.bySKU[sku].toJSON())
	}
	if end < len(md.skus) {
		page.HasMore = true
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(productCursorTag + md.skus[end-1]))
	}
	return page
}

func (s *Sim) handleMasterdataChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q, defaultPageLimit)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.md.mu.Lock()
	page, err := s.md.changes.page(q.Get("cursor"), limit)
	s.md.mu.Unlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// productPatch is the body of PATCH /admin/masterdata/products/{sku}. Absent
// fields are left alone; localized texts are merged key by key.
type productPatch struct {
	Price       *string           `json:"price"`
	Available   *int              `json:"available"`
	Name        map[string]string `json:"name"`
	Description map[string]string `json:"description"`
}

// patchResult is what the admin PATCH answers: the product after the change,
// its inventory, and the feed entries the change appended.
type patchResult struct {
	Product   productJSON   `json:"product"`
	Inventory inventoryItem `json:"inventory"`
	Changes   []mdChange    `json:"changes"`
}

const maxAvailable = 1_000_000_000

func (pp productPatch) validate() (priceCents int64, err error) {
	if pp.Price == nil && pp.Available == nil && pp.Name == nil && pp.Description == nil {
		return 0, newAPIError(http.StatusBadRequest, "invalid_request", "nothing to change: set price, available, name or description")
	}
	if pp.Price != nil {
		if priceCents, err = parseMoney(*pp.Price); err != nil {
			return 0, newAPIError(http.StatusBadRequest, "invalid_request", "price: %v", err)
		}
	}
	if pp.Available != nil && (*pp.Available < 0 || *pp.Available > maxAvailable) {
		return 0, newAPIError(http.StatusBadRequest, "invalid_request", "available: %d is not between 0 and %d", *pp.Available, maxAvailable)
	}
	if err := validateLocalized("name", pp.Name); err != nil {
		return 0, err
	}
	if err := validateLocalized("description", pp.Description); err != nil {
		return 0, err
	}
	return priceCents, nil
}

// validateLocalized checks a partial localized text: locale-like keys and
// non-empty texts (there is no way to delete a language, as in the master).
func validateLocalized(field string, texts map[string]string) error {
	for k, v := range texts {
		if !localeKeyPattern.MatchString(k) {
			return newAPIError(http.StatusBadRequest, "invalid_request", "%s: %q is not a locale key such as \"zh-Hans\" or \"en\"", field, k)
		}
		if strings.TrimSpace(v) == "" {
			return newAPIError(http.StatusBadRequest, "invalid_request", "%s.%s: text must not be empty", field, k)
		}
	}
	return nil
}

// patch applies an operator's change to one SKU and appends one feed entry
// per kind of change, in the order product, price, inventory.
func (md *masterdata) patch(sku string, pp productPatch, now time.Time) (patchResult, error) {
	priceCents, err := pp.validate()
	if err != nil {
		return patchResult{}, err
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	p := md.bySKU[sku]
	if p == nil {
		return patchResult{}, newAPIError(http.StatusNotFound, "not_found", "no product with sku %q", sku)
	}
	var changes []mdChange
	if pp.Name != nil || pp.Description != nil {
		p.Name, p.Description = mergeTexts(p.Name, pp.Name), mergeTexts(p.Description, pp.Description)
		p.UpdatedAt = now
		changes = append(changes, md.recordProduct(p, now))
	}
	if pp.Price != nil {
		p.PriceCents, p.PriceUpdatedAt = priceCents, now
		changes = append(changes, md.recordPrice(p, now))
	}
	if pp.Available != nil {
		p.Available, p.InventoryUpdatedAt = *pp.Available, now
		changes = append(changes, md.recordInventory(p, now))
	}
	return patchResult{Product: p.toJSON(), Inventory: p.inventory(), Changes: changes}, nil
}

// deleteResult is what the admin DELETE answers: the SKU removed and the
// feed entry its removal appended.
type deleteResult struct {
	SKU    string   `json:"sku"`
	Change mdChange `json:"change"`
}

// remove takes a SKU out of the master, as a back-office user retiring a
// product would: it disappears from lookups and the listing, and the feed
// records its deletion so that mirrors drop it too. Orders already placed
// keep their lines; new orders naming the SKU are refused as unknown.
func (md *masterdata) remove(sku string, now time.Time) (deleteResult, error) {
	md.mu.Lock()
	defer md.mu.Unlock()
	if md.bySKU[sku] == nil {
		return deleteResult{}, newAPIError(http.StatusNotFound, "not_found", "no product with sku %q", sku)
	}
	delete(md.bySKU, sku)
	if i, found := slices.BinarySearch(md.skus, sku); found {
		md.skus = slices.Delete(md.skus, i, i+1)
	}
	change := md.changes.add(func(id string) mdChange {
		return mdChange{ID: id, Kind: ChangeDeleted, SKU: sku, ChangedAt: now}
	})
	return deleteResult{SKU: sku, Change: change}, nil
}

func mergeTexts(base, patch map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(patch))
	maps.Copy(out, base)
	maps.Copy(out, patch)
	return out
}

// The record* helpers append a feed entry; callers hold md.mu.

func (md *masterdata) recordProduct(p *mdProduct, now time.Time) mdChange {
	pj := p.toJSON()
	return md.changes.add(func(id string) mdChange {
		return mdChange{ID: id, Kind: ChangeProduct, SKU: p.SKU, ChangedAt: now, Product: &pj}
	})
}

func (md *masterdata) recordPrice(p *mdProduct, now time.Time) mdChange {
	return md.changes.add(func(id string) mdChange {
		return mdChange{ID: id, Kind: ChangePrice, SKU: p.SKU, ChangedAt: now, Price: formatMoney(p.PriceCents), Currency: p.Currency}
	})
}

func (md *masterdata) recordInventory(p *mdProduct, now time.Time) mdChange {
	available := p.Available
	return md.changes.add(func(id string) mdChange {
		return mdChange{ID: id, Kind: ChangeInventory, SKU: p.SKU, ChangedAt: now, Available: &available}
	})
}

// reservation is one order line as the master checks it.
type reservation struct {
	SKU       string
	Quantity  int
	UnitCents int64
}

// reserve checks order lines against the master (known SKU, currency,
// authoritative price, stock) and, only if every line passes, takes the
// quantities off the shelf, recording inventory changes. Checking before
// taking keeps a rejected order from touching stock.
func (md *masterdata) reserve(lines []reservation, currency string, now time.Time) error {
	md.mu.Lock()
	defer md.mu.Unlock()
	if err := md.checkLines(lines, currency); err != nil {
		return err
	}
	for _, l := range lines {
		p := md.bySKU[l.SKU]
		p.Available -= l.Quantity
		p.InventoryUpdatedAt = now
		md.recordInventory(p, now)
	}
	return nil
}

func (md *masterdata) checkLines(lines []reservation, currency string) error {
	var unknown, wrongCurrency, wrongPrice, short []string
	for _, l := range lines {
		p := md.bySKU[l.SKU]
		switch {
		case p == nil:
			unknown = append(unknown, l.SKU)
		case p.Currency != currency:
			wrongCurrency = append(wrongCurrency, l.SKU)
		case p.PriceCents != l.UnitCents:
			wrongPrice = append(wrongPrice, l.SKU)
		case p.Available < l.Quantity:
			short = append(short, l.SKU)
		}
	}
	switch {
	case unknown != nil:
		return newAPIError(http.StatusUnprocessableEntity, "unknown_sku", "unknown SKUs: %s", strings.Join(unknown, ", ")).withSKUs(unknown)
	case wrongCurrency != nil:
		return newAPIError(http.StatusUnprocessableEntity, "currency_mismatch", "SKUs not sold in %s: %s", currency, strings.Join(wrongCurrency, ", ")).withSKUs(wrongCurrency)
	case wrongPrice != nil:
		return newAPIError(http.StatusUnprocessableEntity, "price_mismatch", "unit price differs from the authoritative price for: %s", strings.Join(wrongPrice, ", ")).withSKUs(wrongPrice)
	case short != nil:
		return newAPIError(http.StatusUnprocessableEntity, "insufficient_stock", "not enough stock for: %s", strings.Join(short, ", ")).withSKUs(short)
	}
	return nil
}

func (md *masterdata) count() int {
	md.mu.Lock()
	defer md.mu.Unlock()
	return len(md.skus)
}
