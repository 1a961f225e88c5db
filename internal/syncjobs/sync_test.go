package syncjobs_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/catalog"
	"meridian/adapters/cms"
	"meridian/adapters/content"
	"meridian/adapters/masterdata"
	"meridian/internal/apierr"
	"meridian/internal/globalsim"
	"meridian/internal/originhttp"
	"meridian/internal/syncjobs"
)

// ghost is a mirrored product the simulator does not have: a full sync must
// purge it.
var ghost = catalog.Product{
	ID: "ghost-1", SKU: "GHOST-1", CategoryID: "skin-care", PriceAmount: "1.00", Currency: "CNY",
	Name: catalog.LocalizedText{"en": "Ghost"},
}

func seedGhosts(t *testing.T, e *env) {
	t.Helper()
	ctx := testContext(t)
	if err := e.catalog.UpsertProducts(ctx, []catalog.Product{ghost}, epoch.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.catalog.UpsertInventory(ctx, []catalog.InventorySnapshot{{SKU: ghost.SKU, Available: 4, SourceUpdatedAt: epoch.Add(-time.Hour)}}, epoch); err != nil {
		t.Fatal(err)
	}
	if err := e.content.UpsertPages(ctx, []content.Page{{Slug: "ghost-page", Title: content.LocalizedText{"en": "Ghost"}, UpdatedAt: epoch}}, epoch); err != nil {
		t.Fatal(err)
	}
}

// wantProduct is the mirror's copy of an origin product.
func wantProduct(mp masterdata.Product, mirroredAt time.Time) catalog.Product {
	images := []catalog.Image{}
	for _, im := range mp.Images {
		var alt catalog.LocalizedText
		if len(im.Alt) > 0 {
			alt = catalog.LocalizedText(im.Alt)
		}
		images = append(images, catalog.Image{URL: im.URL, Alt: alt})
	}
	return catalog.Product{
		ID: mp.ID, SKU: mp.SKU, CategoryID: mp.Category,
		Name: catalog.LocalizedText(mp.Name), Description: catalog.LocalizedText(mp.Description),
		PriceAmount: mp.PriceAmount, Currency: mp.Currency, Images: images, MirroredAt: mirroredAt,
	}
}

func TestFullSyncIntoEmptyMirror(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		seedGhosts(t, e)
		ctx := testContext(t)

		e.runOK(t, syncjobs.MasterdataJobName)
		e.runOK(t, syncjobs.CMSJobName)

		// Products: the mirror is the simulator's catalog, whole.
		origin := e.originProducts(t)
		if got, want := e.count(t), e.sim.Stats().Products; got != want || want != len(origin) {
			t.Fatalf("mirror holds %d products, simulator %d (listing %d)", got, want, len(origin))
		}
		var skus []string
		want := map[string]catalog.Product{}
		for _, mp := range origin {
			skus = append(skus, mp.SKU)
			want[mp.SKU] = wantProduct(mp, epoch)
		}
		got, err := e.catalog.ProductsBySKU(ctx, skus)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mirror differs from the simulator (-want +got):\n%s", diff)
		}
		sample := got["SKC-1001"]
		if sample.Name["zh-Hans"] == "" || sample.Name["en"] == "" || sample.PriceAmount == "" || len(sample.Description) == 0 {
			t.Errorf("sampled product lacks texts or price: %+v", sample)
		}

		// Inventory: one snapshot per SKU, as the master has it.
		stock, err := e.md.Inventory(ctx, skus)
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := e.catalog.InventoryBySKU(ctx, skus)
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != len(skus) {
			t.Errorf("%d inventory snapshots for %d SKUs", len(snaps), len(skus))
		}
		for sku, inv := range stock {
			s := snaps[sku]
			if s.Available != inv.Available || !s.SourceUpdatedAt.Equal(inv.UpdatedAt) || !s.MirroredAt.Equal(epoch) {
				t.Errorf("snapshot of %s = %+v, want %d as of %v", sku, s, inv.Available, inv.UpdatedAt)
			}
		}

		// The ghosts are purged.
		if _, ok := e.productBySKU(t, ghost.SKU); ok {
			t.Error("a product the simulator does not have survived the full sync")
		}
		if s, _ := e.catalog.InventoryBySKU(ctx, []string{ghost.SKU}); len(s) != 0 {
			t.Error("an inventory snapshot of an unknown SKU survived the full sync")
		}

		// Content: every page, whole.
		list, err := e.cms.Pages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := e.content.Count(ctx); n != len(list) || n != e.sim.Stats().Pages {
			t.Errorf("content mirror holds %d pages, CMS %d", n, len(list))
		}
		for _, sum := range list {
			origin, err := e.cms.Page(ctx, sum.Slug)
			if err != nil {
				t.Fatal(err)
			}
			mirrored, ok, err := e.content.Page(ctx, sum.Slug)
			if err != nil || !ok {
				t.Fatalf("Page(%s) = %v, %v", sum.Slug, ok, err)
			}
			if !maps.Equal(origin.Title, mirrored.Title) || !maps.Equal(origin.Body, mirrored.Body) ||
				!maps.Equal(origin.Summary, mirrored.Summary) || !mirrored.UpdatedAt.Equal(origin.UpdatedAt) ||
				len(origin.Images) != len(mirrored.Images) || !mirrored.MirroredAt.Equal(epoch) {
				t.Errorf("page %s: mirror %+v, CMS %+v", sum.Slug, mirrored, origin)
			}
		}
		if _, ok, _ := e.content.Page(ctx, "ghost-page"); ok {
			t.Error("a page the CMS does not have survived the full sync")
		}

		// State, status, metrics and the change callback.
		for _, job := range []string{syncjobs.MasterdataJobName, syncjobs.CMSJobName} {
			st := e.status(t, job)
			if st.FullSyncPending || !st.LastSuccessAt.Equal(epoch) || !st.LastFullSyncAt.Equal(epoch) || st.LastError != "" || st.ItemsApplied == 0 || st.SyncedThrough.IsZero() {
				t.Errorf("status of %s after a full sync: %+v", job, st)
			}
			if e.runs(job, "ok") != 1 || e.lag(job) != 0 {
				t.Errorf("%s: runs ok %v, lag %v; want 1 and 0", job, e.runs(job, "ok"), e.lag(job))
			}
		}
		changes := e.changes.take()
		if ids := changedIDs(changes, syncjobs.ChangeProduct); len(ids) != len(origin)+1 || !slices.Contains(ids, ghost.ID) {
			t.Errorf("OnChange got %d product IDs, want every product and the ghost (%d)", len(ids), len(origin)+1)
		}
		if slugs := changedIDs(changes, syncjobs.ChangeContent); len(slugs) != len(list)+1 || !slices.Contains(slugs, "ghost-page") {
			t.Errorf("OnChange got content %v", slugs)
		}

		// The cursor is at the head: the next runs have nothing to do.
		e.runOK(t, syncjobs.MasterdataJobName)
		e.runOK(t, syncjobs.CMSJobName)
		for _, job := range []string{syncjobs.MasterdataJobName, syncjobs.CMSJobName} {
			if st := e.status(t, job); st.ItemsApplied != 0 {
				t.Errorf("%s: second run applied %d items, want 0", job, st.ItemsApplied)
			}
		}
		if c := e.changes.take(); len(c) != 0 {
			t.Errorf("OnChange called after runs without changes: %+v", c)
		}
	})
}

