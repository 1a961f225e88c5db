// Command meridian is the GraphQL backend-for-frontend gateway of the China
// region: one endpoint over the in-country catalog mirror and the global
// systems of record.
//
// server.go is the one place that knows every piece: it reads the
// configuration, opens the stores, loads the seed on first start, builds the
// gateway handler and runs the HTTP server until SIGINT or SIGTERM, then
// drains in-flight requests and closes the stores.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/adapters/catalog"
	"meridian/adapters/cms"
	"meridian/adapters/consent"
	"meridian/adapters/content"
	"meridian/adapters/masterdata"
	"meridian/adapters/orders"
	"meridian/adapters/orderstore"
	"meridian/adapters/profile"
	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/cache"
	"meridian/internal/config"
	"meridian/internal/db"
	"meridian/internal/gateway"
	"meridian/internal/gctune"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/lease"
	"meridian/internal/loaders"
	"meridian/internal/metrics"
	"meridian/internal/originhttp"
	"meridian/internal/outbox"
	"meridian/internal/persisted"
	"meridian/internal/playground"
	"meridian/internal/respcache"
	"meridian/internal/session"
	"meridian/internal/syncjobs"
	"meridian/internal/webhook"
	"meridian/resolvers"
)

// seedCatalog is the catalog loaded into an empty mirror on first start,
// and the catalog the simulated global side serves in demo mode.
//
//go:embed testdata/catalog.json
var seedCatalog []byte

// seedContent is the CMS content the simulated global side serves in demo
// mode.
//
//go:embed testdata/content.json
var seedContent []byte

// seedIdentities are the demo users of the simulated identity provider:
// pseudonymous subjects and roles, no personal data.
//
//go:embed testdata/identities.json
var seedIdentities []byte

