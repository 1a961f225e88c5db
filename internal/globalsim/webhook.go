package globalsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"meridian/internal/webhook"
)

// Webhook delivery bounds. Delivery is best effort: a receiver that is down
// for longer than the retries finds the changes at its next scheduled poll
// of the change feed, which is what the webhook only hurries along.
const (
	webhookAttempts       = 3                      // the first try and two retries
	webhookAttemptTimeout = 2 * time.Second        // one POST, connection included
	webhookRetryDelay     = 200 * time.Millisecond // doubled after each failed attempt
	webhookUserAgent      = "meridian-globalsim"
)

// WebhookConfig names the receiver of one kind of notification: change
// notifications (Config.Webhook) or order status notifications
// (Config.OrderWebhook). The zero value sends none.
type WebhookConfig struct {
	// URL receives a POST for every notification of the kind configured.
	// Empty disables them. It must be an absolute http or https URL.
	URL string
	// Secret keys the HMAC-SHA256 signature of every notification (the
	// scheme of internal/webhook: X-Meridian-Timestamp and
	// X-Meridian-Signature). It is required when URL is set, at least
	// webhook.MinSecretLen bytes as the gateway demands, and never logged.
	Secret []byte
}

// validate checks wc; name ("webhook", "order webhook") says in the error
// which of the Config's webhooks is wrong.
func (wc WebhookConfig) validate(name string) error {
	if wc.URL == "" {
		return nil
	}
	u, err := url.Parse(wc.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s URL must be an absolute http or https URL", name)
	}
	if len(wc.Secret) < webhook.MinSecretLen {
		// The gateway's verifier refuses shorter secrets; failing here
		// says so at start-up instead of in every delivery.
		return fmt.Errorf("%s secret is required with a %s URL and must be at least %d bytes", name, name, webhook.MinSecretLen)
	}
	return nil
}

// webhookEvent is the body of a notification: which origin changed and how
// many change feed entries the edit appended. It deliberately carries no
// data: the receiver reads the change feed, the one source of truth.
type webhookEvent struct {
	Origin  Origin `json:"origin"`
	Changes int    `json:"changes"`
}

// notifier posts signed notifications to one receiver in the background.
// Each change notification is delivered by its own goroutine, so an admin
// call never waits for the receiver; the order notifier runs its deliveries
// on the notifier's goroutines too (see orderNotifier). close abandons the
// deliveries still retrying and waits for their goroutines.
type notifier struct {
	url    string
	secret []byte
	now    func() time.Time
	log    *slog.Logger
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newNotifier returns nil when cfg sends nothing; a nil notifier's methods
// do nothing.
func newNotifier(cfg WebhookConfig, now func() time.Time, log *slog.Logger) *notifier {
	if cfg.URL == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{
		url:    cfg.URL,
		secret: bytes.Clone(cfg.Secret),
		now:    now,
		log:    log,
		// No redirects: a notification is signed for one receiver.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ctx:    ctx,
		cancel: cancel,
	}
}

// notify starts delivering that changes feed entries were appended to
// origin's feed, and returns at once.
func (n *notifier) notify(origin Origin, changes int) {
	if n == nil || changes <= 0 {
		return
	}
	body, err := json.Marshal(webhookEvent{Origin: origin, Changes: changes})
	if err != nil {
		// A struct of a string and an int always encodes.
		panic(fmt.Sprintf("globalsim: encode webhook event: %v", err))
	}
	n.wg.Go(func() { n.deliver("webhook", body, "origin", origin) })
}

// deliver posts body with the retry policy (webhookAttempts attempts,
// webhookRetryDelay apart and doubling) and returns when it was answered
// 2xx, when every attempt failed, or when close abandoned it. A delivery
// that fails or is abandoned is logged as what (the kind of notification)
// with attrs naming the notification, and never tried again: the
// receiver's polling is the safety net.
func (n *notifier) deliver(what string, body []byte, attrs ...any) {
	delay := webhookRetryDelay
	var err error
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		if err = n.post(body); err == nil {
			return
		}
		if attempt == webhookAttempts {
			break
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			n.log.Warn(what+" abandoned: simulator closing", append(attrs, "err", err)...)
			return
		}
		delay *= 2
	}
	n.log.Warn(what+" delivery failed", append(attrs, "attempts", webhookAttempts, "err", err)...)
}

// post sends one signed attempt; any answer outside 2xx is a failure.
func (n *notifier) post(body []byte) error {
	ctx, cancel := context.WithTimeout(n.ctx, webhookAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	// Signed afresh per attempt, with the attempt's time, as the
	// receiver's replay window expects.
	webhook.SignRequest(req, n.secret, n.now(), body)
	resp, err := n.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which may carry a receiver's
		// token in its query: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// close abandons deliveries still waiting to retry, cuts short attempts in
// flight and waits for every delivery goroutine to end.
func (n *notifier) close() {
	if n == nil {
		return
	}
	n.cancel()
	n.wg.Wait()
	n.client.CloseIdleConnections()
}