func TestIncrementalRunAppliesPatches(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.runOK(t, syncjobs.MasterdataJobName)
		e.runOK(t, syncjobs.CMSJobName)
		e.changes.take()
		before, _ := e.productBySKU(t, "SKC-1001")

		e.clock.Advance(time.Minute)
		changedAt := e.clock.Now()
		e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1001", `{"price":"499.00","name":{"zh-Hans":"新名字精华"},"available":7}`)
		e.admin(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"title":{"en":"About Meridian"},"body":{"zh-Hans":"新的正文"}}`)
		e.clock.Advance(time.Minute)
		e.runOK(t, syncjobs.MasterdataJobName)

		after, ok := e.productBySKU(t, "SKC-1001")
		if !ok {
			t.Fatal("product gone after an incremental run")
		}
		want := before
		want.PriceAmount = "499.00"
		want.Name = maps.Clone(before.Name)
		want.Name["zh-Hans"] = "新名字精华"
		want.MirroredAt = e.clock.Now()
		if diff := cmp.Diff(want, after); diff != "" {
			t.Errorf("patched product in the mirror (-want +got):\n%s", diff)
		}
		snaps, err := e.catalog.InventoryBySKU(testContext(t), []string{"SKC-1001"})
		if err != nil {
			t.Fatal(err)
		}
		if s := snaps["SKC-1001"]; s.Available != 7 || !s.SourceUpdatedAt.Equal(changedAt) {
			t.Errorf("inventory snapshot = %+v, want 7 as of %v", s, changedAt)
		}
		// Nothing else moved: searching finds the new name.
		page, err := e.catalog.Search(testContext(t), catalog.SearchQuery{Text: "新名字", First: 5})
		if err != nil || len(page.Products) != 1 || page.Products[0].SKU != "SKC-1001" {
			t.Errorf("search for the new name: %+v, %v", page.Products, err)
		}
		st := e.status(t, syncjobs.MasterdataJobName)
		if st.ItemsApplied != 3 || !st.SyncedThrough.Equal(changedAt) || st.FullSyncPending || !st.LastFullSyncAt.Equal(epoch) {
			t.Errorf("status after the incremental run: %+v", st)
		}
		if diff := cmp.Diff([]syncjobs.Change{{Kind: syncjobs.ChangeProduct, IDs: []string{before.ID}}}, e.changes.take()); diff != "" {
			t.Errorf("OnChange (-want +got):\n%s", diff)
		}

		e.runOK(t, syncjobs.CMSJobName)
		pg, ok, err := e.content.Page(testContext(t), "about-us")
		if err != nil || !ok {
			t.Fatalf("Page(about-us) = %v, %v", ok, err)
		}
		if pg.Title["en"] != "About Meridian" || pg.Body["zh-Hans"] != "新的正文" || pg.Title["zh-Hans"] == "" || !pg.UpdatedAt.Equal(changedAt) {
			t.Errorf("patched page in the mirror: %+v", pg)
		}
		if diff := cmp.Diff([]syncjobs.Change{{Kind: syncjobs.ChangeContent, IDs: []string{"about-us"}}}, e.changes.take()); diff != "" {
			t.Errorf("OnChange (-want +got):\n%s", diff)
		}

		// Running again applies nothing new.
		e.runOK(t, syncjobs.MasterdataJobName)
		if st := e.status(t, syncjobs.MasterdataJobName); st.ItemsApplied != 0 {
			t.Errorf("a run without changes applied %d", st.ItemsApplied)
		}
	})
}

func TestPriceChangeOfProductMissingFromMirror(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.runOK(t, syncjobs.MasterdataJobName)
		p, _ := e.productBySKU(t, "SKC-1002")
		if err := e.catalog.DeleteProducts(testContext(t), []string{p.ID}); err != nil {
			t.Fatal(err)
		}
		e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1002", `{"price":"12.34"}`)
		e.runOK(t, syncjobs.MasterdataJobName)
		got, ok := e.productBySKU(t, "SKC-1002")
		if !ok || got.PriceAmount != "12.34" || got.ID != p.ID || len(got.Name) == 0 {
			t.Errorf("product fetched for its price change = %+v, %v", got, ok)
		}
	})
}

func TestDeletedProductLeavesTheMirror(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.runOK(t, syncjobs.MasterdataJobName)
		e.changes.take()
		n := e.count(t)
		p, _ := e.productBySKU(t, "SKC-1002")

		e.admin(t, http.MethodDelete, "/admin/masterdata/products/SKC-1002", "")
		e.runOK(t, syncjobs.MasterdataJobName)

		if _, ok := e.productBySKU(t, "SKC-1002"); ok {
			t.Error("deleted product still in the mirror")
		}
		if s, _ := e.catalog.InventoryBySKU(testContext(t), []string{"SKC-1002"}); len(s) != 0 {
			t.Error("deleted product's inventory snapshot still in the mirror")
		}
		if got := e.count(t); got != n-1 {
			t.Errorf("mirror holds %d products, want %d", got, n-1)
		}
		if diff := cmp.Diff([]string{p.ID}, changedIDs(e.changes.take(), syncjobs.ChangeProduct)); diff != "" {
			t.Errorf("OnChange (-want +got):\n%s", diff)
		}
	})
}

func TestOriginFailureLeavesMirrorAndRecovers(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.runOK(t, syncjobs.MasterdataJobName)
		n := e.count(t)
		before, _ := e.productBySKU(t, "SKC-1003")

		e.clock.Advance(time.Minute)
		e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1003", `{"price":"777.00"}`)
		e.admin(t, http.MethodPut, "/admin/faults", `{"origin":"masterdata","error_rate":1}`)
		e.clock.Advance(10 * time.Minute)

		err := e.runner.RunOnce(testContext(t), syncjobs.MasterdataJobName)
		if !errors.Is(err, originhttp.ErrUnavailable) {
			t.Fatalf("RunOnce with the origin failing = %v, want ErrUnavailable", err)
		}
		if got, _ := e.productBySKU(t, "SKC-1003"); got.PriceAmount != before.PriceAmount || e.count(t) != n {
			t.Errorf("mirror changed by a failed run: price %s (was %s), %d products (were %d)", got.PriceAmount, before.PriceAmount, e.count(t), n)
		}
		st := e.status(t, syncjobs.MasterdataJobName)
		if st.LastError == "" || !strings.Contains(st.LastError, "503") || st.ConsecutiveFailures != 1 || !st.LastSuccessAt.Equal(epoch) || st.FullSyncPending {
			t.Errorf("status after a failed run: %+v", st)
		}
		if e.runs(syncjobs.MasterdataJobName, "error") != 1 {
			t.Errorf("runs_total{outcome=error} = %v, want 1", e.runs(syncjobs.MasterdataJobName, "error"))
		}
		if got := e.lag(syncjobs.MasterdataJobName); got != (11 * time.Minute).Seconds() {
			t.Errorf("lag after the failed run = %vs, want 660", got)
		}
		// The lag keeps growing with the clock, run or no run.
		e.clock.Advance(5 * time.Minute)
		if err := e.runner.RefreshStatus(testContext(t)); err != nil {
			t.Fatal(err)
		}
		if got := e.lag(syncjobs.MasterdataJobName); got != (16 * time.Minute).Seconds() {
			t.Errorf("lag 5 minutes later = %vs, want 960", got)
		}
		persisted, err := e.state.Load(testContext(t), syncjobs.MasterdataJobName)
		if err != nil || persisted.LastError != st.LastError || persisted.ConsecutiveFailures != 1 {
			t.Errorf("persisted state = %+v, %v", persisted, err)
		}

		// The origin recovers: the next run catches up.
		e.admin(t, http.MethodDelete, "/admin/faults", "")
		e.runOK(t, syncjobs.MasterdataJobName)
		if got, _ := e.productBySKU(t, "SKC-1003"); got.PriceAmount != "777.00" {
			t.Errorf("after recovery the price is %s, want 777.00", got.PriceAmount)
		}
		st = e.status(t, syncjobs.MasterdataJobName)
		if st.LastError != "" || st.ConsecutiveFailures != 0 || !st.LastSuccessAt.Equal(e.clock.Now()) || e.lag(syncjobs.MasterdataJobName) != 0 {
			t.Errorf("status after recovery: %+v, lag %v", st, e.lag(syncjobs.MasterdataJobName))
		}
	})
}

func TestFailedFirstSyncPurgesNothing(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		// The gateway seeds an empty mirror on first start; the first
		// sync fails: the seeded catalog must survive it.
		if _, err := catalog.LoadSeed(testContext(t), e.catalog, readTestdata(t, "catalog.json"), epoch); err != nil {
			t.Fatal(err)
		}
		seedGhosts(t, e)
		n := e.count(t)
		e.admin(t, http.MethodPut, "/admin/faults", `{"origin":"masterdata","error_rate":1}`)
		e.admin(t, http.MethodPut, "/admin/faults", `{"origin":"cms","error_rate":1}`)
		for _, job := range []string{syncjobs.MasterdataJobName, syncjobs.CMSJobName} {
			if err := e.runner.RunOnce(testContext(t), job); err == nil {
				t.Errorf("RunOnce(%s) succeeded with the origin failing", job)
			}
			if st := e.status(t, job); !st.FullSyncPending || st.LastError == "" {
				t.Errorf("status of %s = %+v, want a pending full sync and the error", job, st)
			}
		}
		if got := e.count(t); got != n {
			t.Errorf("mirror holds %d products after a failed full sync, want %d", got, n)
		}
		if _, ok, _ := e.content.Page(testContext(t), "ghost-page"); !ok {
			t.Error("a failed full sync purged content")
		}
	})
}

// truncatedListing serves the first page of the listing cut short with
// "more to come", then fails: a listing that breaks off part-way.
type truncatedListing struct {
	syncjobs.MasterdataSource
	calls int
}

func (s *truncatedListing) Products(ctx context.Context, cursor string, limit int) (masterdata.ProductPage, error) {
	s.calls++
	if s.calls > 1 {
		return masterdata.ProductPage{}, errors.New("connection reset by peer")
	}
	page, err := s.MasterdataSource.Products(ctx, cursor, limit)
	page.Products, page.HasMore, page.NextCursor = page.Products[:50], true, "more"
	return page, err
}

func TestPartialListingPurgesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite::memory:", envOptions{wrapMD: func(s syncjobs.MasterdataSource) syncjobs.MasterdataSource {
		return &truncatedListing{MasterdataSource: s}
	}})
	seedGhosts(t, e)
	err := e.runner.RunOnce(testContext(t), syncjobs.MasterdataJobName)
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("RunOnce = %v, want the listing failure", err)
	}
	if _, ok := e.productBySKU(t, ghost.SKU); !ok {
		t.Error("a full sync whose listing broke off purged the mirror")
	}
	if got := e.count(t); got != 51 {
		t.Errorf("mirror holds %d products, want the 50 listed before the failure and the ghost", got)
	}
	st := e.status(t, syncjobs.MasterdataJobName)
	if !st.FullSyncPending || st.ItemsApplied != 100 || !st.LastFullSyncAt.IsZero() {
		t.Errorf("status = %+v, want a pending full sync with the first page applied", st)
	}
	// What was committed is reported to the cache.
	if ids := changedIDs(e.changes.take(), syncjobs.ChangeProduct); len(ids) != 50 {
		t.Errorf("OnChange got %d IDs, want 50", len(ids))
	}
}

func TestExpiredCursorFallsBackToFullSync(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{sim: func(c *globalsim.Config) { c.FeedRetention = 2 }})
		e.runOK(t, syncjobs.MasterdataJobName)
		e.runOK(t, syncjobs.CMSJobName)
		// Drift the mirror, then let the feeds run past the cursors.
		p, _ := e.productBySKU(t, "SKC-1004")
		if err := e.catalog.DeleteProducts(testContext(t), []string{p.ID}); err != nil {
			t.Fatal(err)
		}
		if err := e.content.DeletePages(testContext(t), []string{"spring-skincare-edit"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		for i, sku := range []string{"SKC-1001", "SKC-1002", "SKC-1003"} {
			e.admin(t, http.MethodPatch, "/admin/masterdata/products/"+sku, `{"available":`+strconv.Itoa(i+1)+`}`)
		}
		for _, title := range []string{"One", "Two", "Three"} {
			e.admin(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"title":{"en":"`+title+`"}}`)
		}

		e.runOK(t, syncjobs.MasterdataJobName)
		e.runOK(t, syncjobs.CMSJobName)
		for _, job := range []string{syncjobs.MasterdataJobName, syncjobs.CMSJobName} {
			if st := e.status(t, job); !st.LastFullSyncAt.Equal(e.clock.Now()) || st.FullSyncPending {
				t.Errorf("%s: status %+v, want a full sync just now", job, st)
			}
		}
		if _, ok := e.productBySKU(t, "SKC-1004"); !ok {
			t.Error("the full sync after an expired cursor did not restore a missing product")
		}
		snaps, _ := e.catalog.InventoryBySKU(testContext(t), []string{"SKC-1001", "SKC-1002", "SKC-1003"})
		for i, sku := range []string{"SKC-1001", "SKC-1002", "SKC-1003"} {
			if snaps[sku].Available != i+1 {
				t.Errorf("%s available = %d, want %d", sku, snaps[sku].Available, i+1)
			}
		}
		if pg, ok, _ := e.content.Page(testContext(t), "about-us"); !ok || pg.Title["en"] != "Three" {
			t.Errorf("about-us after the full sync: %+v", pg)
		}
		if _, ok, _ := e.content.Page(testContext(t), "spring-skincare-edit"); !ok {
			t.Error("the CMS full sync did not restore a missing page")
		}
		// The new cursors work.
		e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1005", `{"available":42}`)
		e.runOK(t, syncjobs.MasterdataJobName)
		if st := e.status(t, syncjobs.MasterdataJobName); st.ItemsApplied != 1 {
			t.Errorf("incremental run after the fallback applied %d, want 1", st.ItemsApplied)
		}
	})
}

