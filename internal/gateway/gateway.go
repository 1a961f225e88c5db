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
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"meridian/graph"
	"meridian/internal/apierr"
	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/cache"
	"meridian/internal/cachecontrol"
	"meridian/internal/config"
	"meridian/internal/degraded"
	"meridian/internal/graphqlhttp"
	"meridian/internal/loaders"
	"meridian/internal/metrics"
	"meridian/internal/middleware"
	"meridian/internal/persisted"
	"meridian/internal/playground"
	"meridian/internal/querylimits"
	"meridian/internal/respcache"
	"meridian/resolvers"
)

// Pinger reports whether a backing store is reachable, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the stores and services the gateway serves from.
type Deps struct {
	Catalog resolvers.CatalogReader
	// Content serves marketing pages from the CMS mirror.
	Content resolvers.ContentReader
	// Personal holds profiles, consent and the audit trail.
	Personal resolvers.PersonalData
	// Orders places orders and reads the order projection.
	Orders resolvers.Orders
	// Verifier checks bearer tokens; Sessions, when set, signs web users
	// in by cookie (and then CSRF protection applies to them).
	Verifier *auth.Verifier
	Sessions SessionGuard
	// Routes are further handlers by ServeMux pattern, such as
	// "POST /hooks/changes" or "/auth/", wired by server.go.
	Routes map[string]http.Handler
	// Loaders makes each request's dataloaders over the global origins.
	Loaders *loaders.Factory
	// Metrics receives GraphQL metrics and is served at /metrics.
	Metrics *metrics.Metrics
	// Ready lists what /readyz checks, by name.
	Ready map[string]Pinger
	// Persisted holds the persisted-query manifests (it may hold none) and
	// APQ stores automatically persisted queries (required with Persisted
	// unless persisted-only). Without Persisted the gateway serves no
	// persisted queries and caches no GET publicly.
	Persisted *persisted.Registry
	APQ       cache.Store
	// ResponseCache, when set, answers repeated public queries from stored
	// responses without executing them. server.go builds and closes it.
	ResponseCache *respcache.Cache
}

// SessionGuard is what web sessions add to the request path: turning a
// cookie into a principal, and refusing cross-site requests that carry it.
type SessionGuard interface {
	auth.SessionResolver
	CSRFGuard(next http.Handler) http.Handler
}

// New returns the gateway's root handler.
func New(cfg config.Config, deps Deps, log *slog.Logger) (http.Handler, error) {
	if log == nil || deps.Loaders == nil || deps.Metrics == nil || deps.Verifier == nil {
		return nil, errors.New("gateway: a logger, loaders, metrics and a token verifier are required")
	}
	if deps.Persisted == nil && cfg.Persisted.Only {
		return nil, errors.New("gateway: persisted-only mode needs the persisted-query registry")
	}
	res, err := resolvers.New(resolvers.Config{
		Catalog: deps.Catalog, Content: deps.Content, Personal: deps.Personal, Orders: deps.Orders,
		MaxPageSize: cfg.Limits.MaxPageSize,
	})
	if err != nil {
		return nil, err
	}
	exec, err := newExecutor(cfg, res, deps, log)
	if err != nil {
		return nil, err
	}

	edgeOpts := graphqlhttp.Options{
		MaxBodyBytes:     cfg.Limits.MaxBodyBytes,
		ExecutionTimeout: cfg.Limits.ExecutionTimeout,
	}
	if deps.Persisted != nil {
		edgeOpts.PersistedGET = graphqlhttp.PersistedGET{
			Lookup:               deps.Persisted.Lookup,
			MaxAge:               cfg.Persisted.GETMaxAge,
			StaleWhileRevalidate: cfg.Persisted.GETStaleWhileRevalidate,
		}
	}
	edge, err := graphqlhttp.NewHandler(exec, edgeOpts)
	if err != nil {
		return nil, err
	}
	// The response cache sits after identity and locale (a hit needs the
	// locale for its key and must know whether credentials came) and
	// before the loaders and the degraded report, which only executions
	// need.
	var graphqlHandler http.Handler = degradedReport(deps.Loaders.Middleware(edge))
	if deps.ResponseCache != nil {
		graphqlHandler = deps.ResponseCache.Middleware(graphqlHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", graphqlHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writePlain(w, http.StatusOK, "ok\n")
	})
	mux.Handle("GET /readyz", readiness(deps.Ready))
	mux.Handle("GET /metrics", deps.Metrics.Handler())
	if cfg.Env == config.Development {
		mux.Handle("/", playground.Handler())
	}
	for pattern, route := range deps.Routes {
		mux.Handle(pattern, route)
	}

	var h http.Handler = mux
	h = middleware.Locale(h)
	h = preferredLocale(deps.Personal, h)
	h = auditRecorder(h)
	var authOpts []auth.MiddlewareOption
	if deps.Sessions != nil {
		authOpts = append(authOpts, auth.WithSessionResolver(deps.Sessions))
	}
	h = auth.Middleware(deps.Verifier, h, authOpts...)
	if deps.Sessions != nil {
		h = deps.Sessions.CSRFGuard(h)
	}
	h = middleware.Recover(log)(h)
	h = middleware.AccessLog(log)(h)
	h = middleware.RequestID(h)
	return h, nil
}

