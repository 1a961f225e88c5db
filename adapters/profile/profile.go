// Package profile is the in-country store of customers' and consultants'
// personal data: display name, mobile number, email, delivery addresses,
// birthday, preferred locale and skin profile, keyed by the pseudonymous
// subject id the global identity provider issues ("cust-0001").
//
// Under PIPL this data stays in mainland China: nothing in this package
// sends it anywhere, and the global side only ever sees subject ids. The
// same Store contract is implemented on SQLite (the embedded default) and
// PostgreSQL (production); both are exercised by one contract test suite.
//
// # Validation
//
// Every write is validated here, so no caller can store a malformed value.
// A rejected write fails with one *FieldError per offending field, joined,
// each wrapping ErrInvalidInput and naming the field the way the GraphQL
// input does ("mobile", "addresses[1].postalCode"). Errors name fields, never
// their values: a mobile number or an email must not reach a log line.
//
// # Erasure
//
// Erase removes every personal field and every address and keeps the row as
// a tombstone holding only the subject id, the consultant assignment
// (business data the global identity provider holds anyway) and the
// creation, update and erasure times. Readers never see a tombstone: Get
// reports it as absent and ListByConsultant skips it. The tombstone exists
// because the table must not look empty after people erase their data: an
// empty table is what makes LoadDemoProfiles load, and a seed must never
// bring an erased person back. The schema enforces that a tombstone holds no
// personal field.
//
// A deletion request touches three stores, which the gateway calls in this
// order: consent.Store.WithdrawAll (nothing may be processed any more),
// Store.Erase, an audit entry for the deletion, then
// audit.Store.Pseudonymize (the trail keeps its shape without naming the
// person).
package profile

import (
	"context"
	"errors"
	"time"
)

// SkinType is a person's self-described skin type. The zero value means
// not stated.
type SkinType string

// The skin types a profile can hold.
const (
	SkinDry         SkinType = "dry"
	SkinOily        SkinType = "oily"
	SkinCombination SkinType = "combination"
	SkinNormal      SkinType = "normal"
	SkinSensitive   SkinType = "sensitive"
)

// SkinTypes returns every valid SkinType, in a fixed order.
func SkinTypes() []SkinType {
	return []SkinType{SkinDry, SkinOily, SkinCombination, SkinNormal, SkinSensitive}
}

// SkinConcern is one skin concern a person wants products for.
type SkinConcern string

// The fixed set of skin concerns. The set is closed so that
// personalization and consultants' dashboards can rely on it; a new concern
// is a code change, not free text (free text invites personal notes such as
// medical conditions, which this store must not collect).
const (
	ConcernAcne          SkinConcern = "acne"
	ConcernAging         SkinConcern = "aging"
	ConcernDarkSpots     SkinConcern = "dark_spots"
	ConcernDehydration   SkinConcern = "dehydration"
	ConcernDullness      SkinConcern = "dullness"
	ConcernRedness       SkinConcern = "redness"
	ConcernPores         SkinConcern = "pores"
	ConcernOiliness      SkinConcern = "oiliness"
	ConcernSensitivity   SkinConcern = "sensitivity"
	ConcernDarkCircles   SkinConcern = "dark_circles"
	ConcernUnevenTexture SkinConcern = "uneven_texture"
)

// SkinConcerns returns every valid SkinConcern, in the order the store
// keeps them.
func SkinConcerns() []SkinConcern {
	return []SkinConcern{
		ConcernAcne, ConcernAging, ConcernDarkSpots, ConcernDehydration, ConcernDullness,
		ConcernRedness, ConcernPores, ConcernOiliness, ConcernSensitivity, ConcernDarkCircles,
		ConcernUnevenTexture,
	}
}

// SkinProfile is a person's skin type and concerns. The zero value means
// nothing stated. Concerns come back de-duplicated, in SkinConcerns order,
// and nil when there are none.
type SkinProfile struct {
	Type     SkinType      `json:"type,omitempty"`
	Concerns []SkinConcern `json:"concerns,omitempty"`
}

// IsZero reports whether s states nothing.
func (s SkinProfile) IsZero() bool { return s.Type == "" && len(s.Concerns) == 0 }