// seedProfiles are the demo users' in-country profiles, loaded in demo mode
// only.
//
//go:embed testdata/profiles.json
var seedProfiles []byte

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// Before anything allocates much: GOGC 400 and a memory limit under
	// the container's, unless GOGC / GOMEMLIMIT say otherwise.
	log.Info("garbage collector", gctune.Apply(gctune.OS).LogAttrs()...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("meridian stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	demo := cfg.DemoMode()
	if demo {
		stopSim, err := startDemoOrigins(&cfg, log)
		if err != nil {
			return fmt.Errorf("demo origins: %w", err)
		}
		defer stopSim()
	}
	if cfg.AuditPseudonymKey == "" {
		log.Warn("AUDIT_PSEUDONYM_KEY is not set: using the development key; never in production")
		cfg.AuditPseudonymKey = "meridian-development-audit-pseudonym-key"
	}
	log.Info("configuration", cfg.Redacted()...)

	database, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer database.Close()
	ready := map[string]gateway.Pinger{"database": database}
	copies, redisClient, closeCache, err := openCache(ctx, cfg, ready)
	if err != nil {
		return err
	}
	defer closeCache()
	m := metrics.New()
	responses, err := openResponseCache(cfg.ResponseCache, redisClient, m, log)
	if err != nil {
		return err
	}
	if responses != nil {
		defer responses.Close()
	}

	// The in-country mirror and personal data.
	catalogStore, err := catalog.NewSQLStore(ctx, database)
	if err != nil {
		return fmt.Errorf("catalog store: %w", err)
	}
	contentStore, err := content.NewSQLStore(ctx, database)
	if err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	personal, err := openPersonalData(ctx, cfg, database)
	if err != nil {
		return err
	}
	if demo {
		// Demo data only: a real deployment fills the mirror from the
		// global side and never invents people.
		if n, err := catalog.LoadSeed(ctx, catalogStore, seedCatalog, time.Now()); err != nil {
			return fmt.Errorf("load catalog seed: %w", err)
		} else if n > 0 {
			log.Info("catalog mirror seeded with demo data", "products", n)
		}
		if n, err := profile.LoadDemoProfiles(ctx, personal.Profiles, seedProfiles); err != nil {
			return fmt.Errorf("load demo profiles: %w", err)
		} else if n > 0 {
			log.Info("demo profiles loaded", "profiles", n)
		}
	}
	contentReader, err := content.NewCachedReader(contentStore, copies, time.Minute)
	if err != nil {
		return err
	}

	// The global side: guarded reads, per-request loaders, sync jobs.
	origins, err := newOriginClients(cfg)
	if err != nil {
		return err
	}
	masterdataGuard, err := guard.New(guard.Config{
		Origin:         "masterdata",
		Budget:         cfg.Origins.Budget,
		FailuresToTrip: uint32(cfg.Origins.BreakerFailures),
		OpenFor:        cfg.Origins.BreakerOpenFor,
		Copies:         copies,
		Metrics:        m,
		Log:            log,
	})
	if err != nil {
		return err
	}
	loaderFactory, err := loaders.NewFactory(loaders.Config{
		Masterdata: masterdataGuard,
		Inventory:  origins.masterdata,
		Mirror:     catalogStore,
		Policy:     guard.Policy{MaxAge: cfg.Origins.InventoryMaxAge, StaleWhileRevalidate: cfg.Origins.InventorySWR},
		Wait:       cfg.Origins.LoaderWait,
	})
	if err != nil {
		return err
	}
	runner, err := newSyncRunner(ctx, cfg, database, redisClient, catalogStore, contentStore, contentReader, responses, origins, m, log)
	if err != nil {
		return err
	}
	if err := runner.Start(ctx); err != nil {
		return fmt.Errorf("start sync jobs: %w", err)
	}
	defer runner.Stop()
	ready["catalog mirror"] = mirrorReady{catalogStore}

	// Identity.
	verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: cfg.OIDC.Issuer, Audience: cfg.OIDC.Audience, Logger: log})
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}
	hooks, err := webhookVerifier(cfg, redisClient)
	if err != nil {
		return err
	}

	// Orders: committed locally, delivered by the outbox dispatcher.
	orderStore, err := orderstore.NewSQLStore(ctx, database)
	if err != nil {
		return fmt.Errorf("order store: %w", err)
	}
	ordersGuard, err := guard.New(guard.Config{
		Origin:         "orders",
		Budget:         cfg.Origins.Budget,
		FailuresToTrip: uint32(cfg.Origins.BreakerFailures),
		OpenFor:        cfg.Origins.BreakerOpenFor,
		Copies:         copies,
		Metrics:        m,
		Log:            log,
	})
	if err != nil {
		return err
	}
	dispatcher, err := outbox.New(outbox.Config{
		Store:   orderStore,
		Origin:  origins.orders,
		Guard:   ordersGuard,
		Lease:   cfg.OutboxLease,
		Logger:  log.With("component", "outbox"),
		Metrics: m,
	})
	if err != nil {
		return err
	}
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		if err := dispatcher.Run(dispatchCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("order dispatcher stopped", "err", err)
		}
	}()
	defer func() { stopDispatch(); <-dispatched }()
	go purgeIdempotencyKeys(dispatchCtx, orderStore, log)
	sessions, err := newSessions(ctx, cfg, database, redisClient, verifier, log)
	if err != nil {
		return err
	}

	routes := map[string]http.Handler{
		"POST /hooks/changes":            changeWebhook(hooks, runner),
		"POST /hooks/orders":             webhook.Handler(hooks, 64<<10, dispatcher.HandleStatusEvent),
		"GET /admin/orders/dead-letters": adminOnly(cfg, deadLetters(orderStore)),
		"GET /admin/sync":                adminOnly(cfg, syncStatus(runner)),
		"GET /auth/login":                http.HandlerFunc(sessions.Login),
		"GET " + sessions.CallbackPath(): http.HandlerFunc(sessions.Callback),
		"/auth/logout":                   http.HandlerFunc(sessions.Logout),
	}
	if demo {
		routes["GET /auth/dev-token"] = devToken(cfg.OIDC.Issuer)
	}
	// Persisted queries: the manifests are reread when they change, so a
	// dashboard release's operations go live without a restart.
	manifests, err := persisted.NewRegistry(log, cfg.Persisted.Manifests...)
	if err != nil {
		return err
	}
	go func() { _ = manifests.Watch(ctx, cfg.Persisted.WatchInterval) }()
	apq, err := openAPQStore(redisClient)
	if err != nil {
		return err
	}
	if cfg.Persisted.Only {
		log.Info("persisted-only: operations outside the manifests are refused", "operations", manifests.Manifest().Len())
	}

	h, err := gateway.New(cfg, gateway.Deps{
		Catalog:       catalogStore,
		Content:       contentReader,
		Personal:      personal,
		Orders:        resolvers.Orders{Store: orderStore, Inventory: catalogStore, Dashboard: orderStore, Placed: dispatcher.Notify},
		Verifier:      verifier,
		Sessions:      sessions,
		Loaders:       loaderFactory,
		Metrics:       m,
		Ready:         ready,
		Routes:        routes,
		Persisted:     manifests,
		APQ:           apq,
		ResponseCache: responses,
	}, log)
	if err != nil {
		return err
	}
	if cfg.Env == config.Development && !playground.Built() {
		log.Warn("playground assets are not built: run `make playground` (or `make run`) for the playground at /")
	}
	return serve(ctx, cfg, h, log, masterdataGuard.WaitForRefreshes)
}

