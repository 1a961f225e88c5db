package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// report is one run's figures and the conditions they were taken in.
type report struct {
	// Command is the command line that produced the report, when known.
	Command  string
	Opts     options
	Machine  machine
	Load     loadAverages
	Started  time.Time
	Finished time.Time
	Sections []section
}

// machine describes where the run took place.
type machine struct {
	CPUs       int
	GOMAXPROCS int
	CPUModel   string
	GoVersion  string
	OSArch     string
}

func describeMachine() machine {
	return machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel(),
		GoVersion:  runtime.Version(),
		OSArch:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// cpuModel reads the first "model name" of /proc/cpuinfo; "unknown" where
// there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverages are 1-minute load averages: when the run started, the
// highest seen while it ran, and when it finished. The run itself adds to
// them: it keeps up to both cores busy.
type loadAverages struct {
	Known              bool
	Before, Max, After float64
}

// loadSampler polls /proc/loadavg while a run goes on.
type loadSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	avg  loadAverages
}

func startLoadSampler(every time.Duration) *loadSampler {
	s := &loadSampler{done: make(chan struct{})}
	if v, ok := loadAverage(); ok {
		s.avg = loadAverages{Known: true, Before: v, Max: v}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.record()
			}
		}
	}()
	return s
}

func (s *loadSampler) record() {
	v, ok := loadAverage()
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.avg.Max = max(s.avg.Max, v)
	s.avg.After = v
}

func (s *loadSampler) stop() loadAverages {
	close(s.done)
	s.wg.Wait()
	s.record()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.avg
}

// loadAverage reads the 1-minute load average (Linux only).
func loadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return v, err == nil
}

