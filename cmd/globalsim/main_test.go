package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr bool
	}{
		{"defaults", nil, options{addr: "127.0.0.1:9090", latency: 180 * time.Millisecond, jitter: 30 * time.Millisecond, catalog: "testdata/catalog.json", content: "testdata/content.json"}, false},
		{"overrides", []string{"-addr", ":0", "-latency", "0s", "-jitter", "5ms", "-catalog", "c.json", "-content", ""}, options{addr: ":0", jitter: 5 * time.Millisecond, catalog: "c.json"}, false},
		{"bad duration", []string{"-latency", "fast"}, options{}, true},
		{"stray argument", []string{"serve"}, options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v want %+v", got, tt.want)
			}
		})
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	seed := `{"currency":"CNY","products":[{"id":"p1","sku":"S-1","category":"c","name":{"en":"One"},"price":"1.00"}]}`
	if err := os.WriteFile(catalog, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cancel() // run still starts, logs and then shuts down at once
	go func() { done <- run(ctx, options{addr: "127.0.0.1:0", catalog: catalog}, log) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run still serving 10s after cancel")
	}
	for _, want := range []string{"simulated global side serving", "products=1", "base_url=http://127.0.0.1:", "shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log: got %q want it to mention %q", logs.String(), want)
		}
	}
}

func TestRunRefusesMissingCatalog(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), options{addr: "127.0.0.1:0", catalog: filepath.Join(t.TempDir(), "none.json")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "catalog") {
		t.Errorf("got %v want an error about the catalog seed", err)
	}
}
