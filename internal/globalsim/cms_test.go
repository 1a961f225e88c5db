package globalsim

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var list pageList
	h.call(t, http.MethodGet, "/cms/v1/pages", nil, http.StatusOK, &list)
	want := pageList{Pages: []pageSummary{
		{Slug: "about-us", Title: map[string]string{"zh-Hans": "关于我们", "zh-Hant": "關於我們", "en": "About Us"}, Summary: map[string]string{"en": "Who we are."}, UpdatedAt: time.Date(2025, 11, 18, 6, 30, 0, 0, time.UTC)},
		{Slug: "spring-skincare-edit", Title: map[string]string{"en": "The Spring Skincare Edit"}, Summary: map[string]string{"en": "Hydrate."}, UpdatedAt: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)},
	}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("page list (-want +got):\n%s", diff)
	}

	var page pageJSON
	h.call(t, http.MethodGet, "/cms/v1/pages/about-us", nil, http.StatusOK, &page)
	if got, want := page.Body, map[string]string{"zh-Hans": "我们…", "zh-Hant": "我們…", "en": "We…"}; !cmp.Equal(got, want) {
		t.Errorf("body: got %v want %v", got, want)
	}
	if len(page.Images) != 1 || !strings.HasPrefix(page.Images[0].URL, "https://static.meridian.example/") {
		t.Errorf("images: got %+v want one on the static host", page.Images)
	}
	if r := h.do(t, http.MethodGet, "/cms/v1/pages/nope", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("unknown slug: got %d %q want 404 not_found", r.status, r.errorCode())
	}
}

func TestCMSChangeFeed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	initial, _, cursor := readFeed[cmsChange](t, h, "/cms/v1/changes", "", 1)
	var slugs []string
	for _, c := range initial {
		slugs = append(slugs, c.Slug)
	}
	if want := []string{"about-us", "spring-skincare-edit"}; !slices.Equal(slugs, want) {
		t.Fatalf("initial feed: got %v want every page, oldest first: %v", slugs, want)
	}

	h.clock.Advance(time.Hour)
	var res pagePatchResult
	h.call(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"title":{"en":"About Meridian"},"body":{"fr":"Nous…"}}`, http.StatusOK, &res)
	if res.Page.Title["en"] != "About Meridian" || res.Page.Title["zh-Hans"] != "关于我们" || res.Page.Body["fr"] != "Nous…" {
		t.Errorf("patched page: got title %v body %v want merged texts", res.Page.Title, res.Page.Body)
	}
	later, _, _ := readFeed[cmsChange](t, h, "/cms/v1/changes", cursor, 10)
	if diff := cmp.Diff([]cmsChange{res.Change}, later); diff != "" {
		t.Errorf("feed after PATCH (-want +got):\n%s", diff)
	}
	if at := testEpoch.Add(time.Hour); !later[0].ChangedAt.Equal(at) || !later[0].Page.UpdatedAt.Equal(at) {
		t.Errorf("change time: got %v want %v", later[0].ChangedAt, at)
	}
	var page pageJSON
	h.call(t, http.MethodGet, "/cms/v1/pages/about-us", nil, http.StatusOK, &page)
	if page.Title["en"] != "About Meridian" {
		t.Errorf("served title after PATCH: got %q want %q", page.Title["en"], "About Meridian")
	}
	// An earlier feed entry is a snapshot, not a live view of the page.
	if initial[0].Page.Title["en"] != "About Us" {
		t.Errorf("old feed entry changed: got %q want %q", initial[0].Page.Title["en"], "About Us")
	}

	for name, tc := range map[string]struct {
		slug, body string
		want       int
	}{
		"nothing to change":   {"about-us", `{}`, http.StatusBadRequest},
		"images not editable": {"about-us", `{"images":[]}`, http.StatusBadRequest},
		"unknown page":        {"nope", `{"title":{"en":"x"}}`, http.StatusNotFound},
	} {
		if r := h.do(t, http.MethodPatch, "/admin/cms/pages/"+tc.slug, tc.body, nil); r.status != tc.want {
			t.Errorf("%s: got %d want %d", name, r.status, tc.want)
		}
	}
}

func TestWithoutContent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Content = nil })
	var list pageList
	h.call(t, http.MethodGet, "/cms/v1/pages", nil, http.StatusOK, &list)
	if len(list.Pages) != 0 {
		t.Errorf("got %d pages want 0", len(list.Pages))
	}
}

// TestContentSeedFile checks testdata/content.json, which the command and
// the demo serve.
func TestContentSeedFile(t *testing.T) {
	t.Parallel()
	content, err := os.ReadFile(filepath.Join("..", "..", "testdata", "content.json"))
	if err != nil {
		t.Fatalf("read content seed: %v", err)
	}
	c, err := newCMS(content, DefaultFeedRetention)
	if err != nil {
		t.Fatalf("load content seed: %v", err)
	}
	if len(c.slugs) < 6 {
		t.Errorf("got %d pages want at least 6", len(c.slugs))
	}
	for _, slug := range c.slugs {
		p := c.bySlug[slug]
		for _, loc := range []string{"zh-Hans", "zh-Hant", "en"} {
			if p.Title[loc] == "" || p.Summary[loc] == "" || p.Body[loc] == "" {
				t.Errorf("page %s: title, summary or body missing in %s", slug, loc)
			}
		}
		if len(p.Images) == 0 {
			t.Errorf("page %s: no images", slug)
		}
		for _, img := range p.Images {
			if !strings.HasPrefix(img.URL, "https://static.meridian.example/") {
				t.Errorf("page %s: image %q is not on the static host", slug, img.URL)
			}
		}
	}
}
