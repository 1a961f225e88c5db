// Package gctune chooses the Go garbage collector's settings for the
// gateway when the operator has not: GOGC 400, and a GOMEMLIMIT of 80 % of
// the container's memory limit when there is one.
//
// Why: the gateway's live heap is small (tens of megabytes: query cache,
// decoded catalog, copies) while every executed page allocates about
// 0.7 MB of short-lived garbage. At Go's default GOGC 100 the collector then
// runs every few pages and takes a third of the processor; at 400 the
// catalog page executes about 1.6 times as fast, for some tens of
// megabytes more resident memory (BENCHMARKS.md, "Garbage collector
// settings"). The memory limit is the guard rail: near it the collector
// works harder instead of letting the container be killed.
//
// GOGC and GOMEMLIMIT in the environment always win, as the Go runtime
// documents: this package only fills in what they leave unset.
package gctune

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the GOGC the gateway runs with unless GOGC is set.
const DefaultGCPercent = 400

// limitShare is the part of a container memory limit that GOMEMLIMIT gets:
// the rest is left to what the Go heap does not count (goroutine stacks
// outside it, the SQLite page cache, C-like allocations of the driver) and
// to the kernel's page cache of the container.
const limitShare = 0.8

// Settings are the collector settings in effect after Apply, and where
// each came from, for the start-up log.
type Settings struct {
	GCPercent       int    // -1 means off
	GCPercentFrom   string // "GOGC" or "default"
	MemoryLimit     int64  // bytes; math.MaxInt64 means none
	MemoryLimitFrom string // "GOMEMLIMIT", "cgroup <path>" or "none"
}

// LogAttrs returns s as key-value pairs for slog.
func (s Settings) LogAttrs() []any {
	limit := "none"
	if s.MemoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(s.MemoryLimit>>20, 10) + "MiB"
	}
	return []any{"gogc", s.GCPercent, "gogc_from", s.GCPercentFrom, "gomemlimit", limit, "gomemlimit_from", s.MemoryLimitFrom}
}

// Environment is what Apply reads: the process environment and files (for
// the cgroup limit). Tests substitute both.
type Environment struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// OS is the real environment.
var OS = Environment{Getenv: os.Getenv, ReadFile: os.ReadFile}

// cgroupLimitFiles are where a container's memory limit is found: cgroup v2
// first, then v1.
var cgroupLimitFiles = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// Apply sets the collector's defaults where env leaves them unset and
// returns the settings in effect.
func Apply(env Environment) Settings {
	s := Plan(env)
	if s.GCPercentFrom == "default" {
		debug.SetGCPercent(s.GCPercent)
	}
	if strings.HasPrefix(s.MemoryLimitFrom, "cgroup") {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	return s
}

// Plan works out what Apply would set, without setting it.
func Plan(env Environment) Settings {
	s := Settings{GCPercent: DefaultGCPercent, GCPercentFrom: "default", MemoryLimit: math.MaxInt64, MemoryLimitFrom: "none"}
	if v := env.Getenv("GOGC"); v != "" {
		s.GCPercentFrom = "GOGC"
		// The runtime has already parsed it; read back what it uses.
		s.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.GCPercent)
	}
	if v := env.Getenv("GOMEMLIMIT"); v != "" {
		s.MemoryLimitFrom = "GOMEMLIMIT"
		s.MemoryLimit = debug.SetMemoryLimit(-1) // a negative limit only reads
		return s
	}
	for _, path := range cgroupLimitFiles {
		if limit, ok := readLimit(env, path); ok {
			s.MemoryLimit = int64(float64(limit) * limitShare)
			s.MemoryLimitFrom = "cgroup " + path
			break
		}
	}
	return s
}

// readLimit reads a cgroup memory limit file. "max" (v2) and the huge
// values v1 reports for "unlimited" mean no limit.
func readLimit(env Environment, path string) (int64, bool) {
	b, err := env.ReadFile(path)
	if err != nil {
		return 0, false
	}
	text := strings.TrimSpace(string(b))
	if text == "" || text == "max" {
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	// cgroup v1 reports "no limit" as a page-rounded math.MaxInt64.
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}
