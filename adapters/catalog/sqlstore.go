package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// ErrInvalidProduct is returned (wrapped) by SQLStore writes given a product
// or category the mirror cannot hold, such as an empty ID or a malformed
// price. Nothing of the batch is written.
var ErrInvalidProduct = errors.New("catalog: invalid product")

// maxIDsPerQuery bounds the IN lists the store sends, well under the bind
// parameter limits of both engines (SQLite 32766, PostgreSQL 65535), so
// callers may pass any number of IDs.
const maxIDsPerQuery = 500

// maxParamsPerInsert bounds the bind parameters of one multi-row INSERT.
const maxParamsPerInsert = 900

// priceFormat is the canonical two-fraction-digit decimal that fits
// NUMERIC(12,2): no sign, no leading zeros, at most ten integer digits.
// Canonical form matters beyond validation: PostgreSQL would normalize
// "01.50" to "1.50" while SQLite keeps the text, and both engines must read
// back the same string.
var priceFormat = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)

// searchTextSeparator joins the parts of search_text. It is not a character
// people type into a search box, so a query cannot match across the end of
// one name and the start of the next.
const searchTextSeparator = "\n"

// productColumns is what selectProducts scans, in order. The price is cast
// to text so PostgreSQL's NUMERIC(12,2) reads back as "1299.00" with its two
// fraction digits, never through a float; on SQLite the cast is a no-op.
const productColumns = `p.id, p.sku, p.category_id, CAST(p.price_amount AS TEXT), p.currency, p.images_json, p.mirrored_at, p.revision`

// SQLStore is the Store on Meridian's SQL database, SQLite or PostgreSQL. It
// is safe for concurrent use. Every method runs as one statement or one
// transaction, so readers never see half of a write.
type SQLStore struct {
	db *db.DB
	// products keeps decoded products by row revision, so pages read IDs
	// and revisions rather than every row and text again.
	products *productCache
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore brings the catalog's tables in database up to date (see
// db.Migrate; the component is "catalog") and returns a store on them. It
// may wait for another replica that is migrating the same database, bounded
// by ctx. The caller keeps ownership of database and closes it after the
// store's last use.
func NewSQLStore(ctx context.Context, database *db.DB) (*SQLStore, error) {
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return &SQLStore{db: database, products: newProductCache(productCacheEntries)}, nil
}

// ProductsByID implements Store. Duplicate and empty IDs are ignored. Any
// number of IDs may be passed: they are queried in batches of
// maxIDsPerQuery, all in one read transaction, each reading the rows'
// revisions and then, for the products not cached at that revision, the
// rows and their texts.
func (s *SQLStore) ProductsByID(ctx context.Context, ids []string) (map[string]Product, error) {
	ids = uniqueNonEmpty(ids)
	out := make(map[string]Product, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) <= maxIDsPerQuery {
		// One batch: its refs are one statement, and the products
		// behind them need a snapshot of their own only when some are
		// not cached.
		refs, err := selectRefs(ctx, s.db, "WHERE p.id IN ("+placeholders(len(ids))+")", anySlice(ids))
		if err != nil {
			return nil, fmt.Errorf("catalog: products by id: %w", err)
		}
		products, err := s.products.productsAfter(ctx, s.db, refs)
		if err != nil {
			return nil, fmt.Errorf("catalog: products by id: %w", err)
		}
		for _, p := range products {
			out[p.ID] = p
		}
		return out, nil
	}
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		for batch := range slices.Chunk(ids, maxIDsPerQuery) {
			refs, err := selectRefs(ctx, tx, "WHERE p.id IN ("+placeholders(len(batch))+")", anySlice(batch))
			if err != nil {
				return err
			}
			products, err := s.products.products(ctx, tx, refs)
			if err != nil {
				return err
			}
			for _, p := range products {
				out[p.ID] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: products by id: %w", err)
	}
	return out, nil
}

// Search implements Store.
//
// Text is trimmed of surrounding white space and lowercased with
// strings.ToLower, then matched as a literal substring (%, _ and \ in it
// have no special meaning) of the product's SKU or of its name in any
// locale, also lowercased. Blank text does not filter. CategoryID matches
// exactly. A First below 1 returns an error wrapping ErrInvalidQuery. The
// count and the page are read in one transaction, so TotalCount agrees with
// the page; with SkipTotal there is no count.
//
// Matching scans the lowercased names of every candidate product, which is
// cheap at the mirror's size (thousands of products); a trigram index is
// the way forward if that changes.
func (s *SQLStore) Search(ctx context.Context, q SearchQuery) (SearchPage, error) {
	if q.First < 1 {
		return SearchPage{}, fmt.Errorf("catalog: search: first must be at least 1, got %d: %w", q.First, ErrInvalidQuery)
	}
	var filters []string
	var args []any
	if text := strings.TrimSpace(q.Text); text != "" {
		filters = append(filters, `p.search_text LIKE ? ESCAPE '\'`)
		args = append(args, "%"+escapeLike(strings.ToLower(text))+"%")
	}
	if q.CategoryID != "" {
		filters = append(filters, "p.category_id = ?")
		args = append(args, q.CategoryID)
	}

	pageFilters, pageArgs := filters, slices.Clone(args)
	if q.AfterID != "" {
		pageFilters = append(slices.Clone(filters), "p.id > ?")
		pageArgs = append(pageArgs, q.AfterID)
	}
	// One row more than the page tells whether another page follows.
	// int64 keeps First+1 from overflowing.
	pageArgs = append(pageArgs, int64(q.First)+1)
	pageTail := whereClause(pageFilters) + " ORDER BY p.id LIMIT ?"

	var page SearchPage
	if q.SkipTotal {
		// Without a count, the page's refs are one statement and need
		// no transaction.
		refs, err := selectRefs(ctx, s.db, pageTail, pageArgs)
		if err != nil {
			return SearchPage{}, fmt.Errorf("catalog: search: %w", err)
		}
		refs, page.HasNextPage = cutPage(refs, q.First)
		if page.Products, err = s.products.productsAfter(ctx, s.db, refs); err != nil {
			return SearchPage{}, fmt.Errorf("catalog: search: %w", err)
		}
		return page, nil
	}
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		refs, err := selectRefs(ctx, tx, pageTail, pageArgs)
		if err != nil {
			return err
		}
		refs, page.HasNextPage = cutPage(refs, q.First)
		if page.Products, err = s.products.products(ctx, tx, refs); err != nil {
			return err
		}

		if q.AfterID == "" && !page.HasNextPage {
			// The page holds every match: no need to count them.
			page.TotalCount = len(page.Products)
			return nil
		}
		var total int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM catalog_products p"+whereClause(filters), args...).Scan(&total); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		page.TotalCount = int(total)
		return nil
	})
	if err != nil {
		return SearchPage{}, fmt.Errorf("catalog: search: %w", err)
	}
	return page, nil
}

