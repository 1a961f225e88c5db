// Package content is the in-country mirror of the global CMS: marketing
// pages keyed by slug, with their localized title, summary and Markdown
// body, their images, the CMS's own timestamp of each page and when it was
// mirrored.
//
// The mirror lets Meridian serve content without crossing the border; the
// cms sync job (internal/syncjobs) keeps it current. As with the catalog
// mirror (adapters/catalog), one Store contract is implemented on SQLite and
// PostgreSQL and exercised on both by one contract test suite.
package content

import (
	"context"
	"errors"
	"time"
)

// LocalizedText maps a content locale key ("zh-Hans", "zh-Hant", "en") to
// the text in that language. A page need not have every language; which
// one a reader gets is decided by internal/locale, never here.
type LocalizedText map[string]string

// Image is a picture on a page, served from the in-country static host.
type Image struct {
	URL string        `json:"url"`
	Alt LocalizedText `json:"alt,omitempty"`
}

// Page is one marketing page as mirrored from the CMS.
type Page struct {
	Slug    string
	Title   LocalizedText
	Summary LocalizedText
	Body    LocalizedText // Markdown by locale
	Images  []Image
	// UpdatedAt is the CMS's time of the page's last change: how current
	// the mirrored copy is at its source.
	UpdatedAt time.Time
	// MirroredAt is when this copy was last written into the mirror; it is
	// the asOf of MIRROR freshness.
	MirroredAt time.Time
}

// Store is the content mirror's API. Implementations must be safe for
// concurrent use.
type Store interface {
	// Page returns the page with slug; ok is false, with a nil error,
	// when the mirror has none.
	Page(ctx context.Context, slug string) (p Page, ok bool, err error)
	// UpsertPages inserts or replaces pages by slug in one transaction,
	// stamping MirroredAt with the given time. A page whose UpdatedAt is
	// before the stored copy's is ignored, so replaying older changes
	// never takes the mirror back in the CMS's time.
	UpsertPages(ctx context.Context, pages []Page, mirroredAt time.Time) error
	// DeletePages removes pages by slug; unknown slugs are ignored.
	DeletePages(ctx context.Context, slugs []string) error
	// Slugs returns the slug of every mirrored page, sorted; none is an
	// empty slice.
	Slugs(ctx context.Context) ([]string, error)
	// Count returns how many pages the mirror holds.
	Count(ctx context.Context) (int, error)
}

// ErrInvalidPage is returned (wrapped) by writes given a page the mirror
// cannot hold, such as one without a slug. Nothing of the batch is written.
var ErrInvalidPage = errors.New("content: invalid page")
