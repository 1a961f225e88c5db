package globalsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequestLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	secret := map[string]string{
		"Authorization":       "Bearer s3cret",
		"Proxy-Authorization": "Basic s3cret",
		"Cookie":              "session=s3cret",
		"X-Request-Id":        "req-1",
	}
	h.do(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", `{"skus":["TST-0001"]}`, secret)
	h.do(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", `{"skus":["TST-0002"]}`, nil)
	h.do(t, http.MethodGet, "/cms/v1/pages/about-us", nil, nil)
	h.do(t, http.MethodGet, "/masterdata/v1/changes?limit=5&cursor=abc", nil, nil)
	h.do(t, http.MethodGet, "/orders/v1/wrong-path", nil, nil)
	h.do(t, http.MethodGet, "/admin/faults", nil, nil) // admin is not logged

	var log requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	wantCounts := map[string]int64{
		"POST /masterdata/v1/inventory:batchGet": 2,
		"GET /cms/v1/pages/{slug}":               1,
		"GET /masterdata/v1/changes":             1,
		unmatchedRoute:                           1,
	}
	if diff := cmp.Diff(wantCounts, log.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if log.Total != 5 || log.Dropped != 0 || log.Capacity != DefaultRequestLogSize || len(log.Requests) != 5 {
		t.Fatalf("got total %d, dropped %d, capacity %d, %d requests want 5, 0, %d, 5", log.Total, log.Dropped, log.Capacity, len(log.Requests), DefaultRequestLogSize)
	}

	first := log.Requests[0]
	if first.Seq != 1 || first.Origin != OriginMasterdata || first.Method != http.MethodPost || first.Path != "/masterdata/v1/inventory:batchGet" ||
		first.Body != `{"skus":["TST-0001"]}` || !first.At.Equal(testEpoch) {
		t.Errorf("first request: got %+v", first)
	}
	for _, hdr := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		if v, ok := first.Headers[hdr]; ok {
			t.Errorf("header %s: got %q logged want it left out", hdr, v)
		}
	}
	if got := first.Headers.Get("X-Request-Id"); got != "req-1" {
		t.Errorf("X-Request-Id: got %q want req-1", got)
	}
	feedReq := log.Requests[3]
	if feedReq.Query.Get("limit") != "5" || feedReq.Query.Get("cursor") != "abc" || feedReq.Route != "GET /masterdata/v1/changes" {
		t.Errorf("query: got route %q query %v want limit 5 and cursor abc", feedReq.Route, feedReq.Query)
	}
	if log.Requests[4].Route != unmatchedRoute || log.Requests[4].Origin != OriginOrders {
		t.Errorf("wrong path: got route %q origin %q want %q orders", log.Requests[4].Route, log.Requests[4].Origin, unmatchedRoute)
	}

	h.call(t, http.MethodDelete, "/admin/requests", nil, http.StatusNoContent, nil)
	var cleared requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &cleared)
	if cleared.Total != 0 || len(cleared.Requests) != 0 || len(cleared.Counts) != 0 {
		t.Errorf("after clear: got %+v want an empty log", cleared)
	}
}

func TestRequestLogIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.RequestLogSize = 3 })
	for range 5 {
		h.do(t, http.MethodGet, "/cms/v1/pages", nil, nil)
	}
	var log requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	var seqs []int64
	for _, r := range log.Requests {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, []int64{3, 4, 5}) || log.Total != 5 || log.Dropped != 2 || log.Counts["GET /cms/v1/pages"] != 5 {
		t.Errorf("got seqs %v, total %d, dropped %d, count %d want [3 4 5], 5, 2, 5", seqs, log.Total, log.Dropped, log.Counts["GET /cms/v1/pages"])
	}
}

func TestRequestLogTruncatesLargeBodies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	big := `{"skus":["` + strings.Repeat("A", maxLoggedBody) + `"]}`
	h.do(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", big, nil)
	var log requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	if r := log.Requests[0]; len(r.Body) != maxLoggedBody || !r.BodyTruncated {
		t.Errorf("got body of %d bytes, truncated %v want %d, true", len(r.Body), r.BodyTruncated, maxLoggedBody)
	}
}
