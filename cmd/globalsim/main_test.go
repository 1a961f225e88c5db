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
	defaults := options{addr: "127.0.0.1:9090", latency: 180 * time.Millisecond, jitter: 30 * time.Millisecond, catalog: "testdata/catalog.json", content: "testdata/content.json", identities: "testdata/identities.json"}
	withHook := func(url, secret string) options {
		o := defaults
		o.webhookURL, o.webhookSecret = url, secret
		return o
	}
	withOrderHook := func(url, secret string) options {
		o := defaults
		o.orderWebhookURL, o.webhookSecret = url, secret
		return o
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr bool
	}{
		{"defaults", nil, nil, defaults, false},
		{"overrides", []string{"-addr", ":0", "-latency", "0s", "-jitter", "5ms", "-catalog", "c.json", "-content", "", "-identities", ""}, nil, options{addr: ":0", jitter: 5 * time.Millisecond, catalog: "c.json"}, false},
		{"bad duration", []string{"-latency", "fast"}, nil, options{}, true},
		{"stray argument", []string{"serve"}, nil, options{}, true},
		{"webhook with secret flag", []string{"-webhook", "http://127.0.0.1:8080/hooks", "-webhook-secret", "s"}, map[string]string{"WEBHOOK_SECRET": "env"}, withHook("http://127.0.0.1:8080/hooks", "s"), false},
		{"webhook with secret from env", []string{"-webhook", "http://127.0.0.1:8080/hooks"}, map[string]string{"WEBHOOK_SECRET": "env"}, withHook("http://127.0.0.1:8080/hooks", "env"), false},
		{"webhook without secret", []string{"-webhook", "http://127.0.0.1:8080/hooks"}, nil, options{}, true},
		{"order webhook with secret from env", []string{"-order-webhook", "http://127.0.0.1:8080/hooks/orders"}, map[string]string{"WEBHOOK_SECRET": "env"}, withOrderHook("http://127.0.0.1:8080/hooks/orders", "env"), false},
		{"both webhooks share the secret", []string{"-webhook", "http://127.0.0.1:8080/hooks", "-order-webhook", "http://127.0.0.1:8080/hooks/orders", "-webhook-secret", "s"}, nil, func() options {
			o := withHook("http://127.0.0.1:8080/hooks", "s")
			o.orderWebhookURL = "http://127.0.0.1:8080/hooks/orders"
			return o
		}(), false},
		{"order webhook without secret", []string{"-order-webhook", "http://127.0.0.1:8080/hooks/orders"}, nil, options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, func(k string) string { return tt.env[k] })
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

func TestRunLogsWebhooksWithoutSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	seed := `{"currency":"CNY","products":[{"id":"p1","sku":"S-1","category":"c","name":{"en":"One"},"price":"1.00"}]}`
	if err := os.WriteFile(catalog, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := options{addr: "127.0.0.1:0", catalog: catalog, webhookURL: "http://user:pw@127.0.0.1:1/hooks?token=t0k", webhookSecret: "sup3r-s3cret-value",
		orderWebhookURL: "http://user:pw2@127.0.0.1:1/hooks/orders?token=t1k"}
	if err := run(ctx, o, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"receiver=http://127.0.0.1:1/hooks\n", "order webhook notifications on", "receiver=http://127.0.0.1:1/hooks/orders"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log: got %q want it to mention %q", logs.String(), want)
		}
	}
	for _, secret := range []string{"sup3r-s3cret-value", ":pw@", ":pw2@", "t0k", "t1k"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log mentions %q: %s", secret, logs.String())
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

func TestRunServesTheIdentityProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	seed := `{"currency":"CNY","products":[{"id":"p1","sku":"S-1","category":"c","name":{"en":"One"},"price":"1.00"}]}`
	if err := os.WriteFile(catalog, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := options{addr: "127.0.0.1:0", catalog: catalog, identities: "../../testdata/identities.json"}
	if err := run(ctx, o, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "demo identity provider") || !strings.Contains(logs.String(), "issuer=http://127.0.0.1:") {
		t.Errorf("log: got %q want the identity provider's issuer", logs.String())
	}
	o.identities = filepath.Join(dir, "none.json")
	if err := run(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "identities") {
		t.Errorf("missing identities file: got %v want an error about it", err)
	}
}
