package globalsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Origin names one simulated system of record. Faults (latency, errors,
// blackholing) are set per origin.
type Origin string

// The simulated systems of record.
const (
	OriginMasterdata Origin = "masterdata" // Product & Inventory Master
	OriginOrders     Origin = "orders"     // Order Management
	OriginCMS        Origin = "cms"        // content management
)

// Origins lists every origin in a fixed order.
func Origins() []Origin { return []Origin{OriginMasterdata, OriginOrders, OriginCMS} }

// maxFaultDelay bounds configured latency and jitter: anything longer is a
// blackhole, which has its own switch.
const maxFaultDelay = time.Minute

// errClosing reports that the simulator was closed while a request waited.
var errClosing = errors.New("globalsim: simulator closed")

// faultSetting is how one origin misbehaves.
type faultSetting struct {
	Latency   time.Duration
	Jitter    time.Duration // the delay is Latency ± up to Jitter, never below 0
	ErrorRate float64       // fraction of requests answered 503, in [0, 1]
	Blackhole bool          // hold requests without answering
}

func (fs faultSetting) validate() error {
	if fs.Latency < 0 || fs.Latency > maxFaultDelay || fs.Jitter < 0 || fs.Jitter > maxFaultDelay {
		return fmt.Errorf("latency %v and jitter %v must each be between 0 and %v", fs.Latency, fs.Jitter, maxFaultDelay)
	}
	if math.IsNaN(fs.ErrorRate) || fs.ErrorRate < 0 || fs.ErrorRate > 1 {
		return fmt.Errorf("error rate %v must be between 0 and 1", fs.ErrorRate)
	}
	return nil
}

// originFaults is the live fault state of one origin. release is closed (and
// replaced) when the blackhole is switched off, waking every held request.
type originFaults struct {
	setting faultSetting
	release chan struct{}
	held    int
}

// faultTable holds the fault state of every origin and the random source the
// faults draw from.
type faultTable struct {
	mu       sync.Mutex
	defaults faultSetting
	byOrigin map[Origin]*originFaults
	rng      *rand.Rand // guarded by mu
}

func newFaultTable(defaults faultSetting, rng *rand.Rand) *faultTable {
	ft := &faultTable{defaults: defaults, byOrigin: map[Origin]*originFaults{}, rng: rng}
	for _, o := range Origins() {
		ft.byOrigin[o] = &originFaults{setting: defaults, release: make(chan struct{})}
	}
	return ft
}

// has reports whether o is an origin faults can be set for. It needs no lock:
// the keys of byOrigin never change after construction.
func (ft *faultTable) has(o Origin) bool {
	_, ok := ft.byOrigin[o]
	return ok
}

// set replaces an origin's setting, releasing held requests if the blackhole
// goes off.
func (ft *faultTable) set(o Origin, fs faultSetting) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.setLocked(o, fs)
}

// update applies a partial update to o's setting atomically, so two testers'
// concurrent updates of different fields both stick.
func (ft *faultTable) update(o Origin, u faultUpdate) (faultView, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	fs, err := u.applyTo(ft.byOrigin[o].setting)
	if err != nil {
		return faultView{}, err
	}
	ft.setLocked(o, fs)
	return ft.viewLocked(o), nil
}

func (ft *faultTable) setLocked(o Origin, fs faultSetting) {
	of := ft.byOrigin[o]
	if of.setting.Blackhole && !fs.Blackhole {
		close(of.release)
		of.release = make(chan struct{})
	}
	of.setting = fs
}

// reset puts every origin back to the defaults.
func (ft *faultTable) reset() {
	for _, o := range Origins() {
		ft.set(o, ft.defaults)
	}
}

// views reports every origin's setting and how many requests it holds.
func (ft *faultTable) views() []faultView {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := make([]faultView, 0, len(ft.byOrigin))
	for _, o := range Origins() {
		out = append(out, ft.viewLocked(o))
	}
	return out
}

func (ft *faultTable) viewLocked(o Origin) faultView {
	of := ft.byOrigin[o]
	return faultView{
		Origin:    o,
		LatencyMS: of.setting.Latency.Milliseconds(),
		JitterMS:  of.setting.Jitter.Milliseconds(),
		ErrorRate: of.setting.ErrorRate,
		Blackhole: of.setting.Blackhole,
		Held:      of.held,
	}
}

