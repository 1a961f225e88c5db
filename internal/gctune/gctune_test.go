package gctune

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"
)

// fakeEnv is an environment with the given variables and files.
func fakeEnv(vars, files map[string]string) Environment {
	return Environment{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(p string) ([]byte, error) {
			if b, ok := files[p]; ok {
				return []byte(b), nil
			}
			return nil, errors.New("no such file")
		},
	}
}

func TestPlan(t *testing.T) {
	const gib = int64(1) << 30
	for _, tt := range []struct {
		name        string
		vars, files map[string]string
		gcFrom      string
		limit       int64
		limitFrom   string
	}{
		{name: "bare machine", gcFrom: "default", limit: math.MaxInt64, limitFrom: "none"},
		{name: "cgroup v2 without a limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"},
			gcFrom: "default", limit: math.MaxInt64, limitFrom: "none"},
		{name: "cgroup v2 limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"},
			gcFrom: "default", limit: gib * 8 / 10, limitFrom: "cgroup /sys/fs/cgroup/memory.max"},
		{name: "cgroup v1 limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648"},
			gcFrom: "default", limit: 2 * gib * 8 / 10, limitFrom: "cgroup /sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{name: "cgroup v1 unlimited", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"},
			gcFrom: "default", limit: math.MaxInt64, limitFrom: "none"},
		{name: "garbage in the limit file", files: map[string]string{"/sys/fs/cgroup/memory.max": "lots"},
			gcFrom: "default", limit: math.MaxInt64, limitFrom: "none"},
		{name: "operator's GOGC and GOMEMLIMIT win", vars: map[string]string{"GOGC": "150", "GOMEMLIMIT": "512MiB"},
			files:  map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"},
			gcFrom: "GOGC", limitFrom: "GOMEMLIMIT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Plan(fakeEnv(tt.vars, tt.files))
			if s.GCPercentFrom != tt.gcFrom || s.MemoryLimitFrom != tt.limitFrom {
				t.Fatalf("Plan = %+v, want GOGC from %q and limit from %q", s, tt.gcFrom, tt.limitFrom)
			}
			if tt.gcFrom == "default" && s.GCPercent != DefaultGCPercent {
				t.Errorf("GCPercent = %d, want %d", s.GCPercent, DefaultGCPercent)
			}
			if tt.limitFrom != "GOMEMLIMIT" && s.MemoryLimit != tt.limit {
				t.Errorf("MemoryLimit = %d, want %d", s.MemoryLimit, tt.limit)
			}
		})
	}
}

func TestApplySetsTheRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	beforeLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(beforeLimit)
	})
	s := Apply(fakeEnv(nil, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"}))
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Errorf("GOGC in effect = %d, want %d", got, DefaultGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != s.MemoryLimit || got != (int64(1)<<30)*8/10 {
		t.Errorf("GOMEMLIMIT in effect = %d, want %d", got, s.MemoryLimit)
	}
}