// Categories implements Store. A category's Name is nil when it was stored
// nil or empty.
func (s *SQLStore) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, position, name_json FROM catalog_categories ORDER BY position, id")
	if err != nil {
		return nil, fmt.Errorf("catalog: categories: %w", err)
	}
	defer rows.Close()
	var cats []Category
	for rows.Next() {
		var c Category
		var nameJSON []byte
		if err := rows.Scan(&c.ID, &c.Position, &nameJSON); err != nil {
			return nil, fmt.Errorf("catalog: categories: %w", err)
		}
		if err := json.Unmarshal(nameJSON, &c.Name); err != nil {
			return nil, fmt.Errorf("catalog: categories: category %q: name: %w", c.ID, err)
		}
		if len(c.Name) == 0 {
			c.Name = nil
		}
		cats = append(cats, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: categories: %w", err)
	}
	return cats, nil
}

// UpsertCategories implements Store, in one transaction. A category without
// an ID, or two with the same ID, fail the whole batch with an error
// wrapping ErrInvalidProduct. An empty batch is a no-op.
func (s *SQLStore) UpsertCategories(ctx context.Context, cats []Category) error {
	if len(cats) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(cats))
	rows := make([][]any, 0, len(cats))
	for i, c := range cats {
		switch {
		case c.ID == "":
			return fmt.Errorf("catalog: upsert categories: %w: category #%d has no id", ErrInvalidProduct, i)
		case seen[c.ID]:
			return fmt.Errorf("catalog: upsert categories: %w: category %q appears twice", ErrInvalidProduct, c.ID)
		}
		seen[c.ID] = true
		name, err := json.Marshal(c.Name)
		if err != nil {
			return fmt.Errorf("catalog: upsert categories: category %q: %w", c.ID, err)
		}
		rows = append(rows, []any{c.ID, c.Position, string(name)})
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		return insertRows(ctx, tx, "INSERT INTO catalog_categories (id, position, name_json) VALUES ", rows,
			" ON CONFLICT (id) DO UPDATE SET position = excluded.position, name_json = excluded.name_json")
	})
	if err != nil {
		return fmt.Errorf("catalog: upsert categories: %w", err)
	}
	return nil
}

