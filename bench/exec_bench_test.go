package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The benchmarks below execute the warm 50-product catalog page (CACHED
// inventory) in a handler on every iteration, without the network, with
// enough pages in flight to keep every core busy: ns/op is the inverse of
// the handler's throughput. Run them at the collector setting under study:
//
//	GOGC=400 go test ./bench -run '^$' -bench CatalogPage -benchmem -cpuprofile cpu.out

// BenchmarkCatalogPageExecuted is the gateway's handler.
func BenchmarkCatalogPageExecuted(b *testing.B) {
	_, g, _ := startTestGateway(b)
	benchmarkPage(b, g.srv.Handler, "")
}

// BenchmarkCatalogPageSignedIn is the page asked by a signed-in customer:
// the same execution plus the bearer token's verification, the profile's
// locale and the audit recorder, and never a shared cache entry.
func BenchmarkCatalogPageSignedIn(b *testing.B) {
	_, g, o := startTestGateway(b)
	resp, err := http.Get(o.srv.URL() + "/idp/dev/token?sub=cust-0001")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("dev token: %v (status %d)", err, resp.StatusCode)
	}
	benchmarkPage(b, g.srv.Handler, "Bearer "+tok.AccessToken)
}

// startTestGateway starts Meridian as the benchmark program does (seeded
// mirror, a simulator with 1ms of latency), stopped when tb ends, and
// returns the seeds with it.
func startTestGateway(tb testing.TB) (seeds, *gatewayServer, *origin) {
	tb.Helper()
	ctx := context.Background()
	seed := benchSeeds(tb)
	m, err := openMirror(ctx, seed.catalog)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	o, err := startOrigin(seed, time.Millisecond, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(o.Close)
	g, err := startGateway(ctx, m, o, meridian)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return seed, g, o
}

// BenchmarkCatalogPageBare is the bare gqlgen server (bench/baregql), the
// baseline of the executed page.
func BenchmarkCatalogPageBare(b *testing.B) {
	h, err := bareHandler(benchSeeds(b).catalog)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkPage(b, h, "")
}

func benchSeeds(tb testing.TB) seeds {
	tb.Helper()
	dir, err := findTestdata()
	if err != nil {
		tb.Fatal(err)
	}
	seed, err := readSeeds(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return seed
}

// benchmarkPage warms h up (copies, query cache, pools) and then serves
// the page b.N times from many goroutines, with authorization as the
// Authorization header when it is not empty.
func benchmarkPage(b *testing.B, h http.Handler, authorization string) {
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(cachedPage))
		req.Header.Set("Content-Type", "application/json")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for range 20 {
		if rec := serve(); rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportAllocs()
	// Enough pages in flight to keep every core busy through the loader's
	// 1ms batching wait.
	b.SetParallelism(*benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := serve(); rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// benchParallelism is goroutines per core in benchmarkPage: 4 gives 8
// pages in flight on 2 cores, 32 gives 64, as the benchmark program's
// connections.
var benchParallelism = flag.Int("page-parallelism", 4, "goroutines per core serving pages in the CatalogPage benchmarks")
