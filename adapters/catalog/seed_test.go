package catalog_test

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/catalog"
)

// seedPath is the shipped seed, relative to this package.
const seedPath = "../../testdata/catalog.json"

func TestLoadSeedFile(t *testing.T) {
	t.Parallel()
	seedJSON, err := os.ReadFile(seedPath)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s does not exist yet; this test checks it once it does", seedPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := newSQLiteStore(t)
	ctx := testContext(t)
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

	loaded, err := catalog.LoadSeed(ctx, s, seedJSON, now)
	if err != nil {
		t.Fatalf("LoadSeed: %v", err)
	}
	if loaded < 200 {
		t.Errorf("LoadSeed loaded %d products, want at least 200", loaded)
	}
	if n, err := s.CountProducts(ctx); err != nil || n != loaded {
		t.Errorf("CountProducts = %d, %v; want %d", n, err, loaded)
	}
	cats, err := s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cats) < 8 {
		t.Errorf("seed has %d categories, want at least 8", len(cats))
	}

	// The expectation is computed from the file itself, independently of
	// the loader.
	var raw struct {
		Products []struct {
			ID   string            `json:"id"`
			Name map[string]string `json:"name"`
		} `json:"products"`
	}
	if err := json.Unmarshal(seedJSON, &raw); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range raw.Products {
		if strings.Contains(p.Name["zh-Hans"], "精华") || strings.Contains(p.Name["zh-Hant"], "精华") {
			want = append(want, p.ID)
		}
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("seed has no product named 精华")
	}
	page, err := s.Search(ctx, catalog.SearchQuery{Text: "精华", First: len(raw.Products)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ids(page.Products)); diff != "" {
		t.Errorf("Search(精华) over the seed (-want +got):\n%s", diff)
	}
	if page.TotalCount != len(want) {
		t.Errorf("Search(精华) TotalCount = %d, want %d", page.TotalCount, len(want))
	}

	// A restart finds the mirror populated and leaves it alone.
	again, err := catalog.LoadSeed(ctx, s, seedJSON, now.Add(time.Hour))
	if err != nil || again != 0 {
		t.Errorf("second LoadSeed = %d, %v; want 0, nil", again, err)
	}
	got, err := s.ProductsByID(ctx, want[:1])
	if err != nil {
		t.Fatal(err)
	}
	if at := got[want[0]].MirroredAt; !at.Equal(now) {
		t.Errorf("MirroredAt = %v after second LoadSeed, want the first load's %v", at, now)
	}
}

// minimalSeed is a valid seed for the validation tests to break.
const minimalSeed = `{
  "currency": "CNY",
  "categories": [
    {"id": "skin-care", "position": 1, "name": {"zh-Hans": "护肤", "zh-Hant": "護膚", "en": "Skin Care"}}
  ],
  "products": [
    {"id": "prod-0001", "sku": "SKC-0001", "category": "skin-care",
     "name": {"zh-Hans": "精华", "zh-Hant": "精華", "en": "Serum"},
     "description": {"en": "A serum."},
     "price": "1299.00",
     "images": [{"url": "https://static.meridian.example/products/SKC-0001/1.jpg", "alt": {"en": "front"}}]},
    {"id": "prod-0002", "sku": "SKC-0002", "category": "skin-care",
     "name": {"zh-Hans": "面霜", "zh-Hant": "面霜", "en": "Cream"},
     "price": "0.99", "currency": "USD"}
  ]
}`

