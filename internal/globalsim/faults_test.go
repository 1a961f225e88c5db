package globalsim

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFaultsAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Latency, c.Jitter = 180*time.Millisecond, 30*time.Millisecond })
	var list faultList
	h.call(t, http.MethodGet, "/admin/faults", nil, http.StatusOK, &list)
	def := func(o Origin) faultView { return faultView{Origin: o, LatencyMS: 180, JitterMS: 30} }
	want := faultList{Faults: []faultView{def(OriginMasterdata), def(OriginOrders), def(OriginCMS)}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}

	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       faultView
	}{
		{"one field keeps the others", `{"origin":"orders","error_rate":0.25}`, 200, faultView{Origin: OriginOrders, LatencyMS: 180, JitterMS: 30, ErrorRate: 0.25}},
		{"all fields", `{"origin":"cms","latency_ms":0,"jitter_ms":0,"error_rate":0,"blackhole":false}`, 200, faultView{Origin: OriginCMS}},
		{"unknown origin", `{"origin":"payments","latency_ms":10}`, 400, faultView{}},
		{"admin is not an origin", `{"origin":"admin","latency_ms":10}`, 400, faultView{}},
		{"no origin", `{"latency_ms":10}`, 400, faultView{}},
		{"error rate above 1", `{"origin":"cms","error_rate":1.5}`, 400, faultView{}},
		{"negative error rate", `{"origin":"cms","error_rate":-0.1}`, 400, faultView{}},
		{"negative latency", `{"origin":"cms","latency_ms":-1}`, 400, faultView{}},
		{"latency over a minute", `{"origin":"cms","latency_ms":60001}`, 400, faultView{}},
		{"fractional milliseconds", `{"origin":"cms","latency_ms":1.5}`, 400, faultView{}},
		{"blackhole as a string", `{"origin":"cms","blackhole":"yes"}`, 400, faultView{}},
		{"unknown field", `{"origin":"cms","loss":0.1}`, 400, faultView{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, http.MethodPut, "/admin/faults", tt.body, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("got %d %s want %d", r.status, r.body, tt.wantStatus)
			}
			if r.status == http.StatusOK {
				if diff := cmp.Diff(tt.want, decode[faultView](t, r)); diff != "" {
					t.Errorf("setting (-want +got):\n%s", diff)
				}
			}
		})
	}

	h.call(t, http.MethodDelete, "/admin/faults", nil, http.StatusOK, &list)
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("after reset (-want +got):\n%s", diff)
	}
}

func TestErrorRateOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setFaults(t, `{"origin":"masterdata","error_rate":1}`)
	for range 3 {
		r := h.do(t, http.MethodPost, "/masterdata/v1/prices:batchGet", `{"skus":["TST-0001"]}`, nil)
		if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
			t.Fatalf("got %d %q want 503 unavailable", r.status, r.errorCode())
		}
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After: got %q want 1", got)
		}
	}
	h.call(t, http.MethodGet, "/cms/v1/pages", nil, http.StatusOK, nil)
	h.call(t, http.MethodGet, "/admin/faults", nil, http.StatusOK, nil)
	var log requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	if got := log.Counts["POST /masterdata/v1/prices:batchGet"]; got != 3 {
		t.Errorf("failed requests logged: got %d want 3", got)
	}
}

func TestErrorRateFraction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setFaults(t, `{"origin":"cms","error_rate":0.3}`)
	const n = 200
	failed := 0
	for range n {
		switch r := h.do(t, http.MethodGet, "/cms/v1/pages", nil, nil); r.status {
		case http.StatusServiceUnavailable:
			failed++
		case http.StatusOK:
		default:
			t.Fatalf("got %d want 200 or 503", r.status)
		}
	}
	if failed < n*15/100 || failed > n*45/100 {
		t.Errorf("got %d of %d requests failed want about 30%%", failed, n)
	}
}

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	ft := newFaultTable(faultSetting{Latency: 100 * time.Millisecond, Jitter: 30 * time.Millisecond}, rand.New(rand.NewPCG(1, 1)))
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d, fail := ft.draw(OriginCMS)
		if fail {
			t.Fatal("got a failure with error rate 0")
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 70*time.Millisecond || hi > 130*time.Millisecond || lo > 75*time.Millisecond || hi < 125*time.Millisecond {
		t.Errorf("got delays in [%v, %v] want spread over [70ms, 130ms]", lo, hi)
	}
	ft.set(OriginCMS, faultSetting{Latency: 5 * time.Millisecond, Jitter: 50 * time.Millisecond})
	for range 200 {
		if d, _ := ft.draw(OriginCMS); d < 0 {
			t.Fatalf("got negative delay %v", d)
		}
	}
}

