// Package model holds the GraphQL object types that Meridian writes by hand
// rather than letting gqlgen generate them: types whose fields are computed
// from domain values and the locale they were read in.
//
// Values are built once per object by the resolvers, so most fields are plain
// struct fields and gqlgen needs no resolver call per field on list-heavy
// pages.
package model

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"meridian/internal/locale"
)

// Product is the GraphQL Product type.
type Product struct {
	ID          string
	Sku         string
	Name        string
	Description *string
	Price       *Money
	Images      []*Image
	Category    *Category
	Freshness   *Freshness
}

// Image is the GraphQL Image type.
type Image struct {
	URL string
	Alt *string
}

// Category is the GraphQL Category type.
type Category struct {
	ID       string
	Name     string
	Position int
}

// Money is the GraphQL Money type. Its formatted text is computed only when
// a client asks for it, in the locale the value was read in.
type Money struct {
	Amount   string
	Currency string
	locale   locale.Locale
}

// NewMoney returns an amount (a decimal string) in currency, to be formatted
// for loc.
func NewMoney(amount, currency string, loc locale.Locale) *Money {
	return &Money{Amount: amount, Currency: currency, locale: loc}
}

// Formatted renders the amount as a reader in the value's locale expects.
func (m *Money) Formatted() (string, error) {
	return m.locale.FormatMoney(m.Amount, m.Currency)
}

// Freshness is the GraphQL Freshness type: where a value came from and how
// old it is.
type Freshness struct {
	Source DataSource
	AsOf   time.Time
	Stale  bool
}

// DataSource is the GraphQL DataSource enum.
type DataSource string

// The sources a value can come from.
const (
	DataSourceLive   DataSource = "LIVE"
	DataSourceMirror DataSource = "MIRROR"
	DataSourceCache  DataSource = "CACHE"
)

// IsValid reports whether s is one of the enum's values.
func (s DataSource) IsValid() bool {
	switch s {
	case DataSourceLive, DataSourceMirror, DataSourceCache:
		return true
	}
	return false
}

func (s DataSource) String() string { return string(s) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (s *DataSource) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("DataSource must be a string")
	}
	*s = DataSource(str)
	if !s.IsValid() {
		return fmt.Errorf("%s is not a valid DataSource", str)
	}
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (s DataSource) MarshalGQL(w io.Writer) {
	io.WriteString(w, strconv.Quote(string(s)))
}

// ContentPage is the GraphQL ContentPage type.
type ContentPage struct {
	Slug      string
	Title     string
	Summary   *string
	Body      string
	Images    []*Image
	Freshness *Freshness
	UpdatedAt time.Time
}
