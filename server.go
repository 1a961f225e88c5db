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

	"meridian/adapters/catalog"
	"meridian/internal/config"
	"meridian/internal/db"
	"meridian/internal/gateway"
	"meridian/internal/playground"
)

// seedCatalog is the catalog loaded into an empty mirror on first start.
//
//go:embed testdata/catalog.json
var seedCatalog []byte

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
		log.Warn("DEMO MODE: no GLOBAL_*_URL is set, so the global side is simulated in-process. " +
			"Nothing here talks to real systems of record; set GLOBAL_MASTERDATA_URL, GLOBAL_ORDERS_URL " +
			"and GLOBAL_CMS_URL for a real deployment.")
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

	h, err := gateway.New(cfg, gateway.Deps{
		Catalog: store,
		Ready:   map[string]gateway.Pinger{"database": database},
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
	log.Info("stopped cleanly")
	return nil
}
