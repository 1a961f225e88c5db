package globalsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
)

// ChangePage is the kind of every CMS change feed entry: a page was published
// or updated, and the entry carries the whole page.
const ChangePage = "page"

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// seedContent is the format of testdata/content.json.
type seedContent struct {
	Pages []pageJSON `json:"pages"`
}

// pageJSON is a marketing page as the CMS returns it. Title, summary and body
// are localized; the body is Markdown.
type pageJSON struct {
	Slug      string            `json:"slug"`
	Title     map[string]string `json:"title"`
	Summary   map[string]string `json:"summary"`
	Body      map[string]string `json:"body"`
	Images    []image           `json:"images"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

type pageSummary struct {
	Slug      string            `json:"slug"`
	Title     map[string]string `json:"title"`
	Summary   map[string]string `json:"summary"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

type pageList struct {
	Pages []pageSummary `json:"pages"`
}

type cmsChange struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Slug      string    `json:"slug"`
	ChangedAt time.Time `json:"changedAt"`
	Page      pageJSON  `json:"page"`
}

// cms is the simulated content management system.
type cms struct {
	mu      sync.Mutex
	bySlug  map[string]*pageJSON
	slugs   []string // sorted
	changes *feed[cmsChange]
}

// newCMS loads the content seed; nil or empty content gives a CMS without
// pages. Every seeded page starts the change feed as a publication, oldest
// first, so a reader that starts from the empty cursor sees all content.
func newCMS(content []byte, retention int) (*cms, error) {
	c := &cms{bySlug: map[string]*pageJSON{}, changes: newFeed[cmsChange]("cms", retention)}
	if len(content) == 0 {
		return c, nil
	}
	var sc seedContent
	if err := json.Unmarshal(content, &sc); err != nil {
		return nil, fmt.Errorf("content seed: %w", err)
	}
	for i := range sc.Pages {
		p := &sc.Pages[i]
		if err := validateSeedPage(p); err != nil {
			return nil, fmt.Errorf("content seed: page %d: %w", i, err)
		}
		if c.bySlug[p.Slug] != nil {
			return nil, fmt.Errorf("content seed: page %d: duplicate slug %q", i, p.Slug)
		}
		c.bySlug[p.Slug] = p
		c.slugs = append(c.slugs, p.Slug)
	}
	slices.Sort(c.slugs)
	published := slices.Clone(sc.Pages)
	slices.SortStableFunc(published, func(a, b pageJSON) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.Slug, b.Slug))
	})
	for i := range published {
		c.record(&published[i])
	}
	return c, nil
}

func validateSeedPage(p *pageJSON) error {
	if !slugPattern.MatchString(p.Slug) {
		return fmt.Errorf("slug %q: want lowercase words joined by '-'", p.Slug)
	}
	if len(p.Title) == 0 || p.UpdatedAt.IsZero() {
		return fmt.Errorf("slug %s: title and updatedAt are required", p.Slug)
	}
	p.Summary, p.Body = nonNil(p.Summary), nonNil(p.Body)
	if p.Images == nil {
		p.Images = []image{}
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	return nil
}

func (p *pageJSON) clone() pageJSON {
	return pageJSON{
		Slug: p.Slug, Title: maps.Clone(p.Title), Summary: maps.Clone(p.Summary), Body: maps.Clone(p.Body),
		Images: slices.Clone(p.Images), UpdatedAt: p.UpdatedAt,
	}
}

// record appends the page as it is now to the feed; callers hold c.mu (or own
// c exclusively, as newCMS does).
func (c *cms) record(p *pageJSON) cmsChange {
	snapshot := p.clone()
	return c.changes.add(func(id string) cmsChange {
		return cmsChange{ID: id, Kind: ChangePage, Slug: p.Slug, ChangedAt: p.UpdatedAt, Page: snapshot}
	})
}

func (s *Sim) handleListPages(w http.ResponseWriter, _ *http.Request) {
	s.cms.mu.Lock()
	list := pageList{Pages: make([]pageSummary, 0, len(s.cms.slugs))}
	for _, slug := range s.cms.slugs {
		p := s.cms.bySlug[slug].clone()
		list.Pages = append(list.Pages, pageSummary{Slug: p.Slug, Title: p.Title, Summary: p.Summary, UpdatedAt: p.UpdatedAt})
	}
	s.cms.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

func (s *Sim) handleGetPage(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	s.cms.mu.Lock()
	p, ok := s.cms.bySlug[slug]
	var out pageJSON
	if ok {
		out = p.clone()
	}
	s.cms.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no page with slug %q", slug))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleCMSChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q, defaultPageLimit)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.cms.mu.Lock()
	page, err := s.cms.changes.page(q.Get("cursor"), limit)
	s.cms.mu.Unlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// pagePatch is the body of PATCH /admin/cms/pages/{slug}: localized texts
// merged key by key into the page.
type pagePatch struct {
	Title   map[string]string `json:"title"`
	Summary map[string]string `json:"summary"`
	Body    map[string]string `json:"body"`
}

type pagePatchResult struct {
	Page   pageJSON  `json:"page"`
	Change cmsChange `json:"change"`
}

func (pp pagePatch) validate() error {
	if pp.Title == nil && pp.Summary == nil && pp.Body == nil {
		return newAPIError(http.StatusBadRequest, "invalid_request", "nothing to change: set title, summary or body")
	}
	for _, f := range []struct {
		name  string
		texts map[string]string
	}{{"title", pp.Title}, {"summary", pp.Summary}, {"body", pp.Body}} {
		if err := validateLocalized(f.name, f.texts); err != nil {
			return err
		}
	}
	return nil
}

// patch applies an editor's change to a page and publishes it to the feed.
func (c *cms) patch(slug string, pp pagePatch, now time.Time) (pagePatchResult, error) {
	if err := pp.validate(); err != nil {
		return pagePatchResult{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.bySlug[slug]
	if p == nil {
		return pagePatchResult{}, newAPIError(http.StatusNotFound, "not_found", "no page with slug %q", slug)
	}
	p.Title, p.Summary, p.Body = mergeTexts(p.Title, pp.Title), mergeTexts(p.Summary, pp.Summary), mergeTexts(p.Body, pp.Body)
	p.UpdatedAt = now
	change := c.record(p)
	return pagePatchResult{Page: p.clone(), Change: change}, nil
}

func (c *cms) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slugs)
}
