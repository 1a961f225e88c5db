package masterdata

import (
	"errors"
	"fmt"
	"time"

	"meridian/internal/originhttp"
)

// The master's JSON shapes (api/global.openapi.yaml) and their checked
// conversion into this package's types. Unknown fields in answers are
// ignored, so the master can add fields without breaking Meridian.

// skuBatch is the body of both batch lookups.
type skuBatch struct {
	SKUs []string `json:"skus"`
}

// batchAnswer is the answer of both batch lookups; Missing is not read
// because a SKU absent from Items is absent from the result either way.
type batchAnswer[T any] struct {
	Items []T `json:"items"`
}

type inventoryItem struct {
	SKU       string    `json:"sku"`
	Available *int      `json:"available"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (it inventoryItem) sku() string { return it.SKU }

func (it inventoryItem) decode() (Inventory, error) {
	if it.Available == nil || *it.Available < 0 {
		return Inventory{}, errors.New("available is missing or negative")
	}
	return Inventory{SKU: it.SKU, Available: *it.Available, UpdatedAt: it.UpdatedAt.UTC()}, nil
}

type priceItem struct {
	SKU       string    `json:"sku"`
	Price     string    `json:"price"`
	Currency  string    `json:"currency"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (it priceItem) sku() string { return it.SKU }

func (it priceItem) decode() (Price, error) {
	if err := checkMoney(it.Price, it.Currency); err != nil {
		return Price{}, err
	}
	return Price{SKU: it.SKU, Amount: it.Price, Currency: it.Currency, UpdatedAt: it.UpdatedAt.UTC()}, nil
}

type imageJSON struct {
	URL string            `json:"url"`
	Alt map[string]string `json:"alt"`
}

type productJSON struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Category    string            `json:"category"`
	Name        map[string]string `json:"name"`
	Description map[string]string `json:"description"`
	Price       string            `json:"price"`
	Currency    string            `json:"currency"`
	Images      []imageJSON       `json:"images"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

func (pj productJSON) decode() (Product, error) {
	if pj.ID == "" || pj.SKU == "" {
		return Product{}, fmt.Errorf("product id %q, sku %q: both are required", pj.ID, pj.SKU)
	}
	if err := checkMoney(pj.Price, pj.Currency); err != nil {
		return Product{}, fmt.Errorf("sku %s: %w", pj.SKU, err)
	}
	images := make([]Image, 0, len(pj.Images))
	for _, im := range pj.Images {
		images = append(images, Image{URL: im.URL, Alt: LocalizedText(im.Alt)})
	}
	return Product{
		ID: pj.ID, SKU: pj.SKU, Category: pj.Category,
		Name: texts(pj.Name), Description: texts(pj.Description),
		PriceAmount: pj.Price, Currency: pj.Currency,
		Images: images, UpdatedAt: pj.UpdatedAt.UTC(),
	}, nil
}

type productPageJSON struct {
	Products   []productJSON `json:"products"`
	NextCursor string        `json:"nextCursor"`
	HasMore    bool          `json:"hasMore"`
}

type changeJSON struct {
	ID        string       `json:"id"`
	Kind      string       `json:"kind"`
	SKU       string       `json:"sku"`
	ChangedAt time.Time    `json:"changedAt"`
	Product   *productJSON `json:"product"`
	Price     string       `json:"price"`
	Currency  string       `json:"currency"`
	Available *int         `json:"available"`
}

type changePageJSON struct {
	Changes    []changeJSON `json:"changes"`
	NextCursor string       `json:"nextCursor"`
	HasMore    bool         `json:"hasMore"`
}

// decode checks that a change carries what its kind promises: a sync job
// applying a price change without a price would write a zero into the
// mirror.
func (cj changeJSON) decode() (Change, error) {
	if cj.ID == "" || cj.SKU == "" {
		return Change{}, fmt.Errorf("id %q, sku %q: both are required", cj.ID, cj.SKU)
	}
	at := cj.ChangedAt.UTC()
	ch := Change{ID: cj.ID, Kind: ChangeKind(cj.Kind), SKU: cj.SKU, ChangedAt: at}
	switch ch.Kind {
	case ChangeProduct:
		if cj.Product == nil {
			return Change{}, errors.New("product change without a product")
		}
		p, err := cj.Product.decode()
		if err != nil {
			return Change{}, err
		}
		if p.SKU != cj.SKU {
			return Change{}, fmt.Errorf("product change of SKU %q carries SKU %q", cj.SKU, p.SKU)
		}
		ch.Product = p
	case ChangePrice:
		if err := checkMoney(cj.Price, cj.Currency); err != nil {
			return Change{}, err
		}
		ch.Price = Price{SKU: cj.SKU, Amount: cj.Price, Currency: cj.Currency, UpdatedAt: at}
	case ChangeInventory:
		if cj.Available == nil || *cj.Available < 0 {
			return Change{}, errors.New("inventory change without a valid available quantity")
		}
		ch.Inventory = Inventory{SKU: cj.SKU, Available: *cj.Available, UpdatedAt: at}
	}
	return ch, nil
}

func checkMoney(amount, currency string) error {
	if !originhttp.IsMoney(amount) {
		return fmt.Errorf("price %q is not a decimal amount with two fraction digits", amount)
	}
	if !originhttp.IsCurrency(currency) {
		return fmt.Errorf("currency %q is not an ISO 4217 code", currency)
	}
	return nil
}

// texts never returns nil, so callers can read any key without a check.
func texts(m map[string]string) LocalizedText {
	if m == nil {
		return LocalizedText{}
	}
	return LocalizedText(m)
}
