// Package config is Meridian's one configuration tree: every setting, its
// environment variable, its default, and the checks that refuse nonsense at
// start-up rather than under load.
//
// Configuration comes from the environment only (twelve-factor); FromEnv reads
// it, Validate checks it, and Redacted renders it for the start-up log with
// secrets hidden.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Environment names the deployment mode.
type Environment string

const (
	// Development enables the playground, introspection and field suggestions,
	// and runs the simulated global side when no origin URLs are configured.
	Development Environment = "development"
	// Production turns off the playground, introspection and suggestions, and
	// refuses to start without real global origin URLs.
	Production Environment = "production"
)

// Limits bounds what one GraphQL request may cost.
type Limits struct {
	MaxDepth         int           // deepest selection nesting
	MaxComplexity    int           // gqlgen complexity score (lists count by their page size)
	MaxAliases       int           // aliased fields in one document
	MaxTokens        int           // lexer tokens in one document
	MaxBodyBytes     int64         // request body size
	ExecutionTimeout time.Duration // wall time for one request's execution
	MaxPageSize      int           // largest `first` on connections and ids lists
}

// Config is the whole of Meridian's configuration.
type Config struct {
	Addr        string      // ADDR: listen address
	Env         Environment // ENV: development or production
	DatabaseURL string      // DATABASE_URL: postgres://… or sqlite:PATH
	RedisURL    string      // REDIS_URL: optional shared cache

	GlobalMasterdataURL string // GLOBAL_MASTERDATA_URL
	GlobalOrdersURL     string // GLOBAL_ORDERS_URL
	GlobalCMSURL        string // GLOBAL_CMS_URL

	OIDC OIDC

	// WebhookSecret verifies signed webhooks from the global side
	// (WEBHOOK_SECRET, at least 16 bytes; demo mode makes a random one).
	WebhookSecret string
	// AdminToken guards /admin/* (ADMIN_TOKEN, sent as X-Admin-Token).
	// Empty: /admin/* answers only in development, from loopback.
	AdminToken string
	// AuditPseudonymKey keys the pseudonyms that replace erased people in
	// the audit trail (AUDIT_PSEUDONYM_KEY, at least 32 bytes; the same on
	// every replica and across releases). Development uses a fixed,
	// logged-as-insecure key when unset; production requires it.
	AuditPseudonymKey string
	// SyncInterval is the time between sync runs per job (SYNC_INTERVAL).
	SyncInterval time.Duration
	// PolicyVersion is the privacy policy consents are given under
	// (PRIVACY_POLICY_VERSION).
	PolicyVersion string
	// OutboxLease is how long a replica holds an order it is sending
	// (OUTBOX_LEASE): after a crash, another replica sends it again once
	// this passes (the origin's idempotency makes that safe). It must be
	// well above the orders write budget (2s).
	OutboxLease time.Duration

	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: grace period for in-flight requests
	Limits          Limits
	Origins         Origins
	Cache           Cache
	ResponseCache   ResponseCache
	Persisted       Persisted
}

// Persisted configures persisted queries: trusted documents from manifests,
// Automatic Persisted Queries, and public caching of persisted GETs.
type Persisted struct {
	// Manifests are the manifest files (PERSISTED_QUERIES, comma-separated);
	// none means no trusted documents.
	Manifests []string
	// Only refuses every operation not in the manifests (PERSISTED_ONLY).
	Only bool
	// APQTTL is how long an automatically persisted query lives unused (APQ_TTL).
	APQTTL time.Duration
	// WatchInterval is how often the manifest files are checked for
	// changes (PERSISTED_QUERIES_WATCH_INTERVAL).
	WatchInterval time.Duration
	// GETMaxAge and GETStaleWhileRevalidate are the Cache-Control of an
	// anonymous GET of a persisted query (PERSISTED_GET_MAX_AGE,
	// PERSISTED_GET_STALE_WHILE_REVALIDATE).
	GETMaxAge               time.Duration
	GETStaleWhileRevalidate time.Duration
}

