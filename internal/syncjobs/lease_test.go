package syncjobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian/adapters/catalog"
	"meridian/adapters/content"
	"meridian/internal/db"
	"meridian/internal/lease"
	"meridian/internal/metrics"
	"meridian/internal/syncjobs"
	"meridian/internal/testenv"
)

// pgLease is the lease the gateway runs sync jobs under on PostgreSQL
// (internal/lease's session advisory lock), with a prefix unique to the
// test since advisory locks are database-wide.
func pgLease(t *testing.T, d *db.DB, prefix string) syncjobs.LeaseWithLoss {
	t.Helper()
	l, err := lease.NewPostgres(d)
	if err != nil {
		t.Fatal(err)
	}
	return syncjobs.FromLease(l, prefix)
}

// exclusiveJob wraps a Job and counts how many runs of it, across every
// Runner sharing the counters, are in progress at once.
type exclusiveJob struct {
	syncjobs.Job
	running, maxRunning, completed *atomic.Int32
}

func (j exclusiveJob) Run(ctx context.Context, p syncjobs.RunParams) (syncjobs.RunResult, error) {
	n := j.running.Add(1)
	defer j.running.Add(-1)
	for {
		m := j.maxRunning.Load()
		if n <= m || j.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	// Hold the run open a little, so that a run the lease failed to
	// exclude would overlap and be seen.
	time.Sleep(2 * time.Millisecond)
	res, err := j.Job.Run(ctx, p)
	j.completed.Add(1)
	return res, err
}

func TestTwoRunnersOnePostgresNeverOverlap(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	e := newEnv(t, url, envOptions{}) // the simulator, and the schema migrated once
	prefix := randomPrefix(t)
	var running, maxRunning, completed atomic.Int32
	skipped := 0.0

	type replica struct {
		runner  *syncjobs.Runner
		metrics *metrics.Metrics
	}
	var replicas []replica
	for range 2 {
		ctx := testContext(t)
		// Each replica has its own pool on the shared database.
		d, err := db.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		cat, err := catalog.NewSQLStore(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		cont, err := content.NewSQLStore(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		state, err := syncjobs.NewSQLStateStore(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		mdJob, _ := syncjobs.NewMasterdataJob(e.md, cat)
		cmsJob, _ := syncjobs.NewCMSJob(e.cms, cont)
		m := metrics.New()
		r, err := syncjobs.NewRunner(syncjobs.Config{
			State:    state,
			Lease:    pgLease(t, d, prefix),
			Interval: time.Hour, // only the start and the triggers run jobs
			Now:      e.clock.Now,
			Metrics:  m,
		},
			exclusiveJob{Job: mdJob, running: &running, maxRunning: &maxRunning, completed: &completed},
			cmsJob)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, replica{runner: r, metrics: m})
	}

	for _, rep := range replicas {
		if err := rep.runner.Start(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		e.admin(t, "PATCH", "/admin/masterdata/products/SKC-1001", `{"available":`+strconv.Itoa(i)+`}`)
		for _, rep := range replicas {
			rep.runner.Trigger(syncjobs.MasterdataJobName)
		}
		time.Sleep(time.Millisecond)
	}
	// Keep triggering until some runs have completed, however slow the
	// machine, then stop both (Stop cancels and waits for runs in flight).
	deadline := time.Now().Add(60 * time.Second)
	for completed.Load() < 5 && time.Now().Before(deadline) {
		for _, rep := range replicas {
			rep.runner.Trigger(syncjobs.MasterdataJobName)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for _, rep := range replicas {
		wg.Go(rep.runner.Stop)
	}
	wg.Wait()

	for _, rep := range replicas {
		skipped += metricValue(rep.metrics, "meridian_sync_runs_total", syncjobs.MasterdataJobName, "skipped")
	}
	if maxRunning.Load() != 1 {
		t.Errorf("the masterdata job ran %d times at once across two replicas, want at most 1", maxRunning.Load())
	}
	if completed.Load() < 5 {
		t.Errorf("only %d masterdata runs completed", completed.Load())
	}
	t.Logf("%d runs completed, %v skipped because the other replica held the lease", completed.Load(), skipped)

	// One more run catches up with the last patch, whichever replica
	// runs it, and both replicas then report the same state.
	e2, _ := syncjobs.NewMasterdataJob(e.md, e.catalog)
	final, err := syncjobs.NewRunner(syncjobs.Config{State: e.state, Lease: pgLease(t, e.db, prefix), Now: e.clock.Now}, e2)
	if err != nil {
		t.Fatal(err)
	}
	defer final.Stop()
	if err := final.RunOnce(testContext(t), syncjobs.MasterdataJobName); err != nil {
		t.Fatal(err)
	}
	snaps, _ := e.catalog.InventoryBySKU(testContext(t), []string{"SKC-1001"})
	if snaps["SKC-1001"].Available != 59 {
		t.Errorf("after the runs the mirror has %d available, want the last patch's 59", snaps["SKC-1001"].Available)
	}
}

func TestPostgresAdvisoryLeaseExcludesAcrossPools(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	ctx := testContext(t)
	prefix := randomPrefix(t)
	var leases []syncjobs.LeaseWithLoss
	for range 2 {
		d, err := db.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		leases = append(leases, pgLease(t, d, prefix))
	}
	release, ok, err := leases[0].TryAcquire(ctx, "syncjobs/masterdata")
	if err != nil || !ok {
		t.Fatalf("first TryAcquire = %v, %v", ok, err)
	}
	if _, ok, err := leases[1].TryAcquire(ctx, "syncjobs/masterdata"); err != nil || ok {
		t.Fatalf("TryAcquire from the other pool = %v, %v; want refused", ok, err)
	}
	if rel, ok, err := leases[1].TryAcquire(ctx, "syncjobs/cms"); err != nil || !ok {
		t.Fatalf("another job's lease = %v, %v", ok, err)
	} else if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	rel, ok, err := leases[1].TryAcquire(ctx, "syncjobs/masterdata")
	if err != nil || !ok {
		t.Fatalf("TryAcquire after release = %v, %v", ok, err)
	}
	if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
}

func randomPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b) + ":"
}