// newExecutor builds gqlgen's server with Meridian's transports, limits and
// error handling.
func newExecutor(cfg config.Config, res *resolvers.Resolver, deps Deps, log *slog.Logger) (*handler.Server, error) {
	gc := graph.Config{Resolvers: res}
	gc.Directives.Pii = resolvers.PIIDirective
	resolvers.SetComplexity(&gc.Complexity)
	es := graph.NewExecutableSchema(gc)
	srv := handler.New(es)
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
	if deps.Persisted != nil {
		// After the limits: an APQ registration is stored only once they
		// passed.
		pq, err := persisted.NewExtension(persisted.Options{
			Manifest:      deps.Persisted,
			PersistedOnly: cfg.Persisted.Only,
			APQ:           deps.APQ,
			APQTTL:        cfg.Persisted.APQTTL,
			Log:           log,
		})
		if err != nil {
			return nil, err
		}
		srv.Use(pq)
	}
	srv.SetErrorPresenter(graphqlhttp.ErrorPresenter(log))
	srv.SetRecoverFunc(graphqlhttp.RecoverFunc(log))
	srv.AroundResponses(reportDegraded)
	srv.AroundResponses(writeAudit(deps.Personal.Audit, log))
	srv.AroundResponses(observe(deps.Metrics))
	if deps.ResponseCache != nil {
		policies, err := cachecontrol.NewAnalyzer(es.Schema(), 1000)
		if err != nil {
			return nil, err
		}
		srv.AroundResponses(respcache.Observe(policies))
	}
	return srv, nil
}

// auditRecorder gives every signed-in request a recorder for the personal
// data it reads.
func auditRecorder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p == nil {
			next.ServeHTTP(w, r)
			return
		}
		role := "customer"
		if p.HasRole("consultant") {
			role = "consultant"
		}
		ctx, _ := audit.WithRecorder(r.Context(), p.Subject, role, middleware.RequestIDFrom(r.Context()))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// writeAudit appends the reads of personal data a response contains before
// the response leaves. If the trail cannot be written the response is
// withheld: personal data is never served unaudited.
func writeAudit(store audit.Store, log *slog.Logger) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		entries := audit.RecorderFrom(ctx).Entries()
		if resp == nil || len(entries) == 0 {
			return resp
		}
		if err := store.Append(context.WithoutCancel(ctx), entries); err != nil {
			id := middleware.RequestIDFrom(ctx)
			log.ErrorContext(ctx, "audit trail write failed; response withheld", "request_id", id, "err", err)
			return &graphql.Response{Errors: gqlerror.List{{
				Message:    "internal error",
				Extensions: map[string]any{"code": apierr.Internal.Code(), "requestId": id},
			}}}
		}
		return resp
	}
}

// preferredLocale makes a signed-in person's profile locale the request's
// locale, ahead of Accept-Language: they chose it, the header is often just
// the device's default. An explicit locale argument still wins.
func preferredLocale(personal resolvers.PersonalData, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p == nil || personal.Profiles == nil {
			next.ServeHTTP(w, r)
			return
		}
		if prof, found, err := personal.Profiles.Get(r.Context(), p.Subject); err == nil && found && prof.Locale != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Accept-Language", prof.Locale+", "+r.Header.Get("Accept-Language"))
		}
		next.ServeHTTP(w, r)
	})
}

// degradedReport gives every request an empty report of degraded fields.
func degradedReport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := degraded.WithReport(r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// reportDegraded lists the fields served from fallback copies in the
// response's extensions.degraded.
func reportDegraded(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	if fields := degraded.FromContext(ctx).Fields(); fields != nil {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["degraded"] = fields
	}
	return resp
}

// wellFormedName accepts GraphQL operation names fit for a metric label.
var wellFormedName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// maxOperationLabels bounds the distinct operation names in metrics:
// names are chosen by clients, and each new one is a new time series.
const maxOperationLabels = 200

// operationLabels turns client-chosen operation names into a bounded set of
// metric labels: the first maxOperationLabels well-formed names, then
// "other".
type operationLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *operationLabels) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !wellFormedName.MatchString(name) {
		return "other"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[name] {
		return name
	}
	if len(o.seen) >= maxOperationLabels {
		return "other"
	}
	o.seen[name] = true
	return name
}

// observe records each operation's latency by name and outcome.
func observe(m *metrics.Metrics) graphql.ResponseMiddleware {
	labels := &operationLabels{seen: map[string]bool{}}
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		start := time.Now()
		resp := next(ctx)
		name := "anonymous"
		// The selected operation's own name: clients often send a named
		// document without repeating the name in operationName.
		if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
			name = labels.label(oc.Operation.Name)
		}
		outcome := "ok"
		if resp != nil && len(resp.Errors) > 0 {
			outcome = "error"
		}
		m.GraphQLRequestDuration.WithLabelValues(name, outcome).Observe(time.Since(start).Seconds())
		return resp
	}
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
