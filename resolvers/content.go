package resolvers

import (
	"context"

	"meridian/internal/apierr"
	"meridian/internal/respcache"
	"meridian/resolvers/model"
)

func (r *Resolver) content(ctx context.Context, slug string, localeArg *string) (*model.ContentPage, error) {
	loc, err := requestLocale(ctx, localeArg)
	if err != nil {
		return nil, err
	}
	if slug == "" || len(slug) > 200 {
		return nil, apierr.New(apierr.BadUserInput, "slug: must be 1 to 200 characters")
	}
	p, found, err := r.contentPages.Page(ctx, slug)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, apierr.New(apierr.NotFound, "no content page %q", truncate(slug, 64))
	}
	respcache.Tag(ctx, "content:"+p.Slug)
	page := &model.ContentPage{
		Slug:      p.Slug,
		Title:     loc.Pick(p.Title),
		Body:      loc.Pick(p.Body),
		Images:    make([]*model.Image, len(p.Images)),
		Freshness: &model.Freshness{Source: model.DataSourceMirror, AsOf: p.MirroredAt.UTC()},
		UpdatedAt: p.UpdatedAt.UTC(),
	}
	if s := loc.Pick(p.Summary); s != "" {
		page.Summary = &s
	}
	for i, img := range p.Images {
		page.Images[i] = &model.Image{URL: img.URL}
		if alt := loc.Pick(img.Alt); alt != "" {
			page.Images[i].Alt = &alt
		}
	}
	return page, nil
}
