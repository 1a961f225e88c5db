// Command globalsim serves the simulated global systems of record (product
// & inventory master, order management, CMS) and the admin API that injects
// faults into them, for demos and manual testing against a gateway running
// in another process.
//
// Usage:
//
//	globalsim [-addr 127.0.0.1:9090] [-latency 180ms] [-jitter 30ms]
//	          [-catalog testdata/catalog.json] [-content testdata/content.json]
//	          [-identities testdata/identities.json]
//	          [-webhook URL] [-order-webhook URL] [-webhook-secret SECRET]
//
// An empty -content runs the CMS without pages. The demo OpenID Connect
// identity provider is served under /idp with the identities file, and not
// at all with an empty -identities. With -webhook, every admin
// edit of master data or content is announced to URL by a POST signed with
// the secret; with -order-webhook, every order status change (accepted,
// confirmed, shipped) is (see api/global.openapi.yaml). Both are signed
// with the one secret, which comes from -webhook-secret or, when that is
// empty, from the WEBHOOK_SECRET environment variable, which keeps it out
// of the process list. SIGINT or SIGTERM shuts the server down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"meridian/internal/globalsim"
)

// shutdownGrace bounds how long in-flight requests get to finish on exit.
const shutdownGrace = 5 * time.Second

// webhookSecretEnv is the environment variable the webhook secret is read
// from when -webhook-secret is not given.
const webhookSecretEnv = "WEBHOOK_SECRET"

type options struct {
	addr, catalog, content string
	latency, jitter        time.Duration
	webhookURL             string
	orderWebhookURL        string
	webhookSecret          string // never logged; signs both webhooks
	identities             string
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Error("bad arguments", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error("globalsim failed", "err", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line; getenv supplies WEBHOOK_SECRET.
func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("globalsim", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9090", "listen address")
	fs.DurationVar(&o.latency, "latency", 180*time.Millisecond, "default latency of every origin")
	fs.DurationVar(&o.jitter, "jitter", 30*time.Millisecond, "default jitter (±) of every origin")
	fs.StringVar(&o.catalog, "catalog", "testdata/catalog.json", "catalog seed JSON")
	fs.StringVar(&o.content, "content", "testdata/content.json", "CMS content JSON; empty for none")
	fs.StringVar(&o.identities, "identities", "testdata/identities.json", "demo identities of the identity provider under /idp; empty for none")
	fs.StringVar(&o.webhookURL, "webhook", "", "URL notified after admin edits of master data or content; empty for none")
	fs.StringVar(&o.orderWebhookURL, "order-webhook", "", "URL notified of every order status change (accepted, confirmed, shipped); empty for none")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "secret signing the notifications of -webhook and -order-webhook (default: $"+webhookSecretEnv+")")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.webhookSecret == "" {
		o.webhookSecret = getenv(webhookSecretEnv)
	}
	for _, hook := range []struct{ flag, url string }{{"webhook", o.webhookURL}, {"order-webhook", o.orderWebhookURL}} {
		if hook.url != "" && o.webhookSecret == "" {
			return o, fmt.Errorf("-%s needs a secret: set -webhook-secret or %s", hook.flag, webhookSecretEnv)
		}
	}
	return o, nil
}

// run serves until ctx is cancelled, then shuts down.
func run(ctx context.Context, o options, log *slog.Logger) error {
	cfg := globalsim.Config{Latency: o.latency, Jitter: o.jitter, Logger: log}
	if o.webhookURL != "" {
		cfg.Webhook = globalsim.WebhookConfig{URL: o.webhookURL, Secret: []byte(o.webhookSecret)}
	}
	if o.orderWebhookURL != "" {
		cfg.OrderWebhook = globalsim.WebhookConfig{URL: o.orderWebhookURL, Secret: []byte(o.webhookSecret)}
	}
	var err error
	if cfg.Catalog, err = os.ReadFile(o.catalog); err != nil {
		return fmt.Errorf("read catalog seed (run from the repository root or set -catalog): %w", err)
	}
	if o.content != "" {
		if cfg.Content, err = os.ReadFile(o.content); err != nil {
			return fmt.Errorf("read content (set -content \"\" to run without pages): %w", err)
		}
	}
	if o.identities != "" {
		if cfg.Identities, err = os.ReadFile(o.identities); err != nil {
			return fmt.Errorf("read identities (set -identities \"\" to run without the identity provider): %w", err)
		}
	}
	sim, err := globalsim.New(cfg)
	if err != nil {
		return err
	}
	srv, err := sim.Start(o.addr)
	if err != nil {
		return err
	}
	logServing(log, sim, srv, o)
	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func logServing(log *slog.Logger, sim *globalsim.Sim, srv *globalsim.Server, o options) {
	st := sim.Stats()
	log.Info("simulated global side serving",
		"url", srv.URL(), "products", st.Products, "pages", st.Pages,
		"latency", o.latency, "jitter", o.jitter, "catalog", o.catalog, "content", o.content)
	byOrigin := map[globalsim.Origin][]string{}
	for _, r := range globalsim.Routes() {
		byOrigin[r.Origin] = append(byOrigin[r.Origin], r.String())
	}
	for _, origin := range globalsim.Origins() {
		log.Info("origin", "name", origin, "base_url", srv.OriginURL(origin), "routes", strings.Join(byOrigin[origin], ", "))
	}
	log.Info("admin API (no faults, not logged)", "base_url", srv.URL()+"/admin", "routes", strings.Join(byOrigin[""], ", "))
	if o.webhookURL != "" {
		log.Info("webhook notifications on", "receiver", redactedURL(o.webhookURL))
	}
	if o.orderWebhookURL != "" {
		log.Info("order webhook notifications on", "receiver", redactedURL(o.orderWebhookURL))
	}
	if idp := sim.IdP(); idp != nil {
		log.Info("demo identity provider", "issuer", idp.Issuer(), "identities", o.identities,
			"dev_token", idp.Issuer()+"/dev/token?sub=cust-0001")
	}
}

// redactedURL is a webhook URL without user info and query, which may
// carry a receiver's credentials.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