// serve runs the HTTP server until ctx ends, then drains in-flight
// requests within the shutdown grace period.
func serve(ctx context.Context, cfg config.Config, h http.Handler, log *slog.Logger, drain func()) error {
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.Limits.ExecutionTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("meridian listening", "addr", ln.Addr().String(), "graphql", "/graphql", "playground", cfg.Env == config.Development)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down: draining in-flight requests", "grace", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	drain()
	log.Info("stopped cleanly")
	return nil
}

// originClients are the typed clients of the global origins.
type originClients struct {
	masterdata *masterdata.Client
	orders     *orders.Client
	cms        *cms.Client
}

func newOriginClients(cfg config.Config) (originClients, error) {
	md, err := originhttp.New(originhttp.Config{Origin: "masterdata", BaseURL: cfg.GlobalMasterdataURL})
	if err != nil {
		return originClients{}, fmt.Errorf("masterdata client: %w", err)
	}
	om, err := originhttp.New(originhttp.Config{Origin: "orders", BaseURL: cfg.GlobalOrdersURL})
	if err != nil {
		return originClients{}, fmt.Errorf("orders client: %w", err)
	}
	cm, err := originhttp.New(originhttp.Config{Origin: "cms", BaseURL: cfg.GlobalCMSURL})
	if err != nil {
		return originClients{}, fmt.Errorf("cms client: %w", err)
	}
	return originClients{masterdata: masterdata.New(md), orders: orders.New(om), cms: cms.New(cm)}, nil
}

// openPersonalData opens the in-country stores of personal data.
func openPersonalData(ctx context.Context, cfg config.Config, database *db.DB) (resolvers.PersonalData, error) {
	profiles, err := profile.NewSQLStore(ctx, database)
	if err != nil {
		return resolvers.PersonalData{}, fmt.Errorf("profile store: %w", err)
	}
	consents, err := consent.NewSQLStore(ctx, database)
	if err != nil {
		return resolvers.PersonalData{}, fmt.Errorf("consent store: %w", err)
	}
	trail, err := audit.NewSQLStore(ctx, database, audit.Config{PseudonymKey: []byte(cfg.AuditPseudonymKey)})
	if err != nil {
		return resolvers.PersonalData{}, fmt.Errorf("audit store: %w", err)
	}
	return resolvers.PersonalData{Profiles: profiles, Consents: consents, Audit: trail, PolicyVersion: cfg.PolicyVersion}, nil
}

