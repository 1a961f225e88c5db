package syncjobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"meridian/adapters/cms"
	"meridian/adapters/content"
	"meridian/internal/apierr"
)

// CMSSource is what the CMS job reads from the global CMS; *cms.Client
// implements it.
type CMSSource interface {
	Pages(ctx context.Context) ([]cms.PageSummary, error)
	Page(ctx context.Context, slug string) (cms.Page, error)
	Changes(ctx context.Context, cursor string, limit int) (cms.ChangePage, error)
}

var _ CMSSource = (*cms.Client)(nil)

// CMSJobName is the name of the job NewCMSJob returns.
const CMSJobName = "cms"

// pageFetchParallelism bounds the page reads a full sync has in flight at
// once: a few round trips' worth of pages cost one round trip, without
// crowding the connection pool the gateway's live reads share.
const pageFetchParallelism = 4

// maxFullSyncPages bounds the pages one CMS full sync fetches. The page
// list is not paged by the CMS; a list longer than this is refused rather
// than fetched for minutes.
const maxFullSyncPages = 10_000

// CMSJob keeps the content mirror current from the global CMS.
//
// Full sync: read the change feed to its end (see scanToHead), then read the
// page list and every page on it (a few at a time), write them, and, only
// once every page was read, delete the mirrored pages the list did not
// contain (or that vanished between the list and their read), and position
// the cursor where the feed ended before the list was read. Incremental run:
// read the feed from the cursor; each change carries its whole page, the
// last change of a slug in a feed page wins. An expired cursor falls back to
// a full sync within the same run. Change kinds the job does not know are
// skipped.
type CMSJob struct {
	src   CMSSource
	store content.Store
}

var _ Job = (*CMSJob)(nil)

// NewCMSJob returns the job syncing store from src. Both are required.
func NewCMSJob(src CMSSource, store content.Store) (*CMSJob, error) {
	if src == nil || store == nil {
		return nil, errors.New("syncjobs: cms job: source and store are required")
	}
	return &CMSJob{src: src, store: store}, nil
}

// Name implements Job: "cms".
func (j *CMSJob) Name() string { return CMSJobName }

// Run implements Job.
func (j *CMSJob) Run(ctx context.Context, p RunParams) (RunResult, error) {
	return runFeed(ctx, p.withDefaults(), CMSJobName, j.full, j.incremental)
}

func (j *CMSJob) full(ctx context.Context, p RunParams) (RunResult, error) {
	var res RunResult
	head, err := scanToHead(ctx, p, CMSJobName, func(ctx context.Context, cursor string) (string, bool, error) {
		page, err := j.src.Changes(ctx, cursor, headScanPageSize)
		return page.NextCursor, page.HasMore, err
	})
	if err != nil {
		return res, fmt.Errorf("full sync: %w", err)
	}
	list, err := call(ctx, p.CallTimeout, j.src.Pages)
	if err != nil {
		return res, fmt.Errorf("full sync: page list: %w", err)
	}
	if len(list) > maxFullSyncPages {
		return res, fmt.Errorf("full sync: the CMS lists %d pages, more than the %d a sync fetches", len(list), maxFullSyncPages)
	}
	pages, err := j.fetchAll(ctx, p, list)
	if err != nil {
		return res, fmt.Errorf("full sync: %w", err)
	}
	changed := idSet{}
	rows := make([]content.Page, 0, len(pages))
	for _, pg := range pages {
		rows = append(rows, toContentPage(pg))
		changed.add(pg.Slug)
		res.SyncedThrough = later(res.SyncedThrough, pg.UpdatedAt)
	}
	if err := j.store.UpsertPages(ctx, rows, p.Now()); err != nil {
		return res, fmt.Errorf("full sync: %w", err)
	}
	res.Applied = len(rows)

	// Every listed page was read: whatever else the mirror holds has left
	// the CMS. Pages that vanished between the list and their read are
	// not in pages, so they go too.
	held, err := j.store.Slugs(ctx)
	if err != nil {
		res.Changes = changed.change(ChangeContent)
		return res, fmt.Errorf("full sync: purge: %w", err)
	}
	var gone []string
	for _, slug := range held {
		if _, ok := pages[slug]; !ok {
			gone = append(gone, slug)
		}
	}
	if err := j.store.DeletePages(ctx, gone); err != nil {
		res.Changes = changed.change(ChangeContent)
		return res, fmt.Errorf("full sync: purge: %w", err)
	}
	changed.add(gone...)
	res.Applied += len(gone)
	res.Changes = changed.change(ChangeContent)
	res.Cursor, res.Full = head, true
	return res, nil
}

