package globalsim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	good := Config{Catalog: []byte(testCatalog), Content: []byte(testContent)}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no catalog", func(c *Config) { c.Catalog = nil }, "catalog seed is required"},
		{"catalog not JSON", func(c *Config) { c.Catalog = []byte("{") }, "catalog seed"},
		{"no products", func(c *Config) { c.Catalog = []byte(`{"currency":"CNY","products":[]}`) }, "no products"},
		{"duplicate SKU", func(c *Config) {
			c.Catalog = []byte(`{"currency":"CNY","products":[{"id":"a","sku":"X","price":"1.00"},{"id":"b","sku":"X","price":"1.00"}]}`)
		}, "duplicate"},
		{"float price", func(c *Config) {
			c.Catalog = []byte(`{"currency":"CNY","products":[{"id":"a","sku":"X","price":"1.5"}]}`)
		}, "price"},
		{"no currency", func(c *Config) { c.Catalog = []byte(`{"products":[{"id":"a","sku":"X","price":"1.50"}]}`) }, "currency"},
		{"negative latency", func(c *Config) { c.Latency = -time.Millisecond }, "latency"},
		{"jitter over a minute", func(c *Config) { c.Jitter = 2 * time.Minute }, "jitter"},
		{"ships before confirmed", func(c *Config) { c.ConfirmAfter, c.ShipAfter = time.Minute, time.Second }, "confirm after"},
		{"negative log size", func(c *Config) { c.RequestLogSize = -1 }, "request log size"},
		{"content not JSON", func(c *Config) { c.Content = []byte("[") }, "content seed"},
		{"bad slug", func(c *Config) {
			c.Content = []byte(`{"pages":[{"slug":"About Us","title":{"en":"x"},"updatedAt":"2025-01-01T00:00:00Z"}]}`)
		}, "slug"},
		{"page without updatedAt", func(c *Config) { c.Content = []byte(`{"pages":[{"slug":"a","title":{"en":"x"}}]}`) }, "updatedAt"},
		{"duplicate slug", func(c *Config) {
			c.Content = []byte(`{"pages":[{"slug":"a","title":{"en":"x"},"updatedAt":"2025-01-01T00:00:00Z"},{"slug":"a","title":{"en":"y"},"updatedAt":"2025-01-01T00:00:00Z"}]}`)
		}, "duplicate slug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			sim, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v want none", err)
				}
				sim.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestUnroutedRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCode           string
		wantAllow          string
	}{
		{"unknown path in an origin", http.MethodGet, "/masterdata/v2/inventory", nil, 404, "no_route", ""},
		{"outside every origin", http.MethodGet, "/", nil, 404, "no_route", ""},
		{"wrong method", http.MethodGet, "/masterdata/v1/inventory:batchGet", nil, 405, "method_not_allowed", "POST"},
		{"wrong method on admin", http.MethodPost, "/admin/requests", "{}", 405, "method_not_allowed", "DELETE, GET, HEAD"},
		{"body over 1 MiB", http.MethodPost, "/masterdata/v1/inventory:batchGet", strings.Repeat(" ", MaxRequestBody+1), 413, "request_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, tt.method, tt.path, tt.body, nil)
			if r.status != tt.wantStatus || r.errorCode() != tt.wantCode {
				t.Errorf("got %d %q want %d %q; body %s", r.status, r.errorCode(), tt.wantStatus, tt.wantCode, r.body)
			}
			if got := r.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestStartAndShutdown(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Catalog: []byte(testCatalog), Content: []byte(testContent)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, want := srv.OriginURL(OriginCMS), srv.URL()+"/cms"; got != want {
		t.Errorf("OriginURL: got %q want %q", got, want)
	}
	resp, err := http.Get(srv.OriginURL(OriginCMS) + "/v1/pages/about-us")
	if err != nil {
		t.Fatalf("GET page: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET page: got %d want 200", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := http.Get(srv.URL() + "/cms/v1/pages"); err == nil {
		t.Error("GET after Shutdown: got an answer want a refused connection")
	}
	if got := sim.Stats(); got != (Stats{Products: 5, Pages: 2}) {
		t.Errorf("Stats: got %+v want 5 products, 2 pages, 0 orders", got)
	}
}

func TestParseMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0.00", 0, false}, {"1299.00", 129900, false}, {"0.05", 5, false}, {"9999999999.99", 999999999999, false},
		{"1.5", 0, true}, {"1", 0, true}, {".50", 0, true}, {"01.00", 0, true}, {"-1.00", 0, true},
		{"1,000.00", 0, true}, {"1e3.00", 0, true}, {"", 0, true}, {"12345678901.00", 0, true}, {" 1.00", 0, true},
	}
	for _, tt := range tests {
		got, err := parseMoney(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMoney(%q): got %d, %v want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && formatMoney(got) != tt.in {
			t.Errorf("formatMoney(%d): got %q want %q", got, formatMoney(got), tt.in)
		}
	}
}
