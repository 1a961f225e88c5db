package cms

import (
	"errors"
	"fmt"
	"time"
)

// The CMS's JSON shapes (api/global.openapi.yaml). Unknown fields in answers
// are ignored, so the CMS can add fields without breaking Meridian.

type imageJSON struct {
	URL string            `json:"url"`
	Alt map[string]string `json:"alt"`
}

type pageJSON struct {
	Slug      string            `json:"slug"`
	Title     map[string]string `json:"title"`
	Summary   map[string]string `json:"summary"`
	Body      map[string]string `json:"body"`
	Images    []imageJSON       `json:"images"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

type summaryJSON struct {
	Slug      string            `json:"slug"`
	Title     map[string]string `json:"title"`
	Summary   map[string]string `json:"summary"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

type changeJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Slug      string    `json:"slug"`
	ChangedAt time.Time `json:"changedAt"`
	Page      *pageJSON `json:"page"`
}

type changesJSON struct {
	Changes    []changeJSON `json:"changes"`
	NextCursor string       `json:"nextCursor"`
	HasMore    bool         `json:"hasMore"`
}

func (pj pageJSON) decode() (Page, error) {
	if pj.Slug == "" {
		return Page{}, errors.New("page without a slug")
	}
	images := make([]Image, 0, len(pj.Images))
	for _, im := range pj.Images {
		if im.URL == "" {
			return Page{}, fmt.Errorf("page %s: image without a URL", pj.Slug)
		}
		images = append(images, Image{URL: im.URL, Alt: LocalizedText(im.Alt)})
	}
	return Page{
		Slug: pj.Slug, Title: texts(pj.Title), Summary: texts(pj.Summary), Body: texts(pj.Body),
		Images: images, UpdatedAt: pj.UpdatedAt.UTC(),
	}, nil
}

// decode checks that a page change carries its page: a copy updated from a
// change without one would lose the page's content.
func (cj changeJSON) decode() (Change, error) {
	if cj.ID == "" || cj.Slug == "" {
		return Change{}, fmt.Errorf("id %q, slug %q: both are required", cj.ID, cj.Slug)
	}
	ch := Change{ID: cj.ID, Kind: ChangeKind(cj.Kind), Slug: cj.Slug, ChangedAt: cj.ChangedAt.UTC()}
	if ch.Kind != PageChanged {
		return ch, nil
	}
	if cj.Page == nil {
		return Change{}, errors.New("page change without a page")
	}
	p, err := cj.Page.decode()
	if err != nil {
		return Change{}, err
	}
	if p.Slug != cj.Slug {
		return Change{}, fmt.Errorf("change of page %q carries page %q", cj.Slug, p.Slug)
	}
	ch.Page = p
	return ch, nil
}

// texts never returns nil, so callers can read any key without a check.
func texts(m map[string]string) LocalizedText {
	if m == nil {
		return LocalizedText{}
	}
	return LocalizedText(m)
}