// OIDC configures identity: the global IdP that signs tokens, and this
// gateway's client registration for web sign-in.
type OIDC struct {
	Issuer       string // OIDC_ISSUER: the IdP's issuer URL (demo mode: the simulator's)
	ClientID     string // OIDC_CLIENT_ID: web sign-in client (default meridian-demo)
	ClientSecret string // OIDC_CLIENT_SECRET: secret of the web client (optional for a public client)
	Audience     string // OIDC_AUDIENCE: the audience bearer tokens must name (default meridian)
	// PublicURL is where browsers reach this gateway (PUBLIC_URL), for the
	// sign-in callback; default http://localhost plus ADDR's port.
	PublicURL string
	// SessionKeys are base64 AES-256 keys encrypting sessions at rest
	// (SESSION_KEYS, comma-separated, current first). Empty in development:
	// a random key per process (sessions end at restart); required in
	// production.
	SessionKeys string
}

// Origins configures how global origins are called and how old their
// copies may be.
type Origins struct {
	Budget          time.Duration // ORIGIN_BUDGET: deadline of one read call to a global origin
	BreakerFailures int           // BREAKER_FAILURES: consecutive failures that open an origin's breaker
	BreakerOpenFor  time.Duration // BREAKER_OPEN_FOR: how long a breaker stays open before a probe
	InventoryMaxAge time.Duration // INVENTORY_MAX_AGE: CACHED inventory younger than this is served as is
	InventorySWR    time.Duration // INVENTORY_STALE_WHILE_REVALIDATE: window past max-age served while refreshing
	LoaderWait      time.Duration // LOADER_WAIT: how long a dataloader gathers keys before one batch call
	DemoLatency     time.Duration // DEMO_LATENCY: simulated border latency in demo mode
	DemoJitter      time.Duration // DEMO_JITTER: ± jitter on DEMO_LATENCY
}

// Cache bounds the in-process cache (last-known-good copies and, when
// REDIS_URL is set, the front of the shared cache).
type Cache struct {
	MaxEntries int   // CACHE_MAX_ENTRIES
	MaxBytes   int64 // CACHE_MAX_BYTES
}

// ResponseCache configures the whole-response cache of public queries
// (internal/respcache). How long an entry lives is the schema's
// @cacheControl policy, not a setting.
type ResponseCache struct {
	// Enabled turns the cache on (RESPONSE_CACHE, default true). Off, every
	// request executes; sync purges have nothing to do.
	Enabled bool
	// MaxEntries and MaxBytes bound the in-process tier
	// (RESPONSE_CACHE_MAX_ENTRIES, RESPONSE_CACHE_MAX_BYTES); with
	// REDIS_URL the shared tier in Redis lies behind it.
	MaxEntries int
	MaxBytes   int64
	// StaleWhileRevalidate is how long past its max-age an entry is served
	// while one refresh runs (RESPONSE_CACHE_STALE_WHILE_REVALIDATE,
	// positive).
	StaleWhileRevalidate time.Duration
	// DegradedTTL is the longest a response with fallback values is kept
	// (RESPONSE_CACHE_DEGRADED_TTL).
	DegradedTTL time.Duration
}

// Default returns the configuration used when no variable is set: the
// embedded, one-laptop setup.
func Default() Config {
	return Config{
		Addr:            ":8080",
		Env:             Development,
		DatabaseURL:     "sqlite:meridian.db",
		ShutdownTimeout: 15 * time.Second,
		Limits: Limits{
			MaxDepth:         12,
			MaxComplexity:    5000,
			MaxAliases:       30,
			MaxTokens:        5000,
			MaxBodyBytes:     1 << 20,
			ExecutionTimeout: 10 * time.Second,
			MaxPageSize:      100,
		},
		Origins: Origins{
			Budget:          300 * time.Millisecond,
			BreakerFailures: 5,
			BreakerOpenFor:  5 * time.Second,
			InventoryMaxAge: 30 * time.Second,
			InventorySWR:    10 * time.Minute,
			LoaderWait:      time.Millisecond,
			DemoLatency:     180 * time.Millisecond,
			DemoJitter:      30 * time.Millisecond,
		},
		Cache: Cache{MaxEntries: 100_000, MaxBytes: 64 << 20},
		ResponseCache: ResponseCache{Enabled: true, MaxEntries: 10_000, MaxBytes: 64 << 20,
			StaleWhileRevalidate: 10 * time.Second, DegradedTTL: 5 * time.Second},
		OIDC:          OIDC{ClientID: "meridian-demo", Audience: "meridian"},
		SyncInterval:  30 * time.Second,
		OutboxLease:   30 * time.Second,
		PolicyVersion: "2026-11",
		Persisted: Persisted{
			APQTTL:                  24 * time.Hour,
			WatchInterval:           10 * time.Second,
			GETMaxAge:               30 * time.Second,
			GETStaleWhileRevalidate: time.Minute,
		},
	}
}

