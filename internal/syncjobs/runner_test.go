package syncjobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"meridian/internal/metrics"
	"meridian/internal/syncjobs"
)

// fakeJob is a scripted Job. It records when each run started (the bubble's
// fake time under synctest) and how many runs overlapped.
type fakeJob struct {
	name string
	// script returns the outcome of run i (from 0); nil means success.
	script func(i int) (syncjobs.RunResult, error)
	// block, when set, is called at the start of run i and may wait.
	block func(ctx context.Context, i int) error

	mu     sync.Mutex
	starts []time.Time
	params []syncjobs.RunParams

	running, maxRunning atomic.Int32
}

func (j *fakeJob) Name() string { return j.name }

func (j *fakeJob) Run(ctx context.Context, p syncjobs.RunParams) (syncjobs.RunResult, error) {
	n := j.running.Add(1)
	defer j.running.Add(-1)
	for {
		m := j.maxRunning.Load()
		if n <= m || j.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	j.mu.Lock()
	i := len(j.starts)
	j.starts = append(j.starts, time.Now())
	j.params = append(j.params, p)
	j.mu.Unlock()
	if j.block != nil {
		if err := j.block(ctx, i); err != nil {
			return syncjobs.RunResult{}, err
		}
	}
	if j.script != nil {
		return j.script(i)
	}
	return syncjobs.RunResult{Cursor: fmt.Sprintf("cursor-%d", i+1), Applied: 1}, nil
}

func (j *fakeJob) runs() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.starts)
}

// offsets returns the start of every run relative to t0.
func (j *fakeJob) offsets(t0 time.Time) []time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]time.Duration, len(j.starts))
	for i, s := range j.starts {
		out[i] = s.Sub(t0)
	}
	return out
}

func newRunner(t *testing.T, cfg syncjobs.Config, jobs ...syncjobs.Job) *syncjobs.Runner {
	t.Helper()
	if cfg.State == nil {
		cfg.State = newMemState()
	}
	r, err := syncjobs.NewRunner(cfg, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTriggerCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		job := &fakeJob{name: "j", block: func(ctx context.Context, i int) error {
			if i == 0 {
				<-release
			}
			return nil
		}}
		r := newRunner(t, syncjobs.Config{Interval: time.Hour}, job)
		t0 := time.Now()
		if !r.Trigger("j") {
			t.Fatal("Trigger of a known job reported false")
		}
		if r.Trigger("nope") {
			t.Error("Trigger of an unknown job reported true")
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first run is in progress, blocked
		if job.runs() != 1 {
			t.Fatalf("%d runs after Start with a trigger before it, want 1 in progress", job.runs())
		}
		if st := r.Status()[0]; !st.Running {
			t.Errorf("status during the run: %+v", st)
		}
		for range 5 {
			r.Trigger("j")
		}
		close(release)
		synctest.Wait() // the coalesced run has happened; the next waits an hour
		if job.runs() != 2 {
			t.Errorf("%d runs after 5 triggers during one run, want exactly 2", job.runs())
		}
		r.Trigger("j")
		synctest.Wait()
		if job.runs() != 3 {
			t.Errorf("%d runs after one trigger while idle, want 3", job.runs())
		}
		if got := job.offsets(t0); got[2] != 0 {
			t.Errorf("triggered runs waited: %v", got)
		}
		r.Stop()
		if job.maxRunning.Load() != 1 {
			t.Errorf("runs overlapped: %d at once", job.maxRunning.Load())
		}
	})
}

func TestScheduleIntervalAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := errors.New("origin down")
		failing := map[int]bool{0: true, 1: true, 2: true, 4: true}
		job := &fakeJob{name: "j", script: func(i int) (syncjobs.RunResult, error) {
			if failing[i] {
				return syncjobs.RunResult{}, fail
			}
			return syncjobs.RunResult{Cursor: "c"}, nil
		}}
		var limits []time.Duration
		var mu sync.Mutex
		m := metrics.New()
		r := newRunner(t, syncjobs.Config{
			Interval:   30 * time.Second,
			MaxBackoff: 100 * time.Second,
			Metrics:    m,
			Jitter: func(limit time.Duration) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				limits = append(limits, limit)
				return limit / 2
			},
		}, job)
		t0 := time.Now()
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Second)
		synctest.Wait()
		// 0 fails → ≤60s, drawn 30; 30 fails → ≤100 (capped), 50; 80 fails
		// → 50; 130 succeeds → interval 30; 160 fails (reset) → 30; 190
		// succeeds.
		want := []time.Duration{0, 30 * time.Second, 80 * time.Second, 130 * time.Second, 160 * time.Second, 190 * time.Second}
		if got := job.offsets(t0); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("runs started at %v, want %v", got, want)
		}
		if got, want := fmt.Sprint(limits), fmt.Sprint([]time.Duration{60 * time.Second, 100 * time.Second, 100 * time.Second, 60 * time.Second}); got != want {
			t.Errorf("backoff ceilings %s, want %s", got, want)
		}
		st := r.Status()[0]
		if st.ConsecutiveFailures != 0 || !st.NextRunAt.Equal(t0.Add(220*time.Second)) {
			t.Errorf("status = %+v, want no failures and the next run at +220s", st)
		}
		if ok, bad := metricValue(m, "meridian_sync_runs_total", "j", "ok"), metricValue(m, "meridian_sync_runs_total", "j", "error"); ok != 2 || bad != 4 {
			t.Errorf("runs_total ok=%v error=%v, want 2 and 4", ok, bad)
		}
		r.Stop()
		if st := r.Status()[0]; !st.NextRunAt.IsZero() {
			t.Errorf("NextRunAt after Stop = %v, want zero", st.NextRunAt)
		}
	})
}

func TestBackoffNeverBelowASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		job := &fakeJob{name: "j", script: func(int) (syncjobs.RunResult, error) {
			return syncjobs.RunResult{}, errors.New("down")
		}}
		r := newRunner(t, syncjobs.Config{Jitter: func(time.Duration) time.Duration { return 0 }}, job)
		t0 := time.Now()
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		if got := job.offsets(t0); fmt.Sprint(got) != fmt.Sprint([]time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}) {
			t.Errorf("runs at %v, want one a second", got)
		}
		r.Stop()
	})
}

func TestRunStoppedAtPageCapContinuesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		job := &fakeJob{name: "j", script: func(i int) (syncjobs.RunResult, error) {
			return syncjobs.RunResult{Cursor: fmt.Sprint(i), More: i < 2}, nil
		}}
		r := newRunner(t, syncjobs.Config{Interval: time.Minute, MaxPages: 7}, job)
		t0 := time.Now()
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if got := job.offsets(t0); fmt.Sprint(got) != fmt.Sprint([]time.Duration{0, 0, 0, time.Minute}) {
			t.Errorf("runs at %v, want three at once, then the interval", got)
		}
		r.Stop()
		job.mu.Lock()
		defer job.mu.Unlock()
		if p := job.params[1]; p.Cursor != "0" || p.MaxPages != 7 || p.CallTimeout != syncjobs.DefaultCallTimeout {
			t.Errorf("second run's params = %+v, want the first run's cursor and the configured bounds", p)
		}
	})
}

func TestStopCancelsRunsAndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ended := false
		job := &fakeJob{name: "j", block: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			time.Sleep(time.Second) // winding down takes a while
			ended = true
			return ctx.Err()
		}}
		m := metrics.New()
		state := newMemState()
		r := newRunner(t, syncjobs.Config{Metrics: m, State: state}, job)
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		r.Stop()
		if !ended {
			t.Error("Stop returned before the run in flight ended")
		}
		st, _ := state.Load(context.Background(), "j")
		if !strings.Contains(st.LastError, "interrupted") || st.ConsecutiveFailures != 0 || st.LastFinishedAt.IsZero() {
			t.Errorf("state after an interrupted run: %+v", st)
		}
		if got := metricValue(m, "meridian_sync_runs_total", "j", "cancelled"); got != 1 {
			t.Errorf("runs_total{cancelled} = %v, want 1", got)
		}
		if err := r.RunOnce(context.Background(), "j"); !errors.Is(err, syncjobs.ErrStopped) {
			t.Errorf("RunOnce after Stop = %v, want ErrStopped", err)
		}
		if err := r.Start(context.Background()); !errors.Is(err, syncjobs.ErrStopped) {
			t.Errorf("Start after Stop = %v, want ErrStopped", err)
		}
		r.Stop() // idempotent
	})
}

func TestStartTwiceFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t, syncjobs.Config{}, &fakeJob{name: "j"})
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err == nil {
			t.Error("second Start succeeded")
		}
		r.Stop()
	})
}

func TestLoopsEndWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		job := &fakeJob{name: "j"}
		r := newRunner(t, syncjobs.Config{Interval: time.Second}, job)
		ctx, cancel := context.WithCancel(context.Background())
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		cancel()
		synctest.Wait()
		n := job.runs()
		time.Sleep(time.Minute)
		if job.runs() != n || n != 3 {
			t.Errorf("%d runs in 2.5s with a 1s interval, then %d after the context ended; want 3 and no more", n, job.runs())
		}
		r.Stop()
	})
}

func TestLagCountsFromCreationUntilFirstSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := metrics.New()
		job := &fakeJob{name: "j", script: func(i int) (syncjobs.RunResult, error) {
			if i == 0 {
				return syncjobs.RunResult{}, errors.New("down")
			}
			return syncjobs.RunResult{Cursor: "c"}, nil
		}}
		r := newRunner(t, syncjobs.Config{Metrics: m}, job)
		time.Sleep(10 * time.Second)
		if err := r.RunOnce(context.Background(), "j"); err == nil {
			t.Fatal("scripted failure did not fail")
		}
		if got := metricValue(m, "meridian_sync_lag_seconds", "j"); got != 10 {
			t.Errorf("lag before any success = %v, want 10 (since creation)", got)
		}
		time.Sleep(5 * time.Second)
		if err := r.RefreshStatus(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := metricValue(m, "meridian_sync_lag_seconds", "j"); got != 15 {
			t.Errorf("lag 5s later = %v, want 15", got)
		}
		if err := r.RunOnce(context.Background(), "j"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if st := r.Status()[0]; st.LagSeconds != 3 {
			t.Errorf("Status lag 3s after a success = %v", st.LagSeconds)
		}
	})
}

