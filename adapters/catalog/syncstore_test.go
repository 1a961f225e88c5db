package catalog_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/catalog"
)

func TestSQLiteSyncStore(t *testing.T) {
	t.Parallel()
	runSyncStoreContract(t, func(t *testing.T) catalog.SyncStore { return newSQLiteStore(t).(catalog.SyncStore) })
}

func TestPostgresSyncStore(t *testing.T) {
	t.Parallel()
	runSyncStoreContract(t, func(t *testing.T) catalog.SyncStore { return newPostgresStore(t).(catalog.SyncStore) })
}

// seededSync returns a fresh sync store holding the fixtures.
func seededSync(t *testing.T, newStore func(t *testing.T) catalog.SyncStore) catalog.SyncStore {
	t.Helper()
	s := newStore(t)
	if err := s.UpsertProducts(testContext(t), fixtureProducts(), mirroredAt); err != nil {
		t.Fatalf("UpsertProducts: %v", err)
	}
	return s
}

// runSyncStoreContract is the contract of what SyncStore adds to Store.
func runSyncStoreContract(t *testing.T, newStore func(t *testing.T) catalog.SyncStore) {
	t.Run("ProductsBySKU", func(t *testing.T) {
		t.Parallel()
		s := seededSync(t, newStore)
		got, err := s.ProductsBySKU(testContext(t), []string{"SKC-0007", "FRG-0101", "NOPE", "", "SKC-0007", "skc-0001"})
		if err != nil {
			t.Fatal(err)
		}
		all := byID(fixtureProducts(), mirroredAt)
		want := map[string]catalog.Product{"SKC-0007": all["p-007"], "FRG-0101": all["p-101"]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ProductsBySKU (-want +got):\n%s", diff)
		}
		empty, err := s.ProductsBySKU(testContext(t), nil)
		if err != nil || empty == nil || len(empty) != 0 {
			t.Errorf("ProductsBySKU(nil) = %v, %v; want an empty non-nil map", empty, err)
		}
	})

	t.Run("UpdatePrices", func(t *testing.T) {
		t.Parallel()
		s := seededSync(t, newStore)
		ctx := testContext(t)
		later := mirroredAt.Add(time.Hour)
		missing, err := s.UpdatePrices(ctx, []catalog.PriceUpdate{
			{SKU: "SKC-0007", Amount: "88.80", Currency: "CNY"},
			{SKU: "GONE-1", Amount: "1.00", Currency: "CNY"},
			{SKU: "FRG-0101", Amount: "1200.00", Currency: "USD"},
		}, later)
		if err != nil {
			t.Fatalf("UpdatePrices: %v", err)
		}
		if diff := cmp.Diff([]string{"GONE-1"}, missing); diff != "" {
			t.Errorf("missing (-want +got):\n%s", diff)
		}
		got, err := s.ProductsByID(ctx, []string{"p-007", "p-101", "p-008"})
		if err != nil {
			t.Fatal(err)
		}
		all := byID(fixtureProducts(), mirroredAt)
		want := map[string]catalog.Product{"p-007": all["p-007"], "p-101": all["p-101"], "p-008": all["p-008"]}
		p7, p101 := want["p-007"], want["p-101"]
		p7.PriceAmount, p7.MirroredAt = "88.80", wantMirroredAt(later)
		p101.PriceAmount, p101.Currency, p101.MirroredAt = "1200.00", "USD", wantMirroredAt(later)
		want["p-007"], want["p-101"] = p7, p101
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after UpdatePrices (-want +got):\n%s", diff)
		}
		// Texts stay searchable: only the price moved.
		if diff := cmp.Diff([]string{"p-007"}, searchAll(t, s, "SKC-0007", "")); diff != "" {
			t.Errorf("search after UpdatePrices (-want +got):\n%s", diff)
		}
		if missing, err := s.UpdatePrices(ctx, nil, later); err != nil || missing != nil {
			t.Errorf("UpdatePrices(nil) = %v, %v; want a no-op", missing, err)
		}
	})

	t.Run("UpdatePricesRejectsInvalid", func(t *testing.T) {
		t.Parallel()
		s := seededSync(t, newStore)
		ctx := testContext(t)
		good := catalog.PriceUpdate{SKU: "SKC-0001", Amount: "1.00", Currency: "CNY"}
		for name, bad := range map[string]catalog.PriceUpdate{
			"no sku":       {Amount: "1.00", Currency: "CNY"},
			"no currency":  {SKU: "SKC-0002", Amount: "1.00"},
			"float":        {SKU: "SKC-0002", Amount: "1.5", Currency: "CNY"},
			"negative":     {SKU: "SKC-0002", Amount: "-1.00", Currency: "CNY"},
			"leading zero": {SKU: "SKC-0002", Amount: "01.00", Currency: "CNY"},
			"repeated sku": good,
		} {
			if _, err := s.UpdatePrices(ctx, []catalog.PriceUpdate{good, bad}, mirroredAt); !errors.Is(err, catalog.ErrInvalidProduct) {
				t.Errorf("%s: UpdatePrices = %v, want ErrInvalidProduct", name, err)
			}
		}
		got, _ := s.ProductsBySKU(ctx, []string{"SKC-0001"})
		if p := got["SKC-0001"]; p.PriceAmount != "107.01" {
			t.Errorf("SKC-0001 price = %q after rejected batches, want it unchanged (107.01)", p.PriceAmount)
		}
	})

	t.Run("ListProductIDs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		ids0, err := s.ListProductIDs(ctx)
		if err != nil || ids0 == nil || len(ids0) != 0 {
			t.Errorf("ListProductIDs on empty store = %v, %v; want an empty slice", ids0, err)
		}
		if err := s.UpsertProducts(ctx, fixtureProducts(), mirroredAt); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListProductIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := ids(fixtureProducts())
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListProductIDs (-want +got):\n%s", diff)
		}
	})

	t.Run("Inventory", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		src := time.Date(2026, 4, 1, 9, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		snaps := []catalog.InventorySnapshot{
			{SKU: "SKC-0001", Available: 12, SourceUpdatedAt: src},
			{SKU: "SKC-0002", Available: 0, SourceUpdatedAt: src},
			{SKU: "NO-PRODUCT-YET", Available: 5, SourceUpdatedAt: src},
		}
		if err := s.UpsertInventory(ctx, snaps, mirroredAt); err != nil {
			t.Fatalf("UpsertInventory: %v", err)
		}
		got, err := s.InventoryBySKU(ctx, []string{"SKC-0001", "SKC-0002", "SKC-0404", "", "SKC-0001"})
		if err != nil {
			t.Fatal(err)
		}
		at, srcAt := wantMirroredAt(mirroredAt), wantMirroredAt(src)
		want := map[string]catalog.InventorySnapshot{
			"SKC-0001": {SKU: "SKC-0001", Available: 12, SourceUpdatedAt: srcAt, MirroredAt: at},
			"SKC-0002": {SKU: "SKC-0002", Available: 0, SourceUpdatedAt: srcAt, MirroredAt: at},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("InventoryBySKU (-want +got):\n%s", diff)
		}
		if got["SKC-0001"].SourceUpdatedAt.Location() != time.UTC || got["SKC-0001"].MirroredAt.Location() != time.UTC {
			t.Errorf("snapshot times are not in UTC: %+v", got["SKC-0001"])
		}

		// Newer replaces; older is ignored; equal replaces (a re-sync
		// of the same figure refreshes MirroredAt).
		later := mirroredAt.Add(time.Minute)
		if err := s.UpsertInventory(ctx, []catalog.InventorySnapshot{
			{SKU: "SKC-0001", Available: 7, SourceUpdatedAt: src.Add(time.Second)},
			{SKU: "SKC-0002", Available: 99, SourceUpdatedAt: src.Add(-time.Second)},
			{SKU: "NO-PRODUCT-YET", Available: 6, SourceUpdatedAt: src},
		}, later); err != nil {
			t.Fatalf("UpsertInventory again: %v", err)
		}
		got, err = s.InventoryBySKU(ctx, []string{"SKC-0001", "SKC-0002", "NO-PRODUCT-YET"})
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]catalog.InventorySnapshot{
			"SKC-0001":       {SKU: "SKC-0001", Available: 7, SourceUpdatedAt: wantMirroredAt(src.Add(time.Second)), MirroredAt: wantMirroredAt(later)},
			"SKC-0002":       {SKU: "SKC-0002", Available: 0, SourceUpdatedAt: srcAt, MirroredAt: at},
			"NO-PRODUCT-YET": {SKU: "NO-PRODUCT-YET", Available: 6, SourceUpdatedAt: srcAt, MirroredAt: wantMirroredAt(later)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("InventoryBySKU after second upsert (-want +got):\n%s", diff)
		}

		skus, err := s.InventorySKUs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"NO-PRODUCT-YET", "SKC-0001", "SKC-0002"}, skus); diff != "" {
			t.Errorf("InventorySKUs (-want +got):\n%s", diff)
		}
		if err := s.DeleteInventory(ctx, []string{"SKC-0001", "NOPE", "SKC-0001"}); err != nil {
			t.Fatalf("DeleteInventory: %v", err)
		}
		skus, _ = s.InventorySKUs(ctx)
		if diff := cmp.Diff([]string{"NO-PRODUCT-YET", "SKC-0002"}, skus); diff != "" {
			t.Errorf("InventorySKUs after delete (-want +got):\n%s", diff)
		}
		if err := s.DeleteInventory(ctx, nil); err != nil {
			t.Errorf("DeleteInventory(nil) = %v", err)
		}
		if empty, err := s.InventoryBySKU(ctx, nil); err != nil || empty == nil || len(empty) != 0 {
			t.Errorf("InventoryBySKU(nil) = %v, %v; want an empty non-nil map", empty, err)
		}
	})

	t.Run("InventoryRejectsInvalid", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		good := catalog.InventorySnapshot{SKU: "A", Available: 1, SourceUpdatedAt: mirroredAt}
		for name, batch := range map[string][]catalog.InventorySnapshot{
			"no sku":      {good, {Available: 1, SourceUpdatedAt: mirroredAt}},
			"negative":    {good, {SKU: "B", Available: -1, SourceUpdatedAt: mirroredAt}},
			"no source":   {good, {SKU: "B", Available: 1}},
			"repeats sku": {good, good},
		} {
			if err := s.UpsertInventory(ctx, batch, mirroredAt); !errors.Is(err, catalog.ErrInvalidProduct) {
				t.Errorf("%s: UpsertInventory = %v, want ErrInvalidProduct", name, err)
			}
		}
		if skus, _ := s.InventorySKUs(ctx); len(skus) != 0 {
			t.Errorf("rejected batches wrote %v", skus)
		}
	})

	t.Run("ManyInventorySKUs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		var snaps []catalog.InventorySnapshot
		var skus []string
		for i := range 1200 {
			sku := fmt.Sprintf("BULK-%05d", i)
			skus = append(skus, sku)
			snaps = append(snaps, catalog.InventorySnapshot{SKU: sku, Available: i, SourceUpdatedAt: mirroredAt})
		}
		if err := s.UpsertInventory(ctx, snaps, mirroredAt); err != nil {
			t.Fatalf("UpsertInventory(%d): %v", len(snaps), err)
		}
		got, err := s.InventoryBySKU(ctx, skus)
		if err != nil || len(got) != len(skus) {
			t.Fatalf("InventoryBySKU(%d) = %d snapshots, %v", len(skus), len(got), err)
		}
		if err := s.DeleteInventory(ctx, skus); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.InventorySKUs(ctx); len(left) != 0 {
			t.Errorf("%d snapshots left after deleting all", len(left))
		}
	})
}