// newSyncRunner builds the sync jobs over the mirror, exclusive across
// replicas through the database's advisory locks (PostgreSQL), Redis when
// configured, or an in-process lock (SQLite: one process owns the file).
func newSyncRunner(ctx context.Context, cfg config.Config, database *db.DB, redisClient redis.UniversalClient,
	catalogStore *catalog.SQLStore, contentStore *content.SQLStore, contentReader *content.CachedReader,
	responses *respcache.Cache, origins originClients, m *metrics.Metrics, log *slog.Logger) (*syncjobs.Runner, error) {
	state, err := syncjobs.NewSQLStateStore(ctx, database)
	if err != nil {
		return nil, err
	}
	var l lease.Lease
	switch {
	case database.Dialect() == db.Postgres:
		l, err = lease.NewPostgres(database)
	case redisClient != nil:
		l, err = lease.NewRedis(redisClient, "meridian:lease:", time.Minute)
	default:
		l = lease.NewLocal()
	}
	if err != nil {
		return nil, err
	}
	mdJob, err := syncjobs.NewMasterdataJob(origins.masterdata, catalogStore)
	if err != nil {
		return nil, err
	}
	cmsJob, err := syncjobs.NewCMSJob(origins.cms, contentStore)
	if err != nil {
		return nil, err
	}
	return syncjobs.NewRunner(syncjobs.Config{
		State:    state,
		Lease:    syncjobs.FromLease(l, ""),
		Interval: cfg.SyncInterval,
		Logger:   log.With("component", "sync"),
		Metrics:  m,
		OnChange: func(ctx context.Context, c syncjobs.Change) {
			// Cached responses carry tags of the entities in them
			// ("product:<id>", "content:<slug>"): a change at global is
			// never served from the cache beyond its sync.
			tags := make([]string, len(c.IDs))
			for i, id := range c.IDs {
				tags[i] = string(c.Kind) + ":" + id
			}
			if responses != nil {
				if err := responses.Purge(ctx, tags...); err != nil {
					log.Warn("response cache purge failed; entries expire with their max-age", "kind", c.Kind, "err", err)
				}
			}
			if c.Kind == syncjobs.ChangeContent {
				if err := contentReader.Purge(ctx, c.IDs); err != nil {
					log.Warn("content cache purge failed", "err", err)
				}
			}
		},
	}, mdJob, cmsJob)
}

// newSessions sets up web sign-in: the gateway holds the IdP's tokens
// (encrypted, in Redis when configured, else the database) and browsers an
// opaque cookie.
func newSessions(ctx context.Context, cfg config.Config, database *db.DB, redisClient redis.UniversalClient,
	verifier *auth.Verifier, log *slog.Logger) (*session.Manager, error) {
	var keys [][]byte
	if cfg.OIDC.SessionKeys != "" {
		k, err := session.ParseKeys(cfg.OIDC.SessionKeys)
		if err != nil {
			return nil, fmt.Errorf("SESSION_KEYS: %w", err)
		}
		keys = k
	} else {
		key := make([]byte, session.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		keys = [][]byte{key}
		log.Warn("SESSION_KEYS is not set: web sessions use a random key and end when the process stops")
	}
	var store session.Store
	var err error
	if redisClient != nil {
		store, err = session.NewRedisStore(redisClient, "meridian:session:")
	} else {
		store, err = session.NewSQLStore(ctx, database)
	}
	if err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	public := cfg.OIDC.PublicURL
	if public == "" {
		_, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("ADDR %q: %w", cfg.Addr, err)
		}
		public = "http://localhost:" + port
	}
	return session.New(ctx, session.Config{
		Issuer:         cfg.OIDC.Issuer,
		ClientID:       cfg.OIDC.ClientID,
		ClientSecret:   cfg.OIDC.ClientSecret,
		RedirectURL:    strings.TrimSuffix(public, "/") + "/auth/callback",
		Store:          store,
		EncryptionKeys: keys,
		Verifier:       verifier,
		Logger:         log.With("component", "session"),
	})
}

// webhookVerifier checks the global side's signed webhooks (changes and
// order statuses), with replay protection shared by replicas through Redis
// when configured.
func webhookVerifier(cfg config.Config, redisClient redis.UniversalClient) (*webhook.Verifier, error) {
	var replays webhook.ReplayStore
	var err error
	if redisClient != nil {
		replays, err = webhook.NewRedisReplays(redisClient, "meridian:webhook:")
	} else {
		replays, err = webhook.NewMemoryReplays(10_000)
	}
	if err != nil {
		return nil, err
	}
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Secrets: [][]byte{[]byte(cfg.WebhookSecret)}, Replays: replays})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return v, nil
}