// fetchAll reads every listed page, pageFetchParallelism at a time, keyed
// by slug. A page the CMS no longer has is left out; any other failure
// fails the whole read, so that nothing is purged on a partial picture.
func (j *CMSJob) fetchAll(ctx context.Context, p RunParams, list []cms.PageSummary) (map[string]cms.Page, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		out   = make(map[string]cms.Page, len(list))
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, pageFetchParallelism)
	)
	for _, summary := range list {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			pg, err := call(ctx, p.CallTimeout, func(ctx context.Context) (cms.Page, error) {
				return j.src.Page(ctx, summary.Slug)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierr.KindOf(err) == apierr.NotFound:
			case err != nil:
				if first == nil {
					first = fmt.Errorf("page %q: %w", summary.Slug, err)
					cancel()
				}
			default:
				out[pg.Slug] = pg
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("reading pages: %w", context.Cause(ctx))
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func (j *CMSJob) incremental(ctx context.Context, p RunParams) (RunResult, error) {
	var res RunResult
	changed := idSet{}
	cursor := p.Cursor
	for pages := 0; pages < p.MaxPages; pages++ {
		page, err := call(ctx, p.CallTimeout, func(ctx context.Context) (cms.ChangePage, error) {
			return j.src.Changes(ctx, cursor, feedPageSize)
		})
		if err != nil {
			res.Changes = changed.change(ChangeContent)
			return res, fmt.Errorf("change feed: %w", err)
		}
		latest := map[string]content.Page{}
		applied := 0
		for _, ch := range page.Changes {
			if ch.Kind != cms.PageChanged {
				p.Logger.Debug("skipping unknown CMS change", "job", CMSJobName, "kind", ch.Kind, "id", ch.ID)
				continue
			}
			latest[ch.Slug] = toContentPage(ch.Page)
			applied++
			res.SyncedThrough = later(res.SyncedThrough, ch.ChangedAt)
		}
		if err := j.store.UpsertPages(ctx, slices.Collect(maps.Values(latest)), p.Now()); err != nil {
			res.Changes = changed.change(ChangeContent)
			return res, fmt.Errorf("applying changes: %w", err)
		}
		res.Applied += applied
		changed.add(slices.Collect(maps.Keys(latest))...)
		cursor, res.Cursor = page.NextCursor, page.NextCursor
		if !page.HasMore {
			res.Changes = changed.change(ChangeContent)
			return res, nil
		}
	}
	res.More = true
	res.Changes = changed.change(ChangeContent)
	return res, nil
}

func toContentPage(pg cms.Page) content.Page {
	images := make([]content.Image, 0, len(pg.Images))
	for _, im := range pg.Images {
		var alt content.LocalizedText
		if len(im.Alt) > 0 {
			alt = content.LocalizedText(maps.Clone(im.Alt))
		}
		images = append(images, content.Image{URL: im.URL, Alt: alt})
	}
	return content.Page{
		Slug:      pg.Slug,
		Title:     content.LocalizedText(maps.Clone(pg.Title)),
		Summary:   content.LocalizedText(maps.Clone(pg.Summary)),
		Body:      content.LocalizedText(maps.Clone(pg.Body)),
		Images:    images,
		UpdatedAt: pg.UpdatedAt,
	}
}
