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
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/adapters/catalog"
	"meridian/adapters/masterdata"
	"meridian/internal/cache"
	"meridian/internal/config"
	"meridian/internal/db"
	"meridian/internal/gateway"
	"meridian/internal/globalsim"
	"meridian/internal/guard"
	"meridian/internal/loaders"
	"meridian/internal/metrics"
	"meridian/internal/originhttp"
	"meridian/internal/playground"
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

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
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
	log.Info("configuration", cfg.Redacted()...)
	if cfg.DemoMode() {
		stopSim, err := startDemoOrigins(&cfg, log)
		if err != nil {
			return fmt.Errorf("demo origins: %w", err)
		}
		defer stopSim()
	}

	database, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer database.Close()
	store, err := catalog.NewSQLStore(ctx, database)
	if err != nil {
		return fmt.Errorf("catalog store: %w", err)
	}
	loaded, err := catalog.LoadSeed(ctx, store, seedCatalog, time.Now())
	if err != nil {
		return fmt.Errorf("load catalog seed: %w", err)
	}
	if loaded > 0 {
		log.Info("catalog mirror seeded", "products", loaded)
	}

	ready := map[string]gateway.Pinger{"database": database}
	copies, closeCache, err := openCache(ctx, cfg, ready)
	if err != nil {
		return err
	}
	defer closeCache()

	m := metrics.New()
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
	mdHTTP, err := originhttp.New(originhttp.Config{Origin: "masterdata", BaseURL: cfg.GlobalMasterdataURL})
	if err != nil {
		return fmt.Errorf("masterdata client: %w", err)
	}
	loaderFactory, err := loaders.NewFactory(loaders.Config{
		Masterdata: masterdataGuard,
		Inventory:  masterdata.New(mdHTTP),
		Policy:     guard.Policy{MaxAge: cfg.Origins.InventoryMaxAge, StaleWhileRevalidate: cfg.Origins.InventorySWR},
		Wait:       cfg.Origins.LoaderWait,
	})
	if err != nil {
		return err
	}

	h, err := gateway.New(cfg, gateway.Deps{
		Catalog: store,
		Loaders: loaderFactory,
		Metrics: m,
		Ready:   ready,
	}, log)
	if err != nil {
		return err
	}
	if cfg.Env == config.Development && !playground.Built() {
		log.Warn("playground assets are not built: run `make playground` (or `make run`) for the playground at /")
	}

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
	masterdataGuard.WaitForRefreshes()
	log.Info("stopped cleanly")
	return nil
}

// startDemoOrigins runs the simulated global side in-process on a loopback
// port, with realistic cross-border latency, and points cfg's origin URLs at
// it. The returned function stops it.
func startDemoOrigins(cfg *config.Config, log *slog.Logger) (stop func(), err error) {
	log.Warn("DEMO MODE: no GLOBAL_*_URL is set, so the global side is simulated in-process. " +
		"Nothing here talks to real systems of record; set GLOBAL_MASTERDATA_URL, GLOBAL_ORDERS_URL " +
		"and GLOBAL_CMS_URL for a real deployment.")
	sim, err := globalsim.New(globalsim.Config{
		Catalog: seedCatalog,
		Content: seedContent,
		Latency: cfg.Origins.DemoLatency,
		Jitter:  cfg.Origins.DemoJitter,
		Logger:  log.With("component", "globalsim"),
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
	log.Warn("DEMO MODE: simulated global origins", "url", base,
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
func openCache(ctx context.Context, cfg config.Config, ready map[string]gateway.Pinger) (cache.Store, func(), error) {
	mem, err := cache.NewMemory(cache.MemoryConfig{MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes})
	if err != nil {
		return nil, nil, err
	}
	if cfg.RedisURL == "" {
		return mem, func() {}, nil
	}
	client, err := cache.OpenRedis(ctx, cfg.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	shared, err := cache.NewRedis(cache.RedisConfig{Client: client, Prefix: "meridian:"})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	ready["redis"] = redisPinger{client}
	// Copies written by this replica are read back from memory; copies from
	// other replicas reach it within the front TTL.
	return cache.NewTiered(mem, shared, 5*time.Second), func() { client.Close() }, nil
}

// redisPinger adapts a Redis client to the readiness check.
type redisPinger struct{ client redis.UniversalClient }

func (p redisPinger) Ping(ctx context.Context) error { return p.client.Ping(ctx).Err() }
