package main

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestEveryScenarioProducesFigures runs every scenario in miniature, so the
// harness keeps working as the gateway changes: each configuration must
// answer, and only where failure is the point (the naive gateway behind a
// blackholed origin) may it fail.
func TestEveryScenarioProducesFigures(t *testing.T) {
	opts := options{
		Scenarios:        allScenarios(),
		Duration:         200 * time.Millisecond,
		Warmup:           50 * time.Millisecond,
		Concurrency:      2,
		Latency:          5 * time.Millisecond,
		ColdRounds:       1,
		Stampede:         50,
		StampedeMaxAge:   250 * time.Millisecond,
		BlackholeTimeout: time.Second,
		MaxRequests:      100_000,
		RSSConnections:   4,
		Connections:      []int{2},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	childRows := []string{cached.Name, executed.Name, bareName, bareTunedName, staticName}
	gcRows := []string{"Meridian, executed, GOGC=100", "Meridian, executed, GOGC=200", "Meridian, executed, GOGC=400 (default)", "Meridian, executed, GOGC=800"}
	want := map[string][]string{
		"Catalog page, CACHED inventory, cold":                        {meridian.Name, wait16.Name, naive.Name, staticName},
		"Catalog page, CACHED inventory, warm":                        {meridian.Name, naive.Name, staticName},
		"Catalog page, LIVE inventory, warm":                          {meridian.Name, wait16.Name, naive.Name, staticName},
		"Catalog page, LIVE inventory, master data blackholed":        {meridian.Name, naive.Name, staticName},
		"Stampede: one expired key":                                   {meridian.Name, naive.Name, staticName},
		"Catalog page from the response cache, 2 connections":         {cached.Name, executed.Name, staticName},
		"Catalog page, each server in its own process, 2 connections": childRows,
		"Catalog page, each server in its own process, 4 connections": childRows,
		"Garbage collector settings, 2 connections":                   gcRows,
		"Garbage collector settings, 4 connections":                   gcRows,
	}
	if len(rep.Sections) != len(want) {
		t.Errorf("%d sections, want %d", len(rep.Sections), len(want))
	}
	for _, s := range rep.Sections {
		configs, ok := want[s.Title]
		if !ok {
			t.Errorf("unexpected section %q", s.Title)
			continue
		}
		if len(s.Rows) != len(configs) {
			t.Errorf("%s: %d rows, want %d", s.Title, len(s.Rows), len(configs))
			continue
		}
		blackholed := strings.Contains(s.Title, "blackholed")
		for i, m := range s.Rows {
			if m.Config != configs[i] {
				t.Errorf("%s: row %d is %q, want %q", s.Title, i, m.Config, configs[i])
			}
			if m.Requests == 0 || m.P50 <= 0 || m.Max < m.P99 || m.P99 < m.P50 {
				t.Errorf("%s / %s: no usable figures: %+v", s.Title, m.Config, m.summary)
			}
			if s.Kind != burstKind && m.PerSecond <= 0 {
				t.Errorf("%s / %s: no throughput", s.Title, m.Config)
			}
			if s.Kind == memoryKind {
				checkMemory(t, s.Title+" / "+m.Config, m.Memory)
			}
			expectFailures := blackholed && m.Config == naive.Name
			if m.Errors() > 0 && !expectFailures {
				t.Errorf("%s / %s: %d transport, %d non-200, %d GraphQL errors", s.Title, m.Config, m.Transport, m.Status, m.GraphQL)
			}
			if expectFailures && m.GraphQL != m.Requests {
				t.Errorf("%s / %s: %d of %d requests failed; the naive gateway has no copy to serve", s.Title, m.Config, m.GraphQL, m.Requests)
			}
			if m.Config == staticName || strings.HasPrefix(m.Config, bareName) {
				if m.OriginCalls != -1 {
					t.Errorf("%s: %s counted %d origin calls", s.Title, m.Config, m.OriginCalls)
				}
				continue
			}
			if m.OriginCalls < 0 || m.Batches == nil {
				t.Errorf("%s / %s: origin calls not counted", s.Title, m.Config)
			}
		}
		meridianRow, naiveRow := s.Rows[0], s.Rows[len(s.Rows)-2]
		switch {
		case blackholed:
			if meridianRow.Degraded != meridianRow.Requests {
				t.Errorf("blackhole: %d of %d Meridian answers list degraded fields, want all", meridianRow.Degraded, meridianRow.Requests)
			}
		case strings.HasPrefix(s.Title, "Stampede"):
			if naiveRow.OriginCalls != int64(opts.Stampede) {
				t.Errorf("stampede: naive made %d origin calls, want one per request (%d)", naiveRow.OriginCalls, opts.Stampede)
			}
			// One call is the design; a loaded test machine may spread the
			// burst over the copy's windows and add one or two.
			if meridianRow.OriginCalls < 1 || meridianRow.OriginCalls*10 > int64(opts.Stampede) {
				t.Errorf("stampede: Meridian made %d origin calls for %d requests", meridianRow.OriginCalls, opts.Stampede)
			}
		}
	}

	md := rep.markdown()
	for title := range want {
		if !strings.Contains(md, "## "+title) {
			t.Errorf("report lacks section %q", title)
		}
	}
	if !strings.Contains(md, "## Loader wait") {
		t.Error("report lacks the loader wait comparison")
	}
}

// checkMemory fails the test unless m holds a child's resident memory:
// positive figures on Linux, where /proc has them, and none elsewhere.
func checkMemory(t *testing.T, row string, m *memory) {
	t.Helper()
	switch {
	case m == nil:
		t.Errorf("%s: no memory figures", row)
	case runtime.GOOS != "linux":
		if m.Known {
			t.Errorf("%s: memory figures outside Linux: %+v", row, *m)
		}
	// VmHWM is not compared with the samples: the kernel updates it
	// lazily, and it can read below a sampled VmRSS.
	case !m.Known || m.Idle <= 0 || m.Max <= 0 || m.Samples == 0 || m.Peak <= 0:
		t.Errorf("%s: want positive RSS figures, got %+v", row, *m)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 100}, {95, 190}, {99, 198}, {100, 200}, {1, 2}} {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("p%d = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile(ds[:1], 99); got != 1 {
		t.Errorf("p99 of one value = %d, want 1", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, files, err := parseFlags([]string{"-scenario", "stampede,catalog", "-duration", "3s", "-out", "x.md"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Scenarios, ",") != "catalog,stampede" || o.Duration != 3*time.Second || files.out != "x.md" {
		t.Errorf("got %v %v %q", o.Scenarios, o.Duration, files.out)
	}
	if _, _, err := parseFlags([]string{"-scenario", "nope"}); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

func TestCheckClassifiesBodies(t *testing.T) {
	for _, tt := range []struct {
		body     string
		want     outcome
		degraded bool
	}{
		{`{"data":{"product":{"name":"\"errors\" and \"degraded\""}}}`, outcomeOK, false},
		{`{"data":{"product":null},"errors":[{"message":"x"}]}`, outcomeGraphQL, false},
		{`{"data":{},"errors":[]}`, outcomeOK, false},
		{`{"data":{},"extensions":{"degraded":[{"path":"a"}]}}`, outcomeOK, true},
		{`{"errors":[{"message":"x"}],"data":{},"extensions":{"degraded":[{}]}}`, outcomeGraphQL, true},
		{`{"data":{"errors":1}`, outcomeGraphQL, false},
		{`<html>`, outcomeGraphQL, false},
		{``, outcomeGraphQL, false},
	} {
		got, degraded, _ := check([]byte(tt.body))
		if got != tt.want || degraded != tt.degraded {
			t.Errorf("check(%s) = %d, %v; want %d, %v", tt.body, got, degraded, tt.want, tt.degraded)
		}
	}
}
