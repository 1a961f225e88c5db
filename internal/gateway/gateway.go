// Package gateway assembles Meridian's HTTP handler from its parts: the
// middleware chain, the GraphQL executor with its limits and error
// classification, the playground and the health endpoints.
//
// server.go opens the stores and hands them in; tests build the very same
// handler around their own stores with httptest.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"meridian/graph"
	"meridian/internal/config"
	"meridian/internal/graphqlhttp"
	"meridian/internal/middleware"
	"meridian/internal/playground"
	"meridian/internal/querylimits"
	"meridian/resolvers"
)

// Pinger reports whether a backing store is reachable, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the stores and services the gateway serves from.
type Deps struct {
	Catalog resolvers.CatalogReader
	// Ready lists what /readyz checks, by name.
	Ready map[string]Pinger
}

// New returns the gateway's root handler.
func New(cfg config.Config, deps Deps, log *slog.Logger) (http.Handler, error) {
	if log == nil {
		return nil, errors.New("gateway: a logger is required")
	}
	res, err := resolvers.New(resolvers.Config{Catalog: deps.Catalog, MaxPageSize: cfg.Limits.MaxPageSize})
	if err != nil {
		return nil, err
	}
	exec, err := newExecutor(cfg, res, log)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/graphql", graphqlhttp.Handler(exec, graphqlhttp.Options{
		MaxBodyBytes:     cfg.Limits.MaxBodyBytes,
		ExecutionTimeout: cfg.Limits.ExecutionTimeout,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writePlain(w, http.StatusOK, "ok\n")
	})
	mux.Handle("GET /readyz", readiness(deps.Ready))
	if cfg.Env == config.Development {
		mux.Handle("/", playground.Handler())
	}

	var h http.Handler = mux
	h = middleware.Locale(h)
	h = middleware.Recover(log)(h)
	h = middleware.AccessLog(log)(h)
	h = middleware.RequestID(h)
	return h, nil
}

// newExecutor builds gqlgen's server with Meridian's transports, limits and
// error handling.
func newExecutor(cfg config.Config, res *resolvers.Resolver, log *slog.Logger) (*handler.Server, error) {
	gc := graph.Config{Resolvers: res}
	resolvers.SetComplexity(&gc.Complexity)
	srv := handler.New(graph.NewExecutableSchema(gc))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	// Parsed and validated documents are reused across requests: dashboards
	// and apps send the same few operations over and over.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(cfg.Limits.MaxTokens)
	if cfg.Env == config.Development {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(querylimits.Extension{MaxDepth: cfg.Limits.MaxDepth, MaxAliases: cfg.Limits.MaxAliases})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.MaxComplexity))
	srv.SetErrorPresenter(graphqlhttp.ErrorPresenter(log))
	srv.SetRecoverFunc(graphqlhttp.RecoverFunc(log))
	return srv, nil
}

// readiness answers 200 when every store answers a ping within two seconds,
// 503 naming the ones that do not.
func readiness(checks map[string]Pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var failed []string
		for name, p := range checks {
			if err := p.Ping(ctx); err != nil {
				failed = append(failed, name)
			}
		}
		if len(failed) > 0 {
			writePlain(w, http.StatusServiceUnavailable, "not ready: "+joinSorted(failed)+"\n")
			return
		}
		writePlain(w, http.StatusOK, "ready\n")
	})
}

func writePlain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func joinSorted(names []string) string {
	sort.Strings(names)
	return strings.Join(names, ", ")
}