func TestRunOnceSkipsWhileAnotherHolderHasTheLease(t *testing.T) {
	t.Parallel()
	lease := syncjobs.NewLocalLease()
	started, release := make(chan struct{}), make(chan struct{})
	blocking := &fakeJob{name: "j", block: func(ctx context.Context, _ int) error {
		close(started)
		<-release
		return nil
	}}
	other := &fakeJob{name: "j"}
	m := metrics.New()
	a := newRunner(t, syncjobs.Config{Lease: lease}, blocking)
	b := newRunner(t, syncjobs.Config{Lease: lease, Metrics: m}, other)
	done := make(chan error)
	go func() { done <- a.RunOnce(context.Background(), "j") }()
	<-started
	if err := b.RunOnce(context.Background(), "j"); !errors.Is(err, syncjobs.ErrLeaseHeld) {
		t.Errorf("RunOnce while the lease is held = %v, want ErrLeaseHeld", err)
	}
	if other.runs() != 0 || metricValue(m, "meridian_sync_runs_total", "j", "skipped") != 1 {
		t.Errorf("skipped run: %d runs, skipped count %v", other.runs(), metricValue(m, "meridian_sync_runs_total", "j", "skipped"))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.RunOnce(context.Background(), "j"); err != nil || other.runs() != 1 {
		t.Errorf("RunOnce after release = %v with %d runs", err, other.runs())
	}
}

func TestRunOnceWaitsForTheRunInProgress(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	job := &fakeJob{name: "j", block: func(ctx context.Context, i int) error {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond) // widen the window for an overlap
		return nil
	}}
	r := newRunner(t, syncjobs.Config{}, job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := r.RunOnce(context.Background(), "j"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 8 || job.maxRunning.Load() != 1 {
		t.Errorf("%d runs, at most %d at once; want 8, one at a time", calls.Load(), job.maxRunning.Load())
	}
	if err := r.RunOnce(context.Background(), "nope"); !errors.Is(err, syncjobs.ErrUnknownJob) {
		t.Errorf("RunOnce(unknown) = %v", err)
	}
}

func TestPanicsAreContained(t *testing.T) {
	t.Parallel()
	job := &fakeJob{name: "j", script: func(i int) (syncjobs.RunResult, error) {
		if i == 0 {
			panic("bad record")
		}
		return syncjobs.RunResult{Cursor: "c", Changes: []syncjobs.Change{{Kind: syncjobs.ChangeProduct, IDs: []string{"p"}}}}, nil
	}}
	state := newMemState()
	r := newRunner(t, syncjobs.Config{State: state, OnChange: func(context.Context, syncjobs.Change) { panic("callback bug") }}, job)
	if err := r.RunOnce(context.Background(), "j"); err == nil || !strings.Contains(err.Error(), "panic") {
		t.Errorf("RunOnce of a panicking job = %v, want an error naming the panic", err)
	}
	if err := r.RunOnce(context.Background(), "j"); err != nil {
		t.Errorf("RunOnce with a panicking callback = %v, want success", err)
	}
	if st, _ := state.Load(context.Background(), "j"); st.Cursor != "c" || st.LastError != "" {
		t.Errorf("state = %+v", st)
	}
}

func TestStateStoreFailureFailsTheRun(t *testing.T) {
	t.Parallel()
	state := newMemState()
	state.fail = errors.New("database unreachable")
	m := metrics.New()
	job := &fakeJob{name: "j"}
	r := newRunner(t, syncjobs.Config{State: state, Metrics: m}, job)
	if err := r.RunOnce(context.Background(), "j"); err == nil || !strings.Contains(err.Error(), "database unreachable") {
		t.Errorf("RunOnce = %v, want the state store's error", err)
	}
	if job.runs() != 0 || metricValue(m, "meridian_sync_runs_total", "j", "error") != 1 {
		t.Errorf("%d runs, error count %v; want the job not run and the failure counted", job.runs(), metricValue(m, "meridian_sync_runs_total", "j", "error"))
	}
	if err := r.RefreshStatus(context.Background()); err == nil {
		t.Error("RefreshStatus with a failing store succeeded")
	}
}

func TestRunnerKeepsCursorOfPartialRun(t *testing.T) {
	t.Parallel()
	job := &fakeJob{name: "j", script: func(i int) (syncjobs.RunResult, error) {
		if i == 0 {
			return syncjobs.RunResult{Cursor: "c1"}, nil
		}
		return syncjobs.RunResult{Cursor: "c2", Applied: 5}, errors.New("page 2 failed")
	}}
	state := newMemState()
	r := newRunner(t, syncjobs.Config{State: state}, job)
	_ = r.RunOnce(context.Background(), "j")
	_ = r.RunOnce(context.Background(), "j")
	st, _ := state.Load(context.Background(), "j")
	if st.Cursor != "c2" || st.ItemsApplied != 5 || st.TotalItemsApplied != 5 || st.LastError == "" || st.ConsecutiveFailures != 1 {
		t.Errorf("state after a partial run = %+v, want its cursor and items kept with the error", st)
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	if job.params[1].Cursor != "c1" {
		t.Errorf("second run started from %q, want c1", job.params[1].Cursor)
	}
}

func TestNewRunnerValidates(t *testing.T) {
	t.Parallel()
	ok := &fakeJob{name: "j"}
	for name, tc := range map[string]struct {
		cfg  syncjobs.Config
		jobs []syncjobs.Job
	}{
		"no state":             {syncjobs.Config{}, []syncjobs.Job{ok}},
		"no jobs":              {syncjobs.Config{State: newMemState()}, nil},
		"nil job":              {syncjobs.Config{State: newMemState()}, []syncjobs.Job{nil}},
		"duplicate":            {syncjobs.Config{State: newMemState()}, []syncjobs.Job{ok, &fakeJob{name: "j"}}},
		"bad name":             {syncjobs.Config{State: newMemState()}, []syncjobs.Job{&fakeJob{name: "Bad Name"}}},
		"negative interval":    {syncjobs.Config{State: newMemState(), Interval: -time.Second}, []syncjobs.Job{ok}},
		"negative pages":       {syncjobs.Config{State: newMemState(), MaxPages: -1}, []syncjobs.Job{ok}},
		"call longer than run": {syncjobs.Config{State: newMemState(), CallTimeout: time.Minute, RunTimeout: time.Second}, []syncjobs.Job{ok}},
	} {
		if _, err := syncjobs.NewRunner(tc.cfg, tc.jobs...); err == nil {
			t.Errorf("%s: NewRunner succeeded", name)
		}
	}
	r, err := syncjobs.NewRunner(syncjobs.Config{State: newMemState()}, ok, &fakeJob{name: "k_2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Jobs(), ","); got != "j,k_2" {
		t.Errorf("Jobs() = %s", got)
	}
}

func TestIntervalFromEnv(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]time.Duration{"": syncjobs.DefaultInterval, "2m": 2 * time.Minute, "1s": time.Second} {
		got, err := syncjobs.IntervalFromEnv(func(k string) string {
			if k != syncjobs.IntervalEnv {
				t.Errorf("read %s", k)
			}
			return raw
		})
		if err != nil || got != want {
			t.Errorf("SYNC_INTERVAL=%q: %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, raw := range []string{"30", "fast", "500ms", "-1m"} {
		if _, err := syncjobs.IntervalFromEnv(func(string) string { return raw }); err == nil || !strings.Contains(err.Error(), "SYNC_INTERVAL") {
			t.Errorf("SYNC_INTERVAL=%q: got %v, want an error naming the variable", raw, err)
		}
	}
}

func TestLocalLease(t *testing.T) {
	t.Parallel()
	l := syncjobs.NewLocalLease()
	ctx := context.Background()
	rel, ok, err := l.TryAcquire(ctx, "a")
	if err != nil || !ok {
		t.Fatalf("first TryAcquire = %v, %v", ok, err)
	}
	if _, ok, _ := l.TryAcquire(ctx, "a"); ok {
		t.Error("second TryAcquire of a held lease succeeded")
	}
	if _, ok, _ := l.TryAcquire(ctx, "b"); !ok {
		t.Error("another name is excluded too")
	}
	if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rel(ctx); err == nil {
		t.Error("releasing twice succeeded")
	}
	if _, ok, _ := l.TryAcquire(ctx, "a"); !ok {
		t.Error("TryAcquire after release failed")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.TryAcquire(cancelled, "c"); err == nil {
		t.Error("TryAcquire with a done context succeeded")
	}
}

// losableLease grants every TryAcquire and hands out a lost channel the
// test closes.
type losableLease struct {
	lost chan struct{}
}

func (l *losableLease) TryAcquire(ctx context.Context, name string) (func(context.Context) error, bool, error) {
	rel, _, ok, err := l.TryAcquireWithLoss(ctx, name)
	return rel, ok, err
}

func (l *losableLease) TryAcquireWithLoss(context.Context, string) (func(context.Context) error, <-chan struct{}, bool, error) {
	return func(context.Context) error { return nil }, l.lost, true, nil
}

func TestLostLeaseCancelsTheRunUnrecorded(t *testing.T) {
	t.Parallel()
	lease := &losableLease{lost: make(chan struct{})}
	started := make(chan struct{})
	job := &fakeJob{name: "j", block: func(ctx context.Context, _ int) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	state := newMemState()
	m := metrics.New()
	r := newRunner(t, syncjobs.Config{State: state, Lease: lease, Metrics: m}, job)
	done := make(chan error)
	go func() { done <- r.RunOnce(context.Background(), "j") }()
	<-started
	close(lease.lost)
	if err := <-done; !errors.Is(err, syncjobs.ErrLeaseLost) {
		t.Errorf("RunOnce after the lease was lost = %v, want ErrLeaseLost", err)
	}
	st, _ := state.Load(context.Background(), "j")
	if !st.LastFinishedAt.IsZero() || st.Cursor != "" {
		t.Errorf("a run whose lease was lost was recorded: %+v", st)
	}
	if got := metricValue(m, "meridian_sync_runs_total", "j", "error"); got != 1 {
		t.Errorf("runs_total{error} = %v, want 1", got)
	}
}
