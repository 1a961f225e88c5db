package syncjobs

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"meridian/adapters/masterdata"
)

func TestErrorTextScrubsAndBounds(t *testing.T) {
	t.Parallel()
	err := errors.New(`Get "https://sync:hunter2@md.example.com/v1/changes?cursor=abc&token=s3cr3t&limit=500": dial tcp: i/o timeout; api_key=k3y`)
	got := errorText(err)
	for _, secret := range []string{"hunter2", "s3cr3t", "k3y", "sync:"} {
		if strings.Contains(got, secret) {
			t.Errorf("errorText kept %q: %s", secret, got)
		}
	}
	for _, kept := range []string{"md.example.com/v1/changes", "cursor=abc", "i/o timeout"} {
		if !strings.Contains(got, kept) {
			t.Errorf("errorText dropped %q: %s", kept, got)
		}
	}
	long := errorText(errors.New(strings.Repeat("错", 2000)))
	if len(long) > maxErrorText+len("…") || !utf8.ValidString(long) || !strings.HasSuffix(long, "…") {
		t.Errorf("long error text: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
	if errorText(nil) != "" {
		t.Error("errorText(nil) is not empty")
	}
}

func TestFoldKeepsTheLastWordPerSKU(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	product := func(sku, price string) masterdata.Change {
		return masterdata.Change{Kind: masterdata.ChangeProduct, SKU: sku, ChangedAt: at, Product: masterdata.Product{
			ID: "id-" + sku, SKU: sku, PriceAmount: price, Currency: "CNY", Name: masterdata.LocalizedText{"en": sku}}}
	}
	price := func(sku, amount string) masterdata.Change {
		return masterdata.Change{Kind: masterdata.ChangePrice, SKU: sku, ChangedAt: at, Price: masterdata.Price{SKU: sku, Amount: amount, Currency: "CNY"}}
	}
	stock := func(sku string, n int) masterdata.Change {
		return masterdata.Change{Kind: masterdata.ChangeInventory, SKU: sku, ChangedAt: at, Inventory: masterdata.Inventory{SKU: sku, Available: n, UpdatedAt: at}}
	}
	deleted := func(sku string) masterdata.Change {
		return masterdata.Change{Kind: ChangeDeleted, SKU: sku, ChangedAt: at.Add(time.Minute)}
	}
	var skipped []string
	f := fold([]masterdata.Change{
		product("A", "1.00"), price("A", "2.00"), // price amends the product
		price("B", "3.00"), product("B", "4.00"), // product carries the newer price
		price("C", "5.00"), price("C", "6.00"),
		stock("D", 1), deleted("D"), // deletion cancels what came before
		deleted("E"), stock("E", 9), // a later change cancels the deletion
		{Kind: "renamed", SKU: "F", ID: "x"},
	}, func(c masterdata.Change) { skipped = append(skipped, string(c.Kind)) })

	if p := f.products["A"]; p.PriceAmount != "2.00" {
		t.Errorf("A: price %s, want 2.00", p.PriceAmount)
	}
	if p := f.products["B"]; p.PriceAmount != "4.00" {
		t.Errorf("B: price %s, want 4.00", p.PriceAmount)
	}
	if _, ok := f.prices["B"]; ok {
		t.Error("B: a price update survived the whole product after it")
	}
	if u := f.prices["C"]; u.Amount != "6.00" || len(f.prices) != 1 {
		t.Errorf("prices = %+v, want only C at 6.00", f.prices)
	}
	if !f.deleted["D"] || f.deleted["E"] {
		t.Errorf("deleted = %v, want D only", f.deleted)
	}
	if _, ok := f.inventory["D"]; ok || f.inventory["E"].Available != 9 {
		t.Errorf("inventory = %+v, want E only", f.inventory)
	}
	if f.applied != 10 || len(skipped) != 1 || skipped[0] != "renamed" {
		t.Errorf("applied %d, skipped %v; want 10 and the unknown kind", f.applied, skipped)
	}
	if !f.through.Equal(at.Add(time.Minute)) {
		t.Errorf("through = %v", f.through)
	}
}
