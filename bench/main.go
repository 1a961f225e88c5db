// Command bench measures Meridian's GraphQL gateway in front of the
// simulated global side, and prints the figures as Markdown.
//
//	go run ./bench                                  # every scenario
//	go run ./bench -scenario stampede -stampede 1000
//	go run ./bench -duration 30s -concurrency 16 -out run.md
//	go run ./bench -scenario responsecache -rss-connections 1000
//
// Everything runs in this one process over loopback TCP unless said
// otherwise: the simulator (internal/globalsim) serves master data at the
// given latency, the real gateway handler (gateway.New over a seeded SQLite
// mirror, the master-data guard over an in-process cache, per-request
// loaders) is served by net/http, and a keep-alive HTTP load generator
// with bounded concurrency drives it. Every configuration gets a fresh
// simulator and gateway. The responsecache scenario's in-process tables run
// the process at Meridian's GOGC (internal/gctune's default, as the
// meridian binary sets it) for every row, the static ceiling's included.
//
// Where servers with different collector settings meet (the gateway and
// the bare gqlgen server), and where memory is measured, each server runs
// alone in a child process (the responsecache scenario's later tables, and
// the gc scenario): the program
// starts itself again (the MERIDIAN_BENCH_SERVE environment variable tells
// it what to serve), so that the resident memory read from /proc is the
// server's own and each server has its own collector settings (the
// gateway those of the meridian binary; the bare gqlgen server and the
// static ceiling Go's defaults). The simulator and the load generator stay
// in the parent; the child inherits the parent's environment, so GOGC or
// GOMEMLIMIT set for the run apply to it too.
//
// Scenarios:
//
//	catalog    a 50-product catalog page with CACHED inventory, cold and
//	           warm, and with LIVE inventory
//	blackhole  the LIVE page while master data holds every request unanswered
//	stampede   many simultaneous requests for one key whose copy has expired
//	responsecache  the warm catalog page from the whole-response cache,
//	           executed and from the static ceiling at -connections (8
//	           and 64); then those and a bare gqlgen server, each in its
//	           own process, at -connections and -rss-connections (1,000)
//	gc         the executed page at GOGC 100, 200, 400 and 800, at 64 and
//	           -rss-connections connections
//
// Each is measured for Meridian as configured by internal/config's
// defaults, for a naive gateway (loaders.Config.Naive: one origin call per
// field, no deadline budget, breaker or copies), and for a static ceiling:
// a plain net/http handler replaying the bytes Meridian answered, over the
// same client and loopback. The catalog scenario also runs Meridian with
// the dataloader's default wait of 16ms next to Meridian's 1ms. The
// responsecache scenario compares Meridian with and without its response
// cache, a bare gqlgen server of the catalog schema's shape answering from
// memory (bench/baregql: gqlgen's execution and nothing else) and the
// static ceiling.
//
// Reported per configuration: requests, requests per second (closed
// loops), exact p50/p95/p99/max latency of every request, the inventory
// batch calls master data received (the simulator's request counts read
// before and after) and the SKUs each asked for, failures (no response,
// non-200, GraphQL errors), responses listing extensions.degraded, the
// guard's counters from the gateway's /metrics, and the processor time used
// by this process (and a child serving the measurement) and by every other
// one while the requests ran: figures from a shared machine mean little
// without it. Servers in a child process also report their resident
// memory: idle before the connections open, the highest sampled under
// load, and the peak of the process (VmHWM); "n/a" outside Linux.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The scenarios -scenario accepts, in the order they run.
const (
	scenarioCatalog   = "catalog"
	scenarioBlackhole = "blackhole"
	scenarioStampede  = "stampede"
	scenarioResponses = "responsecache"
	scenarioGC        = "gc"
)

func allScenarios() []string {
	return []string{scenarioCatalog, scenarioBlackhole, scenarioStampede, scenarioResponses, scenarioGC}
}