func TestLoadSeedValid(t *testing.T) {
	t.Parallel()
	s := newSQLiteStore(t)
	ctx := testContext(t)
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	loaded, err := catalog.LoadSeed(ctx, s, []byte(minimalSeed), now)
	if err != nil || loaded != 2 {
		t.Fatalf("LoadSeed = %d, %v; want 2, nil", loaded, err)
	}
	got, err := s.ProductsByID(ctx, []string{"prod-0001", "prod-0002"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]catalog.Product{
		"prod-0001": {
			ID: "prod-0001", SKU: "SKC-0001", CategoryID: "skin-care",
			Name:        catalog.LocalizedText{"zh-Hans": "精华", "zh-Hant": "精華", "en": "Serum"},
			Description: catalog.LocalizedText{"en": "A serum."},
			PriceAmount: "1299.00", Currency: "CNY", // the seed's default
			Images:     []catalog.Image{{URL: "https://static.meridian.example/products/SKC-0001/1.jpg", Alt: catalog.LocalizedText{"en": "front"}}},
			MirroredAt: now,
		},
		"prod-0002": {
			ID: "prod-0002", SKU: "SKC-0002", CategoryID: "skin-care",
			Name:        catalog.LocalizedText{"zh-Hans": "面霜", "zh-Hant": "面霜", "en": "Cream"},
			PriceAmount: "0.99", Currency: "USD", // its own
			MirroredAt: now,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seeded products (-want +got):\n%s", diff)
	}
}

func TestLoadSeedSkipsPopulatedMirror(t *testing.T) {
	t.Parallel()
	s := newSQLiteStore(t)
	ctx := testContext(t)
	synced := catalog.Product{ID: "prod-0001", SKU: "SKC-0001", CategoryID: "skin-care", PriceAmount: "1500.00", Currency: "CNY", Name: catalog.LocalizedText{"en": "Synced"}}
	if err := s.UpsertProducts(ctx, []catalog.Product{synced}, time.Now()); err != nil {
		t.Fatal(err)
	}
	loaded, err := catalog.LoadSeed(ctx, s, []byte(minimalSeed), time.Now())
	if err != nil || loaded != 0 {
		t.Fatalf("LoadSeed on a populated mirror = %d, %v; want 0, nil", loaded, err)
	}
	// Not even parsed: a broken seed cannot stop a synced mirror.
	if loaded, err := catalog.LoadSeed(ctx, s, []byte("{not json"), time.Now()); err != nil || loaded != 0 {
		t.Errorf("LoadSeed(broken) on a populated mirror = %d, %v; want 0, nil", loaded, err)
	}
	got, err := s.ProductsByID(ctx, []string{"prod-0001", "prod-0002"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["prod-0001"].PriceAmount != "1500.00" {
		t.Errorf("the seed overwrote the mirror: %+v", got)
	}
}

func TestLoadSeedRejectsInvalid(t *testing.T) {
	t.Parallel()
	s := newSQLiteStore(t)
	ctx := testContext(t)
	for name, tc := range map[string]struct {
		edit     func(seed map[string]any)
		mentions []string
	}{
		"missing id": {
			func(seed map[string]any) { delete(product(seed, 1), "id") },
			[]string{"product #1", "no id"},
		},
		"missing sku": {
			func(seed map[string]any) { delete(product(seed, 1), "sku") },
			[]string{`"prod-0002"`, "no sku"},
		},
		"unknown category": {
			func(seed map[string]any) { product(seed, 0)["category"] = "perfume" },
			[]string{`"prod-0001"`, `"perfume"`},
		},
		"missing zh-Hant name": {
			func(seed map[string]any) { delete(product(seed, 1)["name"].(map[string]any), "zh-Hant") },
			[]string{`"prod-0002"`, "zh-Hant"},
		},
		"blank en name": {
			func(seed map[string]any) { product(seed, 0)["name"].(map[string]any)["en"] = "  " },
			[]string{`"prod-0001"`, "en"},
		},
		"one fraction digit": {
			func(seed map[string]any) { product(seed, 0)["price"] = "1299.0" },
			[]string{`"prod-0001"`, `"1299.0"`},
		},
		"numeric price": {
			func(seed map[string]any) { product(seed, 0)["price"] = 1299 },
			[]string{"price"},
		},
		"no currency anywhere": {
			func(seed map[string]any) { delete(seed, "currency") },
			[]string{`"prod-0001"`, "currency"},
		},
		"duplicate id": {
			func(seed map[string]any) { product(seed, 1)["id"] = "prod-0001" },
			[]string{`"prod-0001"`, "twice"},
		},
		"duplicate sku": {
			func(seed map[string]any) { product(seed, 1)["sku"] = "SKC-0001" },
			[]string{`"prod-0002"`, `"SKC-0001"`},
		},
		"category without zh-Hans": {
			func(seed map[string]any) {
				delete(seed["categories"].([]any)[0].(map[string]any)["name"].(map[string]any), "zh-Hans")
			},
			[]string{`category "skin-care"`, "zh-Hans"},
		},
		"no products": {
			func(seed map[string]any) { seed["products"] = []any{} },
			[]string{"no products"},
		},
		"several problems at once": {
			func(seed map[string]any) {
				product(seed, 0)["price"] = "abc"
				product(seed, 1)["category"] = "nowhere"
			},
			[]string{`"prod-0001"`, `"abc"`, `"prod-0002"`, `"nowhere"`},
		},
	} {
		var seed map[string]any
		if err := json.Unmarshal([]byte(minimalSeed), &seed); err != nil {
			t.Fatal(err)
		}
		tc.edit(seed)
		broken, err := json.Marshal(seed)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := catalog.LoadSeed(ctx, s, broken, time.Now())
		if !errors.Is(err, catalog.ErrInvalidSeed) || loaded != 0 {
			t.Errorf("%s: LoadSeed = %d, %v; want 0, ErrInvalidSeed", name, loaded, err)
			continue
		}
		for _, m := range tc.mentions {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %s", name, err, m)
			}
		}
	}
	if _, err := catalog.LoadSeed(ctx, s, []byte("[]"), time.Now()); !errors.Is(err, catalog.ErrInvalidSeed) {
		t.Errorf("LoadSeed(JSON array) = %v, want ErrInvalidSeed", err)
	}
	if n, err := s.CountProducts(ctx); err != nil || n != 0 {
		t.Errorf("CountProducts = %d, %v after rejected seeds; want 0", n, err)
	}
	if cats, _ := s.Categories(ctx); len(cats) != 0 {
		t.Errorf("rejected seeds wrote categories: %v", cats)
	}
}

func product(seed map[string]any, i int) map[string]any {
	return seed["products"].([]any)[i].(map[string]any)
}