// TestChangesDuringFullSyncAreNotLost checks the cursor positioning: a
// change made after the head of the feed was read but before the listing
// reaches the product is applied by the next incremental run.
func TestChangesDuringFullSyncAreNotLost(t *testing.T) {
	t.Parallel()
	var e *env
	patched := false
	e = newEnv(t, "sqlite::memory:", envOptions{wrapMD: func(s syncjobs.MasterdataSource) syncjobs.MasterdataSource {
		return &listingHook{MasterdataSource: s, before: func() {
			if !patched {
				patched = true
				// The listing has not been read yet; the change is
				// made between the head scan and the listing.
				e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1001", `{"price":"1.00"}`)
				e.admin(t, http.MethodDelete, "/admin/masterdata/products/SKC-1002", "")
			}
		}}
	}})
	e.runOK(t, syncjobs.MasterdataJobName)
	if got, _ := e.productBySKU(t, "SKC-1001"); got.PriceAmount != "1.00" {
		t.Fatalf("listing read before the change? price %s", got.PriceAmount)
	}
	// Now make the mirror disagree, as if the listing had been read
	// before the change: the incremental run must still apply it.
	p, _ := e.productBySKU(t, "SKC-1001")
	if _, err := e.catalog.UpdatePrices(testContext(t), []catalog.PriceUpdate{{SKU: p.SKU, Amount: "9.99", Currency: p.Currency}}, epoch); err != nil {
		t.Fatal(err)
	}
	e.runOK(t, syncjobs.MasterdataJobName)
	if got, _ := e.productBySKU(t, "SKC-1001"); got.PriceAmount != "1.00" {
		t.Errorf("the change made during the full sync was skipped: price %s", got.PriceAmount)
	}
	if st := e.status(t, syncjobs.MasterdataJobName); st.ItemsApplied != 2 {
		t.Errorf("incremental run applied %d, want the 2 changes made during the full sync", st.ItemsApplied)
	}
}