// UpsertProducts implements Store. Each product replaces any stored product
// with its ID, texts included: a locale absent from the new Name and
// Description is gone afterwards. SKUs may move between products of the
// batch. The batch fails as a whole, writing nothing, with an error wrapping
// ErrInvalidProduct when a product has no ID, SKU or currency, a price that
// is not a canonical decimal with two fraction digits ("1299.00", at most
// ten integer digits), or an empty locale key, or when two products share an
// ID or a SKU; and with a constraint error when a SKU belongs to a product
// outside the batch. An empty batch is a no-op. mirroredAt is stored in UTC
// at microsecond precision.
func (s *SQLStore) UpsertProducts(ctx context.Context, products []Product, mirroredAt time.Time) error {
	if len(products) == 0 {
		return nil
	}
	if err := validateProducts(products); err != nil {
		return fmt.Errorf("catalog: upsert products: %w", err)
	}
	at := s.db.Dialect().TimeArg(mirroredAt)
	ids := make([]string, 0, len(products))
	productRows := make([][]any, 0, len(products))
	var textRows [][]any
	for _, p := range products {
		images, err := json.Marshal(p.Images)
		if err != nil {
			return fmt.Errorf("catalog: upsert products: product %q: images: %w", p.ID, err)
		}
		ids = append(ids, p.ID)
		productRows = append(productRows, []any{
			p.ID, p.SKU, p.CategoryID, p.PriceAmount, p.Currency, string(images), searchText(p), at, newRevision(),
		})
		for _, locale := range textLocales(p) {
			textRows = append(textRows, []any{p.ID, locale, nullable(p.Name, locale), nullable(p.Description, locale)})
		}
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		// Delete, then insert: a replacement leaves no stale text
		// rows behind, and SKUs can swap between products of the
		// batch, which row-by-row upserts would trip over.
		if err := deleteProducts(ctx, tx, ids); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "INSERT INTO catalog_products (id, sku, category_id, price_amount, currency, images_json, search_text, mirrored_at, revision) VALUES ", productRows, ""); err != nil {
			return err
		}
		return insertRows(ctx, tx, "INSERT INTO catalog_product_texts (product_id, locale, name, description) VALUES ", textRows, "")
	})
	if err != nil {
		return fmt.Errorf("catalog: upsert products: %w", err)
	}
	return nil
}

// DeleteProducts implements Store, in one transaction, in batches of
// maxIDsPerQuery IDs.
func (s *SQLStore) DeleteProducts(ctx context.Context, ids []string) error {
	ids = uniqueNonEmpty(ids)
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error { return deleteProducts(ctx, tx, ids) })
	if err != nil {
		return fmt.Errorf("catalog: delete products: %w", err)
	}
	s.products.forget(ids)
	return nil
}

// CountProducts implements Store.
func (s *SQLStore) CountProducts(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM catalog_products").Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: count products: %w", err)
	}
	return int(n), nil
}

func validateProducts(products []Product) error {
	ids := make(map[string]bool, len(products))
	skus := make(map[string]string, len(products))
	for i, p := range products {
		if p.ID == "" {
			return fmt.Errorf("%w: product #%d has no id", ErrInvalidProduct, i)
		}
		if ids[p.ID] {
			return fmt.Errorf("%w: product %q appears twice", ErrInvalidProduct, p.ID)
		}
		ids[p.ID] = true
		if err := checkProduct(p); err != nil {
			return fmt.Errorf("%w: product %q: %v", ErrInvalidProduct, p.ID, err)
		}
		if other, dup := skus[p.SKU]; dup {
			return fmt.Errorf("%w: products %q and %q share sku %q", ErrInvalidProduct, other, p.ID, p.SKU)
		}
		skus[p.SKU] = p.ID
	}
	return nil
}

// checkProduct reports what makes p unstorable, apart from batch-level
// duplicates.
func checkProduct(p Product) error {
	switch {
	case p.SKU == "":
		return errors.New("no sku")
	case p.Currency == "":
		return errors.New("no currency")
	case !priceFormat.MatchString(p.PriceAmount):
		return fmt.Errorf("price %q is not a decimal with two fraction digits like 1299.00", p.PriceAmount)
	}
	for _, texts := range []LocalizedText{p.Name, p.Description} {
		if _, ok := texts[""]; ok {
			return errors.New("text with an empty locale key")
		}
	}
	return nil
}

// searchText is what Search matches: the SKU and every localized name,
// lowercased the way Search lowercases queries, in a stable order.
func searchText(p Product) string {
	parts := []string{strings.ToLower(p.SKU)}
	for _, locale := range sortedKeys(p.Name) {
		if name := p.Name[locale]; name != "" {
			parts = append(parts, strings.ToLower(name))
		}
	}
	return strings.Join(parts, searchTextSeparator)
}

// escapeLike makes s match itself literally in a LIKE pattern with ESCAPE
// '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// cutPage trims refs, read with one row more than a page of first, to the
// page, and reports whether that extra row says another page follows.
func cutPage(refs []productRef, first int) ([]productRef, bool) {
	if len(refs) > first {
		return refs[:first], true
	}
	return refs, false
}

