package content_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/content"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T) content.Store {
		return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "content.db"))
	})
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T) content.Store { return newStoreAt(t, testenv.PostgresURL(t)) })
}

func TestNewSQLStoreRejectsNilDatabase(t *testing.T) {
	t.Parallel()
	if _, err := content.NewSQLStore(context.Background(), nil); err == nil {
		t.Error("NewSQLStore(nil) succeeded")
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

func newStoreAt(t *testing.T, url string) content.Store {
	t.Helper()
	ctx := testContext(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := content.NewSQLStore(ctx, d)
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	// Migrating twice is a no-op: a second replica starting on the same
	// database finds the schema in place.
	if _, err := content.NewSQLStore(ctx, d); err != nil {
		t.Fatalf("NewSQLStore again: %v", err)
	}
	return s
}

// mirroredAt is deliberately not UTC and finer than a microsecond: the
// store must normalize both.
var (
	mirroredAt = time.Date(2026, 4, 1, 9, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
	sourceAt   = time.Date(2026, 3, 1, 2, 0, 0, 987654321, time.FixedZone("CST", 8*3600))
)

func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func fixturePages() []content.Page {
	return []content.Page{
		{
			Slug:    "about-us",
			Title:   content.LocalizedText{"zh-Hans": "关于我们", "zh-Hant": "關於我們", "en": "About Us"},
			Summary: content.LocalizedText{"en": "Who we are."},
			Body:    content.LocalizedText{"zh-Hans": "## 我们\n\n…", "zh-Hant": "## 我們", "en": "## We\n\n“quotes” & <tags>"},
			Images: []content.Image{
				{URL: "https://static.meridian.example/cms/about-us/hero.jpg", Alt: content.LocalizedText{"en": "Our lab", "zh-Hans": "实验室"}},
				{URL: "https://static.meridian.example/cms/about-us/2.jpg"},
			},
			UpdatedAt: sourceAt,
		},
		{
			Slug:      "spring-skincare-edit",
			Title:     content.LocalizedText{"en": "The Spring Skincare Edit"},
			Summary:   content.LocalizedText{},
			Body:      content.LocalizedText{"en": "## Hydrate"},
			Images:    []content.Image{},
			UpdatedAt: sourceAt.Add(time.Hour),
		},
	}
}

// want is p as the store reads it back.
func want(p content.Page, at time.Time) content.Page {
	p.UpdatedAt, p.MirroredAt = norm(p.UpdatedAt), norm(at)
	return p
}

func seeded(t *testing.T, newStore func(*testing.T) content.Store) content.Store {
	t.Helper()
	s := newStore(t)
	if err := s.UpsertPages(testContext(t), fixturePages(), mirroredAt); err != nil {
		t.Fatalf("UpsertPages: %v", err)
	}
	return s
}

func page(t *testing.T, s content.Store, slug string) (content.Page, bool) {
	t.Helper()
	p, ok, err := s.Page(testContext(t), slug)
	if err != nil {
		t.Fatalf("Page(%q): %v", slug, err)
	}
	return p, ok
}

// runStoreContract is the Store contract, run against every implementation.
func runStoreContract(t *testing.T, newStore func(t *testing.T) content.Store) {
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		if n, err := s.Count(ctx); err != nil || n != 0 {
			t.Errorf("Count = %d, %v; want 0", n, err)
		}
		if slugs, err := s.Slugs(ctx); err != nil || slugs == nil || len(slugs) != 0 {
			t.Errorf("Slugs = %v, %v; want an empty slice", slugs, err)
		}
		if _, ok := page(t, s, "about-us"); ok {
			t.Error("Page on an empty store found a page")
		}
		if _, ok := page(t, s, ""); ok {
			t.Error(`Page("") found a page`)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		for _, p := range fixturePages() {
			got, ok := page(t, s, p.Slug)
			if !ok {
				t.Fatalf("Page(%q) not found", p.Slug)
			}
			if diff := cmp.Diff(want(p, mirroredAt), got); diff != "" {
				t.Errorf("Page(%q) (-want +got):\n%s", p.Slug, diff)
			}
			if got.UpdatedAt.Location() != time.UTC || got.MirroredAt.Location() != time.UTC {
				t.Errorf("Page(%q) times are not in UTC", p.Slug)
			}
		}
		if n, err := s.Count(testContext(t)); err != nil || n != 2 {
			t.Errorf("Count = %d, %v; want 2", n, err)
		}
		slugs, err := s.Slugs(testContext(t))
		if diff := cmp.Diff([]string{"about-us", "spring-skincare-edit"}, slugs); err != nil || diff != "" {
			t.Errorf("Slugs (-want +got):\n%s %v", diff, err)
		}
	})

	t.Run("NilTextsReadBackEmpty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		bare := content.Page{Slug: "bare", Title: content.LocalizedText{"en": "Bare"}, UpdatedAt: sourceAt,
			Images: []content.Image{{URL: "https://static.meridian.example/x.jpg", Alt: content.LocalizedText{}}}}
		if err := s.UpsertPages(testContext(t), []content.Page{bare}, mirroredAt); err != nil {
			t.Fatal(err)
		}
		got, _ := page(t, s, "bare")
		w := content.Page{Slug: "bare", Title: content.LocalizedText{"en": "Bare"}, Summary: content.LocalizedText{}, Body: content.LocalizedText{},
			Images: []content.Image{{URL: "https://static.meridian.example/x.jpg"}}, UpdatedAt: norm(sourceAt), MirroredAt: norm(mirroredAt)}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("bare page (-want +got):\n%s", diff)
		}
	})

	t.Run("UpsertReplacesWhole", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		later := mirroredAt.Add(time.Hour)
		edited := fixturePages()[0]
		edited.Title = content.LocalizedText{"en": "About Meridian"} // zh texts dropped
		edited.Images = nil
		edited.UpdatedAt = sourceAt.Add(time.Minute)
		if err := s.UpsertPages(testContext(t), []content.Page{edited}, later); err != nil {
			t.Fatal(err)
		}
		got, _ := page(t, s, "about-us")
		w := want(edited, later)
		w.Images = []content.Image{}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("replaced page (-want +got):\n%s", diff)
		}
		if n, _ := s.Count(testContext(t)); n != 2 {
			t.Errorf("Count = %d after replace, want 2", n)
		}
	})

	t.Run("OlderCopyIgnored", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		older := fixturePages()[0]
		older.Title = content.LocalizedText{"en": "Stale"}
		older.UpdatedAt = sourceAt.Add(-time.Second)
		if err := s.UpsertPages(testContext(t), []content.Page{older}, mirroredAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ := page(t, s, "about-us")
		if diff := cmp.Diff(want(fixturePages()[0], mirroredAt), got); diff != "" {
			t.Errorf("an older copy replaced the page (-want +got):\n%s", diff)
		}
		// The same source time replaces (a re-sync refreshes MirroredAt).
		same := fixturePages()[0]
		same.Summary = content.LocalizedText{"en": "Re-synced"}
		if err := s.UpsertPages(testContext(t), []content.Page{same}, mirroredAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = page(t, s, "about-us")
		if diff := cmp.Diff(want(same, mirroredAt.Add(time.Hour)), got); diff != "" {
			t.Errorf("same-time copy (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		if err := s.DeletePages(ctx, []string{"about-us", "nope", "", "about-us"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := page(t, s, "about-us"); ok {
			t.Error("deleted page still found")
		}
		if _, ok := page(t, s, "spring-skincare-edit"); !ok {
			t.Error("a page not deleted is gone")
		}
		if err := s.DeletePages(ctx, nil); err != nil {
			t.Errorf("DeletePages(nil) = %v", err)
		}
		// A deleted page comes back with any source time.
		back := fixturePages()[0]
		back.UpdatedAt = sourceAt.Add(-time.Hour)
		if err := s.UpsertPages(ctx, []content.Page{back}, mirroredAt); err != nil {
			t.Fatal(err)
		}
		if _, ok := page(t, s, "about-us"); !ok {
			t.Error("re-inserted page not found")
		}
	})

	t.Run("RejectsInvalid", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		good := content.Page{Slug: "new", Title: content.LocalizedText{"en": "New"}, UpdatedAt: sourceAt}
		for name, mutate := range map[string]func(p *content.Page){
			"no slug":          func(p *content.Page) { p.Slug = "" },
			"no updatedAt":     func(p *content.Page) { p.UpdatedAt = time.Time{} },
			"empty locale key": func(p *content.Page) { p.Body = content.LocalizedText{"": "x"} },
			"image without URL": func(p *content.Page) {
				p.Images = []content.Image{{Alt: content.LocalizedText{"en": "x"}}}
			},
			"alt with empty locale key": func(p *content.Page) {
				p.Images = []content.Image{{URL: "https://x", Alt: content.LocalizedText{"": "x"}}}
			},
		} {
			bad := good
			bad.Slug = "other"
			mutate(&bad)
			if err := s.UpsertPages(ctx, []content.Page{good, bad}, mirroredAt); !errors.Is(err, content.ErrInvalidPage) {
				t.Errorf("%s: UpsertPages = %v, want ErrInvalidPage", name, err)
			}
		}
		if err := s.UpsertPages(ctx, []content.Page{good, good}, mirroredAt); !errors.Is(err, content.ErrInvalidPage) {
			t.Errorf("duplicate slug: UpsertPages = %v, want ErrInvalidPage", err)
		}
		if n, _ := s.Count(ctx); n != 2 {
			t.Errorf("Count = %d after rejected batches, want 2", n)
		}
		if err := s.UpsertPages(ctx, nil, mirroredAt); err != nil {
			t.Errorf("UpsertPages(nil) = %v", err)
		}
	})

	t.Run("ManyPages", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := testContext(t)
		var pages []content.Page
		var slugs []string
		for i := range 450 {
			slug := fmt.Sprintf("page-%04d", i)
			slugs = append(slugs, slug)
			pages = append(pages, content.Page{Slug: slug, Title: content.LocalizedText{"en": slug}, UpdatedAt: sourceAt})
		}
		if err := s.UpsertPages(ctx, pages, mirroredAt); err != nil {
			t.Fatalf("UpsertPages(%d): %v", len(pages), err)
		}
		got, err := s.Slugs(ctx)
		if diff := cmp.Diff(slugs, got); err != nil || diff != "" {
			t.Errorf("Slugs (-want +got):\n%s %v", diff, err)
		}
		if err := s.DeletePages(ctx, slugs); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Count(ctx); n != 0 {
			t.Errorf("Count = %d after deleting all, want 0", n)
		}
	})

	t.Run("ConcurrentUse", func(t *testing.T) {
		t.Parallel()
		s := seeded(t, newStore)
		ctx := testContext(t)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for w := range 4 {
			wg.Go(func() {
				for i := range 5 {
					p := fixturePages()[i%2]
					p.UpdatedAt = p.UpdatedAt.Add(time.Duration(w*10+i) * time.Second)
					if err := s.UpsertPages(ctx, []content.Page{p}, mirroredAt); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			})
			wg.Go(func() {
				for range 5 {
					p, ok, err := s.Page(ctx, "about-us")
					if err != nil || !ok || len(p.Title) == 0 {
						errs <- fmt.Errorf("reader %d: %v %v %+v", w, ok, err, p)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
