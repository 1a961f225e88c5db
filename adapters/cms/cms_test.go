package cms_test

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"meridian/adapters/cms"
	"meridian/internal/apierr"
	"meridian/internal/globalsim"
	"meridian/internal/originhttp"
	"meridian/internal/originhttp/originhttptest"
)

func start(t *testing.T, edit func(*globalsim.Config)) (*originhttptest.Sim, *cms.Client) {
	t.Helper()
	sim := originhttptest.Start(t, edit)
	return sim, cms.New(sim.Client(t, globalsim.OriginCMS))
}

func TestPageInThreeLanguages(t *testing.T) {
	_, c := start(t, nil)
	got, err := c.Page(t.Context(), "about-us")
	if err != nil {
		t.Fatalf("Page: %v", err)
	}
	want := cms.Page{
		Slug:      "about-us",
		Title:     cms.LocalizedText{"zh-Hans": "关于我们", "zh-Hant": "關於我們", "en": "About Us"},
		Summary:   cms.LocalizedText{"zh-Hans": "我们是谁。", "zh-Hant": "我們是誰。", "en": "Who we are."},
		Body:      cms.LocalizedText{"zh-Hans": "## 我们的故事", "zh-Hant": "## 我們的故事", "en": "## Our story"},
		Images:    []cms.Image{{URL: "https://static.meridian.example/cms/about-us/hero.jpg", Alt: cms.LocalizedText{"en": "Our shop"}}},
		UpdatedAt: time.Date(2025, 11, 18, 6, 30, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestPageRefusals(t *testing.T) {
	sim, c := start(t, nil)
	tests := []struct {
		slug         string
		wantKind     apierr.Kind
		wantRequests int64
	}{
		{"no-such-page", apierr.NotFound, 1},
		{"", apierr.BadUserInput, 0},
		{"..", apierr.BadUserInput, 0},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			mark := sim.Requests(t).Total
			_, err := c.Page(t.Context(), tt.slug)
			if e, ok := apierr.As(err); !ok || e.Kind != tt.wantKind {
				t.Fatalf("got %v want kind %v", err, tt.wantKind)
			}
			if n := sim.Requests(t).Since(mark).Total; n != tt.wantRequests {
				t.Errorf("got %d requests want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestPages(t *testing.T) {
	_, c := start(t, nil)
	got, err := c.Pages(t.Context())
	if err != nil {
		t.Fatalf("Pages: %v", err)
	}
	var slugs []string
	for _, p := range got {
		slugs = append(slugs, p.Slug)
		if p.Title["en"] == "" || p.UpdatedAt.IsZero() {
			t.Errorf("page %s: got title %v updated %v want an English title and a time", p.Slug, p.Title, p.UpdatedAt)
		}
	}
	if want := []string{"about-us", "spring-skincare-edit"}; !slices.Equal(slugs, want) {
		t.Errorf("got slugs %v want %v", slugs, want)
	}
	if got[0].Title["zh-Hant"] != "關於我們" {
		t.Errorf("got zh-Hant title %q want %q", got[0].Title["zh-Hant"], "關於我們")
	}
}

func TestChanges(t *testing.T) {
	sim, c := start(t, nil)

	// Every published page is in the feed, oldest first.
	first, err := c.Changes(t.Context(), "", 1)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	second, err := c.Changes(t.Context(), first.NextCursor, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if !first.HasMore || second.HasMore {
		t.Errorf("got hasMore %v then %v want true then false", first.HasMore, second.HasMore)
	}
	var slugs []string
	for _, ch := range append(first.Changes, second.Changes...) {
		if ch.Kind != cms.PageChanged || ch.Page.Slug != ch.Slug || ch.ID == "" || !ch.ChangedAt.Equal(ch.Page.UpdatedAt) {
			t.Errorf("got change %+v want a page change carrying its page", ch)
		}
		slugs = append(slugs, ch.Slug)
	}
	if want := []string{"about-us", "spring-skincare-edit"}; !slices.Equal(slugs, want) {
		t.Errorf("got slugs %v want %v", slugs, want)
	}

	sim.Clock.Advance(time.Hour)
	sim.Admin(t, http.MethodPatch, "/admin/cms/pages/about-us", map[string]any{"title": map[string]string{"en": "About Meridian"}}, http.StatusOK, nil)
	third, err := c.Changes(t.Context(), second.NextCursor, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if len(third.Changes) != 1 {
		t.Fatalf("got %d changes want 1", len(third.Changes))
	}
	ch := third.Changes[0]
	if ch.Slug != "about-us" || ch.Page.Title["en"] != "About Meridian" || ch.Page.Title["zh-Hans"] != "关于我们" || !ch.ChangedAt.Equal(sim.Clock.Now()) {
		t.Errorf("got %+v want about-us retitled in English only, at %v", ch, sim.Clock.Now())
	}
}

func TestChangesRefusals(t *testing.T) {
	sim, c := start(t, func(cfg *globalsim.Config) { cfg.FeedRetention = 2 })
	read, err := c.Changes(t.Context(), "", 1)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	for _, title := range []string{"One", "Two"} { // pushes the cursor's change out of retention
		sim.Admin(t, http.MethodPatch, "/admin/cms/pages/about-us", map[string]any{"title": map[string]string{"en": title}}, http.StatusOK, nil)
	}
	tests := []struct {
		name     string
		cursor   string
		limit    int
		wantKind apierr.Kind
		wantIs   error
	}{
		{"expired cursor", read.NextCursor, 0, apierr.Internal, originhttp.ErrCursorExpired},
		{"made-up cursor", "bWQ6MA", 0, apierr.BadUserInput, nil},
		{"limit too large", "", originhttp.MaxPageLimit + 1, apierr.BadUserInput, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Changes(t.Context(), tt.cursor, tt.limit)
			if err == nil || apierr.KindOf(err) != tt.wantKind {
				t.Fatalf("got %v want kind %v", err, tt.wantKind)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v): got false want true", err, tt.wantIs)
			}
		})
	}
}

func TestUnavailableCMS(t *testing.T) {
	sim, c := start(t, nil)
	sim.Admin(t, http.MethodPut, "/admin/faults", map[string]any{"origin": "cms", "error_rate": 1}, http.StatusOK, nil)
	_, err := c.Pages(t.Context())
	if !errors.Is(err, originhttp.ErrUnavailable) {
		t.Fatalf("got %v want an error matching originhttp.ErrUnavailable", err)
	}
	if _, ok := apierr.As(err); ok {
		t.Errorf("got apierr %v want a plain error", err)
	}
}