// Variable documents one environment variable for the README and the
// start-up log.
type Variable struct {
	Name    string
	Default string
	Secret  bool
	Doc     string
}

// lookup reads environment variables; tests pass a map-backed one.
type lookup func(string) (string, bool)

// FromEnv reads the process environment over the defaults. It reports every
// malformed value at once, not only the first.
func FromEnv() (Config, error) { return fromLookup(os.LookupEnv) }

// FromMap is FromEnv over an explicit set of variables, for tests and tools.
func FromMap(env map[string]string) (Config, error) {
	return fromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func fromLookup(get lookup) (Config, error) {
	c := Default()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := get(name); ok {
			*dst = strings.TrimSpace(v)
		}
	}
	integer := func(name string, dst *int) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not an integer", name, v))
				return
			}
			*dst = n
		}
	}
	// byteSize reads a size in bytes, an integer as integer reads one.
	byteSize := func(name string, dst *int64) {
		n := int(*dst)
		integer(name, &n)
		*dst = int64(n)
	}
	boolean := func(name string, dst *bool) {
		if v, ok := get(name); ok {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
				return
			}
			*dst = b
		}
	}
	duration := func(name string, dst *time.Duration) {
		if v, ok := get(name); ok {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a duration such as 10s or 250ms", name, v))
				return
			}
			*dst = d
		}
	}

	str("ADDR", &c.Addr)
	var env string
	str("ENV", &env)
	if env != "" {
		c.Env = Environment(strings.ToLower(env))
	}
	str("DATABASE_URL", &c.DatabaseURL)
	str("REDIS_URL", &c.RedisURL)
	str("GLOBAL_MASTERDATA_URL", &c.GlobalMasterdataURL)
	str("GLOBAL_ORDERS_URL", &c.GlobalOrdersURL)
	str("GLOBAL_CMS_URL", &c.GlobalCMSURL)
	str("OIDC_ISSUER", &c.OIDC.Issuer)
	str("OIDC_CLIENT_ID", &c.OIDC.ClientID)
	str("OIDC_CLIENT_SECRET", &c.OIDC.ClientSecret)
	str("OIDC_AUDIENCE", &c.OIDC.Audience)
	str("PUBLIC_URL", &c.OIDC.PublicURL)
	str("SESSION_KEYS", &c.OIDC.SessionKeys)
	str("WEBHOOK_SECRET", &c.WebhookSecret)
	str("ADMIN_TOKEN", &c.AdminToken)
	str("AUDIT_PSEUDONYM_KEY", &c.AuditPseudonymKey)
	duration("SYNC_INTERVAL", &c.SyncInterval)
	duration("OUTBOX_LEASE", &c.OutboxLease)
	str("PRIVACY_POLICY_VERSION", &c.PolicyVersion)
	duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	integer("MAX_QUERY_DEPTH", &c.Limits.MaxDepth)
	integer("MAX_QUERY_COMPLEXITY", &c.Limits.MaxComplexity)
	integer("MAX_QUERY_ALIASES", &c.Limits.MaxAliases)
	integer("MAX_QUERY_TOKENS", &c.Limits.MaxTokens)
	integer("MAX_PAGE_SIZE", &c.Limits.MaxPageSize)
	byteSize("MAX_BODY_BYTES", &c.Limits.MaxBodyBytes)
	duration("EXECUTION_TIMEOUT", &c.Limits.ExecutionTimeout)
	duration("ORIGIN_BUDGET", &c.Origins.Budget)
	integer("BREAKER_FAILURES", &c.Origins.BreakerFailures)
	duration("BREAKER_OPEN_FOR", &c.Origins.BreakerOpenFor)
	duration("INVENTORY_MAX_AGE", &c.Origins.InventoryMaxAge)
	duration("INVENTORY_STALE_WHILE_REVALIDATE", &c.Origins.InventorySWR)
	duration("LOADER_WAIT", &c.Origins.LoaderWait)
	duration("DEMO_LATENCY", &c.Origins.DemoLatency)
	duration("DEMO_JITTER", &c.Origins.DemoJitter)
	integer("CACHE_MAX_ENTRIES", &c.Cache.MaxEntries)
	byteSize("CACHE_MAX_BYTES", &c.Cache.MaxBytes)
	boolean("RESPONSE_CACHE", &c.ResponseCache.Enabled)
	integer("RESPONSE_CACHE_MAX_ENTRIES", &c.ResponseCache.MaxEntries)
	byteSize("RESPONSE_CACHE_MAX_BYTES", &c.ResponseCache.MaxBytes)
	duration("RESPONSE_CACHE_STALE_WHILE_REVALIDATE", &c.ResponseCache.StaleWhileRevalidate)
	duration("RESPONSE_CACHE_DEGRADED_TTL", &c.ResponseCache.DegradedTTL)
	var manifests string
	str("PERSISTED_QUERIES", &manifests)
	for _, p := range strings.Split(manifests, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Persisted.Manifests = append(c.Persisted.Manifests, p)
		}
	}
	boolean("PERSISTED_ONLY", &c.Persisted.Only)
	duration("APQ_TTL", &c.Persisted.APQTTL)
	duration("PERSISTED_QUERIES_WATCH_INTERVAL", &c.Persisted.WatchInterval)
	duration("PERSISTED_GET_MAX_AGE", &c.Persisted.GETMaxAge)
	duration("PERSISTED_GET_STALE_WHILE_REVALIDATE", &c.Persisted.GETStaleWhileRevalidate)

	if len(errs) > 0 {
		return c, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, c.Validate()
}