// changeWebhook triggers an immediate incremental sync of the origin whose
// data changed.
func changeWebhook(v *webhook.Verifier, runner *syncjobs.Runner) http.Handler {
	return webhook.Handler(v, 64<<10, func(ctx context.Context, body []byte) error {
		var n struct {
			Origin string `json:"origin"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			return fmt.Errorf("%w: not a change notification", webhook.ErrBadPayload)
		}
		job := map[string]string{"masterdata": "masterdata", "cms": "cms"}[n.Origin]
		if job == "" {
			return fmt.Errorf("%w: unknown origin %q", webhook.ErrBadPayload, n.Origin)
		}
		runner.Trigger(job)
		return nil
	})
}

// deadLetters shows operators the orders the global side refused.
func deadLetters(store *orderstore.SQLStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, err := store.DeadLetters(r.Context(), 100)
		if err != nil {
			http.Error(w, `{"error":{"code":"INTERNAL","message":"internal error"}}`, http.StatusInternalServerError)
			return
		}
		type deadLetter struct {
			OrderID   string    `json:"orderId"`
			Reason    string    `json:"reason"`
			Attempts  int       `json:"attempts"`
			LastError string    `json:"lastError,omitempty"`
			At        time.Time `json:"at"`
		}
		out := make([]deadLetter, len(entries))
		for i, e := range entries {
			out[i] = deadLetter{OrderID: e.OrderID, Reason: e.DeadReason, Attempts: e.Attempts, LastError: e.LastError, At: e.FinishedAt}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"deadLetters": out})
	})
}

// purgeIdempotencyKeys drops keys of finished orders older than two days,
// hourly; idempotent, so every replica may run it.
func purgeIdempotencyKeys(ctx context.Context, store *orderstore.SQLStore, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := store.PurgeIdempotencyKeys(ctx, time.Now().Add(-2*orderstore.MinIdempotencyRetention)); err != nil {
				log.Warn("idempotency key purge failed", "err", err)
			}
		}
	}
}

// devToken hands out a demo user's access token from the simulated IdP
// (demo mode only), so the playground can sign in as cust-0001 or
// cons-0001 without a browser flow: GET /auth/dev-token?sub=cust-0001.
func devToken(issuer string) http.Handler {
	client := &http.Client{Timeout: 5 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			sub = "cust-0001"
		}
		resp, err := client.Get(issuer + "/dev/token?sub=" + url.QueryEscape(sub))
		if err != nil {
			http.Error(w, `{"error":{"code":"ORIGIN_UNAVAILABLE","message":"demo identity provider unreachable"}}`, http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<10))
	})
}

// syncStatus serves the operator view of the sync jobs.
func syncStatus(runner *syncjobs.Runner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"jobs": runner.Status()})
	})
}

// adminOnly guards operator endpoints: with ADMIN_TOKEN set, the request
// must carry it in X-Admin-Token (compared in constant time); without it
// (development only, as production refuses to start so), only loopback
// clients are served.
func adminOnly(cfg config.Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.AdminToken != "" {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Token")), []byte(cfg.AdminToken)) != 1 {
				http.Error(w, `{"error":{"code":"UNAUTHENTICATED","message":"X-Admin-Token required"}}`, http.StatusUnauthorized)
				return
			}
		} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !net.ParseIP(host).IsLoopback() {
			http.Error(w, `{"error":{"code":"FORBIDDEN","message":"set ADMIN_TOKEN to use /admin from other hosts"}}`, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mirrorReady reports ready once the catalog mirror holds products: a
// replica with an empty mirror (first sync not done) would answer empty
// pages, so it takes no traffic until then.
type mirrorReady struct{ store *catalog.SQLStore }

func (m mirrorReady) Ping(ctx context.Context) error {
	n, err := m.store.CountProducts(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("catalog mirror is empty: first sync not done")
	}
	return nil
}

// startDemoOrigins runs the simulated global side in-process on a loopback
// port, with realistic cross-border latency, and points cfg's origin URLs at
// it. The returned function stops it.
func startDemoOrigins(cfg *config.Config, log *slog.Logger) (stop func(), err error) {
	log.Warn("DEMO MODE: no GLOBAL_*_URL is set, so the global side is simulated in-process. " +
		"Nothing here talks to real systems of record; set GLOBAL_MASTERDATA_URL, GLOBAL_ORDERS_URL " +
		"and GLOBAL_CMS_URL for a real deployment.")
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = randomSecret()
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ADDR %q: %w", cfg.Addr, err)
	}
	sim, err := globalsim.New(globalsim.Config{
		Catalog:    seedCatalog,
		Content:    seedContent,
		Identities: seedIdentities,
		Latency:    cfg.Origins.DemoLatency,
		Jitter:     cfg.Origins.DemoJitter,
		Logger:     log.With("component", "globalsim"),
		Webhook: globalsim.WebhookConfig{
			URL:    "http://127.0.0.1:" + port + "/hooks/changes",
			Secret: []byte(cfg.WebhookSecret),
		},
		OrderWebhook: globalsim.WebhookConfig{
			URL:    "http://127.0.0.1:" + port + "/hooks/orders",
			Secret: []byte(cfg.WebhookSecret),
		},
	})
	if err != nil {
		return nil, err
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, err
	}
	base := srv.URL()
	cfg.GlobalMasterdataURL = srv.OriginURL(globalsim.OriginMasterdata)
	cfg.GlobalOrdersURL = srv.OriginURL(globalsim.OriginOrders)
	cfg.GlobalCMSURL = srv.OriginURL(globalsim.OriginCMS)
	if cfg.OIDC.Issuer == "" {
		cfg.OIDC.Issuer = base + globalsim.IdPPath
	}
	log.Warn("DEMO MODE: simulated global origins and identity provider", "url", base,
		"issuer", cfg.OIDC.Issuer, "dev_token", cfg.OIDC.Issuer+"/dev/token?sub=cust-0001",
		"latency", cfg.Origins.DemoLatency.String(), "jitter", cfg.Origins.DemoJitter.String(),
		"faults", base+"/admin/faults")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sim.Close()
		_ = srv.Shutdown(ctx)
	}, nil
}

// openCache returns the store for last-known-good copies: the bounded
// in-process cache alone, or in front of Redis when REDIS_URL is set (then
// Redis joins the readiness checks).
func openCache(ctx context.Context, cfg config.Config, ready map[string]gateway.Pinger) (cache.Store, redis.UniversalClient, func(), error) {
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes})
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.RedisURL == "" {
		return mem, nil, func() {}, nil
	}
	client, err := cache.OpenRedis(ctx, cfg.RedisURL)
	if err != nil {
		return nil, nil, nil, err
	}
	shared, err := cache.NewRedis(cache.RedisConfig{Client: client, Prefix: "meridian:"})
	if err != nil {
		client.Close()
		return nil, nil, nil, err
	}
	ready["redis"] = redisPinger{client}
	// Copies written by this replica are read back from memory; copies from
	// other replicas reach it within the front TTL.
	return cache.NewTiered(mem, shared, 5*time.Second), client, func() { client.Close() }, nil
}

// openAPQStore returns the store of automatically persisted queries: an
// in-process cache of its own, so clients registering queries can never
// evict the last-known-good copies that keep pages up when an origin is
// down, in front of Redis when REDIS_URL is set (so every replica knows a
// query one of them registered).
func openAPQStore(client redis.UniversalClient) (cache.Store, error) {
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: 10_000, MaxBytes: 32 << 20})
	if err != nil {
		return nil, err
	}
	if client == nil {
		return mem, nil
	}
	shared, err := cache.NewRedis(cache.RedisConfig{Client: client, Prefix: "meridian:"})
	if err != nil {
		return nil, err
	}
	return cache.NewTiered(mem, shared, 5*time.Second), nil
}

// openResponseCache builds the whole-response cache: in-process, with
// Redis as the shared tier and the purge channel when configured. It
// returns nil when RESPONSE_CACHE turns the cache off.
func openResponseCache(rc config.ResponseCache, redisClient redis.UniversalClient, m *metrics.Metrics, log *slog.Logger) (*respcache.Cache, error) {
	if !rc.Enabled {
		log.Info("response cache off (RESPONSE_CACHE=false): every request executes")
		return nil, nil
	}
	cfg := respcache.Config{
		MaxEntries:           rc.MaxEntries,
		MaxBytes:             rc.MaxBytes,
		StaleWhileRevalidate: rc.StaleWhileRevalidate,
		DegradedTTL:          rc.DegradedTTL,
		Logger:               log.With("component", "respcache"),
		Metrics:              m,
	}
	if redisClient != nil {
		shared, err := cache.NewRedis(cache.RedisConfig{Client: redisClient, Prefix: "meridian:resp:"})
		if err != nil {
			return nil, err
		}
		cfg.Shared, cfg.Redis = shared, redisClient
	}
	return respcache.New(cfg)
}

// randomSecret makes a webhook secret for demo mode, where the gateway and
// its in-process simulator are the only parties.
func randomSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// redisPinger adapts a Redis client to the readiness check.
type redisPinger struct{ client redis.UniversalClient }

func (p redisPinger) Ping(ctx context.Context) error { return p.client.Ping(ctx).Err() }