// listingHook calls before ahead of each listing read.
type listingHook struct {
	syncjobs.MasterdataSource
	before func()
}

func (h *listingHook) Products(ctx context.Context, cursor string, limit int) (masterdata.ProductPage, error) {
	h.before()
	return h.MasterdataSource.Products(ctx, cursor, limit)
}

func TestStatePersistsAcrossRunners(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.runOK(t, syncjobs.MasterdataJobName)
		// Another Runner on the same database (a restart, another
		// replica) sees the state and resumes from the cursor.
		mdJob, _ := syncjobs.NewMasterdataJob(e.md, e.catalog)
		other, err := syncjobs.NewRunner(syncjobs.Config{State: e.state, Now: e.clock.Now}, mdJob)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Stop()
		if err := other.RefreshStatus(testContext(t)); err != nil {
			t.Fatal(err)
		}
		if st := other.Status()[0]; st.FullSyncPending || !st.LastFullSyncAt.Equal(epoch) {
			t.Errorf("other runner's status = %+v", st)
		}
		e.admin(t, http.MethodPatch, "/admin/masterdata/products/SKC-1001", `{"available":1}`)
		if err := other.RunOnce(testContext(t), syncjobs.MasterdataJobName); err != nil {
			t.Fatal(err)
		}
		if st := other.Status()[0]; st.ItemsApplied != 1 || !st.LastFullSyncAt.Equal(epoch) {
			t.Errorf("the other runner did not resume incrementally: %+v", st)
		}
	})
}