// apply makes a request to origin o suffer the origin's faults: held while
// blackholed, then delayed, then perhaps failed. It returns nil if the
// request should be served, errInjected if it should be answered 503, or the
// reason it was abandoned (the client went away, or the simulator closed).
func (ft *faultTable) apply(ctx context.Context, o Origin, closing <-chan struct{}) error {
	if err := ft.hold(ctx, o, closing); err != nil {
		return err
	}
	delay, fail := ft.draw(o)
	if err := sleep(ctx, delay, closing); err != nil {
		return err
	}
	if fail {
		return errInjected
	}
	return nil
}

var errInjected = errors.New("globalsim: injected error")

// hold blocks while o is blackholed.
func (ft *faultTable) hold(ctx context.Context, o Origin, closing <-chan struct{}) error {
	ft.mu.Lock()
	of := ft.byOrigin[o]
	if !of.setting.Blackhole {
		ft.mu.Unlock()
		return nil
	}
	release := of.release
	of.held++
	ft.mu.Unlock()
	defer func() {
		ft.mu.Lock()
		of.held--
		ft.mu.Unlock()
	}()
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return errClosing
	}
}

// draw picks this request's delay and whether it fails, from the seeded
// source so a test with a fixed seed sees a fixed sequence.
func (ft *faultTable) draw(o Origin) (time.Duration, bool) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	fs := ft.byOrigin[o].setting
	delay := fs.Latency
	if fs.Jitter > 0 {
		delay += time.Duration(ft.rng.Int64N(int64(2*fs.Jitter)+1)) - fs.Jitter
	}
	fail := fs.ErrorRate > 0 && ft.rng.Float64() < fs.ErrorRate
	return max(delay, 0), fail
}

func sleep(ctx context.Context, d time.Duration, closing <-chan struct{}) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return errClosing
	}
}

// faultView is an origin's fault setting as the admin API shows it. Held, the
// number of requests the blackhole is holding right now, is read-only.
type faultView struct {
	Origin    Origin  `json:"origin"`
	LatencyMS int64   `json:"latency_ms"`
	JitterMS  int64   `json:"jitter_ms"`
	ErrorRate float64 `json:"error_rate"`
	Blackhole bool    `json:"blackhole"`
	Held      int     `json:"held"`
}

type faultList struct {
	Faults []faultView `json:"faults"`
}

// faultUpdate is the body of PUT /admin/faults. Fields left out keep their
// current value, so a tester can flip one switch without restating the rest.
type faultUpdate struct {
	Origin    Origin   `json:"origin"`
	LatencyMS *int64   `json:"latency_ms"`
	JitterMS  *int64   `json:"jitter_ms"`
	ErrorRate *float64 `json:"error_rate"`
	Blackhole *bool    `json:"blackhole"`
}

func (u faultUpdate) applyTo(fs faultSetting) (faultSetting, error) {
	maxMS := maxFaultDelay.Milliseconds()
	for _, ms := range []*int64{u.LatencyMS, u.JitterMS} {
		if ms != nil && (*ms < 0 || *ms > maxMS) {
			return fs, fmt.Errorf("latency_ms and jitter_ms must be between 0 and %d, got %d", maxMS, *ms)
		}
	}
	if u.LatencyMS != nil {
		fs.Latency = time.Duration(*u.LatencyMS) * time.Millisecond
	}
	if u.JitterMS != nil {
		fs.Jitter = time.Duration(*u.JitterMS) * time.Millisecond
	}
	if u.ErrorRate != nil {
		fs.ErrorRate = *u.ErrorRate
	}
	if u.Blackhole != nil {
		fs.Blackhole = *u.Blackhole
	}
	return fs, fs.validate()
}

func (s *Sim) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, faultList{Faults: s.faults.views()})
}

func (s *Sim) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var u faultUpdate
	if err := decodeJSON(r, &u); err != nil {
		writeErr(w, err)
		return
	}
	if !s.faults.has(u.Origin) {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("origin %q: want one of %v", u.Origin, Origins()))
		return
	}
	v, err := s.faults.update(u.Origin, u)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.log.Info("faults changed", "origin", v.Origin, "latency_ms", v.LatencyMS, "jitter_ms", v.JitterMS, "error_rate", v.ErrorRate, "blackhole", v.Blackhole)
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) handleResetFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.reset()
	s.log.Info("faults reset to defaults")
	writeJSON(w, http.StatusOK, faultList{Faults: s.faults.views()})
}
