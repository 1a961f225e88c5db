package globalsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian/internal/webhook"
)

// testSecret is a webhook secret long enough for the gateway's verifier.
const testSecret = "0123456789abcdef-test"

func TestDeleteProduct(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var start feedPage[mdChange]
	h.call(t, http.MethodGet, "/masterdata/v1/changes", nil, http.StatusOK, &start)

	h.clock.Advance(time.Minute)
	var res deleteResult
	h.call(t, http.MethodDelete, "/admin/masterdata/products/TST-0003", nil, http.StatusOK, &res)
	if res.SKU != "TST-0003" || res.Change.Kind != ChangeDeleted || res.Change.SKU != "TST-0003" || !res.Change.ChangedAt.Equal(testEpoch.Add(time.Minute)) {
		t.Errorf("delete result: got %+v want a deleted change of TST-0003 at the clock's time", res)
	}
	if res.Change.Product != nil || res.Change.Price != "" || res.Change.Available != nil {
		t.Errorf("deleted change carries data: %+v", res.Change)
	}

	if r := h.do(t, http.MethodGet, "/masterdata/v1/products/TST-0003", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("get deleted product: got %d %q want 404 not_found", r.status, r.errorCode())
	}
	var inv batchResult[inventoryItem]
	h.call(t, http.MethodPost, "/masterdata/v1/inventory:batchGet", skuBatch{SKUs: []string{"TST-0003", "TST-0001"}}, http.StatusOK, &inv)
	if len(inv.Items) != 1 || inv.Items[0].SKU != "TST-0001" || len(inv.Missing) != 1 || inv.Missing[0] != "TST-0003" {
		t.Errorf("inventory after delete: got %+v want TST-0003 missing", inv)
	}
	var listing productPage
	h.call(t, http.MethodGet, "/masterdata/v1/products?limit=2", nil, http.StatusOK, &listing)
	var skus []string
	for {
		for _, p := range listing.Products {
			skus = append(skus, p.SKU)
		}
		if !listing.HasMore {
			break
		}
		h.call(t, http.MethodGet, "/masterdata/v1/products?limit=2&cursor="+listing.NextCursor, nil, http.StatusOK, &listing)
	}
	if got, want := strings.Join(skus, ","), "TST-0001,TST-0002,TST-0004,TST-0005"; got != want {
		t.Errorf("listing after delete: got %s want %s", got, want)
	}
	if got := h.sim.Stats().Products; got != 4 {
		t.Errorf("Stats().Products: got %d want 4", got)
	}

	changes, _, _ := readFeed[mdChange](t, h, "/masterdata/v1/changes", start.NextCursor, 10)
	if len(changes) != 1 || changes[0].ID != res.Change.ID {
		t.Errorf("feed after delete: got %+v want exactly the deletion", changes)
	}

	if r := h.do(t, http.MethodDelete, "/admin/masterdata/products/TST-0003", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("delete twice: got %d %q want 404 not_found", r.status, r.errorCode())
	}
	if r := h.do(t, http.MethodPatch, "/admin/masterdata/products/TST-0003", `{"available":1}`, nil); r.status != http.StatusNotFound {
		t.Errorf("patch deleted product: got %d want 404", r.status)
	}
	if r := h.createOrder(t, "after-delete", newOrderBody("TST-0003", 1, "1299.00")); r.status != http.StatusUnprocessableEntity || r.errorCode() != "unknown_sku" {
		t.Errorf("order of a deleted SKU: got %d %q want 422 unknown_sku", r.status, r.errorCode())
	}
}

// hookReceiver is a webhook endpoint that verifies signatures and records
// what it got. answer decides each attempt's status (by attempt number,
// from 1); nil answers 204.
type hookReceiver struct {
	t      *testing.T
	secret []byte
	answer func(attempt int) int
	srv    *httptest.Server

	attempts atomic.Int32
	got      chan webhookEvent // verified deliveries answered 2xx
}

func newHookReceiver(t *testing.T, secret string, answer func(int) int) *hookReceiver {
	hr := &hookReceiver{t: t, secret: []byte(secret), answer: answer, got: make(chan webhookEvent, 16)}
	hr.srv = httptest.NewServer(http.HandlerFunc(hr.serve))
	t.Cleanup(hr.srv.Close)
	return hr
}

func (hr *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	n := int(hr.attempts.Add(1))
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hr.t.Errorf("webhook: read body: %v", err)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		hr.t.Errorf("webhook: got %s with Content-Type %q want a JSON POST", r.Method, r.Header.Get("Content-Type"))
	}
	stamp := r.Header.Get("X-Meridian-Timestamp")
	mac := hmac.New(sha256.New, hr.secret)
	mac.Write([]byte(stamp + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("X-Meridian-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		hr.t.Errorf("webhook: signature %q does not verify (want %q)", got, want)
	}
	if ts, err := strconv.ParseInt(stamp, 10, 64); err != nil || ts != testEpoch.Unix() {
		hr.t.Errorf("webhook: timestamp %q want the simulator clock's %d", stamp, testEpoch.Unix())
	}
	status := http.StatusNoContent
	if hr.answer != nil {
		status = hr.answer(n)
	}
	w.WriteHeader(status)
	if status < 300 {
		var ev webhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			hr.t.Errorf("webhook: body %s: %v", body, err)
		}
		hr.got <- ev
	}
}

func (hr *hookReceiver) next(t *testing.T) webhookEvent {
	t.Helper()
	select {
	case ev := <-hr.got:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery within 10s")
		return webhookEvent{}
	}
}

