package syncjobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"meridian/internal/metrics"
)

// Defaults applied to zero Config fields.
const (
	DefaultInterval    = 30 * time.Second // between successful runs
	DefaultMaxBackoff  = 5 * time.Minute  // cap of the wait after failures
	DefaultCallTimeout = 10 * time.Second // one origin call
	DefaultRunTimeout  = 5 * time.Minute  // one whole run
	DefaultMaxPages    = 100              // origin pages per phase of a run
)

// IntervalEnv is the environment variable that sets Config.Interval (see
// IntervalFromEnv).
const IntervalEnv = "SYNC_INTERVAL"

// minInterval is the shortest interval IntervalFromEnv accepts: anything
// shorter polls the origins across the border for nothing.
const minInterval = time.Second

// minBackoff keeps full jitter from retrying a failing origin in a tight
// loop when the draw is close to zero.
const minBackoff = time.Second

// bookkeepingTimeout bounds the state save, lease release and change
// callback after a run, which must happen even when the run's context
// ended.
const bookkeepingTimeout = 5 * time.Second

// Run outcomes, as counted by meridian_sync_runs_total.
const (
	outcomeOK        = "ok"
	outcomeError     = "error"
	outcomeSkipped   = "skipped"
	outcomeCancelled = "cancelled"
)

var (
	// ErrLeaseHeld is returned by RunOnce when another holder (another
	// replica) has the job's lease: the job is being run there, not
	// failing.
	ErrLeaseHeld = errors.New("syncjobs: the job's lease is held elsewhere")
	// ErrUnknownJob is returned (wrapped) by RunOnce for a job name the
	// Runner does not have.
	ErrUnknownJob = errors.New("syncjobs: unknown job")
	// ErrStopped is returned (wrapped) by Start and RunOnce after Stop.
	ErrStopped = errors.New("syncjobs: runner stopped")
	// ErrLeaseLost is returned (wrapped) by a run cancelled because its
	// lease was lost (see LeaseWithLoss); the run is not recorded.
	ErrLeaseLost = errors.New("syncjobs: the job's lease was lost during the run")
)

var jobName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// IntervalFromEnv reads SYNC_INTERVAL through getenv (os.Getenv in
// production): unset or empty means DefaultInterval; otherwise a Go
// duration ("30s", "2m") of at least one second.
func IntervalFromEnv(getenv func(string) string) (time.Duration, error) {
	raw := getenv(IntervalEnv)
	if raw == "" {
		return DefaultInterval, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 30s or 2m: %w", IntervalEnv, raw, err)
	}
	if d < minInterval {
		return 0, fmt.Errorf("%s=%q: want at least %v", IntervalEnv, raw, minInterval)
	}
	return d, nil
}

// Config configures a Runner. State is required; every other zero field
// takes the documented default.
type Config struct {
	// State persists each job's cursor and run history. Required.
	State StateStore
	// Lease makes runs of one job exclusive across replicas. Nil means a
	// NewLocalLease, which is enough for one replica only.
	Lease Lease
	// Interval is the time between the end of a successful run and the
	// start of the next (SYNC_INTERVAL; see IntervalFromEnv). Zero means
	// DefaultInterval.
	Interval time.Duration
	// MaxBackoff caps the wait after failed runs. After n consecutive
	// failures the next run waits a random duration below
	// min(MaxBackoff, Interval·2ⁿ) (full jitter), but at least a second.
	// Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// CallTimeout bounds each call to an origin. Zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// RunTimeout bounds a whole run; a lease that can expire must last
	// longer. Zero means DefaultRunTimeout.
	RunTimeout time.Duration
	// MaxPages bounds the origin pages a run reads per phase (see
	// RunParams.MaxPages). Zero means DefaultMaxPages.
	MaxPages int
	// Now is the clock of every recorded time and of the lag. Nil means
	// time.Now. Waits between runs use real timers.
	Now func() time.Time
	// Jitter draws a random duration in [0, limit) for the backoff; nil
	// means math/rand/v2. Tests make it deterministic.
	Jitter func(limit time.Duration) time.Duration
	// Logger receives run failures and other operator-facing events. Nil
	// discards them.
	Logger *slog.Logger
	// Metrics, when set, receives meridian_sync_runs_total and
	// meridian_sync_lag_seconds.
	Metrics *metrics.Metrics
	// OnChange, when set, is called after a run with what the run
	// committed, once per kind of change, also after a run that failed
	// part-way having committed some pages. It runs on the job's
	// goroutine with a short deadline; a panic in it is logged and
	// swallowed.
	OnChange func(ctx context.Context, c Change)
}