// DemoMode reports whether no global origin is configured, in which case the
// gateway runs the simulated global side in-process.
func (c Config) DemoMode() bool {
	return c.GlobalMasterdataURL == "" && c.GlobalOrdersURL == "" && c.GlobalCMSURL == ""
}

// Validate checks the configuration as a whole and reports every problem.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Addr == "" {
		bad("ADDR is empty")
	}
	switch c.Env {
	case Development, Production:
	default:
		bad("ENV=%q: want development or production", c.Env)
	}
	switch {
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
	case strings.HasPrefix(c.DatabaseURL, "sqlite:") && len(c.DatabaseURL) > len("sqlite:"):
	default:
		bad("DATABASE_URL: want postgres://… or sqlite:PATH")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("REDIS_URL: want redis://host:port/db or rediss://…")
		}
	}
	origins := map[string]string{
		"GLOBAL_MASTERDATA_URL": c.GlobalMasterdataURL,
		"GLOBAL_ORDERS_URL":     c.GlobalOrdersURL,
		"GLOBAL_CMS_URL":        c.GlobalCMSURL,
	}
	names := make([]string, 0, len(origins))
	for name := range origins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := origins[name]
		if v == "" {
			if !c.DemoMode() {
				bad("%s is empty: set all three global origin URLs, or none for demo mode", name)
			}
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s=%q: want an http(s) URL", name, v)
		}
	}
	if c.OIDC.Issuer != "" {
		if u, err := url.Parse(c.OIDC.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("OIDC_ISSUER=%q: want the IdP's http(s) issuer URL", c.OIDC.Issuer)
		}
	} else if !c.DemoMode() {
		bad("OIDC_ISSUER is empty: a deployment with real origins needs the global IdP's issuer")
	}
	if c.OIDC.Audience == "" || c.OIDC.ClientID == "" {
		bad("OIDC_AUDIENCE and OIDC_CLIENT_ID must not be empty")
	}
	if c.OIDC.PublicURL != "" {
		if u, err := url.Parse(c.OIDC.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("PUBLIC_URL=%q: want the gateway's http(s) base URL", c.OIDC.PublicURL)
		}
	}
	if c.WebhookSecret != "" && len(c.WebhookSecret) < 16 {
		bad("WEBHOOK_SECRET must be at least 16 bytes")
	}
	if c.WebhookSecret == "" && !c.DemoMode() {
		bad("WEBHOOK_SECRET is empty: the global side's change and order webhooks cannot be verified")
	}
	if c.AuditPseudonymKey != "" && len(c.AuditPseudonymKey) < 32 {
		bad("AUDIT_PSEUDONYM_KEY must be at least 32 bytes")
	}
	if c.Env == Production && c.AuditPseudonymKey == "" {
		bad("AUDIT_PSEUDONYM_KEY is empty: production needs a stable key for audit pseudonyms")
	}
	if c.Env == Production && c.AdminToken == "" {
		bad("ADMIN_TOKEN is empty: production needs it to guard /admin/*")
	}
	if c.SyncInterval < time.Second {
		bad("SYNC_INTERVAL must be at least 1s")
	}
	if c.OutboxLease < 5*time.Second {
		bad("OUTBOX_LEASE must be at least 5s (twice the orders write budget, with margin)")
	}
	if c.PolicyVersion == "" {
		bad("PRIVACY_POLICY_VERSION must not be empty")
	}
	if c.Env == Production && c.OIDC.SessionKeys == "" {
		bad("SESSION_KEYS is empty: production needs persistent keys to encrypt sessions at rest")
	}
	if c.Env == Production && c.DemoMode() {
		bad("ENV=production refuses demo mode: set GLOBAL_MASTERDATA_URL, GLOBAL_ORDERS_URL and GLOBAL_CMS_URL")
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT must be positive")
	}
	l := c.Limits
	positive := map[string]int{
		"MAX_QUERY_DEPTH":      l.MaxDepth,
		"MAX_QUERY_COMPLEXITY": l.MaxComplexity,
		"MAX_QUERY_ALIASES":    l.MaxAliases,
		"MAX_QUERY_TOKENS":     l.MaxTokens,
		"MAX_PAGE_SIZE":        l.MaxPageSize,
	}
	names = names[:0]
	for name := range positive {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if positive[name] < 1 {
			bad("%s must be at least 1", name)
		}
	}
	if l.MaxBodyBytes < 1024 {
		bad("MAX_BODY_BYTES must be at least 1024")
	}
	if l.ExecutionTimeout <= 0 {
		bad("EXECUTION_TIMEOUT must be positive")
	}
	o := c.Origins
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ORIGIN_BUDGET", o.Budget}, {"BREAKER_OPEN_FOR", o.BreakerOpenFor},
		{"INVENTORY_MAX_AGE", o.InventoryMaxAge}, {"INVENTORY_STALE_WHILE_REVALIDATE", o.InventorySWR},
		{"LOADER_WAIT", o.LoaderWait},
	} {
		if d.v <= 0 {
			bad("%s must be positive", d.name)
		}
	}
	if o.DemoLatency < 0 || o.DemoJitter < 0 {
		bad("DEMO_LATENCY and DEMO_JITTER must not be negative")
	}
	if o.BreakerFailures < 1 {
		bad("BREAKER_FAILURES must be at least 1")
	}
	if o.Budget >= l.ExecutionTimeout {
		bad("ORIGIN_BUDGET (%s) must be shorter than EXECUTION_TIMEOUT (%s), or a slow origin makes a slow page", o.Budget, l.ExecutionTimeout)
	}
	if c.Cache.MaxEntries < 1 || c.Cache.MaxBytes < 1<<20 {
		bad("CACHE_MAX_ENTRIES must be at least 1 and CACHE_MAX_BYTES at least 1048576")
	}
	if rc := c.ResponseCache; rc.MaxEntries < 1 || rc.MaxBytes < 1<<20 {
		bad("RESPONSE_CACHE_MAX_ENTRIES must be at least 1 and RESPONSE_CACHE_MAX_BYTES at least 1048576")
	}
	if c.ResponseCache.StaleWhileRevalidate <= 0 || c.ResponseCache.DegradedTTL <= 0 {
		bad("RESPONSE_CACHE_STALE_WHILE_REVALIDATE and RESPONSE_CACHE_DEGRADED_TTL must be positive")
	}
	p := c.Persisted
	if p.Only && len(p.Manifests) == 0 {
		bad("PERSISTED_ONLY=true needs PERSISTED_QUERIES: with no manifest every operation would be refused")
	}
	if p.APQTTL < time.Second {
		bad("APQ_TTL must be at least 1s")
	}
	if p.WatchInterval <= 0 {
		bad("PERSISTED_QUERIES_WATCH_INTERVAL must be positive")
	}
	if p.GETMaxAge < time.Second {
		bad("PERSISTED_GET_MAX_AGE must be at least 1s")
	}
	if p.GETStaleWhileRevalidate < 0 {
		bad("PERSISTED_GET_STALE_WHILE_REVALIDATE must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// Redacted renders the configuration for the start-up log as ordered
// key=value pairs, with credentials in URLs replaced by "xxxxx".
func (c Config) Redacted() []any {
	return []any{
		"ADDR", c.Addr,
		"ENV", string(c.Env),
		"DATABASE_URL", redactURL(c.DatabaseURL),
		"REDIS_URL", redactURL(c.RedisURL),
		"GLOBAL_MASTERDATA_URL", redactURL(c.GlobalMasterdataURL),
		"GLOBAL_ORDERS_URL", redactURL(c.GlobalOrdersURL),
		"GLOBAL_CMS_URL", redactURL(c.GlobalCMSURL),
		"OIDC_ISSUER", redactURL(c.OIDC.Issuer),
		"OIDC_CLIENT_ID", c.OIDC.ClientID,
		"OIDC_CLIENT_SECRET", secret(c.OIDC.ClientSecret),
		"OIDC_AUDIENCE", c.OIDC.Audience,
		"PUBLIC_URL", c.OIDC.PublicURL,
		"SESSION_KEYS", secret(c.OIDC.SessionKeys),
		"WEBHOOK_SECRET", secret(c.WebhookSecret),
		"ADMIN_TOKEN", secret(c.AdminToken),
		"AUDIT_PSEUDONYM_KEY", secret(c.AuditPseudonymKey),
		"SYNC_INTERVAL", c.SyncInterval.String(),
		"OUTBOX_LEASE", c.OutboxLease.String(),
		"PRIVACY_POLICY_VERSION", c.PolicyVersion,
		"SHUTDOWN_TIMEOUT", c.ShutdownTimeout.String(),
		"MAX_QUERY_DEPTH", c.Limits.MaxDepth,
		"MAX_QUERY_COMPLEXITY", c.Limits.MaxComplexity,
		"MAX_QUERY_ALIASES", c.Limits.MaxAliases,
		"MAX_QUERY_TOKENS", c.Limits.MaxTokens,
		"MAX_PAGE_SIZE", c.Limits.MaxPageSize,
		"MAX_BODY_BYTES", c.Limits.MaxBodyBytes,
		"EXECUTION_TIMEOUT", c.Limits.ExecutionTimeout.String(),
		"ORIGIN_BUDGET", c.Origins.Budget.String(),
		"BREAKER_FAILURES", c.Origins.BreakerFailures,
		"BREAKER_OPEN_FOR", c.Origins.BreakerOpenFor.String(),
		"INVENTORY_MAX_AGE", c.Origins.InventoryMaxAge.String(),
		"INVENTORY_STALE_WHILE_REVALIDATE", c.Origins.InventorySWR.String(),
		"LOADER_WAIT", c.Origins.LoaderWait.String(),
		"DEMO_LATENCY", c.Origins.DemoLatency.String(),
		"DEMO_JITTER", c.Origins.DemoJitter.String(),
		"CACHE_MAX_ENTRIES", c.Cache.MaxEntries,
		"CACHE_MAX_BYTES", c.Cache.MaxBytes,
		"RESPONSE_CACHE", c.ResponseCache.Enabled,
		"RESPONSE_CACHE_MAX_ENTRIES", c.ResponseCache.MaxEntries,
		"RESPONSE_CACHE_MAX_BYTES", c.ResponseCache.MaxBytes,
		"RESPONSE_CACHE_STALE_WHILE_REVALIDATE", c.ResponseCache.StaleWhileRevalidate.String(),
		"RESPONSE_CACHE_DEGRADED_TTL", c.ResponseCache.DegradedTTL.String(),
		"PERSISTED_QUERIES", strings.Join(c.Persisted.Manifests, ","),
		"PERSISTED_ONLY", c.Persisted.Only,
		"APQ_TTL", c.Persisted.APQTTL.String(),
		"PERSISTED_QUERIES_WATCH_INTERVAL", c.Persisted.WatchInterval.String(),
		"PERSISTED_GET_MAX_AGE", c.Persisted.GETMaxAge.String(),
		"PERSISTED_GET_STALE_WHILE_REVALIDATE", c.Persisted.GETStaleWhileRevalidate.String(),
	}
}

// secret renders a secret setting as whether it is set, never its value.
func secret(v string) string {
	if v == "" {
		return ""
	}
	return "xxxxx"
}

// redactURL hides the password of a URL and any query parameter that looks
// like a credential; unparsable values are hidden whole.
func redactURL(raw string) string {
	if raw == "" || !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "xxxxx"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
