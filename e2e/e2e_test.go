// Package e2e tests Meridian the way it ships: it builds the real binary,
// starts it on a free port with a fresh database, and talks to it over HTTP
// as a client would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meridian/internal/testenv"
)

// binary and simBinary are the gateway and the simulated global side,
// built once for the whole package.
var binary, simBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meridian-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "meridian")
	simBinary = filepath.Join(dir, "globalsim")
	for out, pkg := range map[string]string{binary: ".", simBinary: "./cmd/globalsim"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = ".."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gateway is a running meridian process.
type gateway struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary with env added to a minimal environment and waits
// until /readyz answers: stores reachable and the catalog mirror filled.
func start(t *testing.T, env ...string) *gateway {
	t.Helper()
	return startAt(t, freeAddr(t), env...)
}

// startAt is start on a chosen address, for tests that must tell another
// process (globalsim's webhook) where the gateway will be.
func startAt(t *testing.T, addr string, env ...string) *gateway {
	t.Helper()
	g := &gateway{url: "http://" + addr, logs: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(binary)
	g.cmd.Dir = t.TempDir()
	g.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ADDR=" + addr}, env...)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(g.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("gateway exited before it was healthy: %v\n%s", err, g.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready after 60s\n%s", g.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type result struct {
	status  int
	header  http.Header
	Data    map[string]json.RawMessage `json:"data"`
	Errors  []map[string]any           `json:"errors"`
	rawBody []byte
}

func (g *gateway) post(t *testing.T, q string, vars map[string]any, headers ...string) result {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest("POST", g.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, rawBody: raw}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return r
}

const catalogPage = `query CatalogPage($q: String, $after: String) {
  search(query: $q, first: 5, after: $after) {
    totalCount
    edges { cursor node { id sku name description price { amount currency formatted } images { url alt } category { id name } freshness { source asOf stale } } }
    pageInfo { hasNextPage endCursor }
  }
}`

type searchData struct {
	Search struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct {
				ID, Sku, Name string
				Price         struct{ Amount, Currency, Formatted string }
				Category      struct{ ID, Name string }
				Freshness     struct {
					Source string
					AsOf   time.Time
					Stale  bool
				}
			}
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   string
		}
	}
}

// exerciseCatalog runs the catalog read path against a running gateway.
func exerciseCatalog(t *testing.T, g *gateway) {
	r := g.post(t, catalogPage, map[string]any{"q": "精华"}, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
	if r.status != 200 || len(r.Errors) > 0 {
		t.Fatalf("search: status %d, errors %v", r.status, r.Errors)
	}
	if got := r.header.Get("Content-Language"); got != "zh-Hans-CN" {
		t.Errorf("Content-Language = %q, want zh-Hans-CN", got)
	}
	var d searchData
	if err := json.Unmarshal(mustJSON(t, r.Data), &d); err != nil {
		t.Fatal(err)
	}
	if d.Search.TotalCount < 8 || len(d.Search.Edges) != 5 || !d.Search.PageInfo.HasNextPage {
		t.Fatalf("search 精华: totalCount %d, %d edges, hasNextPage %v; want >= 8, 5, true",
			d.Search.TotalCount, len(d.Search.Edges), d.Search.PageInfo.HasNextPage)
	}
	for _, e := range d.Search.Edges {
		n := e.Node
		if !strings.Contains(n.Name, "精华") {
			t.Errorf("%s: name %q does not contain 精华", n.ID, n.Name)
		}
		if !strings.HasPrefix(n.Price.Formatted, "¥") || n.Price.Currency != "CNY" || !regexp.MustCompile(`^\d+\.\d{2}$`).MatchString(n.Price.Amount) {
			t.Errorf("%s: price %+v, want a ¥-formatted CNY decimal", n.ID, n.Price)
		}
		if n.Freshness.Source != "MIRROR" || n.Freshness.Stale || n.Freshness.AsOf.IsZero() {
			t.Errorf("%s: freshness %+v, want MIRROR, not stale, with asOf", n.ID, n.Freshness)
		}
		if n.Category.ID != "skin-care" && n.Category.Name == "" {
			t.Errorf("%s: category %+v", n.ID, n.Category)
		}
	}

	// The next page continues after the last cursor, with no overlap.
	next := g.post(t, catalogPage, map[string]any{"q": "精华", "after": d.Search.PageInfo.EndCursor}, "Accept-Language", "en-US")
	var d2 searchData
	if err := json.Unmarshal(mustJSON(t, next.Data), &d2); err != nil {
		t.Fatal(err)
	}
	if len(d2.Search.Edges) == 0 || d2.Search.Edges[0].Node.ID <= d.Search.Edges[4].Node.ID {
		t.Errorf("second page starts at %+v, want after %s", d2.Search.Edges, d.Search.Edges[4].Node.ID)
	}
	for _, e := range d2.Search.Edges {
		if !strings.HasPrefix(e.Node.Price.Formatted, "CN¥") {
			t.Errorf("en-US formatted = %q, want CN¥…", e.Node.Price.Formatted)
		}
	}
	if got := next.header.Get("Content-Language"); got != "en-US" {
		t.Errorf("Content-Language = %q, want en-US", got)
	}

	// GET for queries, per GraphQL over HTTP.
	req, _ := http.NewRequest("GET", g.url+"/graphql?query="+url.QueryEscape(`{ categories { id name } }`), nil)
	req.Header.Set("Accept", "application/graphql-response+json")
	req.Header.Set("Accept-Language", "zh-TW")
	cats := send(t, req)
	if cats.status != 200 || !strings.HasPrefix(cats.header.Get("Content-Type"), "application/graphql-response+json") {
		t.Errorf("GET categories: status %d, Content-Type %q", cats.status, cats.header.Get("Content-Type"))
	}
	var cd struct{ Categories []struct{ ID, Name string } }
	_ = json.Unmarshal(mustJSON(t, cats.Data), &cd)
	if len(cd.Categories) < 8 {
		t.Errorf("categories = %d, want >= 8", len(cd.Categories))
	}

	// Bad input is a clear error, never a 500.
	bad := g.post(t, `{ search(first: 1000) { totalCount } }`, nil)
	if bad.status != 200 || len(bad.Errors) != 1 || bad.Errors[0]["extensions"].(map[string]any)["code"] != "BAD_USER_INPUT" {
		t.Errorf("first: 1000 → %d %s, want BAD_USER_INPUT", bad.status, bad.rawBody)
	}
}

func mustJSON(t *testing.T, data map[string]json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCatalogOnSQLite(t *testing.T) {
	g := start(t, "DATABASE_URL=sqlite:meridian.db")
	exerciseCatalog(t, g)
	if !strings.Contains(g.logs.String(), "DEMO MODE") {
		t.Error("demo mode is not logged")
	}
}

// TestDemoSignIn: in demo mode a playground user gets a demo token from the
// gateway itself and sees the demo profile.
func TestDemoSignIn(t *testing.T) {
	g := start(t)
	resp, err := http.Get(g.url + "/auth/dev-token?sub=cust-0001")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("GET /auth/dev-token: %d, no token", resp.StatusCode)
	}
	r := g.post(t, `{ me { id profile { mobile consultantId } } }`, nil, "Authorization", "Bearer "+tok.AccessToken)
	if !strings.Contains(string(r.rawBody), `"mobile":"13812345678"`) || !strings.Contains(string(r.rawBody), `"consultantId":"cons-0001"`) {
		t.Errorf("me as cust-0001: %s", r.rawBody)
	}
}

func TestCatalogOnPostgres(t *testing.T) {
	g := start(t, "DATABASE_URL="+testenv.PostgresURL(t))
	exerciseCatalog(t, g)
	ready, err := http.Get(g.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 200 {
		t.Errorf("/readyz = %d, want 200", ready.StatusCode)
	}
}

// TestPlaygroundIsSelfContained loads the playground and every asset it
// references, and checks that nothing points at another host.
func TestPlaygroundIsSelfContained(t *testing.T) {
	g := start(t)
	resp, err := http.Get(g.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		msg := "playground assets not built: run make playground"
		if testenv.ServersRequired() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if resp.StatusCode != 200 || !strings.Contains(string(page), "GraphiQL") && !strings.Contains(string(page), "graphiql") {
		t.Fatalf("GET / = %d, want the GraphiQL page", resp.StatusCode)
	}
	refs := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']([^"']+)["']`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 2 {
		t.Fatalf("page references %d resources, expected scripts and styles", len(refs))
	}
	external := regexp.MustCompile(`(?i)^(?:[a-z][a-z0-9+.-]*:)?//`)
	for _, ref := range refs {
		target := ref[1]
		if external.MatchString(target) {
			t.Errorf("playground references an external host: %s", target)
			continue
		}
		if strings.HasPrefix(target, "data:") || strings.HasPrefix(target, "#") {
			continue
		}
		u, _ := url.Parse(g.url + "/")
		asset, _ := u.Parse(target)
		ar, err := http.Get(asset.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(ar.Body)
		ar.Body.Close()
		if ar.StatusCode != 200 {
			t.Errorf("%s = %d", target, ar.StatusCode)
		}
		if strings.HasSuffix(target, ".css") {
			for _, m := range regexp.MustCompile(`url\(\s*['"]?([^'")]+)`).FindAllStringSubmatch(string(body), -1) {
				if external.MatchString(m[1]) {
					t.Errorf("%s loads %s", target, m[1])
				}
			}
		}
	}
}

// TestGracefulShutdown sends SIGTERM while a request is in flight: the
// request completes and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	g := start(t)
	inFlight := make(chan result, 1)
	go func() {
		// A page large enough to still be running when the signal lands is
		// not guaranteed; what is guaranteed is that an accepted request
		// gets its answer.
		body, _ := json.Marshal(map[string]any{"query": catalogPage, "variables": map[string]any{"q": "精华"}})
		req, _ := http.NewRequest("POST", g.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- result{status: -1}
			return
		}
		resp.Body.Close()
		inFlight <- result{status: resp.StatusCode}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-g.done:
		g.done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, g.logs.String())
		}
	case <-ctx.Done():
		t.Fatal("gateway did not exit after SIGTERM")
	}
	if r := <-inFlight; r.status != 200 && r.status != -1 {
		t.Errorf("in-flight request got %d", r.status)
	}
	if !strings.Contains(g.logs.String(), "stopped cleanly") {
		t.Errorf("logs do not show a clean stop:\n%s", g.logs.String())
	}
}

func TestProductionRefusesDemoMode(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"ENV=production", "ADDR=" + freeAddr(t)}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("production without origins started:\n%s", out)
	}
	if !strings.Contains(string(out), "refuses demo mode") {
		t.Errorf("output does not say why:\n%s", out)
	}
}
