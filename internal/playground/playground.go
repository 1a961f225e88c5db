// Package playground serves Meridian's developer playground: a GraphiQL page
// that talks to the gateway's same-origin /graphql endpoint.
//
// Everything the page loads is embedded in the binary and served from the
// gateway itself, because foreign CDNs are unreliable where Meridian runs:
// the page must work with no request to any other host. The third-party
// front-end code (GraphiQL, React) is not committed; `make playground`
// installs it from the pinned web/playground/package-lock.json and builds it
// into dist/, which this package embeds. A fresh clone has only
// dist/.gitkeep, so the binary still builds; the page then answers 503 and
// Built reports false.
//
// Mount Handler at "/" of the server's mux, beside the more specific
// "/graphql": it serves the page at "/", its assets under "/playground/",
// and 404 for anything else.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// dist holds the output of web/playground/build.mjs; "all:" keeps the
// committed .gitkeep so the pattern matches on a fresh clone.
//
//go:embed all:dist
var dist embed.FS

// AssetPrefix is the URL path under which the page's scripts, styles and
// icon are served. build.mjs writes the page's links relative to it.
const AssetPrefix = "/playground/"

// ContentSecurityPolicy is sent with every response. Scripts come only from
// the gateway (no inline script: app.js is a file for this reason) and
// need no 'unsafe-eval'. Styles need 'unsafe-inline' because GraphiQL's
// settings and shortcuts dialogs inject a <style> element whose content
// depends on the scrollbar width, so no hash can allow it. GraphiQL's fonts
// and a few icons are data: URLs inside its stylesheet. connect-src 'self'
// lets the page reach /graphql and nothing else.
const ContentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; " +
	"font-src 'self' data:; " +
	"connect-src 'self'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// notBuiltMessage tells whoever opens an unbuilt playground how to fix it.
const notBuiltMessage = "Meridian playground assets are not built into this binary.\n" +
	"Run `make playground` in the repository, then rebuild the server.\n"

// Cache lifetimes. Hashed asset names change with their content, so a
// cached copy can never be stale; the page and unhashed files are
// revalidated on every load (cheap thanks to the ETag) so a new deployment
// is picked up at once.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// hashedName matches the names build.mjs gives versioned assets:
// name.<12 hex digits>.ext.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{12}\.[a-z0-9]+$`)

// contentTypes is fixed here rather than taken from the mime package, whose
// table can be extended by the host's /etc/mime.types: the answer must not
// depend on the machine the gateway runs on.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// file is one servable response, prepared once at start-up.
type file struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

// site is the playground as loaded from one dist tree.
type site struct {
	index  *file            // nil when the assets are not built
	assets map[string]*file // by name under dist/assets
}

var (
	defaultOnce sync.Once
	defaultSite *site
)

// embedded returns the site built from the embedded dist, loaded once.
func embedded() *site {
	defaultOnce.Do(func() {
		sub, err := fs.Sub(dist, "dist")
		if err != nil {
			// fs.Sub fails only on an invalid path, and "dist" is valid.
			panic("playground: " + err.Error())
		}
		defaultSite = load(sub)
	})
	return defaultSite
}

// Built reports whether the binary embeds built playground assets, so the
// server can log at start-up that the playground will only answer 503.
func Built() bool { return embedded().index != nil }

// Handler returns the playground's HTTP handler over the embedded assets.
// It serves index.html at "/", the assets under AssetPrefix, and 404 for
// any other path; only GET and HEAD are allowed. Without built assets "/"
// answers 503 with a message saying to run `make playground`.
func Handler() http.Handler { return embedded() }

// load reads a dist tree into memory. The files are already in the binary,
// so keeping them as byte slices costs nothing extra and spares hashing
// them on every request. Files that cannot be read are left out, which
// makes them 404 rather than taking the gateway down.
func load(fsys fs.FS) *site {
	s := &site{assets: map[string]*file{}}
	if body, err := fs.ReadFile(fsys, "index.html"); err == nil {
		s.index = newFile(body, contentTypes[".html"], cacheRevalidate)
	}
	entries, _ := fs.ReadDir(fsys, "assets")
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			continue // an unknown type would be sniffed; don't serve it
		}
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			continue
		}
		cc := cacheRevalidate
		if hashedName.MatchString(e.Name()) {
			cc = cacheImmutable
		}
		s.assets[e.Name()] = newFile(body, ct, cc)
	}
	return s
}

func newFile(body []byte, contentType, cacheControl string) *file {
	sum := sha256.Sum256(body)
	return &file{
		body:         body,
		contentType:  contentType,
		cacheControl: cacheControl,
		etag:         `"` + hex.EncodeToString(sum[:8]) + `"`,
	}
}

// ServeHTTP implements http.Handler.
func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")

	var f *file
	switch p := r.URL.Path; {
	case p == "/":
		if s.index == nil {
			h.Set("Cache-Control", "no-store")
			http.Error(w, notBuiltMessage, http.StatusServiceUnavailable)
			return
		}
		f = s.index
	case strings.HasPrefix(p, AssetPrefix):
		f = s.assets[strings.TrimPrefix(p, AssetPrefix)]
	}
	if f == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and handles HEAD and
	// Range; the zero time leaves Last-Modified out, the ETag suffices.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
