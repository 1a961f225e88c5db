// Package metrics defines Meridian's Prometheus metrics in one place, on a
// registry of its own (no package-level state), served at /metrics.
//
// Names and labels are part of the operator contract: dashboards and alerts
// are built on them.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector.
type Metrics struct {
	registry *prometheus.Registry

	// OriginRequestDuration observes global origin calls by origin and
	// outcome (ok, timeout, error, rejected).
	OriginRequestDuration *prometheus.HistogramVec
	// OriginRequests counts global origin calls by origin and outcome,
	// including calls the open breaker refused (outcome breaker_open).
	OriginRequests *prometheus.CounterVec
	// BreakerState is 0 closed, 1 half-open, 2 open, per origin.
	BreakerState *prometheus.GaugeVec
	// Fallbacks counts values served from a last-known-good copy, by origin
	// and reason (timeout, error, breaker_open).
	Fallbacks *prometheus.CounterVec
	// CacheLookups counts cache reads by cache name and result (hit, miss, stale).
	CacheLookups *prometheus.CounterVec
	// GraphQLRequestDuration observes GraphQL operations by operation name
	// and outcome (ok, error).
	GraphQLRequestDuration *prometheus.HistogramVec
	// SyncLag is, per sync job, the seconds since the job's last
	// successful run on any replica: how stale the mirror it keeps may be.
	SyncLag *prometheus.GaugeVec
	// SyncRuns counts sync job runs by job and outcome (ok, error,
	// skipped when another replica holds the job's lease, cancelled on
	// shutdown).
	SyncRuns *prometheus.CounterVec
	// OutboxPending is how many order outbox entries wait to be sent to
	// Order Management, due or backing off, as last counted by this
	// replica (every replica reads the same shared table).
	OutboxPending prometheus.Gauge
	// OutboxDispatch counts attempts to send an outbox entry by outcome:
	// sent (the origin holds the order), retry (timeout, 5xx, breaker
	// open: tried again after a backoff) or dead (the origin refused the
	// order; it is rejected and kept as a dead letter).
	OutboxDispatch *prometheus.CounterVec
	// OutboxDeadLetters is how many outbox entries are dead letters, as
	// last counted by this replica: orders the origin refused, for
	// operators to look at.
	OutboxDeadLetters prometheus.Gauge

	// ResponseCacheRequests counts requests seen by the whole-response
	// cache by result: hit (answered from an entry, or from a concurrent
	// identical request's execution), stale (answered from an expired entry
	// within the stale-while-revalidate window while one refresh runs),
	// miss (executed; stored when its policy allows) or bypass (not a
	// request the cache handles, or an operation it may never store).
	ResponseCacheRequests *prometheus.CounterVec
	// ResponseCachePurges counts purges by tag applied on this replica, by
	// source: local (Purge called here) or remote (announced by another
	// replica over Redis).
	ResponseCachePurges *prometheus.CounterVec
	// ResponseCacheBytes is the size of this replica's in-process response
	// cache, bookkeeping included.
	ResponseCacheBytes prometheus.Gauge
}

// New creates the collectors on a fresh registry, with Go runtime and
// process metrics.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .2, .3, .5, 1, 2.5, 5}
	m := &Metrics{
		registry: r,
		OriginRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meridian_origin_request_duration_seconds", Help: "Latency of calls to global origins.", Buckets: latency,
		}, []string{"origin", "outcome"}),
		OriginRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_origin_requests_total", Help: "Calls to global origins by outcome.",
		}, []string{"origin", "outcome"}),
		BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_breaker_state", Help: "Circuit breaker state per origin: 0 closed, 1 half-open, 2 open.",
		}, []string{"origin"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_fallbacks_total", Help: "Values served from a last-known-good copy, by reason.",
		}, []string{"origin", "reason"}),
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_cache_lookups_total", Help: "Cache reads by result.",
		}, []string{"cache", "result"}),
		GraphQLRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meridian_graphql_request_duration_seconds", Help: "GraphQL operation latency by operation name and outcome.", Buckets: latency,
		}, []string{"operation", "outcome"}),
		SyncLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_sync_lag_seconds", Help: "Seconds since the sync job's last successful run.",
		}, []string{"job"}),
		SyncRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_sync_runs_total", Help: "Sync job runs by outcome.",
		}, []string{"job", "outcome"}),
		OutboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_outbox_pending", Help: "Order outbox entries not yet sent to Order Management.",
		}),
		OutboxDispatch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_outbox_dispatch_total", Help: "Order outbox send attempts by outcome (sent, retry, dead).",
		}, []string{"outcome"}),
		OutboxDeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_outbox_dead_letters", Help: "Order outbox entries Order Management refused, kept for operators.",
		}),
		ResponseCacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_response_cache_requests_total", Help: "Requests seen by the whole-response cache by result (hit, miss, stale, bypass).",
		}, []string{"result"}),
		ResponseCachePurges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_response_cache_purges_total", Help: "Response cache purges by tag applied on this replica, by source (local, remote).",
		}, []string{"source"}),
		ResponseCacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_response_cache_bytes", Help: "Size of the in-process response cache in bytes.",
		}),
	}
	r.MustRegister(m.OriginRequestDuration, m.OriginRequests, m.BreakerState, m.Fallbacks, m.CacheLookups, m.GraphQLRequestDuration)
	r.MustRegister(m.SyncLag, m.SyncRuns)
	r.MustRegister(m.OutboxPending, m.OutboxDispatch, m.OutboxDeadLetters)
	r.MustRegister(m.ResponseCacheRequests, m.ResponseCachePurges, m.ResponseCacheBytes)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry exposes the registry for tests that read values back.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }
