package catalog_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/catalog"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestSQLiteReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	testReplicasSeeEachOthersWrites(t, "sqlite:"+filepath.Join(t.TempDir(), "catalog.db"))
}

func TestPostgresReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	testReplicasSeeEachOthersWrites(t, testenv.PostgresURL(t))
}

// replica opens its own connection pool and store on url, as another
// gateway process on the same database would.
func replica(t *testing.T, url string) catalog.SyncStore {
	t.Helper()
	return newStoreAt(t, url).(catalog.SyncStore)
}

// testReplicasSeeEachOthersWrites checks that the decoded products a store
// keeps never hide a write: one replica reads (and so caches) products,
// another rewrites, reprices and deletes them with the same mirroredAt, and
// the first must read exactly what the database holds, both through Search
// and ProductsByID.
func testReplicasSeeEachOthersWrites(t *testing.T, url string) {
	ctx := testContext(t)
	reader, writer := replica(t, url), replica(t, url)
	if err := writer.UpsertCategories(ctx, fixtureCategories()); err != nil {
		t.Fatal(err)
	}
	products := fixtureProducts()
	if err := writer.UpsertProducts(ctx, products, mirroredAt); err != nil {
		t.Fatal(err)
	}

	// agree reads every product through both replicas' Search and the
	// reader's ProductsByID, twice (the second read comes from the cache),
	// and wants the same answers as a store that never cached anything.
	agree := func(step string) {
		t.Helper()
		fresh := replica(t, url)
		want := search(t, fresh, catalog.SearchQuery{First: 100})
		for round := range 2 {
			got := search(t, reader, catalog.SearchQuery{First: 100})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s, read %d: Search differs from the database (-want +got):\n%s", step, round+1, diff)
			}
			uncounted := search(t, reader, catalog.SearchQuery{First: 100, SkipTotal: true})
			if diff := cmp.Diff(want.Products, uncounted.Products); diff != "" {
				t.Fatalf("%s, read %d: Search without a count differs from the database (-want +got):\n%s", step, round+1, diff)
			}
			byID, err := reader.ProductsByID(ctx, ids(want.Products))
			if err != nil {
				t.Fatal(err)
			}
			wantByID, err := fresh.ProductsByID(ctx, ids(want.Products))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantByID, byID); diff != "" {
				t.Fatalf("%s, read %d: ProductsByID differs from the database (-want +got):\n%s", step, round+1, diff)
			}
		}
	}
	agree("after the first write")

	renamed := products[0]
	renamed.Name = catalog.LocalizedText{"zh-Hans": "新名字", "en": "New name"}
	renamed.Images = []catalog.Image{{URL: "https://static.meridian.example/new.jpg"}}
	if err := writer.UpsertProducts(ctx, []catalog.Product{renamed}, mirroredAt); err != nil {
		t.Fatal(err)
	}
	agree("after a rename at the same mirroredAt")
	if got, _ := reader.ProductsByID(ctx, []string{renamed.ID}); got[renamed.ID].Name["en"] != "New name" {
		t.Fatalf("reader still sees %v after the rename", got[renamed.ID].Name)
	}

	if _, err := writer.UpdatePrices(ctx, []catalog.PriceUpdate{{SKU: products[1].SKU, Amount: "1.23", Currency: "CNY"}}, mirroredAt); err != nil {
		t.Fatal(err)
	}
	agree("after a price change at the same mirroredAt")
	if got, _ := reader.ProductsByID(ctx, []string{products[1].ID}); got[products[1].ID].PriceAmount != "1.23" {
		t.Fatalf("reader still sees price %q after the price change", got[products[1].ID].PriceAmount)
	}

	if err := writer.DeleteProducts(ctx, []string{products[2].ID}); err != nil {
		t.Fatal(err)
	}
	agree("after a delete")
	if got, _ := reader.ProductsByID(ctx, []string{products[2].ID}); len(got) != 0 {
		t.Fatalf("reader still sees deleted product: %v", got)
	}
}

func TestSQLiteRowsWithoutRevisionAreNeverCached(t *testing.T) {
	t.Parallel()
	testRowsWithoutRevisionAreNeverCached(t, "sqlite:"+filepath.Join(t.TempDir(), "catalog.db"))
}

func TestPostgresRowsWithoutRevisionAreNeverCached(t *testing.T) {
	t.Parallel()
	testRowsWithoutRevisionAreNeverCached(t, testenv.PostgresURL(t))
}

// testRowsWithoutRevisionAreNeverCached plays a gateway older than row
// revisions writing the same database (a rolling upgrade): it rewrites
// rows and leaves their revision at 0, twice. The reader must see each
// write, so it cannot have kept the row read at revision 0.
func testRowsWithoutRevisionAreNeverCached(t *testing.T, url string) {
	ctx := testContext(t)
	reader := replica(t, url)
	if err := reader.UpsertCategories(ctx, fixtureCategories()); err != nil {
		t.Fatal(err)
	}
	p := fixtureProducts()[0]
	if err := reader.UpsertProducts(ctx, []catalog.Product{p}, mirroredAt); err != nil {
		t.Fatal(err)
	}
	oldWriter, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oldWriter.Close() })
	for _, price := range []string{"2.00", "3.00"} {
		if _, err := oldWriter.ExecContext(ctx, "UPDATE catalog_products SET price_amount = ?, revision = 0 WHERE id = ?", price, p.ID); err != nil {
			t.Fatal(err)
		}
		for read := range 2 {
			got, err := reader.ProductsByID(ctx, []string{p.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got[p.ID].PriceAmount != price {
				t.Fatalf("read %d after the old writer set %s: price %q", read+1, price, got[p.ID].PriceAmount)
			}
		}
	}
}
