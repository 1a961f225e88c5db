// Package cms is Meridian's client of the global content management system:
// localized marketing pages, their list, and the change feed that keeps an
// in-country copy of the content current.
//
// Texts come in every language the CMS holds, keyed by content locale
// ("zh-Hans", "zh-Hant", "en"); which one a reader sees is decided by
// internal/locale, never here. Errors carry the apierr kinds of
// internal/originhttp.
package cms

import (
	"context"
	"fmt"
	"time"

	"meridian/internal/apierr"
	"meridian/internal/originhttp"
)

// Client calls the CMS. It is safe for concurrent use.
type Client struct {
	origin *originhttp.Client
}

// New returns a client that reaches the CMS through c, whose base URL is the
// CMS's (GLOBAL_CMS_URL, such as ".../cms").
func New(c *originhttp.Client) *Client { return &Client{origin: c} }

// LocalizedText maps a content locale key ("zh-Hans", "zh-Hant", "en") to the
// text in that language. A page need not have every language.
type LocalizedText map[string]string

// Image is a picture on a page.
type Image struct {
	URL string
	Alt LocalizedText // may be empty
}

// Page is a marketing page in every language the CMS holds. Body is
// Markdown. Title, Summary and Body are never nil.
type Page struct {
	Slug      string
	Title     LocalizedText
	Summary   LocalizedText
	Body      LocalizedText
	Images    []Image
	UpdatedAt time.Time
}

// PageSummary is a page without its body and images, as the page list gives
// it.
type PageSummary struct {
	Slug      string
	Title     LocalizedText
	Summary   LocalizedText
	UpdatedAt time.Time
}

// ChangeKind says what a change feed entry is.
type ChangeKind string

// PageChanged is the only kind the CMS feed has: a page was published or
// updated, and the change carries the whole page.
const PageChanged ChangeKind = "page"

// Change is one entry of the CMS change feed. For PageChanged, Page is the
// whole page after the change. A Kind this package does not know comes with
// only ID, Slug and ChangedAt, so a reader can skip it knowingly.
type Change struct {
	ID        string
	Kind      ChangeKind
	Slug      string
	ChangedAt time.Time
	Page      Page
}

// ChangePage is one read of the change feed. NextCursor is always set: store it
// and pass it to the next read, also after an empty page. HasMore says more
// changes are available right now.
type ChangePage struct {
	Changes    []Change
	NextCursor string
	HasMore    bool
}

// Page returns the page with the given slug. An unknown slug is an
// apierr.NotFound error; an empty or malformed one is apierr.BadUserInput,
// without a request.
func (c *Client) Page(ctx context.Context, slug string) (Page, error) {
	seg, err := originhttp.PathSegment("page slug", slug)
	if err != nil {
		return Page{}, err
	}
	var pj pageJSON
	if err := c.origin.GetJSON(ctx, "/v1/pages/"+seg, nil, &pj); err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			return Page{}, apierr.Wrap(apierr.NotFound, err, "no page %q", slug)
		}
		return Page{}, fmt.Errorf("page %q: %w", slug, err)
	}
	p, err := pj.decode()
	if err == nil && p.Slug != slug {
		err = fmt.Errorf("answered with slug %q", p.Slug)
	}
	if err != nil {
		return Page{}, badAnswer(fmt.Errorf("page %q: %w", slug, err))
	}
	return p, nil
}

// Pages returns a summary of every page, ordered by slug; none is an empty
// slice.
func (c *Client) Pages(ctx context.Context) ([]PageSummary, error) {
	var list struct {
		Pages []summaryJSON `json:"pages"`
	}
	if err := c.origin.GetJSON(ctx, "/v1/pages", nil, &list); err != nil {
		return nil, fmt.Errorf("page list: %w", err)
	}
	out := make([]PageSummary, 0, len(list.Pages))
	for i, sj := range list.Pages {
		if sj.Slug == "" {
			return nil, badAnswer(fmt.Errorf("page list: entry %d has no slug", i))
		}
		out = append(out, PageSummary{Slug: sj.Slug, Title: texts(sj.Title), Summary: texts(sj.Summary), UpdatedAt: sj.UpdatedAt.UTC()})
	}
	return out, nil
}

// Changes reads up to limit changes after cursor, oldest first. Pass "" to
// start from the oldest change the CMS retains: every published page is in
// the feed, so a reader starting there sees all content. limit is 1 to
// originhttp.MaxPageLimit, 0 for the CMS's default (100).
//
// A cursor older than the retained history fails with an error matching
// originhttp.ErrCursorExpired (errors.Is): read the feed again from "".
func (c *Client) Changes(ctx context.Context, cursor string, limit int) (ChangePage, error) {
	if err := originhttp.CheckPageLimit(limit); err != nil {
		return ChangePage{}, err
	}
	var page changesJSON
	if err := c.origin.GetJSON(ctx, "/v1/changes", originhttp.PageQuery(cursor, limit), &page); err != nil {
		return ChangePage{}, fmt.Errorf("CMS change feed: %w", err)
	}
	if page.NextCursor == "" {
		return ChangePage{}, badAnswer(fmt.Errorf("CMS change feed: no next cursor"))
	}
	out := ChangePage{Changes: make([]Change, 0, len(page.Changes)), NextCursor: page.NextCursor, HasMore: page.HasMore}
	for _, cj := range page.Changes {
		ch, err := cj.decode()
		if err != nil {
			return ChangePage{}, badAnswer(fmt.Errorf("CMS change feed: change %q: %w", cj.ID, err))
		}
		out.Changes = append(out.Changes, ch)
	}
	return out, nil
}

func badAnswer(err error) error {
	return apierr.Wrap(apierr.Internal, fmt.Errorf("cms: %w", err), "cms answered with malformed data")
}