func (c Config) withDefaults() Config {
	if c.Lease == nil {
		c.Lease = NewLocalLease()
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.RunTimeout == 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = func(limit time.Duration) time.Duration {
			if limit <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(limit)))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.State == nil {
		errs = append(errs, errors.New("State is required"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", c.Interval}, {"MaxBackoff", c.MaxBackoff}, {"CallTimeout", c.CallTimeout}, {"RunTimeout", c.RunTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if c.MaxPages < 0 {
		errs = append(errs, fmt.Errorf("MaxPages %d is negative", c.MaxPages))
	}
	if c.RunTimeout > 0 && c.CallTimeout > c.RunTimeout {
		errs = append(errs, fmt.Errorf("CallTimeout %v is longer than RunTimeout %v", c.CallTimeout, c.RunTimeout))
	}
	return errors.Join(errs...)
}

// JobStatus is one job as the operator view (GET /admin/sync) shows it. The
// persisted part comes from State as last read from the database, so every
// replica shows the job's runs wherever they ran; Running and NextRunAt are
// this replica's.
type JobStatus struct {
	Job     string `json:"job"`
	Running bool   `json:"running"` // a run is in progress on this replica
	// FullSyncPending says the job has no cursor: its next run is a full
	// sync.
	FullSyncPending     bool      `json:"fullSyncPending"`
	LastStartedAt       time.Time `json:"lastStartedAt,omitzero"`
	LastFinishedAt      time.Time `json:"lastFinishedAt,omitzero"`
	LastSuccessAt       time.Time `json:"lastSuccessAt,omitzero"`
	LastFullSyncAt      time.Time `json:"lastFullSyncAt,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	ItemsApplied        int       `json:"itemsApplied"`
	TotalItemsApplied   int64     `json:"totalItemsApplied"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	SyncedThrough       time.Time `json:"syncedThrough,omitzero"`
	// LagSeconds is the time since LastSuccessAt, or since the Runner was
	// created when the job never succeeded.
	LagSeconds float64 `json:"lagSeconds"`
	// NextRunAt is when this replica's schedule runs the job next; zero
	// before Start and after Stop.
	NextRunAt time.Time `json:"nextRunAt,omitzero"`
}

// Runner schedules jobs: one goroutine per job after Start, runs on demand
// through Trigger and RunOnce, state persisted after every run, metrics and
// the change callback fed. It is safe for concurrent use.
//
// A job never runs twice at once within a Runner, and across Runners only
// as far as Config.Lease excludes. A run that finds the lease taken is
// skipped (ErrLeaseHeld; outcome "skipped"), not failed: the job is running
// elsewhere.
type Runner struct {
	cfg     Config
	created time.Time
	slots   []*slot
	byName  map[string]*slot

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}      // closed by Stop
	runsCtx context.Context    // cancelled by Stop
	cancel  context.CancelFunc // cancels runsCtx
	wg      sync.WaitGroup     // loops and runs in flight
}

// slot is one job within a Runner.
type slot struct {
	job     Job
	name    string
	sem     chan struct{} // held for the length of a run on this replica
	trigger chan struct{} // one pending trigger at most: triggers coalesce

	// Guarded by Runner.mu.
	state     State
	running   bool
	nextRunAt time.Time
	failures  int // consecutive failed runs on this replica, for backoff
}

// runOutcome is what the scheduling loop needs from a run.
type runOutcome struct {
	outcome string
	more    bool
}

// NewRunner validates cfg and the jobs (at least one; names well-formed
// and distinct) and returns a Runner that has not started.
func NewRunner(cfg Config, jobs ...Job) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("syncjobs: config: %w", err)
	}
	cfg = cfg.withDefaults()
	if len(jobs) == 0 {
		return nil, errors.New("syncjobs: no jobs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		cfg:     cfg,
		created: cfg.Now(),
		byName:  make(map[string]*slot, len(jobs)),
		stop:    make(chan struct{}),
		runsCtx: ctx,
		cancel:  cancel,
	}
	for i, j := range jobs {
		if j == nil {
			cancel()
			return nil, fmt.Errorf("syncjobs: job #%d is nil", i)
		}
		name := j.Name()
		if !jobName.MatchString(name) {
			cancel()
			return nil, fmt.Errorf("syncjobs: job name %q: want lowercase letters, digits, '-' and '_', starting with a letter", name)
		}
		if r.byName[name] != nil {
			cancel()
			return nil, fmt.Errorf("syncjobs: job %q given twice", name)
		}
		s := &slot{job: j, name: name, sem: make(chan struct{}, 1), trigger: make(chan struct{}, 1), state: State{Job: name}}
		r.slots = append(r.slots, s)
		r.byName[name] = s
	}
	return r, nil
}

