package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"meridian/internal/gctune"
)

// The pages the scenarios request. Operation names label the gateway's own
// latency metrics.
var (
	cachedPage = page(`query CatalogPage { search(first: 50) { edges { node { id name price { amount formatted } inventory { available status freshness { source stale } } } } } }`)
	livePage   = page(`query CatalogPageLive { search(first: 50) { edges { node { id name price { amount formatted } inventory(consistency: LIVE) { available status freshness { source stale } } } } } }`)
	// stampedePage asks for one product's stock: the smallest page that
	// reads the one key every client of the stampede wants.
	stampedePage = page(`query StockBadge { product(id: "prod-0001") { inventory { available } } }`)
)

func page(query string) []byte {
	b, err := json.Marshal(map[string]string{"query": query})
	if err != nil {
		panic(err)
	}
	return b
}

// The configurations every scenario compares.
var (
	meridian = variant{Name: "Meridian"}
	// wait16 is Meridian with graph-gophers/dataloader's default wait
	// instead of Meridian's 1ms.
	wait16 = variant{Name: "Meridian, loader wait 16ms", Env: map[string]string{"LOADER_WAIT": "16ms"}}
	naive  = variant{Name: "naive", Naive: true}
	// cached is Meridian with the whole-response cache in front of
	// execution; Meridian's other rows execute every request.
	cached = variant{Name: "Meridian, response cache", ResponseCache: true}
	// executed is Meridian as configured, labelled for the response
	// cache's comparison.
	executed = variant{Name: "Meridian, executed (cache off)"}
)

// Rows of servers that are not the gateway.
const (
	// staticName labels the static ceiling's rows.
	staticName = "static ceiling"
	// bareName labels the rows of the bare gqlgen server (bench/baregql):
	// the same page of the same schema's shape, every answer built in
	// memory at start-up.
	bareName = "bare gqlgen (from memory)"
)

// bareTunedName labels the bare gqlgen server run at Meridian's default
// GOGC.
var bareTunedName = fmt.Sprintf("%s, GOGC=%d", bareName, gctune.DefaultGCPercent)

// with returns v with extra configuration variables.
func (v variant) with(env map[string]string) variant {
	merged := maps.Clone(v.Env)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, env)
	v.Env = merged
	return v
}

// kind says how a measurement loads the server.
type kind uint8

const (
	steadyKind kind = iota // closed loop of Concurrency workers for Duration
	burstKind              // simultaneous requests released at once
	memoryKind             // closed loop of RSSConnections workers against a child process, with its memory
)

// measurement is one configuration's figures in one scenario.
type measurement struct {
	Config string
	summary
	// OriginCalls is how many inventory batch calls master data received
	// during the measurement; -1 when no origin is involved.
	OriginCalls int64
	// Guard is the guard's counters that moved during the measurement
	// (Meridian variants only).
	Guard counters
	// Breaker is the master-data breaker's state at the end (Meridian
	// variants only).
	Breaker string
	// Batches is how many SKUs the inventory calls asked for (gateways
	// only).
	Batches *batchSizes
	// Memory is the server's resident memory (servers in a child process
	// only).
	Memory *memory
	// AnswerBytes is the size of the server's answer, for servers whose
	// answer is not Meridian's (the bare gqlgen server).
	AnswerBytes int
}

// CallsPerRequest is OriginCalls over Requests, or -1 when not applicable.
func (m measurement) CallsPerRequest() float64 {
	if m.OriginCalls < 0 || m.Requests == 0 {
		return -1
	}
	return float64(m.OriginCalls) / float64(m.Requests)
}

// section is one scenario's table.
type section struct {
	Title string
	About string
	Kind  kind
	// ResponseBytes is the size of the answer the static ceiling replays.
	ResponseBytes int
	Rows          []measurement
}

// runner runs scenarios over one seeded mirror.
type runner struct {
	opts     options
	seed     seeds
	mirror   *mirror
	progress io.Writer
}

func (r *runner) note(format string, a ...any) {
	fmt.Fprintf(r.progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func (r *runner) logRow(title string, m measurement) {
	r.note("%-44s %-28s n=%-6d p50=%-9s p99=%-9s calls=%d errors=%d degraded=%d",
		title, m.Config, m.Requests, ms(m.P50), ms(m.P99), m.OriginCalls, m.Errors(), m.Degraded)
}

// catalog measures the catalog page: cold and warm with CACHED inventory,
// and warm with LIVE inventory.
func (r *runner) catalog(ctx context.Context) ([]section, error) {
	cold := section{
		Title: "Catalog page, CACHED inventory, cold",
		About: fmt.Sprintf("%d rounds; each starts a fresh gateway (no copies, no pooled origin connections, empty query cache), opens %d client connections, then sends %d first requests at once.",
			r.opts.ColdRounds, r.opts.Concurrency, r.opts.Concurrency),
		Kind: burstKind,
	}
	var replay response
	for _, v := range []variant{meridian, wait16, naive} {
		m, resp, err := r.cold(ctx, cold.Title, v, cachedPage)
		if err != nil {
			return nil, err
		}
		cold.Rows = append(cold.Rows, m)
		if v.Name == meridian.Name {
			replay = resp
		}
	}
	m, err := r.staticBurst(ctx, cold.Title, replay, cachedPage, r.opts.Concurrency, r.opts.ColdRounds)
	if err != nil {
		return nil, err
	}
	cold.Rows, cold.ResponseBytes = append(cold.Rows, m), len(replay.body)

	warm, err := r.steadySection(ctx, section{
		Title: "Catalog page, CACHED inventory, warm",
		About: "Steady state after the warm-up has filled the copies (younger than INVENTORY_MAX_AGE, 30s).",
		Kind:  steadyKind,
	}, []variant{meridian, naive}, cachedPage, nil)
	if err != nil {
		return nil, err
	}
	live, err := r.steadySection(ctx, section{
		Title: "Catalog page, LIVE inventory, warm",
		About: "`inventory(consistency: LIVE)`: master data is asked during every request.",
		Kind:  steadyKind,
	}, []variant{meridian, wait16, naive}, livePage, nil)
	if err != nil {
		return nil, err
	}
	return []section{cold, warm, live}, nil
}

// blackhole measures the LIVE page while master data holds every request
// without answering.
func (r *runner) blackhole(ctx context.Context) ([]section, error) {
	env := map[string]string{"EXECUTION_TIMEOUT": r.opts.BlackholeTimeout.String()}
	s, err := r.steadySection(ctx, section{
		Title: "Catalog page, LIVE inventory, master data blackholed",
		About: fmt.Sprintf("Warm-up with master data up (copies filled), then `PUT /admin/faults {\"origin\":\"masterdata\",\"blackhole\":true}` and the measurement. EXECUTION_TIMEOUT=%s for both gateways.",
			r.opts.BlackholeTimeout),
		Kind: steadyKind,
	}, []variant{meridian.with(env), naive.with(env)}, livePage, func(ctx context.Context, o *origin) error {
		return o.setBlackhole(ctx, true)
	})
	if err != nil {
		return nil, err
	}
	return []section{s}, nil
}

// stampede measures many simultaneous requests for one key whose copy has
// expired past its stale-while-revalidate window.
func (r *runner) stampede(ctx context.Context) ([]section, error) {
	age := r.opts.StampedeMaxAge
	env := map[string]string{"INVENTORY_MAX_AGE": age.String(), "INVENTORY_STALE_WHILE_REVALIDATE": age.String()}
	s := section{
		Title: "Stampede: one expired key",
		About: fmt.Sprintf("INVENTORY_MAX_AGE=%s and INVENTORY_STALE_WHILE_REVALIDATE=%s; one request stores the copy of prod-0001, %d client connections are opened, and once the copy is older than both windows all %d requests for it are released at once.",
			age, age, r.opts.Stampede, r.opts.Stampede),
		Kind: burstKind,
	}
	var replay response
	for _, v := range []variant{meridian.with(env), naive.with(env)} {
		m, resp, err := r.stampedeRun(ctx, s.Title, v)
		if err != nil {
			return nil, err
		}
		s.Rows = append(s.Rows, m)
		if v.Name == meridian.Name {
			replay = resp
		}
	}
	m, err := r.staticBurst(ctx, s.Title, replay, stampedePage, r.opts.Stampede, 1)
	if err != nil {
		return nil, err
	}
	s.Rows, s.ResponseBytes = append(s.Rows, m), len(replay.body)
	return []section{s}, nil
}

// steadySection measures each variant and then the static ceiling
// replaying the first variant's answer.
func (r *runner) steadySection(ctx context.Context, s section, variants []variant, body []byte, afterWarmup func(context.Context, *origin) error) (section, error) {
	var replay response
	for i, v := range variants {
		m, resp, err := r.steady(ctx, s.Title, v, body, afterWarmup)
		if err != nil {
			return s, err
		}
		s.Rows = append(s.Rows, m)
		if i == 0 {
			replay = resp
		}
	}
	m, err := r.staticSteady(ctx, s.Title, replay, body)
	if err != nil {
		return s, err
	}
	s.Rows, s.ResponseBytes = append(s.Rows, m), len(replay.body)
	return s, nil
}

// steady warms a fresh gateway up, runs afterWarmup, then measures a closed
// loop of Concurrency workers for Duration.
func (r *runner) steady(ctx context.Context, title string, v variant, body []byte, afterWarmup func(context.Context, *origin) error) (measurement, response, error) {
	o, err := startOrigin(r.seed, r.opts.Latency, r.opts.Jitter)
	if err != nil {
		return measurement{}, response{}, err
	}
	defer o.Close()
	g, err := startGateway(ctx, r.mirror, o, v)
	if err != nil {
		return measurement{}, response{}, err
	}
	defer g.Close()
	client := newLoadClient(r.opts.Concurrency)
	defer client.CloseIdleConnections()
	t := target{URL: g.URL + "/graphql", Body: body}

	// The warm-up opens the client and origin connections and fills the
	// copies; its figures are not reported.
	closedLoop(ctx, []*http.Client{client}, t, r.opts.Concurrency, r.opts.Warmup, r.opts.MaxRequests)
	g.settle()
	if afterWarmup != nil {
		if err := afterWarmup(ctx, o); err != nil {
			return measurement{}, response{}, err
		}
	}
	before, err := r.snapshot(ctx, o, g)
	if err != nil {
		return measurement{}, response{}, err
	}
	c := closedLoop(ctx, []*http.Client{client}, t, r.opts.Concurrency, r.opts.Duration, r.opts.MaxRequests)
	g.settle()
	after, err := r.snapshot(ctx, o, g)
	if err != nil {
		return measurement{}, response{}, err
	}
	m := between(measurement{Config: v.Name, summary: summarize(c)}, before, after, g)
	r.logRow(title, m)
	return m, c.first, nil
}

// cold measures the first requests of fresh gateways, ColdRounds times.
func (r *runner) cold(ctx context.Context, title string, v variant, body []byte) (measurement, response, error) {
	o, err := startOrigin(r.seed, r.opts.Latency, r.opts.Jitter)
	if err != nil {
		return measurement{}, response{}, err
	}
	defer o.Close()
	before, err := o.requests(ctx)
	if err != nil {
		return measurement{}, response{}, err
	}
	var (
		all    collected
		totals counters
		state  string
	)
	for range r.opts.ColdRounds {
		c, gc, st, err := r.coldRound(ctx, o, v, body)
		if err != nil {
			return measurement{}, response{}, err
		}
		all.merge(c)
		totals, state = totals.add(gc), st
	}
	after, err := o.requests(ctx)
	if err != nil {
		return measurement{}, response{}, err
	}
	// Each round's gateway is gone by now; its counters were summed as
	// the round ended.
	m := between(measurement{Config: v.Name, summary: summarize(all)}, snapshot{log: before}, snapshot{log: after, guard: totals}, nil)
	m.Breaker = state
	r.logRow(title, m)
	return m, all.first, nil
}

func (r *runner) coldRound(ctx context.Context, o *origin, v variant, body []byte) (collected, counters, string, error) {
	g, err := startGateway(ctx, r.mirror, o, v)
	if err != nil {
		return collected{}, nil, "", err
	}
	defer g.Close()
	c, err := burst(ctx, target{URL: g.URL + "/graphql", Body: body, WarmURL: g.URL + "/healthz"}, r.opts.Concurrency, nil)
	if err != nil {
		return collected{}, nil, "", err
	}
	g.settle()
	// A fresh gateway's counters start at zero, so these are the round's.
	gc, err := g.guardCounters(ctx)
	return c, gc, breakerState(g), err
}

// stampedeRun stores one copy, waits until it is past both freshness
// windows, and releases Stampede simultaneous requests for it.
func (r *runner) stampedeRun(ctx context.Context, title string, v variant) (measurement, response, error) {
	o, err := startOrigin(r.seed, r.opts.Latency, r.opts.Jitter)
	if err != nil {
		return measurement{}, response{}, err
	}
	defer o.Close()
	g, err := startGateway(ctx, r.mirror, o, v)
	if err != nil {
		return measurement{}, response{}, err
	}
	defer g.Close()
	t := target{URL: g.URL + "/graphql", Body: stampedePage, WarmURL: g.URL + "/healthz"}

	client := newLoadClient(1)
	s, _ := send(ctx, client, t)
	client.CloseIdleConnections()
	if s.outcome != outcomeOK {
		return measurement{}, response{}, fmt.Errorf("%s: the request storing the copy failed (outcome %d)", v.Name, s.outcome)
	}
	// The copy's age counts from the origin's answer, which came before
	// this point; the margin covers the clock granularity of a loaded box.
	age := r.opts.StampedeMaxAge
	expired := time.Now().Add(2*age + max(50*time.Millisecond, age/10))

	var before snapshot
	c, err := burst(ctx, t, r.opts.Stampede, func(ctx context.Context) error {
		timer := time.NewTimer(time.Until(expired))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		before, err = r.snapshot(ctx, o, g)
		return err
	})
	if err != nil {
		return measurement{}, response{}, err
	}
	g.settle()
	after, err := r.snapshot(ctx, o, g)
	if err != nil {
		return measurement{}, response{}, err
	}
	m := between(measurement{Config: v.Name, summary: summarize(c)}, before, after, g)
	r.logRow(title, m)
	return m, c.first, nil
}

// staticSteady replays resp from the static server under the same closed
// loop, with the same request body, as the gateways.
func (r *runner) staticSteady(ctx context.Context, title string, resp response, body []byte) (measurement, error) {
	if resp.body == nil {
		return measurement{}, fmt.Errorf("%s: the gateway produced no 200 answer to replay", title)
	}
	s, err := startStatic(resp.body, resp.contentType)
	if err != nil {
		return measurement{}, err
	}
	defer s.Close()
	m, _ := r.plainSteady(ctx, title, staticName, s.URL, body)
	return m, nil
}

// plainSteady warms up and measures a closed loop of Concurrency workers
// against a server without an origin at url.
func (r *runner) plainSteady(ctx context.Context, title, name, url string, body []byte) (measurement, response) {
	client := newLoadClient(r.opts.Concurrency)
	defer client.CloseIdleConnections()
	clients := []*http.Client{client}
	t := target{URL: url + "/graphql", Body: body}
	closedLoop(ctx, clients, t, r.opts.Concurrency, r.opts.Warmup, r.opts.MaxRequests)
	c := closedLoop(ctx, clients, t, r.opts.Concurrency, r.opts.Duration, r.opts.MaxRequests)
	m := measurement{Config: name, summary: summarize(c), OriginCalls: -1}
	r.logRow(title, m)
	return m, c.first
}

// staticBurst replays resp from the static server in rounds of n
// simultaneous requests, as the gateways were measured.
func (r *runner) staticBurst(ctx context.Context, title string, resp response, body []byte, n, rounds int) (measurement, error) {
	if resp.body == nil {
		return measurement{}, fmt.Errorf("%s: the gateway produced no 200 answer to replay", title)
	}
	s, err := startStatic(resp.body, resp.contentType)
	if err != nil {
		return measurement{}, err
	}
	defer s.Close()
	var all collected
	for range rounds {
		c, err := burst(ctx, target{URL: s.URL + "/graphql", Body: body, WarmURL: s.URL + "/healthz"}, n, nil)
		if err != nil {
			return measurement{}, err
		}
		all.merge(c)
	}
	m := measurement{Config: staticName, summary: summarize(all), OriginCalls: -1}
	r.logRow(title, m)
	return m, nil
}

// snapshot is the origin's request log and the guard's counters at one
// moment.
type snapshot struct {
	log   requestLog
	guard counters
}

func (r *runner) snapshot(ctx context.Context, o *origin, g *gatewayServer) (snapshot, error) {
	l, err := o.requests(ctx)
	if err != nil {
		return snapshot{}, err
	}
	gc, err := g.guardCounters(ctx)
	return snapshot{log: l, guard: gc}, err
}

// between fills m's origin figures from two snapshots.
func between(m measurement, before, after snapshot, g *gatewayServer) measurement {
	m.OriginCalls = after.log.inventoryCalls() - before.log.inventoryCalls()
	m.Guard = after.guard.minus(before.guard)
	m.Breaker = breakerState(g)
	b := after.log.batchSizes(before.log.Total)
	m.Batches = &b
	return m
}

func breakerState(g *gatewayServer) string {
	if g == nil || g.guard == nil {
		return ""
	}
	return g.guard.State()
}

// responseCache measures the warm anonymous catalog page answered from the
// whole-response cache. First in this process at the Connections counts,
// beside the same page executed and the static ceiling, all at Meridian's
// GOGC (the load generator shares the process, so one setting keeps the
// ceiling comparable): the lightest harness, for latency. Then at the
// Connections counts and RSSConnections with each server alone in a child
// process at its own collector settings, where the executed page meets the
// bare gqlgen server on equal terms and every server's memory is read.
func (r *runner) responseCache(ctx context.Context) ([]section, error) {
	saved := r.opts.Concurrency
	defer func() { r.opts.Concurrency = saved }()
	const about = "The warm anonymous 50-product page (CACHED inventory). The cache's entry lives for the page's smallest maxAge (inventory, 10s) and is then served stale for up to 10s while one refresh runs. "
	var sections []section
	for _, n := range r.opts.Connections {
		r.opts.Concurrency = n
		s := section{
			Title: fmt.Sprintf("Catalog page from the response cache, %s connections", thousands(n)),
			About: about + fmt.Sprintf("Every server runs in the benchmark's process, as in the other tables, with the process at GOGC %d (Meridian's default, internal/gctune) for every row.", gctune.DefaultGCPercent),
			Kind:  steadyKind,
		}
		err := atGOGC(gctune.DefaultGCPercent, func() error {
			var replay response
			for i, v := range []variant{cached, executed} {
				m, resp, err := r.steady(ctx, s.Title, v, cachedPage, nil)
				if err != nil {
					return err
				}
				s.Rows = append(s.Rows, m)
				if i == 0 {
					replay = resp
				}
			}
			m, err := r.staticSteady(ctx, s.Title, replay, cachedPage)
			if err != nil {
				return err
			}
			s.Rows, s.ResponseBytes = append(s.Rows, m), len(replay.body)
			return nil
		})
		if err != nil {
			return nil, err
		}
		sections = append(sections, s)
	}

	dir, catalogPath, err := r.childFiles()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rows := []childRow{
		{Name: cached.Name, Spec: childSpec{Server: childMeridian, Variant: cached}},
		{Name: executed.Name, Spec: childSpec{Server: childMeridian, Variant: executed}},
		{Name: bareName, Spec: childSpec{Server: childBare}},
		{Name: bareTunedName, Spec: childSpec{Server: childBare}, Env: map[string]string{"GOGC": strconv.Itoa(gctune.DefaultGCPercent)}},
		{Name: staticName, Spec: childSpec{Server: childStatic}},
	}
	for _, n := range append(slices.Clone(r.opts.Connections), r.opts.RSSConnections) {
		s := section{
			Title: fmt.Sprintf("Catalog page, each server in its own process, %s connections", thousands(n)),
			About: about + "The bare gqlgen server (bench/baregql) has the catalog schema's shape and answers the same query from answers built in memory at start-up: what execution costs in gqlgen alone; it runs at Go's default GOGC 100, as a gqlgen server does unless told otherwise, and again at Meridian's default. " +
				childAbout(n),
			Kind: memoryKind,
		}
		if err := r.childRows(ctx, &s, rows, n, catalogPath, dir); err != nil {
			return nil, err
		}
		sections = append(sections, s)
	}
	return sections, nil
}

// atGOGC runs f with the collector at gogc (unless GOGC is set for the
// run, which then applies to every row alike), and collects before it so
// that no row pays for its predecessor's garbage.
func atGOGC(gogc int, f func() error) error {
	if os.Getenv("GOGC") != "" {
		runtime.GC()
		return f()
	}
	old := debug.SetGCPercent(gogc)
	defer debug.SetGCPercent(old)
	runtime.GC()
	return f()
}

// gcSettings measures the executed catalog page under several GOGC
// settings, at 64 and at RSSConnections connections: the measurement behind
// the gateway's default (internal/gctune).
func (r *runner) gcSettings(ctx context.Context) ([]section, error) {
	dir, catalogPath, err := r.childFiles()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var rows []childRow
	for _, gogc := range []int{100, 200, gctune.DefaultGCPercent, 800} {
		row := childRow{Name: fmt.Sprintf("Meridian, executed, GOGC=%d", gogc), Spec: childSpec{Server: childMeridian, Variant: executed}}
		if gogc == gctune.DefaultGCPercent {
			row.Name += " (default)"
		} else {
			row.Env = map[string]string{"GOGC": strconv.Itoa(gogc)}
		}
		rows = append(rows, row)
	}
	var sections []section
	for _, n := range []int{r.opts.Connections[len(r.opts.Connections)-1], r.opts.RSSConnections} {
		s := section{
			Title: fmt.Sprintf("Garbage collector settings, %s connections", thousands(n)),
			About: "The warm anonymous 50-product page executed on every request (response cache off) with the collector at several GOGC settings and no GOMEMLIMIT. " + childAbout(n),
			Kind:  memoryKind,
		}
		if err := r.childRows(ctx, &s, rows, n, catalogPath, dir); err != nil {
			return nil, err
		}
		sections = append(sections, s)
	}
	return sections, nil
}

// childFiles makes a temporary directory for child processes' files and
// writes the catalog seed into it; the caller removes the directory.
func (r *runner) childFiles() (dir, catalogPath string, err error) {
	if dir, err = os.MkdirTemp("", "meridian-bench-child-"); err != nil {
		return "", "", err
	}
	catalogPath = filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(catalogPath, r.seed.catalog, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, catalogPath, nil
}

// childAbout says how the rows of a child-process table were measured.
func childAbout(n int) string {
	return fmt.Sprintf("Each server runs alone in a child process (this program started again; the gateway with the collector settings of the meridian binary) with its environment, the simulator and the load generator staying in this process. "+
		"The child warms up on one connection (RSS idle is read then), %s keep-alive connections open a few dozen at a time, a warm-up runs on all of them, and the measurement follows with one worker per connection in a closed loop. "+
		"RSS under load is the highest VmRSS read every %s during the measurement; VmHWM is the kernel's record of the child's peak, read at the end (it is kept lazily and can read below a sampled VmRSS). "+
		"The child's processor time is counted as this run's.", thousands(n), rssEvery)
}

// childRow is one configuration of a child-process table.
type childRow struct {
	Name string
	// Spec is what the child serves; childRows fills in the files.
	Spec childSpec
	// Env is added to the child's environment.
	Env map[string]string
}

// childRows measures rows in turn, each in a fresh child process, with n
// connections, appending them to s. The static ceiling replays the first
// gateway row's answer, written to a file in dir.
func (r *runner) childRows(ctx context.Context, s *section, rows []childRow, n int, catalogPath, dir string) error {
	var replay response
	for _, row := range rows {
		spec := row.Spec
		spec.Catalog = catalogPath
		if spec.Server == childStatic {
			if replay.body == nil {
				return fmt.Errorf("%s: no gateway answer to replay", s.Title)
			}
			spec.Replay = filepath.Join(dir, "replay")
			if err := os.WriteFile(spec.Replay, replay.body, 0o600); err != nil {
				return err
			}
			spec.ContentType = replay.contentType
			s.ResponseBytes = len(replay.body)
		}
		env := maps.Clone(row.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, spec.Variant.ChildEnv)
		m, resp, err := r.childSteady(ctx, s.Title, row.Name, spec, env, n)
		if err != nil {
			return err
		}
		if spec.Server == childBare {
			m.AnswerBytes = len(resp.body)
		}
		if spec.Server == childMeridian && replay.body == nil {
			replay = resp
		}
		s.Rows = append(s.Rows, m)
	}
	return nil
}

// rssEvery is how often a child's VmRSS is read during a measurement.
const rssEvery = 100 * time.Millisecond

// childSteady starts a child process serving spec (with a fresh simulator
// when it is a gateway), warms it up on one connection, reads its idle
// RSS, opens n connections, warms up on all of them and measures a closed
// loop of as many workers while sampling its RSS.
func (r *runner) childSteady(ctx context.Context, title, name string, spec childSpec, childEnv map[string]string, n int) (measurement, response, error) {
	var o *origin
	if spec.Server == childMeridian {
		var err error
		if o, err = startOrigin(r.seed, r.opts.Latency, r.opts.Jitter); err != nil {
			return measurement{}, response{}, err
		}
		defer o.Close()
		spec.Origin = o.urls()
	}
	child, err := startChild(ctx, spec, childEnv)
	if err != nil {
		return measurement{}, response{}, fmt.Errorf("%s: %w", name, err)
	}
	m, resp, err := r.measureChild(ctx, name, child, o, n)
	if closeErr := child.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("%s: %w", name, closeErr)
	}
	if err != nil {
		return measurement{}, response{}, err
	}
	r.logRow(title, m)
	return m, resp, nil
}

func (r *runner) measureChild(ctx context.Context, name string, child *childServer, o *origin, n int) (measurement, response, error) {
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = newLoadClient(1)
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	t := target{URL: child.URL + "/graphql", Body: cachedPage}
	pid := child.Pid()

	// Copies, caches and pools fill on one connection, as they would
	// without the many.
	closedLoop(ctx, clients[:1], t, 1, r.opts.Warmup, r.opts.MaxRequests)
	mem := memory{}
	mem.Idle, _, mem.Known = procMemory(pid)
	if err := openConnections(ctx, clients, child.URL+"/healthz"); err != nil {
		return measurement{}, response{}, fmt.Errorf("%s: %w", name, err)
	}
	closedLoop(ctx, clients, t, n, r.opts.Warmup, r.opts.MaxRequests)

	var before requestLog
	if o != nil {
		var err error
		if before, err = o.requests(ctx); err != nil {
			return measurement{}, response{}, err
		}
	}
	cpuBefore, cpuKnown := procCPU(pid)
	sampler := sampleRSS(pid, rssEvery)
	c := closedLoop(ctx, clients, t, n, r.opts.Duration, r.opts.MaxRequests)
	underLoad := sampler.stop()
	cpuAfter, cpuKnownAfter := procCPU(pid)
	c.cpu = c.cpu.withChild(cpuAfter-cpuBefore, cpuKnown && cpuKnownAfter)
	_, peak, peakKnown := procMemory(pid)
	mem.Max, mem.Samples, mem.Peak = underLoad.Max, underLoad.Samples, peak
	mem.Known = mem.Known && underLoad.Known && peakKnown

	m := measurement{Config: name, summary: summarize(c), OriginCalls: -1, Memory: &mem}
	if o != nil {
		after, err := o.requests(ctx)
		if err != nil {
			return measurement{}, response{}, err
		}
		m.OriginCalls = after.inventoryCalls() - before.inventoryCalls()
		b := after.batchSizes(before.Total)
		m.Batches = &b
	}
	return m, c.first, nil
}

// thousands writes a count with a comma between thousands, as the
// report's titles do (1,000).
func thousands(n int) string {
	digits := strconv.Itoa(n)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