// Address is one delivery address of a profile.
//
// ID is assigned by the store ("addr-" and 20 hexadecimal digits) and stays
// the same across updates that keep the address. RecipientMobile is stored
// normalized like Profile.Mobile. District, Line2 and PostalCode may be
// empty (some prefecture-level cities have no districts, and many people do
// not know their postal code); the other fields are required. Exactly one
// address of a non-empty list is the default.
type Address struct {
	ID              string `json:"id"`
	RecipientName   string `json:"recipientName"`
	RecipientMobile string `json:"recipientMobile"`
	Province        string `json:"province"`
	City            string `json:"city"`
	District        string `json:"district,omitempty"`
	Line1           string `json:"line1"`
	Line2           string `json:"line2,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	IsDefault       bool   `json:"isDefault"`
}

// Profile is one person's personal data as stored, every value normalized.
// Empty strings, a zero Birthday and a zero Skin mean not stated.
//
// ConsultantID is the beauty consultant the person is assigned to: business
// data, not personal data, which survives Erase. CreatedAt and UpdatedAt are
// in UTC at microsecond precision; UpdatedAt changes only when a write
// changes something.
type Profile struct {
	Subject      string      `json:"subject"`
	DisplayName  string      `json:"displayName,omitempty"`
	Mobile       string      `json:"mobile,omitempty"`
	Email        string      `json:"email,omitempty"`
	Addresses    []Address   `json:"addresses,omitempty"`
	Birthday     Date        `json:"birthday,omitzero"`
	Locale       string      `json:"locale,omitempty"`
	Skin         SkinProfile `json:"skin,omitzero"`
	ConsultantID string      `json:"consultantId,omitempty"`
	CreatedAt    time.Time   `json:"createdAt"`
	UpdatedAt    time.Time   `json:"updatedAt"`
}

// Patch is a partial update of a profile: a nil field is left as it is.
//
// A pointer to an empty value removes the field: "" for Mobile, Email,
// Locale and ConsultantID, the zero Date for Birthday, the zero SkinProfile
// for Skin, an empty slice for Addresses. DisplayName cannot be removed: a
// pointer to "" is invalid, because a name is what every screen greets the
// person with.
//
// Addresses replaces the whole list, in the given order. An entry with an
// empty ID is a new address and gets an ID from the store; an entry with an
// ID must name an address the profile has now, and keeps it; addresses of
// the profile not in the list are removed. At most one entry may be the
// default; when none is, the first becomes the default.
type Patch struct {
	DisplayName  *string
	Mobile       *string
	Email        *string
	Addresses    *[]Address
	Birthday     *Date
	Locale       *string
	Skin         *SkinProfile
	ConsultantID *string
}

// Page is one page of ListByConsultant.
type Page struct {
	// Profiles are ordered by Subject (byte order), with their addresses.
	Profiles []Profile
	// HasNextPage reports that more profiles follow the last of this page.
	HasNextPage bool
	// TotalCount is how many profiles the consultant has in all, ignoring
	// paging.
	TotalCount int
}

// Store holds profiles. Implementations must be safe for concurrent use.
//
// Every method fails with a *FieldError wrapping ErrInvalidInput when given
// a malformed subject, consultant or address id (empty, longer than 255
// bytes, or holding anything but printable ASCII without spaces).
type Store interface {
	// Get returns the profile of subject; found is false when there is
	// none or it was erased.
	Get(ctx context.Context, subject string) (p Profile, found bool, err error)
	// Upsert applies patch to the profile of subject, creating it when
	// there is none or it was erased (a fresh profile: CreatedAt is now),
	// and returns the result. An invalid patch changes nothing and returns
	// the field errors.
	Upsert(ctx context.Context, subject string, patch Patch) (Profile, error)
	// Update is Upsert for an existing profile only: with no profile, or
	// an erased one, it fails with an error wrapping ErrNotFound.
	Update(ctx context.Context, subject string, patch Patch) (Profile, error)
	// AddressByID returns the address addressID of subject's profile;
	// found is false when that profile has no such address, including
	// when the address belongs to someone else.
	AddressByID(ctx context.Context, subject, addressID string) (a Address, found bool, err error)
	// ListByConsultant returns a page of the live profiles assigned to
	// consultantID, ordered by subject, starting after afterSubject (""
	// for the first page; it need not be an existing subject). first must
	// be at least 1.
	ListByConsultant(ctx context.Context, consultantID string, first int, afterSubject string) (Page, error)
	// Erase deletes every personal field and address of subject's
	// profile, leaving the tombstone described in the package doc, and
	// reports whether there was a live profile to erase. Erasing twice,
	// or a subject without a profile, is not an error.
	Erase(ctx context.Context, subject string) (erased bool, err error)
	// Count returns how many profile rows exist, tombstones included.
	Count(ctx context.Context) (int, error)
}

// ErrInvalidInput is wrapped by every *FieldError: a value this store does
// not accept. The gateway maps it to BAD_USER_INPUT.
var ErrInvalidInput = errors.New("profile: invalid input")

// ErrNotFound is returned (wrapped) by Update when the subject has no live
// profile.
var ErrNotFound = errors.New("profile: not found")
