package syncjobs_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/cms"
	"meridian/adapters/content"
	"meridian/adapters/masterdata"
	"meridian/internal/db"
	"meridian/internal/globalsim"
	"meridian/internal/metrics"
	"meridian/internal/originhttp"
	"meridian/internal/syncjobs"
	"meridian/internal/testenv"
)

// epoch is where the fake clock starts.
var epoch = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 90*time.Second)
}

// databases runs fn once on a fresh SQLite file and once on a fresh
// PostgreSQL schema; url returns the database's URL.
func databases(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "meridian.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, testenv.PostgresURL(t))
	})
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// changeLog records OnChange calls.
type changeLog struct {
	mu      sync.Mutex
	changes []syncjobs.Change
}

func (l *changeLog) record(_ context.Context, c syncjobs.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

// take returns the changes recorded since the last take.
func (l *changeLog) take() []syncjobs.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.changes
	l.changes = nil
	return out
}

// env is the real simulator (zero latency) behind httptest, the typed
// clients, the mirrors and state on one database, and a Runner with both
// jobs.
type env struct {
	clock   *testenv.Clock
	sim     *globalsim.Sim
	srv     *httptest.Server
	db      *db.DB
	md      *masterdata.Client
	cms     *cms.Client
	catalog *catalog.SQLStore
	content *content.SQLStore
	state   *syncjobs.SQLStateStore
	metrics *metrics.Metrics
	changes *changeLog
	runner  *syncjobs.Runner
}

type envOptions struct {
	sim    func(*globalsim.Config)
	runner func(*syncjobs.Config)
	// wrapMD wraps the master data source, to inject failures the
	// simulator cannot.
	wrapMD func(syncjobs.MasterdataSource) syncjobs.MasterdataSource
	// wrapCMS does the same for the CMS source.
	wrapCMS func(syncjobs.CMSSource) syncjobs.CMSSource
}

func newEnv(t *testing.T, url string, opts envOptions) *env {
	t.Helper()
	ctx := testContext(t)
	e := &env{clock: testenv.NewClock(epoch), metrics: metrics.New(), changes: &changeLog{}}
	simCfg := globalsim.Config{Catalog: readTestdata(t, "catalog.json"), Content: readTestdata(t, "content.json"), Now: e.clock.Now, Seed: 1}
	if opts.sim != nil {
		opts.sim(&simCfg)
	}
	var err error
	if e.sim, err = globalsim.New(simCfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.sim.Handler())
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.sim.Close)

	mdHTTP, err := originhttp.New(originhttp.Config{BaseURL: e.srv.URL + "/masterdata", Origin: "masterdata"})
	if err != nil {
		t.Fatal(err)
	}
	cmsHTTP, err := originhttp.New(originhttp.Config{BaseURL: e.srv.URL + "/cms", Origin: "cms"})
	if err != nil {
		t.Fatal(err)
	}
	e.md, e.cms = masterdata.New(mdHTTP), cms.New(cmsHTTP)

	if e.db, err = db.Open(ctx, url); err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { e.db.Close() })
	if e.catalog, err = catalog.NewSQLStore(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	if e.content, err = content.NewSQLStore(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	if e.state, err = syncjobs.NewSQLStateStore(ctx, e.db); err != nil {
		t.Fatal(err)
	}

	var mdSrc syncjobs.MasterdataSource = e.md
	if opts.wrapMD != nil {
		mdSrc = opts.wrapMD(mdSrc)
	}
	mdJob, err := syncjobs.NewMasterdataJob(mdSrc, e.catalog)
	if err != nil {
		t.Fatal(err)
	}
	var cmsSrc syncjobs.CMSSource = e.cms
	if opts.wrapCMS != nil {
		cmsSrc = opts.wrapCMS(cmsSrc)
	}
	cmsJob, err := syncjobs.NewCMSJob(cmsSrc, e.content)
	if err != nil {
		t.Fatal(err)
	}
	cfg := syncjobs.Config{
		State:    e.state,
		Now:      e.clock.Now,
		Metrics:  e.metrics,
		OnChange: e.changes.record,
	}
	if opts.runner != nil {
		opts.runner(&cfg)
	}
	if e.runner, err = syncjobs.NewRunner(cfg, mdJob, cmsJob); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.runner.Stop)
	return e
}

// admin sends an admin request to the simulator and checks it answered
// 2xx.
func (e *env) admin(t *testing.T, method, path, body string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
}

// runOK runs a job and fails the test on error.
func (e *env) runOK(t *testing.T, job string) {
	t.Helper()
	if err := e.runner.RunOnce(testContext(t), job); err != nil {
		t.Fatalf("RunOnce(%s): %v", job, err)
	}
}

func (e *env) status(t *testing.T, job string) syncjobs.JobStatus {
	t.Helper()
	for _, s := range e.runner.Status() {
		if s.Job == job {
			return s
		}
	}
	t.Fatalf("no status for job %q", job)
	return syncjobs.JobStatus{}
}

func (e *env) lag(job string) float64 {
	return metricValue(e.metrics, "meridian_sync_lag_seconds", job)
}

func (e *env) runs(job, outcome string) float64 {
	return metricValue(e.metrics, "meridian_sync_runs_total", job, outcome)
}

// productBySKU reads one product from the mirror.
func (e *env) productBySKU(t *testing.T, sku string) (catalog.Product, bool) {
	t.Helper()
	got, err := e.catalog.ProductsBySKU(testContext(t), []string{sku})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := got[sku]
	return p, ok
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	n, err := e.catalog.CountProducts(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// originProducts reads the simulator's whole listing through the client.
func (e *env) originProducts(t *testing.T) []masterdata.Product {
	t.Helper()
	var all []masterdata.Product
	cursor := ""
	for {
		page, err := e.md.Products(testContext(t), cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Products...)
		if !page.HasMore {
			return all
		}
		cursor = page.NextCursor
	}
}

func changedIDs(changes []syncjobs.Change, kind syncjobs.ChangeKind) []string {
	var ids []string
	for _, c := range changes {
		if c.Kind == kind {
			ids = append(ids, c.IDs...)
		}
	}
	slices.Sort(ids)
	return ids
}

// memState is an in-memory StateStore for tests without a database.
type memState struct {
	mu     sync.Mutex
	states map[string]syncjobs.State
	fail   error // returned by every call when set
}

func newMemState() *memState { return &memState{states: map[string]syncjobs.State{}} }

func (m *memState) Load(_ context.Context, job string) (syncjobs.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return syncjobs.State{}, m.fail
	}
	st, ok := m.states[job]
	if !ok {
		st.Job = job
	}
	return st, nil
}

func (m *memState) Save(_ context.Context, st syncjobs.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.states[st.Job] = st
	return nil
}

func (m *memState) All(_ context.Context) ([]syncjobs.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []syncjobs.State
	for _, st := range m.states {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b syncjobs.State) int { return strings.Compare(a.Job, b.Job) })
	return out, nil
}

// metricValue reads a gauge or counter of m by name and label values (job,
// then outcome); a series never set reads 0.
func metricValue(m *metrics.Metrics, name string, labels ...string) float64 {
	families, err := m.Registry().Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			var values []string
			for _, l := range metric.GetLabel() {
				values = append(values, l.GetValue())
			}
			// Labels come sorted by name: job before outcome.
			if slices.Equal(values, labels) {
				if g := metric.GetGauge(); g != nil {
					return g.GetValue()
				}
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}