// Jobs returns the names of the Runner's jobs, in the order given.
func (r *Runner) Jobs() []string {
	names := make([]string, len(r.slots))
	for i, s := range r.slots {
		names[i] = s.name
	}
	return names
}

// Start loads the jobs' states, then starts one goroutine per job, which
// runs the job at once and then Interval after each successful run (after
// a failure, after the backoff; at once after a run that stopped at the
// page cap), and one goroutine that refreshes Status and the lag gauges
// every Interval. It returns without waiting for any run. The goroutines
// end, and a scheduled run in flight is cancelled, when ctx is done or Stop
// is called; only Stop waits for them. Start fails after Stop or when
// called twice.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.stopped:
		r.mu.Unlock()
		return fmt.Errorf("syncjobs: start: %w", ErrStopped)
	case r.started:
		r.mu.Unlock()
		return errors.New("syncjobs: start: already started")
	}
	r.started = true
	r.wg.Add(len(r.slots) + 1)
	r.mu.Unlock()

	if err := r.RefreshStatus(ctx); err != nil {
		r.cfg.Logger.Warn("sync status not loaded at start", "err", err)
	}
	for _, s := range r.slots {
		go r.loop(ctx, s)
	}
	go r.refreshLoop(ctx)
	return nil
}

// Trigger asks for a run of job as soon as possible, for a change webhook,
// without waiting for it: the job's goroutine runs it at once (also during
// a backoff). Triggers coalesce: a trigger is satisfied by the next run
// that starts after it, so any number of triggers while a run is in
// progress cause exactly one more run afterwards, and triggers before
// Start are satisfied by its first run. It reports false for an unknown
// job.
func (r *Runner) Trigger(job string) bool {
	s := r.byName[job]
	if s == nil {
		return false
	}
	select {
	case s.trigger <- struct{}{}:
	default: // a run is already pending
	}
	return true
}

// RunOnce runs job now and returns when the run has ended and its state is
// recorded: for tests, and for a synchronous first sync at start-up. It
// waits for a run of the job already in progress in this Runner, bounded by
// ctx. It returns the run's error; ErrLeaseHeld when another holder has
// the job's lease (nothing was run); an error wrapping ErrUnknownJob or
// ErrStopped without running.
func (r *Runner) RunOnce(ctx context.Context, job string) error {
	s := r.byName[job]
	if s == nil {
		return fmt.Errorf("syncjobs: run %q: %w", job, ErrUnknownJob)
	}
	if !r.enter() {
		return fmt.Errorf("syncjobs: run %q: %w", job, ErrStopped)
	}
	defer r.wg.Done()
	_, err := r.run(ctx, s)
	return err
}