func TestLatencyApplied(t *testing.T) {
	t.Parallel()
	const latency = 300 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.Latency = latency })
	elapsed := func(method, path string, body any) time.Duration {
		start := time.Now()
		h.do(t, method, path, body, nil)
		return time.Since(start)
	}
	if d := elapsed(http.MethodGet, "/cms/v1/pages", nil); d < latency {
		t.Errorf("cms with default latency: took %v want at least %v", d, latency)
	}
	if d := elapsed(http.MethodGet, "/admin/faults", nil); d >= latency {
		t.Errorf("admin: took %v want no injected latency", d)
	}
	h.setFaults(t, `{"origin":"masterdata","latency_ms":450}`)
	if d := elapsed(http.MethodPost, "/masterdata/v1/inventory:batchGet", `{"skus":["TST-0001"]}`); d < 450*time.Millisecond {
		t.Errorf("masterdata at 450ms: took %v", d)
	}
	h.setFaults(t, `{"origin":"orders","latency_ms":0}`)
	if d := elapsed(http.MethodGet, "/orders/v1/orders?subject=s", nil); d >= latency {
		t.Errorf("orders at 0ms: took %v want no injected latency", d)
	}
}

// post sends a batch lookup with a plain client and reports the status, so
// it can run outside the test goroutine.
func post(ctx context.Context, client *http.Client, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/masterdata/v1/inventory:batchGet", strings.NewReader(`{"skus":["TST-0001"]}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// waitHeld polls the admin API until the origin's blackhole holds n requests.
func waitHeld(t *testing.T, client *http.Client, base string, o Origin, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var list faultList
		resp, err := client.Get(base + "/admin/faults")
		if err != nil {
			t.Fatalf("GET /admin/faults: %v", err)
		}
		h := response{status: resp.StatusCode}
		h.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		list = decode[faultList](t, h)
		for _, f := range list.Faults {
			if f.Origin == o && f.Held == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("blackhole of %s: got %+v want %d held", o, list.Faults, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setFaults(t, `{"origin":"masterdata","blackhole":true}`)

	impatient := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := post(context.Background(), impatient, h.srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client with a 200ms timeout: got err %v want a timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("timed out after %v want at least 200ms", d)
	}
	// The request the client gave up on is let go.
	waitHeld(t, h.srv.Client(), h.srv.URL, OriginMasterdata, 0)
	// Other origins and admin are untouched.
	h.call(t, http.MethodGet, "/cms/v1/pages", nil, http.StatusOK, nil)

	// Switching the blackhole off releases waiting requests, which are then served.
	done := make(chan error, 2)
	for range 2 {
		go func() {
			status, err := post(context.Background(), h.srv.Client(), h.srv.URL)
			if err == nil && status != http.StatusOK {
				err = errors.New(http.StatusText(status))
			}
			done <- err
		}()
	}
	waitHeld(t, h.srv.Client(), h.srv.URL, OriginMasterdata, 2)
	h.setFaults(t, `{"origin":"masterdata","blackhole":false}`)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("released request: got %v want 200", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("released request still waiting after 5s")
		}
	}

	var log requestLogView
	h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, &log)
	if got := log.Counts["POST /masterdata/v1/inventory:batchGet"]; got != 3 {
		t.Errorf("blackholed requests logged: got %d want 3", got)
	}
}

// TestCloseReleasesEverything is not parallel: it counts goroutines.
func TestCloseReleasesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	sim, err := New(Config{Catalog: []byte(testCatalog), Content: []byte(testContent)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	transport := &http.Transport{}
	client := &http.Client{Transport: transport}
	for _, body := range []string{`{"origin":"masterdata","blackhole":true}`, `{"origin":"cms","latency_ms":60000}`} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT /admin/faults %s: %v %v", body, resp, err)
		}
		resp.Body.Close()
	}

	results := make(chan int, 3)
	for range 2 {
		go func() {
			status, _ := post(context.Background(), client, srv.URL)
			results <- status
		}()
	}
	go func() {
		resp, err := client.Get(srv.URL + "/cms/v1/pages") // held by the one-minute latency
		if err != nil {
			results <- 0
			return
		}
		resp.Body.Close()
		results <- resp.StatusCode
	}()
	waitHeld(t, client, srv.URL, OriginMasterdata, 2)
	waitLogged(t, sim, 3)

	closed := make(chan struct{})
	go func() { sim.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waiting after 5s")
	}
	for range 3 {
		if got := <-results; got != http.StatusServiceUnavailable {
			t.Errorf("request in flight at Close: got %d want 503", got)
		}
	}
	if r, err := client.Get(srv.URL + "/cms/v1/pages"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after Close: got %v %v want 503", r, err)
	} else {
		r.Body.Close()
	}
	sim.Close() // idempotent
	srv.Close()
	transport.CloseIdleConnections()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d want at most %d as before\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLogged(t *testing.T, sim *Sim, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for sim.reqlog.view().Total < n {
		if time.Now().After(deadline) {
			t.Fatalf("request log: got %d requests want %d", sim.reqlog.view().Total, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