// ms renders a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "# Meridian benchmark run\n\n")
	if r.Command != "" {
		fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	}
	fmt.Fprintf(&b, "- started %s, took %s\n", r.Started.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	m := r.Machine
	fmt.Fprintf(&b, "- machine: %d CPUs (GOMAXPROCS %d), %s, %s, %s\n", m.CPUs, m.GOMAXPROCS, m.CPUModel, m.OSArch, m.GoVersion)
	if r.Load.Known {
		fmt.Fprintf(&b, "- 1-minute load average: %.2f at the start, %.2f at most during the run, %.2f at the end (the run itself keeps the cores busy)\n",
			r.Load.Before, r.Load.Max, r.Load.After)
	}
	fmt.Fprintf(&b, "- origin latency %s ± %s; steady measurements: %d connections for %s after a %s warm-up; cold: %d rounds of %d; stampede: %d requests",
		o.Latency, o.Jitter, o.Concurrency, o.Duration, o.Warmup, o.ColdRounds, o.Concurrency, o.Stampede)
	if slices.Contains(o.Scenarios, scenarioResponses) || slices.Contains(o.Scenarios, scenarioGC) {
		fmt.Fprintf(&b, "; responsecache and gc: %v and %d connections, each server in a child process", o.Connections, o.RSSConnections)
	}
	b.WriteString("\n")
	b.WriteString("- latency is per request, from sending it to the last byte of the answer, failures included; percentiles are exact (nearest rank); origin calls are the `POST /masterdata/v1/inventory:batchGet` requests the simulator received; errors are transport / non-200 / GraphQL `errors`; cores are the average processor use while the requests ran, of this run's process (gateway, simulator and load generator together; plus the child serving the measurement, where there is one) and of every other process on the machine; RSS is resident memory in MiB (1 MiB = 1,048,576 bytes)\n")

	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n%s", s.Title, s.About)
		if s.ResponseBytes > 0 {
			fmt.Fprintf(&b, " The static ceiling replays Meridian's answer (%d bytes).", s.ResponseBytes)
		}
		b.WriteString("\n\n")
		switch s.Kind {
		case steadyKind:
			b.WriteString("| configuration | requests | req/s | p50 | p95 | p99 | max | origin calls | calls/request | errors | degraded | cores: run / others |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		case burstKind:
			b.WriteString("| configuration | requests | p50 | p95 | p99 | max | last answer after | origin calls | calls/request | errors | degraded | cores: run / others |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		case memoryKind:
			b.WriteString("| configuration | requests | req/s | p50 | p95 | p99 | max | origin calls | errors | RSS idle | RSS under load (max) | VmHWM (peak) | cores: run / others |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		}
		for _, row := range s.Rows {
			if s.Kind == memoryKind {
				fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %s | %s | %s | %d / %d / %d | %s | %s | %s | %s |\n",
					row.Config, row.Requests, row.PerSecond, ms(row.P50), ms(row.P95), ms(row.P99), ms(row.Max),
					calls(row.OriginCalls), row.Transport, row.Status, row.GraphQL,
					row.Memory.mib(row.Memory.Idle), row.Memory.mib(row.Memory.Max), row.Memory.mib(row.Memory.Peak), cores(row.CPU))
				continue
			}
			rate := fmt.Sprintf("%.1f", row.PerSecond)
			if s.Kind == burstKind {
				rate = ms(row.Elapsed)
			}
			fmt.Fprintf(&b, "| %s | %d | ", row.Config, row.Requests)
			if s.Kind == steadyKind {
				fmt.Fprintf(&b, "%s | ", rate)
			}
			fmt.Fprintf(&b, "%s | %s | %s | %s | ", ms(row.P50), ms(row.P95), ms(row.P99), ms(row.Max))
			if s.Kind == burstKind {
				fmt.Fprintf(&b, "%s | ", rate)
			}
			fmt.Fprintf(&b, "%s | %s | %d / %d / %d | %d | %s |\n",
				calls(row.OriginCalls), perRequest(row.CallsPerRequest()), row.Transport, row.Status, row.GraphQL, row.Degraded, cores(row.CPU))
		}
		var notes []string
		for _, row := range s.Rows {
			var parts []string
			if row.AnswerBytes > 0 {
				parts = append(parts, fmt.Sprintf("answers %d bytes", row.AnswerBytes))
			}
			if row.Batches != nil {
				parts = append(parts, row.Batches.String())
			}
			if row.Breaker != "" {
				parts = append(parts, fmt.Sprintf("guard %s; breaker %s at the end", row.Guard.String(), row.Breaker))
			}
			if len(row.Codes) > 0 {
				parts = append(parts, "failures: "+codes(row.Codes))
			}
			if steal := row.CPU.cores(row.CPU.Steal); steal >= 0.01 {
				parts = append(parts, fmt.Sprintf("%.2f cores stolen by the hypervisor", steal))
			}
			if len(parts) > 0 {
				notes = append(notes, "- "+row.Config+": "+strings.Join(parts, "; "))
			}
		}
		if len(notes) > 0 {
			b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
		}
	}
	r.loaderWait(&b)
	return b.String()
}

// loaderWait renders the rows of Meridian's two loader waits side by side.
func (r *report) loaderWait(b *strings.Builder) {
	var lines []string
	for _, s := range r.Sections {
		for _, row := range s.Rows {
			wait := map[string]string{meridian.Name: "1ms (Meridian)", wait16.Name: "16ms (dataloader default)"}[row.Config]
			if wait == "" || !slices.ContainsFunc(s.Rows, func(m measurement) bool { return m.Config == wait16.Name }) {
				continue
			}
			rate := fmt.Sprintf("%.1f req/s", row.PerSecond)
			if s.Kind == burstKind {
				rate = "—"
			}
			lines = append(lines, fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %s | %s |",
				s.Title, wait, row.Requests, rate, ms(row.P50), ms(row.P95), ms(row.P99), perRequest(row.CallsPerRequest())))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\n## Loader wait: 1ms against 16ms\n\n")
	b.WriteString("The same rows as above, side by side.\n\n")
	b.WriteString("| page | loader wait | requests | throughput | p50 | p95 | p99 | calls/request |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	b.WriteString(strings.Join(lines, "\n") + "\n")
}

func calls(n int64) string {
	if n < 0 {
		return "—"
	}
	return strconv.FormatInt(n, 10)
}

func perRequest(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

// String renders the counters in a stable order, "none" when empty.
func (c counters) String() string {
	if len(c) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %g", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// String renders the batch sizes for the notes under a table.
func (b batchSizes) String() string {
	if b.Calls == 0 {
		return "no inventory call"
	}
	of := ""
	if b.Partial {
		of = " (the last ones the simulator's log held)"
	}
	return fmt.Sprintf("SKUs per inventory call: mean %.1f, min %d, max %d, %d of %d calls for a single SKU%s",
		b.Mean(), b.Min, b.Max, b.Single, b.Calls, of)
}

// codes renders failure counts by code, most frequent first.
func codes(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c[a] != c[b] {
			return c[b] - c[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// mib renders a size in bytes of m in MiB, "n/a" when m is unknown (no
// /proc to read).
func (m *memory) mib(bytes int64) string {
	if m == nil || !m.Known {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

// cores renders a window's processor use as "run / others".
func cores(w cpuWindow) string {
	if !w.Known {
		return "—"
	}
	return fmt.Sprintf("%.2f / %.2f", w.cores(w.Self), w.cores(w.Others))
}
