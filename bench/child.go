package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"meridian/internal/gctune"
)

// Measurements of a server's memory cannot share a process with the load
// generator, whose own connections and buffers would be counted with it.
// For them the benchmark starts itself again as a child process that
// serves one configuration and nothing else, while the simulator and the
// load generator stay in the parent.

// serveEnv names the environment variable that turns the bench binary (and
// its test binary) into such a child: its value is a childSpec in JSON.
// The child prints the URL it serves on standard output, one line, and
// serves until standard input closes or it receives SIGINT or SIGTERM.
const serveEnv = "MERIDIAN_BENCH_SERVE"

// The servers a child can be.
const (
	childMeridian = "meridian" // the gateway, as startGateway builds it
	childBare     = "bare"     // the bare gqlgen server
	childStatic   = "static"   // the static ceiling
)

// childSpec is what a child process serves.
type childSpec struct {
	// Server is childMeridian, childBare or childStatic.
	Server string
	// Variant configures the gateway (childMeridian).
	Variant variant `json:",omitzero"`
	// Origin is the parent's simulator (childMeridian).
	Origin originURLs `json:",omitzero"`
	// Catalog is the path of the catalog seed: the gateway's mirror is
	// seeded from it, the bare server answers from it.
	Catalog string `json:",omitempty"`
	// Replay is the path of the bytes the static ceiling answers, with
	// ContentType (childStatic).
	Replay      string `json:",omitempty"`
	ContentType string `json:",omitempty"`
}

