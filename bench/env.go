package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/consent"
	"meridian/adapters/content"
	"meridian/adapters/masterdata"
	"meridian/adapters/orderstore"
	"meridian/adapters/profile"
	"meridian/bench/baregql"
	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/cache"
	"meridian/internal/config"
	"meridian/internal/db"
	"meridian/internal/gateway"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/loaders"
	"meridian/internal/metrics"
	"meridian/internal/originhttp"
	"meridian/internal/persisted"
	"meridian/internal/respcache"
	"meridian/resolvers"
)

// inventoryRoute is the simulator's request-log route of the one master-data
// call the pages make.
const inventoryRoute = "POST /masterdata/v1/inventory:batchGet"

// mirror is the database every gateway of a run reads: one SQLite file in
// a temporary directory holding the seeded catalog mirror and the (empty)
// stores the gateway also needs — content, personal data, orders — as
// server.go opens them on one database. Gateways only read it, so sharing it
// keeps a fresh gateway's start-up to what the benchmark measures (empty
// copies) instead of reloading 232 products each time.
type mirror struct {
	dir      string
	url      string
	db       *db.DB
	catalog  *catalog.SQLStore
	content  resolvers.ContentReader
	personal resolvers.PersonalData
	orders   resolvers.Orders
}

// auditKey keys the audit trail's pseudonyms; the benchmark writes no
// audit entry, but the store refuses to open without a key.
const auditKey = "meridian-benchmark-audit-pseudonym-key"

func openMirror(ctx context.Context, seed []byte) (*mirror, error) {
	dir, err := os.MkdirTemp("", "meridian-bench-")
	if err != nil {
		return nil, err
	}
	url := "sqlite:" + filepath.Join(dir, "mirror.db")
	database, err := db.Open(ctx, url)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &mirror{dir: dir, url: url, db: database}
	if err := m.open(ctx, seed); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *mirror) open(ctx context.Context, seed []byte) error {
	var err error
	if m.catalog, err = catalog.NewSQLStore(ctx, m.db); err != nil {
		return err
	}
	if _, err = catalog.LoadSeed(ctx, m.catalog, seed, time.Now()); err != nil {
		return fmt.Errorf("seed the mirror: %w", err)
	}
	if m.content, err = content.NewSQLStore(ctx, m.db); err != nil {
		return err
	}
	m.personal.PolicyVersion = config.Default().PolicyVersion
	if m.personal.Profiles, err = profile.NewSQLStore(ctx, m.db); err != nil {
		return err
	}
	if m.personal.Consents, err = consent.NewSQLStore(ctx, m.db); err != nil {
		return err
	}
	if m.personal.Audit, err = audit.NewSQLStore(ctx, m.db, audit.Config{PseudonymKey: []byte(auditKey)}); err != nil {
		return err
	}
	orders, err := orderstore.NewSQLStore(ctx, m.db)
	if err != nil {
		return err
	}
	m.orders = resolvers.Orders{Store: orders, Inventory: m.catalog, Dashboard: orders}
	return nil
}

func (m *mirror) Close() {
	m.db.Close()
	os.RemoveAll(m.dir)
}

// origin is the simulated global side on a loopback port, with a client for
// its admin API.
type origin struct {
	sim   *globalsim.Sim
	srv   *globalsim.Server
	admin *http.Client
}

func startOrigin(seed seeds, latency, jitter time.Duration) (*origin, error) {
	sim, err := globalsim.New(globalsim.Config{
		Catalog: seed.catalog,
		// The identity provider issues nothing here; the gateway needs an
		// issuer to verify tokens against, as in every deployment.
		Identities: seed.identities,
		Latency:    latency,
		Jitter:     jitter,
		// Per-route counts are kept whatever the size. The last requests
		// show how many SKUs each call asked for; a few thousand cover
		// every Meridian measurement while keeping GET /admin/requests
		// cheap enough to read between measurements.
		RequestLogSize: 4000,
	})
	if err != nil {
		return nil, err
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &origin{sim: sim, srv: srv, admin: &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true},
		Timeout:   10 * time.Second,
	}}, nil
}