// options is one run's settings; flags set them.
type options struct {
	// Scenarios to run, a subset of allScenarios in that order.
	Scenarios []string
	// Duration of every steady measurement, after Warmup.
	Duration time.Duration
	Warmup   time.Duration
	// Concurrency is the number of client connections and requests in
	// flight in steady measurements, and of simultaneous first requests
	// per cold round.
	Concurrency int
	// Latency and Jitter are the simulated border's delay.
	Latency, Jitter time.Duration
	// ColdRounds is how many fresh gateways the cold measurement starts.
	ColdRounds int
	// Stampede is how many simultaneous requests the stampede sends.
	Stampede int
	// StampedeMaxAge is INVENTORY_MAX_AGE and
	// INVENTORY_STALE_WHILE_REVALIDATE of the stampede's gateways.
	StampedeMaxAge time.Duration
	// BlackholeTimeout is EXECUTION_TIMEOUT in the blackhole scenario,
	// which the naive gateway waits out on every request.
	BlackholeTimeout time.Duration
	// MaxRequests bounds the requests of one measurement, whatever its
	// duration.
	MaxRequests int
	// RSSConnections is the largest number of client connections (and
	// requests in flight) of the responsecache and gc scenarios, whose
	// servers run in child processes and report their memory.
	RSSConnections int
	// Connections are the client connection counts at which the
	// responsecache scenario measures before RSSConnections; the gc
	// scenario measures at the last of them and at RSSConnections.
	Connections []int
	// Testdata is the directory of the seeds: catalog.json (the mirror and
	// master data) and identities.json (the identity provider).
	Testdata string
}

func (o options) validate() error {
	var errs []error
	for _, s := range o.Scenarios {
		if !slices.Contains(allScenarios(), s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q: want all or a comma-separated list of %s", s, strings.Join(allScenarios(), ", ")))
		}
	}
	if len(o.Scenarios) == 0 {
		errs = append(errs, errors.New("no scenario"))
	}
	if o.Duration <= 0 || o.Warmup <= 0 || o.StampedeMaxAge <= 0 || o.BlackholeTimeout <= 0 {
		errs = append(errs, errors.New("-duration, -warmup, -stampede-max-age and -blackhole-timeout must be positive"))
	}
	if o.Latency < 0 || o.Jitter < 0 {
		errs = append(errs, errors.New("-latency and -jitter must not be negative"))
	}
	if len(o.Connections) == 0 || slices.Min(o.Connections) < 1 {
		errs = append(errs, errors.New("-connections must list counts of at least 1"))
	}
	if o.Concurrency < 1 || o.ColdRounds < 1 || o.Stampede < 1 || o.MaxRequests < 1 || o.RSSConnections < 1 {
		errs = append(errs, errors.New("-concurrency, -cold-rounds, -stampede, -max-requests and -rss-connections must be at least 1"))
	}
	// The gateway refuses a deadline budget (300ms) not shorter than its
	// execution timeout.
	if o.BlackholeTimeout <= 300*time.Millisecond {
		errs = append(errs, errors.New("-blackhole-timeout must be longer than the 300ms origin budget"))
	}
	return errors.Join(errs...)
}

