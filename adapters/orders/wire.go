package orders

import (
	"errors"
	"fmt"
	"time"

	"meridian/internal/originhttp"
)

// orderJSON is an order as Order Management answers it. Unknown fields are
// ignored, so the system can add fields without breaking Meridian.
type orderJSON struct {
	ID                 string          `json:"id"`
	Subject            string          `json:"subject"`
	RegionOrderRef     string          `json:"regionOrderRef"`
	ShippingAddressRef string          `json:"shippingAddressRef"`
	Currency           string          `json:"currency"`
	Lines              []orderLineJSON `json:"lines"`
	Total              string          `json:"total"`
	Status             string          `json:"status"`
	StatusHistory      []statusJSON    `json:"statusHistory"`
	CreatedAt          time.Time       `json:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt"`
}

type orderLineJSON struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unitPrice"`
	LineTotal string `json:"lineTotal"`
}

type statusJSON struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// decode checks what the rest of Meridian relies on: an id, amounts that
// are decimal strings, and a history that ends in the current status.
func (oj orderJSON) decode() (Order, error) {
	if oj.ID == "" {
		return Order{}, errors.New("order without an id")
	}
	if !originhttp.IsCurrency(oj.Currency) {
		return Order{}, fmt.Errorf("order %s: currency %q is not an ISO 4217 code", oj.ID, oj.Currency)
	}
	if !originhttp.IsMoney(oj.Total) {
		return Order{}, fmt.Errorf("order %s: total %q is not a decimal amount", oj.ID, oj.Total)
	}
	o := Order{
		ID: oj.ID, Subject: oj.Subject, RegionOrderRef: oj.RegionOrderRef, ShippingAddressRef: oj.ShippingAddressRef,
		Currency: oj.Currency, Total: oj.Total, Status: Status(oj.Status),
		Lines:         make([]OrderLine, 0, len(oj.Lines)),
		StatusHistory: make([]StatusChange, 0, len(oj.StatusHistory)),
		CreatedAt:     oj.CreatedAt.UTC(), UpdatedAt: oj.UpdatedAt.UTC(),
	}
	for i, l := range oj.Lines {
		if l.SKU == "" || l.Quantity < 1 || !originhttp.IsMoney(l.UnitPrice) || !originhttp.IsMoney(l.LineTotal) {
			return Order{}, fmt.Errorf("order %s: line %d is malformed", oj.ID, i+1)
		}
		o.Lines = append(o.Lines, OrderLine(l))
	}
	for _, h := range oj.StatusHistory {
		o.StatusHistory = append(o.StatusHistory, StatusChange{Status: Status(h.Status), At: h.At.UTC()})
	}
	if len(o.StatusHistory) == 0 || o.StatusHistory[len(o.StatusHistory)-1].Status != o.Status {
		return Order{}, fmt.Errorf("order %s: status %q is not the last of its history", oj.ID, oj.Status)
	}
	return o, nil
}