// Status reports every job, in the order given to NewRunner. It reads
// memory only: the persisted part is as of the last run on this replica or
// the last RefreshStatus, whichever is later.
func (r *Runner) Status() []JobStatus {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]JobStatus, 0, len(r.slots))
	for _, s := range r.slots {
		st := s.state
		out = append(out, JobStatus{
			Job:                 s.name,
			Running:             s.running,
			FullSyncPending:     st.Cursor == "",
			LastStartedAt:       st.LastStartedAt,
			LastFinishedAt:      st.LastFinishedAt,
			LastSuccessAt:       st.LastSuccessAt,
			LastFullSyncAt:      st.LastFullSyncAt,
			LastError:           st.LastError,
			ItemsApplied:        st.ItemsApplied,
			TotalItemsApplied:   st.TotalItemsApplied,
			ConsecutiveFailures: st.ConsecutiveFailures,
			SyncedThrough:       st.SyncedThrough,
			LagSeconds:          r.lagLocked(s, now).Seconds(),
			NextRunAt:           s.nextRunAt,
		})
	}
	return out
}

// RefreshStatus reads every job's state from the State store, as written by
// whichever replica ran it, into Status, and sets the lag gauges from it.
// Start calls it every Interval; on a replica that does not hold a job's
// lease it is what keeps that job's status and lag current.
func (r *Runner) RefreshStatus(ctx context.Context) error {
	states, err := r.cfg.State.All(ctx)
	if err != nil {
		r.updateLag() // from what is known: the lag still grows
		return fmt.Errorf("syncjobs: refresh status: %w", err)
	}
	r.mu.Lock()
	for _, st := range states {
		if s := r.byName[st.Job]; s != nil && !s.running {
			s.state = st
		}
	}
	r.mu.Unlock()
	r.updateLag()
	return nil
}

// Stop stops the schedule, cancels the runs in flight (every write is
// transactional and the cursor only moves past committed pages, so an
// interrupted run loses nothing but time) and returns once every goroutine
// and run of the Runner has ended and recorded its state. Later RunOnce and
// Start calls fail with ErrStopped. It is idempotent.
func (r *Runner) Stop() {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
		r.cancel()
		for _, s := range r.slots {
			s.nextRunAt = time.Time{}
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// enter registers a run unless the Runner is stopped; wg.Add under mu
// cannot race with the Wait in Stop.
func (r *Runner) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.wg.Add(1)
	return true
}

// loop is one job's schedule.
func (r *Runner) loop(ctx context.Context, s *slot) {
	defer r.wg.Done()
	delay := time.Duration(0)
	for {
		r.mu.Lock()
		if !r.stopped {
			s.nextRunAt = r.cfg.Now().Add(delay)
		}
		r.mu.Unlock()
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.stop:
			timer.Stop()
			return
		case <-timer.C:
		case <-s.trigger:
			timer.Stop()
		}
		// The run about to start satisfies a trigger that arrived while
		// waiting; only triggers during the run call for another.
		select {
		case <-s.trigger:
		default:
		}
		if !r.enter() {
			return
		}
		out, _ := r.run(ctx, s)
		r.wg.Done()
		delay = r.nextDelay(s, out)
	}
}

// nextDelay is the wait after a run: none when the run stopped at the page
// cap, the backoff after a failure, else the interval.
func (r *Runner) nextDelay(s *slot, out runOutcome) time.Duration {
	switch {
	case out.more:
		return 0
	case out.outcome == outcomeError:
		r.mu.Lock()
		n := s.failures
		r.mu.Unlock()
		return r.backoff(n)
	default:
		return r.cfg.Interval
	}
}

// backoff draws the wait after failures consecutive failures: full jitter
// below min(MaxBackoff, Interval·2^failures), at least minBackoff.
func (r *Runner) backoff(failures int) time.Duration {
	ceiling := r.cfg.Interval
	for range failures {
		if ceiling >= r.cfg.MaxBackoff {
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, r.cfg.MaxBackoff)
	return max(r.cfg.Jitter(ceiling), minBackoff)
}

func (r *Runner) refreshLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-t.C:
			if err := r.RefreshStatus(ctx); err != nil {
				r.cfg.Logger.Warn("sync status refresh failed", "err", err)
			}
		}
	}
}