func TestWebhookAfterAdminEdits(t *testing.T) {
	t.Parallel()
	hr := newHookReceiver(t, testSecret, nil)
	h := newHarness(t, func(c *Config) {
		c.Webhook = WebhookConfig{URL: hr.srv.URL + "/hooks/global?token=abc", Secret: []byte(testSecret)}
	})

	h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0001", `{"price":"499.00","available":3}`, http.StatusOK, nil)
	if ev := hr.next(t); ev != (webhookEvent{Origin: OriginMasterdata, Changes: 2}) {
		t.Errorf("after PATCH product: got %+v want masterdata with 2 changes", ev)
	}
	h.call(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"title":{"en":"About"}}`, http.StatusOK, nil)
	if ev := hr.next(t); ev != (webhookEvent{Origin: OriginCMS, Changes: 1}) {
		t.Errorf("after PATCH page: got %+v want cms with 1 change", ev)
	}
	h.call(t, http.MethodDelete, "/admin/masterdata/products/TST-0002", nil, http.StatusOK, nil)
	if ev := hr.next(t); ev != (webhookEvent{Origin: OriginMasterdata, Changes: 1}) {
		t.Errorf("after DELETE product: got %+v want masterdata with 1 change", ev)
	}

	// Edits that change nothing, and reads, notify nobody.
	h.do(t, http.MethodPatch, "/admin/masterdata/products/NOPE", `{"available":1}`, nil)
	h.do(t, http.MethodDelete, "/admin/masterdata/products/NOPE", nil, nil)
	h.do(t, http.MethodPut, "/admin/faults", `{"origin":"cms","error_rate":0}`, nil)
	h.sim.Close() // waits for any delivery in progress
	if n := hr.attempts.Load(); n != 3 {
		t.Errorf("receiver got %d requests want 3", n)
	}
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	hr := newHookReceiver(t, testSecret, func(attempt int) int {
		if attempt == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h := newHarness(t, func(c *Config) { c.Webhook = WebhookConfig{URL: hr.srv.URL, Secret: []byte(testSecret)} })
	h.call(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"body":{"en":"New"}}`, http.StatusOK, nil)
	if ev := hr.next(t); ev.Origin != OriginCMS {
		t.Errorf("got %+v want the cms notification", ev)
	}
	if n := hr.attempts.Load(); n != 2 {
		t.Errorf("attempts: got %d want 2 (one failure, one retry)", n)
	}
}

// syncBuffer is an io.Writer safe for the delivery goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (sb *syncBuffer) Write(p []byte) (int, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.b.Write(p)
}

func (sb *syncBuffer) String() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.b.String()
}

func TestWebhookFailureIsLoggedAndNeverBlocks(t *testing.T) {
	t.Parallel()
	const secret = "do-not-log-this-secret-either"
	hr := newHookReceiver(t, secret, func(int) int { return http.StatusInternalServerError })
	var logs syncBuffer
	h := newHarness(t, func(c *Config) {
		c.Webhook = WebhookConfig{URL: hr.srv.URL, Secret: []byte(secret)}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0001", `{"available":9}`, http.StatusOK, nil)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "webhook delivery failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged within 10s; log: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := hr.attempts.Load(); n != webhookAttempts {
		t.Errorf("attempts: got %d want %d", n, webhookAttempts)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("log mentions the secret: %s", logs.String())
	}
}

func TestWebhookReceiverHangingDoesNotDelayAdmin(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	h := newHarness(t, func(c *Config) { c.Webhook = WebhookConfig{URL: hang.URL, Secret: []byte(testSecret)} })
	start := time.Now()
	h.call(t, http.MethodPatch, "/admin/masterdata/products/TST-0001", `{"available":9}`, http.StatusOK, nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("admin PATCH took %v with a hanging receiver, want it answered at once", d)
	}
	closed := time.Now()
	h.sim.Close() // abandons the delivery instead of waiting out its retries
	if d := time.Since(closed); d > 2*webhookAttemptTimeout {
		t.Errorf("Close took %v with a delivery in progress", d)
	}
}

func TestWebhookConfigValidated(t *testing.T) {
	t.Parallel()
	for name, wc := range map[string]WebhookConfig{
		"relative URL":    {URL: "/hook", Secret: []byte(testSecret)},
		"ftp URL":         {URL: "ftp://example.com/hook", Secret: []byte(testSecret)},
		"no secret":       {URL: "http://127.0.0.1:1/hook"},
		"unparseable URL": {URL: "http://[::1", Secret: []byte(testSecret)},
		"host is missing": {URL: "http:///hook", Secret: []byte(testSecret)},
	} {
		_, err := New(Config{Catalog: []byte(testCatalog), Webhook: wc})
		if err == nil || !strings.Contains(err.Error(), "webhook") {
			t.Errorf("%s: got %v want a webhook config error", name, err)
		}
	}
}

func TestWebhookVerifiesWithTheGatewayVerifier(t *testing.T) {
	t.Parallel()
	replays, err := webhook.NewMemoryReplays(100)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := webhook.NewVerifier(webhook.VerifierConfig{
		Secrets: [][]byte{[]byte(testSecret)},
		Now:     func() time.Time { return testEpoch },
		Replays: replays,
	})
	if err != nil {
		t.Fatal(err)
	}
	verified := make(chan error, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified <- verifier.Verify(r.Context(), r.Header, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	h := newHarness(t, func(c *Config) { c.Webhook = WebhookConfig{URL: recv.URL, Secret: []byte(testSecret)} })
	h.call(t, http.MethodPatch, "/admin/cms/pages/about-us", `{"title":{"en":"Verified"}}`, http.StatusOK, nil)
	select {
	case err := <-verified:
		if err != nil {
			t.Errorf("the gateway's verifier refused the simulator's webhook: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook within 10s")
	}
}