// serveChild is the whole life of a child process: serve spec (serveEnv's
// value) on a loopback port, write its URL to stdout, and serve until
// stdin reaches its end or the process is told to stop.
func serveChild(spec string, stdin io.Reader, stdout io.Writer) error {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fmt.Errorf("%s: %w", serveEnv, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	url, shutdown, err := s.serve(ctx)
	if err != nil {
		return err
	}
	defer shutdown()
	if _, err := fmt.Fprintln(stdout, url); err != nil {
		return err
	}
	go func() {
		// The parent closes stdin when it is done, and its end closes
		// when the parent dies: either way the child stops.
		_, _ = io.Copy(io.Discard, stdin)
		stop()
	}()
	<-ctx.Done()
	return nil
}

// serve starts the server s describes and returns its URL and how to stop
// it.
func (s childSpec) serve(ctx context.Context) (string, func(), error) {
	switch s.Server {
	case childMeridian:
		// As the meridian binary does before anything else.
		gctune.Apply(gctune.OS)
		seed, err := os.ReadFile(s.Catalog)
		if err != nil {
			return "", nil, err
		}
		m, err := openMirror(ctx, seed)
		if err != nil {
			return "", nil, err
		}
		g, err := startGatewayAt(ctx, m, s.Origin, s.Variant)
		if err != nil {
			m.Close()
			return "", nil, err
		}
		return g.URL, func() { g.Close(); m.Close() }, nil
	case childBare:
		seed, err := os.ReadFile(s.Catalog)
		if err != nil {
			return "", nil, err
		}
		h, err := bareHandler(seed)
		if err != nil {
			return "", nil, err
		}
		srv, err := startPlain(h)
		if err != nil {
			return "", nil, err
		}
		return srv.URL, srv.Close, nil
	case childStatic:
		body, err := os.ReadFile(s.Replay)
		if err != nil {
			return "", nil, err
		}
		srv, err := startStatic(body, s.ContentType)
		if err != nil {
			return "", nil, err
		}
		return srv.URL, srv.Close, nil
	}
	return "", nil, fmt.Errorf("%s: unknown server %q", serveEnv, s.Server)
}

// childStartTimeout bounds a child's start-up: building the binary is not
// part of it, seeding a mirror is.
const childStartTimeout = time.Minute

// childServer is a child process serving one configuration.
type childServer struct {
	URL    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer // read only after the process has been waited for
	exited chan struct{}
	err    error // how the process ended, once exited is closed
}

// startChild starts this program again as a child serving spec, in this
// process's environment plus extraEnv, and waits for its URL.
func startChild(ctx context.Context, spec childSpec, extraEnv map[string]string) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	c := &childServer{cmd: exec.Command(exe), exited: make(chan struct{})}
	// Later entries win: extraEnv overrides what the parent has.
	c.cmd.Env = append(os.Environ(), serveEnv+"="+string(js))
	for _, k := range slices.Sorted(maps.Keys(extraEnv)) {
		c.cmd.Env = append(c.cmd.Env, k+"="+extraEnv[k])
	}
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		// Wait may close stdout only once it has been read.
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	select {
	case c.URL = <-lines:
		if c.URL != "" {
			return c, nil
		}
		<-c.exited
		return nil, fmt.Errorf("child %s exited before serving: %v: %s", spec.Server, c.err, bytes.TrimSpace(c.stderr.Bytes()))
	case <-timer.C:
		c.Close()
		return nil, fmt.Errorf("child %s did not start within %s", spec.Server, childStartTimeout)
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

// Pid is the child's process id.
func (c *childServer) Pid() int { return c.cmd.Process.Pid }

// Close asks the child to stop by closing its stdin, and kills it when it
// has not stopped within ten seconds. It returns how the child ended.
func (c *childServer) Close() error {
	_ = c.stdin.Close()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if c.err != nil {
		return fmt.Errorf("child: %w: %s", c.err, bytes.TrimSpace(c.stderr.Bytes()))
	}
	return nil
}

// memory is a server's resident memory (RSS) over a measurement, in bytes.
type memory struct {
	// Known is false where /proc/<pid>/status cannot be read (outside
	// Linux).
	Known bool
	// Idle is VmRSS after the warm-up on one connection, before the
	// measurement's connections open.
	Idle int64
	// Max is the highest VmRSS sampled while the measured requests ran.
	Max int64
	// Peak is VmHWM at the end: the kernel's record of the highest RSS
	// of the process's life. The kernel keeps it lazily, so it can be
	// below Max.
	Peak int64
	// Samples is how many VmRSS readings Max is the highest of.
	Samples int
}

// procMemory reads a process's VmRSS and VmHWM from /proc/<pid>/status,
// in bytes; ok is false where there is no such file.
func procMemory(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	var found int
	for line := range strings.Lines(string(b)) {
		name, value, _ := strings.Cut(line, ":")
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		// "VmRSS:	   12345 kB"
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(value), "%d kB", &kb); err != nil {
			return 0, 0, false
		}
		*dst = kb << 10
		found++
	}
	return rss, hwm, found == 2
}

// rssSampler reads a process's VmRSS at an interval and keeps the highest.
type rssSampler struct {
	done chan struct{}
	out  chan memory
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), out: make(chan memory, 1)}
	go func() {
		var m memory
		read := func() {
			if rss, _, ok := procMemory(pid); ok {
				m.Known = true
				m.Max = max(m.Max, rss)
				m.Samples++
			}
		}
		read()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				read()
			case <-s.done:
				read()
				s.out <- m
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the highest VmRSS seen.
func (s *rssSampler) stop() memory {
	close(s.done)
	return <-s.out
}

// withChild counts processor time a child process spent in the window as
// this run's rather than another process's.
func (w cpuWindow) withChild(d time.Duration, ok bool) cpuWindow {
	if !w.Known || !ok {
		w.Known = false
		return w
	}
	w.Self += d
	w.Others = max(0, w.Others-d)
	return w
}

// openConnections opens one connection per client with a GET of url, a
// few dozen at a time: many simultaneous dials measure the kernel, not the
// server.
func openConnections(ctx context.Context, clients []*http.Client, url string) error {
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(clients))
	for _, c := range clients {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- warm(ctx, c, url)
		}()
	}
	var all []error
	for range clients {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		return fmt.Errorf("%d of %d connections did not open, the first: %w", len(all), len(clients), all[0])
	}
	return nil
}
