package playground

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// requireBuilt skips a test that needs the built assets, or fails it when
// MERIDIAN_REQUIRE_SERVERS=1 (the CI setting, as in internal/testenv), so CI
// cannot pass by skipping the checks that matter.
func requireBuilt(t *testing.T) {
	t.Helper()
	if Built() {
		return
	}
	const msg = "playground assets not built into dist/: run make playground"
	if os.Getenv("MERIDIAN_REQUIRE_SERVERS") == "1" {
		t.Fatal("MERIDIAN_REQUIRE_SERVERS=1 and " + msg)
	}
	t.Skip("skipped: " + msg)
}

func get(t *testing.T, h http.Handler, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

var (
	attrURL = regexp.MustCompile(`(?i)\s(?:src|href)\s*=\s*["']?([^"'\s>]*)`)
	cssURL  = regexp.MustCompile(`(?i)url\(\s*["']?([^"')]*)`)
)

// external reports whether a URL as written in the page would be fetched
// from another host.
func external(u string) bool {
	u = strings.ToLower(strings.TrimSpace(u))
	return strings.HasPrefix(u, "http:") || strings.HasPrefix(u, "https:") || strings.HasPrefix(u, "//")
}

func TestIndexLoadsOnlySameOriginURLs(t *testing.T) {
	requireBuilt(t)
	h := Handler()
	res, body := get(t, h, http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", cc)
	}
	if !strings.Contains(body, "<title>Meridian playground</title>") {
		t.Error("page title missing")
	}
	if strings.Contains(body, "{{") {
		t.Error("unrendered template placeholder in index.html")
	}

	matches := attrURL.FindAllStringSubmatch(body, -1)
	if len(matches) < 6 {
		t.Fatalf("found %d src/href attributes, expected the page's scripts and styles", len(matches))
	}
	var css []string
	for _, m := range matches {
		u := m[1]
		if external(u) {
			t.Errorf("index.html references external URL %q", u)
			continue
		}
		// Every referenced asset must actually be served, with its type.
		target := u
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		ares, abody := get(t, h, http.MethodGet, target, nil)
		if ares.StatusCode != http.StatusOK {
			t.Errorf("GET %s (referenced by index.html) = %d", target, ares.StatusCode)
			continue
		}
		if strings.HasSuffix(target, ".css") {
			css = append(css, abody)
		}
	}
	if len(css) == 0 {
		t.Fatal("index.html links no stylesheet")
	}
	for _, sheet := range css {
		for _, m := range cssURL.FindAllStringSubmatch(sheet, -1) {
			if external(m[1]) {
				t.Errorf("stylesheet loads external URL %q", m[1])
			}
		}
		if strings.Contains(strings.ToLower(sheet), "@import") {
			t.Error("stylesheet uses @import")
		}
	}
}

func TestAssetsHeaders(t *testing.T) {
	requireBuilt(t)
	s := embedded()
	want := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
		".txt": "text/plain; charset=utf-8",
	}
	seen := map[string]bool{}
	for name := range s.assets {
		res, body := get(t, Handler(), http.MethodGet, AssetPrefix+name, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", name, res.StatusCode)
			continue
		}
		ext := name[strings.LastIndex(name, "."):]
		seen[ext] = true
		if w, ok := want[ext]; ok && res.Header.Get("Content-Type") != w {
			t.Errorf("%s: Content-Type = %q, want %q", name, res.Header.Get("Content-Type"), w)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: nosniff missing", name)
		}
		wantCC := cacheRevalidate
		if hashedName.MatchString(name) {
			wantCC = cacheImmutable
		}
		if cc := res.Header.Get("Cache-Control"); cc != wantCC {
			t.Errorf("%s: Cache-Control = %q, want %q", name, cc, wantCC)
		}
		if ext == ".js" && strings.Contains(body, "sourceMappingURL") {
			t.Errorf("%s: keeps a sourceMappingURL devtools would fetch", name)
		}
	}
	for _, ext := range []string{".js", ".css"} {
		if !seen[ext] {
			t.Errorf("no %s asset built", ext)
		}
	}
}

func TestIndexSecurityHeaders(t *testing.T) {
	requireBuilt(t)
	res, _ := get(t, Handler(), http.MethodGet, "/", nil)
	csp := res.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q allows another origin", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("nosniff missing")
	}
}

// The tests below run on a synthetic dist so they hold whether or not the
// real assets have been built.

func fakeSite() *site {
	return load(fstest.MapFS{
		".gitkeep":                      {},
		"index.html":                    {Data: []byte("<!doctype html><title>t</title>")},
		"assets/app.0123456789ab.js":    {Data: []byte("console.log(1)")},
		"assets/app.0123456789ab.css":   {Data: []byte("body{}")},
		"assets/licenses.txt":           {Data: []byte("MIT")},
		"assets/.stamp":                 {},
		"assets/unknown.0123456789ab.x": {Data: []byte("?")},
	})
}

func TestNotBuiltAnswers503(t *testing.T) {
	s := load(fstest.MapFS{".gitkeep": {}})
	if s.index != nil {
		t.Fatal("index loaded from an unbuilt dist")
	}
	res, body := get(t, s, http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET / unbuilt = %d, want 503", res.StatusCode)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", res.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "make playground") {
		t.Errorf("body %q does not say to run make playground", body)
	}
}

func TestRouting(t *testing.T) {
	s := fakeSite()
	cases := []struct {
		method, path string
		status       int
		ctype, cache string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", cacheRevalidate},
		{"HEAD", "/", 200, "text/html; charset=utf-8", cacheRevalidate},
		{"GET", "/playground/app.0123456789ab.js", 200, "text/javascript; charset=utf-8", cacheImmutable},
		{"GET", "/playground/app.0123456789ab.css", 200, "text/css; charset=utf-8", cacheImmutable},
		{"GET", "/playground/licenses.txt", 200, "text/plain; charset=utf-8", cacheRevalidate},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/nope", 404, "", ""},
		{"GET", "/playground/", 404, "", ""},
		{"GET", "/playground/missing.js", 404, "", ""},
		{"GET", "/playground/.stamp", 404, "", ""},
		{"GET", "/playground/unknown.0123456789ab.x", 404, "", ""},
		{"GET", "/playground/assets/app.0123456789ab.js", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, c := range cases {
		res, _ := get(t, s, c.method, c.path, nil)
		if res.StatusCode != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, res.StatusCode, c.status)
			continue
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: nosniff missing", c.method, c.path)
		}
		if c.status != 200 {
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s %s: Content-Type = %q, want %q", c.method, c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s %s: Cache-Control = %q, want %q", c.method, c.path, got, c.cache)
		}
		if res.Header.Get("Content-Security-Policy") != ContentSecurityPolicy {
			t.Errorf("%s %s: CSP missing", c.method, c.path)
		}
	}
}

func TestConditionalGet(t *testing.T) {
	s := fakeSite()
	res, _ := get(t, s, http.MethodGet, "/", nil)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on index")
	}
	res, _ = get(t, s, http.MethodGet, "/", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", res.StatusCode)
	}
}