// run performs one run of s under the job's in-process semaphore and its
// lease, and records it. The run is cancelled when ctx ends or the Runner
// stops.
func (r *Runner) run(ctx context.Context, s *slot) (runOutcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(r.runsCtx, cancel)
	defer stopWatch()

	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return runOutcome{outcome: outcomeCancelled}, fmt.Errorf("syncjobs: %s: waiting for the run in progress: %w", s.name, context.Cause(ctx))
	}
	defer func() { <-s.sem }()

	var (
		release func(context.Context) error
		lost    <-chan struct{}
		ok      bool
		err     error
	)
	if lw, withLoss := r.cfg.Lease.(LeaseWithLoss); withLoss {
		release, lost, ok, err = lw.TryAcquireWithLoss(ctx, "syncjobs/"+s.name)
	} else {
		release, ok, err = r.cfg.Lease.TryAcquire(ctx, "syncjobs/"+s.name)
	}
	if err != nil && ctx.Err() != nil {
		r.count(s.name, outcomeCancelled)
		return runOutcome{outcome: outcomeCancelled}, fmt.Errorf("syncjobs: %s: lease: %w", s.name, err)
	}
	if err != nil {
		err = fmt.Errorf("syncjobs: %s: lease: %w", s.name, err)
		r.cfg.Logger.Error("sync run failed", "job", s.name, "err", err)
		r.finishUnrecorded(s, outcomeError)
		return runOutcome{outcome: outcomeError}, err
	}
	if !ok {
		r.cfg.Logger.Debug("sync run skipped: lease held elsewhere", "job", s.name)
		r.count(s.name, outcomeSkipped)
		r.updateLag()
		return runOutcome{outcome: outcomeSkipped}, ErrLeaseHeld
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer rcancel()
		if err := release(rctx); err != nil {
			r.cfg.Logger.Warn("sync lease release failed", "job", s.name, "err", err)
		}
	}()
	if lost != nil {
		lctx, cancelLost := context.WithCancelCause(ctx)
		defer cancelLost(nil)
		watched := make(chan struct{})
		defer close(watched)
		go func() {
			select {
			case <-lost:
				cancelLost(ErrLeaseLost)
			case <-watched:
			}
		}()
		ctx = lctx
	}
	return r.runLeased(ctx, s)
}

// runLeased runs s while this Runner holds its lease.
func (r *Runner) runLeased(ctx context.Context, s *slot) (runOutcome, error) {
	log := r.cfg.Logger.With("job", s.name)
	st, err := r.cfg.State.Load(ctx, s.name)
	if err == nil {
		st.LastStartedAt = r.cfg.Now()
		err = r.cfg.State.Save(ctx, st)
	}
	if err != nil {
		err = fmt.Errorf("syncjobs: %s: %w", s.name, err)
		log.Error("sync run failed", "err", err)
		r.finishUnrecorded(s, outcomeError)
		return runOutcome{outcome: outcomeError}, err
	}
	r.mu.Lock()
	s.running, s.state = true, st
	r.mu.Unlock()

	runCtx, cancelRun := context.WithTimeout(ctx, r.cfg.RunTimeout)
	res, runErr := safeRun(runCtx, s.job, RunParams{
		Cursor:      st.Cursor,
		Now:         r.cfg.Now,
		CallTimeout: r.cfg.CallTimeout,
		MaxPages:    r.cfg.MaxPages,
		Logger:      r.cfg.Logger,
	})
	cancelRun()

	if errors.Is(context.Cause(ctx), ErrLeaseLost) {
		// Another replica may hold the lease and be writing this
		// job's state by now: recording this run could set its cursor
		// back. What the run committed stays; the cursor did not move,
		// so it is applied again, harmlessly.
		r.mu.Lock()
		s.running = false
		s.failures++
		r.mu.Unlock()
		bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer bcancel()
		r.notify(bctx, log, res.Changes)
		r.count(s.name, outcomeError)
		r.updateLag()
		log.Warn("sync run abandoned: lease lost", "applied", res.Applied)
		return runOutcome{outcome: outcomeError}, fmt.Errorf("syncjobs: %s: %w", s.name, errors.Join(ErrLeaseLost, runErr))
	}

	finished := r.cfg.Now()
	st.LastFinishedAt = finished
	if res.Cursor != "" {
		st.Cursor = res.Cursor
	}
	st.ItemsApplied = res.Applied
	st.TotalItemsApplied += int64(res.Applied)
	st.SyncedThrough = later(st.SyncedThrough, res.SyncedThrough)
	outcome := outcomeOK
	switch {
	case runErr == nil:
		st.LastSuccessAt, st.LastError, st.ConsecutiveFailures = finished, "", 0
		if res.Full {
			st.LastFullSyncAt = finished
		}
	case ctx.Err() != nil:
		// Interrupted by Stop or by the caller: not the origin's
		// failure, so no backoff either.
		outcome = outcomeCancelled
		st.LastError = "interrupted: " + errorText(context.Cause(ctx))
		if r.runsCtx.Err() != nil {
			st.LastError = "interrupted: the sync runner stopped"
		}
	default:
		outcome = outcomeError
		st.LastError = errorText(runErr)
		st.ConsecutiveFailures++
	}

	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer bcancel()
	saveErr := r.cfg.State.Save(bctx, st)
	if saveErr != nil {
		// The mirror has the run's writes; the cursor did not move,
		// so the next run repeats them, harmlessly.
		saveErr = fmt.Errorf("syncjobs: %s: recording the run: %w", s.name, saveErr)
		if outcome == outcomeOK {
			outcome = outcomeError
		}
	}

	r.mu.Lock()
	s.running, s.state = false, st
	switch outcome {
	case outcomeOK:
		s.failures = 0
	case outcomeError:
		s.failures++
	}
	r.mu.Unlock()

	r.notify(bctx, log, res.Changes)
	r.count(s.name, outcome)
	r.updateLag()

	err = errors.Join(runErr, saveErr)
	switch outcome {
	case outcomeOK:
		log.Info("sync run finished", "full", res.Full, "applied", res.Applied, "more", res.More)
	case outcomeCancelled:
		log.Info("sync run interrupted by shutdown", "applied", res.Applied)
	default:
		log.Error("sync run failed", "applied", res.Applied, "consecutive_failures", st.ConsecutiveFailures, "err", errorText(err))
	}
	if runErr != nil {
		err = fmt.Errorf("syncjobs: %s: %w", s.name, err)
	}
	return runOutcome{outcome: outcome, more: res.More && runErr == nil}, err
}

