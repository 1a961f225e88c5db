package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/catalog"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, newSQLiteStore)
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, newPostgresStore)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

// newSQLiteStore returns a store on a fresh SQLite file.
func newSQLiteStore(t *testing.T) catalog.Store {
	t.Helper()
	return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "catalog.db"))
}

// newPostgresStore returns a store on a fresh PostgreSQL schema.
func newPostgresStore(t *testing.T) catalog.Store {
	t.Helper()
	return newStoreAt(t, testenv.PostgresURL(t))
}

func newStoreAt(t *testing.T, url string) catalog.Store {
	t.Helper()
	ctx := testContext(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := catalog.NewSQLStore(ctx, d)
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	return s
}

// mirroredAt is deliberately not UTC and finer than a microsecond: the
// store must normalize both.
var mirroredAt = time.Date(2025, 6, 1, 9, 30, 15, 123456789, time.FixedZone("CST", 8*3600))

func wantMirroredAt(at time.Time) time.Time { return at.UTC().Truncate(time.Microsecond) }

func fixtureCategories() []catalog.Category {
	return []catalog.Category{
		{ID: "skin-care", Position: 1, Name: catalog.LocalizedText{"zh-Hans": "护肤", "zh-Hant": "護膚", "en": "Skin Care"}},
		{ID: "makeup", Position: 2, Name: catalog.LocalizedText{"zh-Hans": "彩妆", "zh-Hant": "彩妝", "en": "Makeup"}},
		{ID: "fragrance", Position: 3, Name: catalog.LocalizedText{"zh-Hans": "香氛", "zh-Hant": "香氛", "en": "Fragrance"}},
	}
}

// fixtureProducts returns 30 generated products (serums, creams and
// lipsticks, named in three locales) and a few special ones, in an order
// that is not ID order.
func fixtureProducts() []catalog.Product {
	var ps []catalog.Product
	for i := 30; i >= 1; i-- {
		p := catalog.Product{
			ID:          fmt.Sprintf("p-%03d", i),
			SKU:         fmt.Sprintf("SKC-%04d", i),
			CategoryID:  "skin-care",
			PriceAmount: fmt.Sprintf("%d.%02d", 100+i*7, i%100),
			Currency:    "CNY",
			Images: []catalog.Image{{
				URL: fmt.Sprintf("https://static.meridian.example/products/SKC-%04d/1.jpg", i),
				Alt: catalog.LocalizedText{"en": fmt.Sprintf("front view %d", i)},
			}},
		}
		switch i % 3 {
		case 0:
			p.Name = catalog.LocalizedText{"zh-Hans": fmt.Sprintf("玻尿酸精华液 %d号", i), "zh-Hant": fmt.Sprintf("玻尿酸精華液 %d號", i), "en": fmt.Sprintf("Hyaluronic Serum No.%d", i)}
		case 1:
			p.Name = catalog.LocalizedText{"zh-Hans": fmt.Sprintf("保湿面霜 %d", i), "zh-Hant": fmt.Sprintf("保濕面霜 %d", i), "en": fmt.Sprintf("Moisture Cream %d", i)}
		case 2:
			p.Name = catalog.LocalizedText{"zh-Hans": fmt.Sprintf("丝绒口红 %d", i), "zh-Hant": fmt.Sprintf("絲絨口紅 %d", i), "en": fmt.Sprintf("Velvet Lipstick %d", i)}
			p.CategoryID = "makeup"
		}
		if i%5 == 0 && i%3 == 0 {
			p.CategoryID = "makeup" // a primer serum: text and category filters disagree
		}
		p.Description = catalog.LocalizedText{"zh-Hans": "描述", "en": "Description mentioning lipstick, which search ignores"}
		ps = append(ps, p)
	}
	return append(ps,
		catalog.Product{
			ID: "p-101", SKU: "FRG-0101", CategoryID: "fragrance", PriceAmount: "0.50", Currency: "CNY",
			Name: catalog.LocalizedText{"zh-Hans": "100% 玫瑰纯露", "zh-Hant": "100% 玫瑰純露", "en": "100% Rose Water"},
		},
		catalog.Product{
			ID: "p-102", SKU: "SKC-0102", CategoryID: "skin-care", PriceAmount: "9999999999.99", Currency: "CNY",
			Name:        catalog.LocalizedText{"zh-Hans": "夜间修护精华", "zh-Hant": "夜間修護精華", "en": "Night_Repair Serum"},
			Description: catalog.LocalizedText{"fr": "Sérum de nuit"}, // a description in a locale without a name
			Images:      []catalog.Image{},
		},
		catalog.Product{
			ID: "p-103", SKU: `SKC\0103`, CategoryID: "fragrance", PriceAmount: "0.00", Currency: "CNY",
			Name: catalog.LocalizedText{"en": "ÉCLAT Mist"}, // one locale only, non-ASCII capital
		},
	)
}

// reference is the contract's search semantics computed in Go: the IDs,
// sorted, of the products whose SKU or any name contains text
// case-insensitively, in category (if not empty).
func reference(products []catalog.Product, text, category string) []string {
	text = strings.ToLower(strings.TrimSpace(text))
	var ids []string
	for _, p := range products {
		if category != "" && p.CategoryID != category {
			continue
		}
		match := text == "" || strings.Contains(strings.ToLower(p.SKU), text)
		for _, name := range p.Name {
			match = match || strings.Contains(strings.ToLower(name), text)
		}
		if match {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// ids returns the products' IDs in order; nil for none, like reference.
func ids(products []catalog.Product) []string {
	var out []string
	for _, p := range products {
		out = append(out, p.ID)
	}
	return out
}

func byID(products []catalog.Product, at time.Time) map[string]catalog.Product {
	m := make(map[string]catalog.Product, len(products))
	for _, p := range products {
		p.MirroredAt = wantMirroredAt(at)
		m[p.ID] = p
	}
	return m
}

// seeded returns a fresh store holding the fixtures.
func seeded(t *testing.T, newStore func(t *testing.T) catalog.Store) catalog.Store {
	t.Helper()
	s := newStore(t)
	ctx := testContext(t)
	if err := s.UpsertCategories(ctx, fixtureCategories()); err != nil {
		t.Fatalf("UpsertCategories: %v", err)
	}
	if err := s.UpsertProducts(ctx, fixtureProducts(), mirroredAt); err != nil {
		t.Fatalf("UpsertProducts: %v", err)
	}
	return s
}

func search(t *testing.T, s catalog.Store, q catalog.SearchQuery) catalog.SearchPage {
	t.Helper()
	page, err := s.Search(testContext(t), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return page
}

// searchAll returns the IDs of every match of text and category, one
// oversized page.
func searchAll(t *testing.T, s catalog.Store, text, category string) []string {
	t.Helper()
	page := search(t, s, catalog.SearchQuery{Text: text, CategoryID: category, First: 10000})
	if page.HasNextPage || page.TotalCount != len(page.Products) {
		t.Errorf("Search(%q, %q) single page: HasNextPage=%v TotalCount=%d for %d products", text, category, page.HasNextPage, page.TotalCount, len(page.Products))
	}
	return ids(page.Products)
}

// runStoreContract is the Store contract, run against every implementation.
// newStore returns a fresh, empty store for one subtest.
func runStoreContract(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	t.Run("EmptyStore", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		if n, err := s.CountProducts(ctx); err != nil || n != 0 {
			t.Errorf("CountProducts = %d, %v; want 0", n, err)
		}
		if cats, err := s.Categories(ctx); err != nil || len(cats) != 0 {
			t.Errorf("Categories = %v, %v; want none", cats, err)
		}
		got, err := s.ProductsByID(ctx, nil)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ProductsByID(nil) = %v, %v; want an empty non-nil map", got, err)
		}
		page := search(t, s, catalog.SearchQuery{First: 5})
		if len(page.Products) != 0 || page.TotalCount != 0 || page.HasNextPage {
			t.Errorf("Search on empty store = %+v", page)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		fixtures := fixtureProducts()
		want := byID(fixtures, mirroredAt)
		askFor := append(ids(fixtures), "p-404", "", "p-001") // unknown, empty, duplicate
		got, err := s.ProductsByID(testContext(t), askFor)
		if err != nil {
			t.Fatalf("ProductsByID: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ProductsByID mismatch (-want +got):\n%s", diff)
		}
		for id, p := range got {
			if p.MirroredAt.Location() != time.UTC {
				t.Errorf("%s: MirroredAt %v is not in UTC", id, p.MirroredAt)
				break
			}
		}
		if n, err := s.CountProducts(testContext(t)); err != nil || n != len(fixtures) {
			t.Errorf("CountProducts = %d, %v; want %d", n, err, len(fixtures))
		}
	})

	t.Run("UnknownIDsAbsent", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		got, err := s.ProductsByID(testContext(t), []string{"p-404", "P-001", "p-001 "})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("ProductsByID(unknown) = %v, want empty", got)
		}
	})

	t.Run("SearchChinese", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for _, text := range []string{"精华", "面霜", "精華", "口红", "玫瑰"} {
			want := reference(fixtureProducts(), text, "")
			if len(want) == 0 {
				t.Fatalf("fixture has no match for %q", text)
			}
			if diff := cmp.Diff(want, searchAll(t, s, text, "")); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", text, diff)
			}
		}
	})

	t.Run("SearchEnglishCaseInsensitive", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		want := reference(fixtureProducts(), "serum", "")
		for _, text := range []string{"SERUM", "serum", "Serum", " sErUm  "} {
			if diff := cmp.Diff(want, searchAll(t, s, text, "")); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", text, diff)
			}
		}
		if diff := cmp.Diff([]string{"p-103"}, searchAll(t, s, "éclat", "")); diff != "" {
			t.Errorf(`Search("éclat") finds "ÉCLAT Mist" (-want +got):\n%s`, diff)
		}
		// Descriptions are not searched.
		if got := searchAll(t, s, "description mentioning", ""); len(got) != 0 {
			t.Errorf("Search matched descriptions: %v", got)
		}
	})

	t.Run("SearchSKU", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for text, want := range map[string][]string{
			"SKC-0007": {"p-007"},
			"skc-0007": {"p-007"},
			"frg-":     {"p-101"},
		} {
			if diff := cmp.Diff(want, searchAll(t, s, text, "")); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", text, diff)
			}
		}
	})

	t.Run("SearchCategory", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for _, cat := range []string{"skin-care", "makeup", "fragrance", "no-such-category"} {
			want := reference(fixtureProducts(), "", cat)
			if diff := cmp.Diff(want, searchAll(t, s, "", cat)); diff != "" {
				t.Errorf("Search(category %q) (-want +got):\n%s", cat, diff)
			}
		}
	})

	t.Run("SearchTextAndCategory", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		want := reference(fixtureProducts(), "精华", "makeup")
		if len(want) == 0 || len(want) >= len(reference(fixtureProducts(), "精华", "")) {
			t.Fatalf("fixture does not make the combined filter narrower: %v", want)
		}
		if diff := cmp.Diff(want, searchAll(t, s, "精华", "makeup")); diff != "" {
			t.Errorf("Search(精华 in makeup) (-want +got):\n%s", diff)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		// SkipTotal pages exactly alike, without the count (and, when
		// every product is cached, without a transaction).
		for _, q := range []struct {
			text, category string
			skipTotal      bool
		}{
			{"", "", false}, {"精华", "", false}, {"", "skin-care", false}, {"e", "makeup", false}, {"cream", "", false},
			{"", "", true}, {"精华", "", true}, {"e", "makeup", true},
		} {
			want := reference(fixtureProducts(), q.text, q.category)
			wantTotal := len(want)
			if q.skipTotal {
				wantTotal = 0
			}
			var visited []string
			after := ""
			for pageNo := 1; ; pageNo++ {
				if pageNo > len(want)+1 {
					t.Fatalf("%+v: paging does not end", q)
				}
				page := search(t, s, catalog.SearchQuery{Text: q.text, CategoryID: q.category, First: 7, AfterID: after, SkipTotal: q.skipTotal})
				if page.TotalCount != wantTotal {
					t.Errorf("%+v page %d: TotalCount = %d, want %d", q, pageNo, page.TotalCount, wantTotal)
				}
				visited = append(visited, ids(page.Products)...)
				last := len(visited) >= len(want)
				if page.HasNextPage == last {
					t.Errorf("%+v page %d: HasNextPage = %v after %d of %d", q, pageNo, page.HasNextPage, len(visited), len(want))
				}
				if !last && len(page.Products) != 7 {
					t.Errorf("%+v page %d: %d products, want 7", q, pageNo, len(page.Products))
				}
				if !page.HasNextPage || len(page.Products) == 0 {
					break
				}
				after = page.Products[len(page.Products)-1].ID
			}
			if diff := cmp.Diff(want, visited); diff != "" {
				t.Errorf("%+v: paging with First=7 visited (-want +got):\n%s", q, diff)
			}
		}
		// AfterID need not be an existing product: keyset paging
		// continues after its position.
		page := search(t, s, catalog.SearchQuery{First: 2, AfterID: "p-0295"})
		if diff := cmp.Diff([]string{"p-030", "p-101"}, ids(page.Products)); diff != "" {
			t.Errorf("AfterID between products (-want +got):\n%s", diff)
		}
		page = search(t, s, catalog.SearchQuery{First: 3, AfterID: "p-103"})
		if len(page.Products) != 0 || page.HasNextPage || page.TotalCount != len(fixtureProducts()) {
			t.Errorf("AfterID past the end = %d products, HasNextPage %v, TotalCount %d", len(page.Products), page.HasNextPage, page.TotalCount)
		}
	})

	t.Run("SearchWildcardsAreLiteral", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for text, want := range map[string][]string{
			"%":     {"p-101"},
			"%%":    nil,
			"_":     {"p-102"},
			"精_":    nil,
			"c_eam": nil,
			`\`:     {"p-103"},
			`\0`:    {"p-103"},
			`\%`:    nil,
		} {
			if diff := cmp.Diff(want, searchAll(t, s, text, ""), cmpEmpty); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", text, diff)
			}
		}
	})

	t.Run("SearchNoMatch", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for _, q := range []catalog.SearchQuery{
			{Text: "no such product", First: 5},
			{Text: "精华", CategoryID: "fragrance", First: 5},
			{CategoryID: "nothing-here", First: 1},
		} {
			page := search(t, s, q)
			if len(page.Products) != 0 || page.TotalCount != 0 || page.HasNextPage {
				t.Errorf("Search(%+v) = %d products, TotalCount %d, HasNextPage %v; want nothing", q, len(page.Products), page.TotalCount, page.HasNextPage)
			}
		}
	})

	t.Run("SearchRejectsFirstBelowOne", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for _, first := range []int{0, -1} {
			_, err := s.Search(testContext(t), catalog.SearchQuery{Text: "serum", First: first})
			if !errors.Is(err, catalog.ErrInvalidQuery) {
				t.Errorf("Search(First=%d) = %v, want ErrInvalidQuery", first, err)
			}
		}
	})

	t.Run("UpsertReplacesTexts", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		later := mirroredAt.Add(time.Hour)
		replacement := catalog.Product{
			ID: "p-003", SKU: "SKC-9003", CategoryID: "fragrance", PriceAmount: "12.30", Currency: "CNY",
			Name: catalog.LocalizedText{"en": "Renamed Mist"},
		}
		if err := s.UpsertProducts(ctx, []catalog.Product{replacement}, later); err != nil {
			t.Fatalf("UpsertProducts: %v", err)
		}
		got, err := s.ProductsByID(ctx, []string{"p-003"})
		if err != nil {
			t.Fatal(err)
		}
		replacement.MirroredAt = wantMirroredAt(later)
		if diff := cmp.Diff(map[string]catalog.Product{"p-003": replacement}, got); diff != "" {
			t.Errorf("replaced product (-want +got):\n%s", diff)
		}
		// The old names and SKU no longer find it; the new ones do.
		for _, old := range []string{"玻尿酸精华液 3号", "精華液 3號", "serum no.3", "SKC-0003"} {
			if slices.Contains(searchAll(t, s, old, ""), "p-003") {
				t.Errorf("Search(%q) still finds the replaced product", old)
			}
		}
		if diff := cmp.Diff([]string{"p-003"}, searchAll(t, s, "renamed", "fragrance")); diff != "" {
			t.Errorf("Search(renamed) (-want +got):\n%s", diff)
		}
		if n, err := s.CountProducts(ctx); err != nil || n != len(fixtureProducts()) {
			t.Errorf("CountProducts = %d, %v; want %d (replace, not add)", n, err, len(fixtureProducts()))
		}
	})

	t.Run("UpsertSwapsSKUs", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		got, err := s.ProductsByID(ctx, []string{"p-001", "p-002"})
		if err != nil {
			t.Fatal(err)
		}
		a, b := got["p-001"], got["p-002"]
		a.SKU, b.SKU = b.SKU, a.SKU
		if err := s.UpsertProducts(ctx, []catalog.Product{a, b}, mirroredAt); err != nil {
			t.Fatalf("UpsertProducts swapping SKUs: %v", err)
		}
		if diff := cmp.Diff([]string{"p-002"}, searchAll(t, s, "SKC-0001", "")); diff != "" {
			t.Errorf("after swap, SKC-0001 (-want +got):\n%s", diff)
		}
		// A SKU held by a product outside the batch is a conflict and
		// writes nothing.
		c := got["p-001"]
		c.ID, c.SKU = "p-200", "SKC-0005"
		if err := s.UpsertProducts(ctx, []catalog.Product{c}, mirroredAt); err == nil {
			t.Errorf("UpsertProducts with another product's SKU succeeded")
		}
		if n, _ := s.CountProducts(ctx); n != len(fixtureProducts()) {
			t.Errorf("CountProducts = %d after a failed upsert, want %d", n, len(fixtureProducts()))
		}
	})

	t.Run("UpsertRejectsInvalidProducts", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		good := catalog.Product{ID: "p-500", SKU: "NEW-500", CategoryID: "skin-care", PriceAmount: "10.00", Currency: "CNY", Name: catalog.LocalizedText{"en": "New"}}
		for name, mutate := range map[string]func(p *catalog.Product){
			"no id":               func(p *catalog.Product) { p.ID = "" },
			"no sku":              func(p *catalog.Product) { p.SKU = "" },
			"no currency":         func(p *catalog.Product) { p.Currency = "" },
			"one fraction digit":  func(p *catalog.Product) { p.PriceAmount = "12.5" },
			"no fraction":         func(p *catalog.Product) { p.PriceAmount = "12" },
			"negative":            func(p *catalog.Product) { p.PriceAmount = "-1.00" },
			"leading zero":        func(p *catalog.Product) { p.PriceAmount = "01.00" },
			"grouping":            func(p *catalog.Product) { p.PriceAmount = "1,299.00" },
			"too large":           func(p *catalog.Product) { p.PriceAmount = "12345678901.00" },
			"empty locale key":    func(p *catalog.Product) { p.Name = catalog.LocalizedText{"": "x"} },
			"non-ASCII digits":    func(p *catalog.Product) { p.PriceAmount = "١٢.٠٠" },
			"exponent":            func(p *catalog.Product) { p.PriceAmount = "1e3.00" },
			"three fraction dgts": func(p *catalog.Product) { p.PriceAmount = "1.000" },
		} {
			p := good
			mutate(&p)
			err := s.UpsertProducts(ctx, []catalog.Product{good, p}, mirroredAt)
			if !errors.Is(err, catalog.ErrInvalidProduct) {
				t.Errorf("%s: UpsertProducts = %v, want ErrInvalidProduct", name, err)
			}
		}
		dupSKU := good
		dupSKU.ID = "p-501"
		for name, batch := range map[string][]catalog.Product{
			"duplicate id":  {good, good},
			"duplicate sku": {good, dupSKU},
		} {
			if err := s.UpsertProducts(ctx, batch, mirroredAt); !errors.Is(err, catalog.ErrInvalidProduct) {
				t.Errorf("%s: UpsertProducts = %v, want ErrInvalidProduct", name, err)
			}
		}
		if n, _ := s.CountProducts(ctx); n != len(fixtureProducts()) {
			t.Errorf("CountProducts = %d after rejected batches, want %d: a rejected batch wrote", n, len(fixtureProducts()))
		}
		if err := s.UpsertProducts(ctx, nil, mirroredAt); err != nil {
			t.Errorf("UpsertProducts(nil) = %v, want a no-op", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		if err := s.DeleteProducts(ctx, []string{"p-003", "p-102", "p-404", "p-003"}); err != nil {
			t.Fatalf("DeleteProducts: %v", err)
		}
		got, err := s.ProductsByID(ctx, []string{"p-003", "p-102", "p-004"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"p-004"}, sortedKeys(got)); diff != "" {
			t.Errorf("after delete, ProductsByID (-want +got):\n%s", diff)
		}
		remaining := slices.DeleteFunc(fixtureProducts(), func(p catalog.Product) bool { return p.ID == "p-003" || p.ID == "p-102" })
		if diff := cmp.Diff(reference(remaining, "精华", ""), searchAll(t, s, "精华", "")); diff != "" {
			t.Errorf("after delete, Search (-want +got):\n%s", diff)
		}
		if n, err := s.CountProducts(ctx); err != nil || n != len(remaining) {
			t.Errorf("CountProducts = %d, %v; want %d", n, err, len(remaining))
		}
		if err := s.DeleteProducts(ctx, nil); err != nil {
			t.Errorf("DeleteProducts(nil) = %v", err)
		}
		// A deleted ID can be reused, with fresh texts.
		again := catalog.Product{ID: "p-003", SKU: "SKC-0003", CategoryID: "makeup", PriceAmount: "1.00", Currency: "CNY", Name: catalog.LocalizedText{"en": "Back"}}
		if err := s.UpsertProducts(ctx, []catalog.Product{again}, mirroredAt); err != nil {
			t.Fatalf("re-insert after delete: %v", err)
		}
		got, _ = s.ProductsByID(ctx, []string{"p-003"})
		if diff := cmp.Diff(catalog.LocalizedText{"en": "Back"}, got["p-003"].Name); diff != "" {
			t.Errorf("re-inserted product's names (-want +got):\n%s", diff)
		}
	})

	t.Run("Categories", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		cats := []catalog.Category{
			{ID: "z-last", Position: 9, Name: catalog.LocalizedText{"en": "Last"}},
			{ID: "b-tie", Position: 2, Name: catalog.LocalizedText{"en": "Tie B"}},
			{ID: "a-tie", Position: 2, Name: catalog.LocalizedText{"en": "Tie A", "zh-Hans": "并列"}},
			{ID: "first", Position: -1},
		}
		if err := s.UpsertCategories(ctx, cats); err != nil {
			t.Fatalf("UpsertCategories: %v", err)
		}
		got, err := s.Categories(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []catalog.Category{cats[3], cats[2], cats[1], cats[0]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Categories (-want +got):\n%s", diff)
		}
		// Upsert replaces by ID and keeps the others.
		moved := catalog.Category{ID: "z-last", Position: 0, Name: catalog.LocalizedText{"en": "Now second"}}
		if err := s.UpsertCategories(ctx, []catalog.Category{moved}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Categories(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = []catalog.Category{cats[3], moved, cats[2], cats[1]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Categories after upsert (-want +got):\n%s", diff)
		}
		for name, batch := range map[string][]catalog.Category{
			"no id":     {{Position: 1}},
			"duplicate": {{ID: "x"}, {ID: "x"}},
		} {
			if err := s.UpsertCategories(ctx, batch); !errors.Is(err, catalog.ErrInvalidProduct) {
				t.Errorf("%s: UpsertCategories = %v, want ErrInvalidProduct", name, err)
			}
		}
	})

	t.Run("ManyIDs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		var products []catalog.Product
		var ask []string
		for i := range 1200 {
			id := fmt.Sprintf("bulk-%05d", i)
			ask = append(ask, id)
			if i%2 == 0 {
				products = append(products, catalog.Product{
					ID: id, SKU: "BULK-" + id, CategoryID: "skin-care", PriceAmount: "1.00", Currency: "CNY",
					Name: catalog.LocalizedText{"en": "Bulk " + id, "zh-Hans": "批量 " + id},
				})
			}
		}
		if err := s.UpsertProducts(ctx, products, mirroredAt); err != nil {
			t.Fatalf("UpsertProducts(%d): %v", len(products), err)
		}
		got, err := s.ProductsByID(ctx, ask)
		if err != nil {
			t.Fatalf("ProductsByID(%d ids): %v", len(ask), err)
		}
		if diff := cmp.Diff(byID(products, mirroredAt), got); diff != "" {
			t.Errorf("ProductsByID over several batches (-want +got):\n%s", diff)
		}
		page := search(t, s, catalog.SearchQuery{Text: "批量", First: 550})
		if len(page.Products) != 550 || !page.HasNextPage || page.TotalCount != 600 {
			t.Errorf("Search over %d matches: %d products, HasNextPage %v, TotalCount %d", len(products), len(page.Products), page.HasNextPage, page.TotalCount)
		}
		for _, p := range page.Products {
			if p.Name["zh-Hans"] == "" {
				t.Fatalf("product %s of a large page has no texts", p.ID)
			}
		}
		if err := s.DeleteProducts(ctx, ask); err != nil {
			t.Fatalf("DeleteProducts(%d ids): %v", len(ask), err)
		}
		if n, _ := s.CountProducts(ctx); n != 0 {
			t.Errorf("CountProducts = %d after deleting all, want 0", n)
		}
	})

	t.Run("ConcurrentUse", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		fixtures := fixtureProducts()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					p := fixtures[(w*10+i)%len(fixtures)]
					if err := s.UpsertProducts(ctx, []catalog.Product{p}, mirroredAt); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			})
			wg.Go(func() {
				for range 10 {
					page, err := s.Search(ctx, catalog.SearchQuery{Text: "精华", First: 5})
					if err != nil {
						errs <- fmt.Errorf("reader %d: %w", w, err)
						return
					}
					// Readers never see a product without its
					// texts, however writes interleave.
					for _, p := range page.Products {
						if len(p.Name) == 0 {
							errs <- fmt.Errorf("reader %d: %s without names", w, p.ID)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// cmpEmpty treats nil and empty slices alike, for expectations written as
// nil.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