// flakyPages answers Page for some slugs with a failure of its own.
type flakyPages struct {
	syncjobs.CMSSource
	fail map[string]error
}

func (f flakyPages) Page(ctx context.Context, slug string) (cms.Page, error) {
	if err := f.fail[slug]; err != nil {
		return cms.Page{}, err
	}
	return f.CMSSource.Page(ctx, slug)
}

func TestCMSFullSyncPageReads(t *testing.T) {
	t.Parallel()
	t.Run("page gone between list and read", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "sqlite::memory:", envOptions{wrapCMS: func(s syncjobs.CMSSource) syncjobs.CMSSource {
			return flakyPages{CMSSource: s, fail: map[string]error{"about-us": apierr.New(apierr.NotFound, "no page")}}
		}})
		if err := e.content.UpsertPages(testContext(t), []content.Page{{Slug: "about-us", Title: content.LocalizedText{"en": "Old"}, UpdatedAt: epoch}}, epoch); err != nil {
			t.Fatal(err)
		}
		e.runOK(t, syncjobs.CMSJobName)
		if _, ok, _ := e.content.Page(testContext(t), "about-us"); ok {
			t.Error("a page the CMS no longer has stayed in the mirror")
		}
		if n, _ := e.content.Count(testContext(t)); n != e.sim.Stats().Pages-1 {
			t.Errorf("mirror holds %d pages, want every other page (%d)", n, e.sim.Stats().Pages-1)
		}
	})
	t.Run("page read fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "sqlite::memory:", envOptions{wrapCMS: func(s syncjobs.CMSSource) syncjobs.CMSSource {
			return flakyPages{CMSSource: s, fail: map[string]error{"about-us": errors.New("connection reset")}}
		}})
		seedGhosts(t, e)
		if err := e.runner.RunOnce(testContext(t), syncjobs.CMSJobName); err == nil || !strings.Contains(err.Error(), "about-us") {
			t.Fatalf("RunOnce = %v, want the failed page named", err)
		}
		if slugs, _ := e.content.Slugs(testContext(t)); !slices.Equal(slugs, []string{"ghost-page"}) {
			t.Errorf("mirror after a failed full sync: %v, want it untouched", slugs)
		}
		if st := e.status(t, syncjobs.CMSJobName); !st.FullSyncPending {
			t.Errorf("status = %+v, want the full sync still pending", st)
		}
	})
}