func main() {
	if spec, ok := os.LookupEnv(serveEnv); ok {
		// Started by a measurement to serve one configuration.
		if err := serveChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench: child:", err)
			os.Exit(1)
		}
		return
	}
	opts, files, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if files.cpuProfile != "" {
		// One profile covers the whole process: gateway, simulator and
		// load generator alike; pprof's -focus separates them.
		f, err := os.Create(files.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
	}
	rep, err := run(ctx, opts, os.Stderr)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.Command = strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " ")
	md := rep.markdown()
	fmt.Print(md)
	if files.out != "" {
		if err := os.WriteFile(files.out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// outputs are the files a run writes besides standard output.
type outputs struct {
	out        string // the Markdown report
	cpuProfile string // a CPU profile of the whole run
}

func parseFlags(args []string) (options, outputs, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	scenarios := fs.String("scenario", "all", "all, or a comma-separated list of "+strings.Join(allScenarios(), ", "))
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of every steady measurement")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unreported load before every steady measurement")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "client connections (and requests in flight) of steady measurements; simultaneous first requests per cold round")
	fs.DurationVar(&o.Latency, "latency", 180*time.Millisecond, "simulated origin latency")
	fs.DurationVar(&o.Jitter, "jitter", 30*time.Millisecond, "± jitter on the origin latency")
	fs.IntVar(&o.ColdRounds, "cold-rounds", 10, "fresh gateways started by the cold measurement")
	fs.IntVar(&o.Stampede, "stampede", 1000, "simultaneous requests of the stampede")
	fs.DurationVar(&o.StampedeMaxAge, "stampede-max-age", time.Second, "INVENTORY_MAX_AGE and INVENTORY_STALE_WHILE_REVALIDATE of the stampede's gateways")
	fs.DurationVar(&o.BlackholeTimeout, "blackhole-timeout", 5*time.Second, "EXECUTION_TIMEOUT of the blackhole scenario's gateways")
	fs.IntVar(&o.MaxRequests, "max-requests", 1_000_000, "most requests of one measurement")
	fs.IntVar(&o.RSSConnections, "rss-connections", 1000, "the largest number of client connections of the responsecache and gc scenarios")
	connections := fs.String("connections", "8,64", "comma-separated smaller numbers of client connections of the responsecache scenario (the gc scenario uses the last)")
	fs.StringVar(&o.Testdata, "testdata", "", "directory of catalog.json and identities.json (default: testdata in this or a parent directory)")
	var files outputs
	fs.StringVar(&files.out, "out", "", "also write the Markdown report to this file")
	fs.StringVar(&files.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return o, files, err
	}
	if fs.NArg() > 0 {
		return o, files, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, c := range strings.Split(*connections, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			return o, files, fmt.Errorf("-connections: %q is not a number", c)
		}
		o.Connections = append(o.Connections, n)
	}
	if *scenarios == "all" {
		o.Scenarios = allScenarios()
	} else {
		for _, s := range strings.Split(*scenarios, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(o.Scenarios, s) {
				o.Scenarios = append(o.Scenarios, s)
			}
		}
		// Run in the documented order whatever order they were named in.
		slices.SortFunc(o.Scenarios, func(a, b string) int {
			return slices.Index(allScenarios(), a) - slices.Index(allScenarios(), b)
		})
	}
	return o, files, o.validate()
}

// run runs the chosen scenarios and returns their report. Progress goes to
// progress, one line per measurement.
func run(ctx context.Context, opts options, progress io.Writer) (*report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	dir := opts.Testdata
	if dir == "" {
		var err error
		if dir, err = findTestdata(); err != nil {
			return nil, err
		}
	}
	seed, err := readSeeds(dir)
	if err != nil {
		return nil, err
	}
	m, err := openMirror(ctx, seed.catalog)
	if err != nil {
		return nil, err
	}
	defer m.Close()

	rep := &report{Opts: opts, Machine: describeMachine(), Started: time.Now()}
	load := startLoadSampler(2 * time.Second)
	r := &runner{opts: opts, seed: seed, mirror: m, progress: progress}
	steps := map[string]func(context.Context) ([]section, error){
		scenarioCatalog:   r.catalog,
		scenarioBlackhole: r.blackhole,
		scenarioStampede:  r.stampede,
		scenarioResponses: r.responseCache,
		scenarioGC:        r.gcSettings,
	}
	for _, name := range opts.Scenarios {
		r.note("scenario %s", name)
		sections, err := steps[name](ctx)
		if err != nil {
			load.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rep.Sections = append(rep.Sections, sections...)
	}
	rep.Finished = time.Now()
	rep.Load = load.stop()
	return rep, nil
}

// seeds are the testdata files a run loads.
type seeds struct {
	catalog    []byte
	identities []byte
}

func readSeeds(dir string) (seeds, error) {
	var s seeds
	var err error
	if s.catalog, err = os.ReadFile(filepath.Join(dir, "catalog.json")); err != nil {
		return s, fmt.Errorf("catalog seed: %w", err)
	}
	if s.identities, err = os.ReadFile(filepath.Join(dir, "identities.json")); err != nil {
		return s, fmt.Errorf("identities seed: %w", err)
	}
	return s, nil
}

// findTestdata looks for testdata/catalog.json in the working directory and
// its parents, so the harness runs from the repository root (go run ./bench)
// and from its own directory (go test).
func findTestdata() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "testdata")
		if _, err := os.Stat(filepath.Join(p, "catalog.json")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testdata/catalog.json not found in this directory or a parent: pass -testdata")
		}
		dir = parent
	}
}