// selectProducts runs SELECT productColumns with the given tail (WHERE,
// ORDER BY, LIMIT) and returns the products in row order, without texts,
// and the revision of each row.
func selectProducts(ctx context.Context, tx *db.Tx, tail string, args []any) ([]Product, []int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+productColumns+" FROM catalog_products p "+tail, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("select products: %w", err)
	}
	defer rows.Close()
	var products []Product
	var revisions []int64
	for rows.Next() {
		var p Product
		var images []byte
		var mirroredAt db.Timestamp
		var revision int64
		if err := rows.Scan(&p.ID, &p.SKU, &p.CategoryID, &p.PriceAmount, &p.Currency, &images, &mirroredAt, &revision); err != nil {
			return nil, nil, fmt.Errorf("select products: %w", err)
		}
		if err := json.Unmarshal(images, &p.Images); err != nil {
			return nil, nil, fmt.Errorf("select products: product %q: images: %w", p.ID, err)
		}
		p.MirroredAt = mirroredAt.Time
		products = append(products, p)
		revisions = append(revisions, revision)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("select products: %w", err)
	}
	return products, revisions, nil
}

// attachTexts fills in the Name and Description of products with one query
// per maxIDsPerQuery products. A product without texts keeps nil maps.
func attachTexts(ctx context.Context, tx *db.Tx, products []Product) error {
	index := make(map[string]int, len(products))
	ids := make([]string, len(products))
	for i, p := range products {
		index[p.ID] = i
		ids[i] = p.ID
	}
	for batch := range slices.Chunk(ids, maxIDsPerQuery) {
		if err := attachTextBatch(ctx, tx, products, index, batch); err != nil {
			return err
		}
	}
	return nil
}

func attachTextBatch(ctx context.Context, tx *db.Tx, products []Product, index map[string]int, ids []string) error {
	rows, err := tx.QueryContext(ctx,
		"SELECT product_id, locale, name, description FROM catalog_product_texts WHERE product_id IN ("+placeholders(len(ids))+")",
		anySlice(ids)...)
	if err != nil {
		return fmt.Errorf("select texts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, locale string
		var name, description sql.NullString
		if err := rows.Scan(&id, &locale, &name, &description); err != nil {
			return fmt.Errorf("select texts: %w", err)
		}
		i, ok := index[id]
		if !ok {
			continue // not asked for; cannot happen with the IN list above
		}
		p := &products[i]
		if name.Valid {
			if p.Name == nil {
				p.Name = LocalizedText{}
			}
			p.Name[locale] = name.String
		}
		if description.Valid {
			if p.Description == nil {
				p.Description = LocalizedText{}
			}
			p.Description[locale] = description.String
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("select texts: %w", err)
	}
	return nil
}

// deleteProducts removes products and their texts. The texts are deleted
// explicitly rather than left to ON DELETE CASCADE, so correctness does not
// hinge on a connection having SQLite's foreign_keys pragma on.
func deleteProducts(ctx context.Context, tx *db.Tx, ids []string) error {
	for batch := range slices.Chunk(ids, maxIDsPerQuery) {
		in := placeholders(len(batch))
		args := anySlice(batch)
		if _, err := tx.ExecContext(ctx, "DELETE FROM catalog_product_texts WHERE product_id IN ("+in+")", args...); err != nil {
			return fmt.Errorf("delete texts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM catalog_products WHERE id IN ("+in+")", args...); err != nil {
			return fmt.Errorf("delete products: %w", err)
		}
	}
	return nil
}

// insertRows inserts rows (all of the same width) with multi-row INSERTs of
// at most maxParamsPerInsert parameters: head is "INSERT INTO t (cols)
// VALUES " and tail follows the value lists (e.g. ON CONFLICT ...).
func insertRows(ctx context.Context, tx *db.Tx, head string, rows [][]any, tail string) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	tuple := "(" + placeholders(width) + ")"
	for batch := range slices.Chunk(rows, max(1, maxParamsPerInsert/width)) {
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, len(batch)*width)
		for i, row := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = append(args, row...)
		}
		b.WriteString(tail)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	return nil
}

// textLocales returns the locales p has a name or description in, sorted.
func textLocales(p Product) []string {
	set := make(map[string]bool, len(p.Name)+len(p.Description))
	for l := range p.Name {
		set[l] = true
	}
	for l := range p.Description {
		set[l] = true
	}
	return sortedKeys(set)
}

// nullable returns texts[locale], or nil (SQL NULL) when the locale is
// absent, so that a locale with only a name reads back without a
// description and vice versa.
func nullable(texts LocalizedText, locale string) any {
	if s, ok := texts[locale]; ok {
		return s
	}
	return nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func whereClause(filters []string) string {
	if len(filters) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(filters, " AND ")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func uniqueNonEmpty(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
