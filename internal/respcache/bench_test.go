package respcache

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian/internal/locale"
)

// discardWriter is a ResponseWriter that keeps nothing but its headers,
// so the benchmark measures the cache and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header  { return d.h }
func (d *discardWriter) WriteHeader(code int) { d.status = code }
func (d *discardWriter) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}
func (d *discardWriter) WriteString(s string) (int, error) {
	d.n += len(s)
	return len(s), nil
}

// rewindBody is a request body that can be read again without
// allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// BenchmarkHit serves a 15 KB entry to an anonymous POST, from the key
// computation to the last byte written: the cost of a hit on top of
// net/http.
func BenchmarkHit(b *testing.B) {
	h := newHarness(b, Config{})
	const query = `query CatalogPage { big(size: 15000) }`
	body := `{"operationName":"CatalogPage","query":"` + query + `","variables":{"first":50,"category":"cat-skincare","locale":"zh-Hans-CN"}}`
	if rec := h.do(req{body: body}); rec.Header().Get("X-Cache") != "MISS" || rec.Body.Len() < 15000 {
		b.Fatalf("warm-up: %s", rec.Header().Get("X-Cache"))
	}

	mw := h.cache.Middleware(http.NotFoundHandler()) // a hit never reaches next
	rb := &rewindBody{}
	r := httptest.NewRequest(http.MethodPost, "/graphql", rb)
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(locale.WithLocale(r.Context(), locale.Negotiate("")))
	w := &discardWriter{h: http.Header{}}
	raw := []byte(body)

	serve := func() {
		rb.Reset(raw)
		clear(w.h)
		w.n = 0
		mw.ServeHTTP(w, r)
	}
	serve()
	if w.h.Get("X-Cache") != "HIT" || w.n < 15000 {
		b.Fatalf("not a hit: %v, %d bytes", w.h, w.n)
	}
	b.SetBytes(int64(w.n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.StopTimer()
	if !strings.HasPrefix(w.h.Get("Cache-Control"), "public") {
		b.Fatalf("Cache-Control %q", w.h.Get("Cache-Control"))
	}
}