// Close releases any request the blackhole still holds and stops the
// simulator.
func (o *origin) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
	o.admin.CloseIdleConnections()
}

func (o *origin) adminCall(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.srv.URL()+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := o.admin.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("simulator %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// setBlackhole cuts master data off (requests are held unanswered) or
// restores it.
func (o *origin) setBlackhole(ctx context.Context, on bool) error {
	return o.adminCall(ctx, http.MethodPut, "/admin/faults", map[string]any{"origin": "masterdata", "blackhole": on}, nil)
}

// requestLog is the simulator's request log as GET /admin/requests shows
// it: per-route counts since the start, and the last requests.
type requestLog struct {
	Total    int64            `json:"total"`
	Counts   map[string]int64 `json:"counts"`
	Requests []struct {
		Seq   int64  `json:"seq"`
		Route string `json:"route"`
		Body  string `json:"body"`
	} `json:"requests"`
}

// requests reads the request log. Counts are read before and after a
// measurement rather than cleared, so a call still travelling when one
// measurement ends cannot vanish from the next.
func (o *origin) requests(ctx context.Context) (requestLog, error) {
	var l requestLog
	err := o.adminCall(ctx, http.MethodGet, "/admin/requests", nil, &l)
	return l, err
}

// inventoryCalls is how many inventory batch calls master data has
// received since the simulator started.
func (l requestLog) inventoryCalls() int64 { return l.Counts[inventoryRoute] }

// batchSizes describes how many SKUs each inventory call after seq asked
// for, from the requests the log still holds.
func (l requestLog) batchSizes(seq int64) batchSizes {
	var b batchSizes
	held := int64(0)
	for _, r := range l.Requests {
		if r.Seq <= seq {
			continue
		}
		held++
		if r.Route != inventoryRoute {
			continue
		}
		var body struct {
			SKUs []string `json:"skus"`
		}
		if json.Unmarshal([]byte(r.Body), &body) != nil {
			continue
		}
		n := len(body.SKUs)
		if b.Calls == 0 || n < b.Min {
			b.Min = n
		}
		b.Max = max(b.Max, n)
		b.Calls++
		b.keys += n
		if n == 1 {
			b.Single++
		}
	}
	b.Partial = held < l.Total-seq
	return b
}

// batchSizes summarizes the SKUs per inventory call of a measurement.
type batchSizes struct {
	Calls    int  // calls described
	Min, Max int  // fewest and most SKUs in one call
	Single   int  // calls for one SKU
	Partial  bool // the log no longer held every call of the measurement
	keys     int
}

// Mean is the average SKUs per call.
func (b batchSizes) Mean() float64 {
	if b.Calls == 0 {
		return 0
	}
	return float64(b.keys) / float64(b.Calls)
}

// variant is one way of configuring the gateway under test.
type variant struct {
	Name string
	// Naive turns the loaders and the guard off (loaders.Config.Naive).
	Naive bool
	// Env overrides configuration variables over internal/config's defaults.
	Env map[string]string
	// ResponseCache puts the whole-response cache in front of execution,
	// as server.go does (in-process only: no Redis here).
	ResponseCache bool
	// ChildEnv is added to the environment of the child process that
	// serves the variant in measurements taken out of process (GOGC,
	// GOMEMLIMIT and the like); in-process measurements ignore it.
	ChildEnv map[string]string `json:",omitempty"`
}

// gatewayServer is the real gateway handler served by net/http on a loopback
// port.
type gatewayServer struct {
	URL       string
	guard     *guard.Guard // nil for the naive variant
	srv       *http.Server
	served    chan error
	md        *originhttp.Client
	responses *respcache.Cache // nil unless the variant caches responses
}

// originURLs are the addresses of the simulated global side a gateway
// talks to.
type originURLs struct {
	// Masterdata is the base URL of the master-data API.
	Masterdata string
	// Issuer is the identity provider's issuer URL.
	Issuer string
}

// urls returns the simulator's addresses.
func (o *origin) urls() originURLs {
	return originURLs{Masterdata: o.srv.OriginURL(globalsim.OriginMasterdata), Issuer: o.srv.URL() + globalsim.IdPPath}
}

// startGateway builds the gateway as server.go does — configuration over
// the defaults, the master-data guard over an in-process cache, per-request
// loaders, gateway.New — with o as the global side.
func startGateway(ctx context.Context, m *mirror, o *origin, v variant) (*gatewayServer, error) {
	return startGatewayAt(ctx, m, o.urls(), v)
}

// startGatewayAt is startGateway for a global side known by its addresses
// only, as in a child process whose simulator runs in the parent.
func startGatewayAt(ctx context.Context, m *mirror, o originURLs, v variant) (*gatewayServer, error) {
	// The configuration is the defaults plus the variant's overrides, read
	// as the server reads its environment. The origin URLs stay unset (the
	// defaults' demo mode, as in the gateway's own tests): the simulator's
	// addresses go straight to the clients below, and settings that only a
	// deployment with real origins needs (session keys and the like) stay
	// out of the benchmark.
	env := map[string]string{"DATABASE_URL": m.url}
	maps.Copy(env, v.Env)
	cfg, err := config.FromMap(env)
	if err != nil {
		return nil, err
	}
	// Access logs are formatted as in production and then dropped: their
	// CPU cost is part of serving a request, a terminal's speed is not.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	met := metrics.New()
	mdHTTP, err := originhttp.New(originhttp.Config{Origin: "masterdata", BaseURL: o.Masterdata})
	if err != nil {
		return nil, err
	}
	lc := loaders.Config{
		Inventory: masterdata.New(mdHTTP),
		// The synced inventory snapshots, as server.go wires them. No sync
		// job runs here, so the mirror holds none and every CACHED read
		// goes to the copies or the origin: the path under test.
		Mirror: m.catalog,
		Policy: guard.Policy{MaxAge: cfg.Origins.InventoryMaxAge, StaleWhileRevalidate: cfg.Origins.InventorySWR},
		Wait:   cfg.Origins.LoaderWait,
		Naive:  v.Naive,
	}
	var g *guard.Guard
	if !v.Naive {
		copies, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes})
		if err != nil {
			return nil, err
		}
		g, err = guard.New(guard.Config{
			Origin:         "masterdata",
			Budget:         cfg.Origins.Budget,
			FailuresToTrip: uint32(cfg.Origins.BreakerFailures),
			OpenFor:        cfg.Origins.BreakerOpenFor,
			Copies:         copies,
			Metrics:        met,
			Log:            log,
		})
		if err != nil {
			return nil, err
		}
		lc.Masterdata = g
	}
	factory, err := loaders.NewFactory(lc)
	if err != nil {
		return nil, err
	}
	verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: o.Issuer, Audience: cfg.OIDC.Audience})
	if err != nil {
		return nil, err
	}
	// Persisted queries as server.go sets them up without Redis: the
	// configured manifests (none by default) and an in-process APQ store.
	// The benchmark's pages are ad-hoc documents, as a web app sends them
	// before it adopts persisted queries.
	manifests, err := persisted.NewRegistry(log, cfg.Persisted.Manifests...)
	if err != nil {
		return nil, err
	}
	apq, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 10_000, MaxBytes: 32 << 20})
	if err != nil {
		return nil, err
	}
	var responses *respcache.Cache
	if v.ResponseCache {
		if responses, err = respcache.New(respcache.Config{Logger: log, Metrics: met}); err != nil {
			return nil, err
		}
	}
	h, err := gateway.New(cfg, gateway.Deps{
		Catalog:       m.catalog,
		Content:       m.content,
		Personal:      m.personal,
		Orders:        m.orders,
		Verifier:      verifier,
		Loaders:       factory,
		Metrics:       met,
		Ready:         map[string]gateway.Pinger{"database": m.db},
		Persisted:     manifests,
		APQ:           apq,
		ResponseCache: responses,
	}, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gs := &gatewayServer{
		URL:   "http://" + ln.Addr().String(),
		guard: g,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      cfg.Limits.ExecutionTimeout + 5*time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		served:    make(chan error, 1),
		md:        mdHTTP,
		responses: responses,
	}
	go func() { gs.served <- gs.srv.Serve(ln) }()
	return gs, nil
}

