package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFromMapDefaults(t *testing.T) {
	got, err := FromMap(nil)
	if err != nil {
		t.Fatalf("FromMap(nil): %v", err)
	}
	want := Default()
	if got.Addr != ":8080" || got.DatabaseURL != "sqlite:meridian.db" || got.Env != Development {
		t.Errorf("defaults: got %+v, want ADDR :8080, sqlite:meridian.db, development", got)
	}
	if got.Limits != want.Limits {
		t.Errorf("limits: got %+v, want %+v", got.Limits, want.Limits)
	}
	if !got.DemoMode() {
		t.Error("DemoMode() = false with no origin URLs, want true")
	}
	if got.ResponseCache != want.ResponseCache || !got.ResponseCache.Enabled {
		t.Errorf("response cache: got %+v, want %+v, on", got.ResponseCache, want.ResponseCache)
	}
}

func TestFromMapResponseCache(t *testing.T) {
	got, err := FromMap(map[string]string{
		"RESPONSE_CACHE":                        "false",
		"RESPONSE_CACHE_MAX_ENTRIES":            "500",
		"RESPONSE_CACHE_MAX_BYTES":              "2097152",
		"RESPONSE_CACHE_STALE_WHILE_REVALIDATE": "30s",
		"RESPONSE_CACHE_DEGRADED_TTL":           "1s",
	})
	if err != nil {
		t.Fatalf("FromMap: %v", err)
	}
	want := ResponseCache{Enabled: false, MaxEntries: 500, MaxBytes: 2 << 20, StaleWhileRevalidate: 30 * time.Second, DegradedTTL: time.Second}
	if got.ResponseCache != want {
		t.Errorf("got %+v, want %+v", got.ResponseCache, want)
	}
}

func TestFromMapOverrides(t *testing.T) {
	got, err := FromMap(map[string]string{
		"ADDR":                  "127.0.0.1:9999",
		"DATABASE_URL":          "postgres://app:s3cret@db:5432/meridian",
		"REDIS_URL":             "redis://127.0.0.1:6379/0",
		"GLOBAL_MASTERDATA_URL": "https://md.example/masterdata",
		"GLOBAL_ORDERS_URL":     "https://om.example/orders",
		"GLOBAL_CMS_URL":        "https://cms.example/cms",
		"ENV":                   "Production",
		"OIDC_ISSUER":           "https://idp.example/",
		"OIDC_CLIENT_SECRET":    "client-s3cret",
		"SESSION_KEYS":          "a2V5LXMzY3JldA==",
		"WEBHOOK_SECRET":        "webhook-s3cret-0123456789",
		"ADMIN_TOKEN":           "admin-s3cret",
		"AUDIT_PSEUDONYM_KEY":   "audit-s3cret-0123456789-0123456789",
		"EXECUTION_TIMEOUT":     "3s",
		"MAX_PAGE_SIZE":         "50",
	})
	if err != nil {
		t.Fatalf("FromMap: %v", err)
	}
	if got.Env != Production || got.DemoMode() || got.Limits.ExecutionTimeout != 3*time.Second || got.Limits.MaxPageSize != 50 {
		t.Errorf("got %+v", got)
	}
	rendered := fmt.Sprint(got.Redacted()...)
	if strings.Contains(rendered, "s3cret") || strings.Contains(rendered, "a2V5") {
		t.Errorf("Redacted() leaks the database password: %s", rendered)
	}
	if !strings.Contains(rendered, "app:xxxxx@db") {
		t.Errorf("Redacted() = %s, want the user kept and the password replaced", rendered)
	}
}

func TestFromMapRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // substring of the error
	}{
		{"unknown env", map[string]string{"ENV": "staging"}, `ENV="staging"`},
		{"bad database", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"empty sqlite path", map[string]string{"DATABASE_URL": "sqlite:"}, "DATABASE_URL"},
		{"bad redis", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"production demo", map[string]string{"ENV": "production"}, "refuses demo mode"},
		{"partial origins", map[string]string{"GLOBAL_ORDERS_URL": "http://x/orders"}, "GLOBAL_CMS_URL is empty"},
		{"origin not http", map[string]string{"GLOBAL_ORDERS_URL": "ftp://x", "GLOBAL_CMS_URL": "http://x", "GLOBAL_MASTERDATA_URL": "http://x"}, "GLOBAL_ORDERS_URL"},
		{"real origins without an issuer", map[string]string{"GLOBAL_ORDERS_URL": "http://x", "GLOBAL_CMS_URL": "http://x", "GLOBAL_MASTERDATA_URL": "http://x"}, "OIDC_ISSUER is empty"},
		{"real origins without a webhook secret", map[string]string{"GLOBAL_ORDERS_URL": "http://x", "GLOBAL_CMS_URL": "http://x", "GLOBAL_MASTERDATA_URL": "http://x"}, "WEBHOOK_SECRET is empty"},
		{"short webhook secret", map[string]string{"WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET must be at least 16 bytes"},
		{"short pseudonym key", map[string]string{"AUDIT_PSEUDONYM_KEY": "short"}, "AUDIT_PSEUDONYM_KEY must be at least 32 bytes"},
		{"sub-second sync", map[string]string{"SYNC_INTERVAL": "10ms"}, "SYNC_INTERVAL"},
		{"bad issuer", map[string]string{"OIDC_ISSUER": "idp.example"}, "OIDC_ISSUER"},
		{"production without session keys", map[string]string{"ENV": "production"}, "SESSION_KEYS is empty"},
		{"not an integer", map[string]string{"MAX_QUERY_DEPTH": "deep"}, "MAX_QUERY_DEPTH"},
		{"zero depth", map[string]string{"MAX_QUERY_DEPTH": "0"}, "MAX_QUERY_DEPTH must be at least 1"},
		{"bad duration", map[string]string{"EXECUTION_TIMEOUT": "10"}, "EXECUTION_TIMEOUT"},
		{"tiny body", map[string]string{"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"},
		{"budget beyond the execution timeout", map[string]string{"ORIGIN_BUDGET": "20s"}, "ORIGIN_BUDGET (20s) must be shorter"},
		{"zero loader wait", map[string]string{"LOADER_WAIT": "0s"}, "LOADER_WAIT must be positive"},
		{"zero breaker failures", map[string]string{"BREAKER_FAILURES": "0"}, "BREAKER_FAILURES"},
		{"tiny cache", map[string]string{"CACHE_MAX_BYTES": "1000"}, "CACHE_MAX_BYTES"},
		{"response cache neither on nor off", map[string]string{"RESPONSE_CACHE": "maybe"}, `RESPONSE_CACHE="maybe"`},
		{"tiny response cache", map[string]string{"RESPONSE_CACHE_MAX_BYTES": "1000"}, "RESPONSE_CACHE_MAX_BYTES"},
		{"no response cache entries", map[string]string{"RESPONSE_CACHE_MAX_ENTRIES": "0"}, "RESPONSE_CACHE_MAX_ENTRIES"},
		{"zero stale-while-revalidate", map[string]string{"RESPONSE_CACHE_STALE_WHILE_REVALIDATE": "0s"}, "RESPONSE_CACHE_STALE_WHILE_REVALIDATE"},
		{"negative degraded TTL", map[string]string{"RESPONSE_CACHE_DEGRADED_TTL": "-1s"}, "RESPONSE_CACHE_DEGRADED_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromMap(tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromMap(%v) error = %v, want one containing %q", tt.env, err, tt.want)
			}
		})
	}
}

func TestFromMapReportsEveryProblem(t *testing.T) {
	_, err := FromMap(map[string]string{"MAX_QUERY_DEPTH": "x", "MAX_PAGE_SIZE": "y"})
	if err == nil || !strings.Contains(err.Error(), "MAX_QUERY_DEPTH") || !strings.Contains(err.Error(), "MAX_PAGE_SIZE") {
		t.Errorf("error = %v, want both variables named", err)
	}
}
