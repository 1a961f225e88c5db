package globalsim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCatalogSeedFile loads the real catalog seed, when it is there, and
// checks the shelves it gives have both empty and low stock for the demo.
func TestCatalogSeedFile(t *testing.T) {
	t.Parallel()
	catalog, err := os.ReadFile(filepath.Join("..", "..", "testdata", "catalog.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("testdata/catalog.json is absent")
	}
	if err != nil {
		t.Fatalf("read catalog seed: %v", err)
	}
	sim, err := New(Config{Catalog: catalog})
	if err != nil {
		t.Fatalf("New with the catalog seed: %v", err)
	}
	defer sim.Close()
	var out, low int
	for _, sku := range sim.md.skus {
		switch a := sim.md.bySKU[sku].Available; {
		case a == 0:
			out++
		case a <= 5:
			low++
		}
	}
	if len(sim.md.skus) == 0 || out == 0 || low == 0 {
		t.Errorf("got %d products, %d out of stock, %d low want some of each", len(sim.md.skus), out, low)
	}
}