// settle waits for the background refreshes the gateway has started, so
// the origin calls they make are counted in the measurement that caused
// them. Call it only while no request is being served.
func (g *gatewayServer) settle() {
	if g.guard != nil {
		g.guard.WaitForRefreshes()
	}
}

func (g *gatewayServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		g.srv.Close()
	}
	<-g.served
	g.settle()
	g.md.CloseIdleConnections()
	if g.responses != nil {
		_ = g.responses.Close()
	}
}

// guardCounters reads the guard's counters from the gateway's own /metrics:
// origin calls by outcome and fallbacks by reason. Nil for the naive
// variant, which has no guard.
func (g *gatewayServer) guardCounters(ctx context.Context) (counters, error) {
	if g.guard == nil {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return parseCounters(resp.Body, map[string]string{
		"meridian_origin_requests_total": "outcome",
		"meridian_fallbacks_total":       "reason",
	})
}

// counters are named counter values, such as "calls ok" or "fallbacks
// timeout".
type counters map[string]float64

// parseCounters picks the samples of the wanted metrics out of the
// Prometheus text format, naming each by a short prefix and the value of
// one label ("meridian_origin_requests_total{outcome="ok"}" → "calls ok").
func parseCounters(r io.Reader, want map[string]string) (counters, error) {
	short := map[string]string{"meridian_origin_requests_total": "calls", "meridian_fallbacks_total": "fallbacks"}
	out := counters{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		label, found := want[name]
		if !ok || !found {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		for _, kv := range strings.Split(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			if k == label {
				out[short[name]+" "+strings.Trim(val, `"`)] += v
			}
		}
	}
	return out, sc.Err()
}

// minus returns c - before, leaving out counters that did not move.
func (c counters) minus(before counters) counters {
	if c == nil {
		return nil
	}
	out := counters{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// add accumulates o into c (for measurements spanning several gateways).
func (c counters) add(o counters) counters {
	if o == nil {
		return c
	}
	if c == nil {
		c = counters{}
	}
	for k, v := range o {
		c[k] += v
	}
	return c
}

// plainServer is one handler served by net/http on a loopback port, as
// the static ceiling and the bare gqlgen server are.
type plainServer struct {
	URL    string
	srv    *http.Server
	served chan error
}

func startPlain(h http.Handler) (*plainServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &plainServer{
		URL:    "http://" + ln.Addr().String(),
		srv:    &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

func (s *plainServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Warn("benchmark server", "err", err)
	}
}

// staticHandler answers every request with the same bytes: the ceiling of
// what any handler can do over the same client, loopback and HTTP stack.
func staticHandler(body []byte, contentType string) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request like the gateway does, so both keep the
		// connection reusable and pay for the same bytes in.
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})
}

func startStatic(body []byte, contentType string) (*plainServer, error) {
	return startPlain(staticHandler(body, contentType))
}

// bareHandler is the bare gqlgen server (bench/baregql) over the catalog
// seed at /graphql, with a /healthz that opens connections before a
// measurement as the gateway's does.
func bareHandler(catalogSeed []byte) (http.Handler, error) {
	gql, err := baregql.NewHandler(catalogSeed)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", gql)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return mux, nil
}