// finishUnrecorded accounts for a run that failed before it could be
// recorded in the State store (the lease or the store itself failing).
func (r *Runner) finishUnrecorded(s *slot, outcome string) {
	r.mu.Lock()
	s.failures++
	r.mu.Unlock()
	r.count(s.name, outcome)
	r.updateLag()
}

// safeRun runs the job, turning a panic into an error so that one bad
// record cannot kill the job's schedule.
func safeRun(ctx context.Context, j Job, p RunParams) (res RunResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in sync job: %v", v)
		}
	}()
	return j.Run(ctx, p)
}

// notify hands the run's changes to OnChange, merged per kind.
func (r *Runner) notify(ctx context.Context, log *slog.Logger, changes []Change) {
	if r.cfg.OnChange == nil || len(changes) == 0 {
		return
	}
	byKind := map[ChangeKind]idSet{}
	var kinds []ChangeKind
	for _, c := range changes {
		if byKind[c.Kind] == nil {
			byKind[c.Kind] = idSet{}
			kinds = append(kinds, c.Kind)
		}
		byKind[c.Kind].add(c.IDs...)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		for _, c := range byKind[k].change(k) {
			func() {
				defer func() {
					if v := recover(); v != nil {
						log.Error("sync change callback panicked", "kind", k, "panic", fmt.Sprint(v))
					}
				}()
				r.cfg.OnChange(ctx, c)
			}()
		}
	}
}

func (r *Runner) count(job, outcome string) {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.SyncRuns.WithLabelValues(job, outcome).Inc()
	}
}

// updateLag sets every job's lag gauge from what the Runner knows.
func (r *Runner) updateLag() {
	if r.cfg.Metrics == nil {
		return
	}
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.slots {
		r.cfg.Metrics.SyncLag.WithLabelValues(s.name).Set(r.lagLocked(s, now).Seconds())
	}
}

// lagLocked is the time since the job's last success, or since the Runner
// was created if it never succeeded, never negative. Callers hold r.mu.
func (r *Runner) lagLocked(s *slot, now time.Time) time.Duration {
	since := s.state.LastSuccessAt
	if since.IsZero() {
		since = r.created
	}
	return max(now.Sub(since), 0)
}
