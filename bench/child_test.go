package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as a measurement's child process:
// under go test, the program that starts itself again is this binary.
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(serveEnv); ok {
		if err := serveChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench: child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestChildServesWithItsOwnEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	replay := dir + "/replay"
	if err := os.WriteFile(replay, []byte(`{"data":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := startChild(ctx, childSpec{Server: childStatic, Replay: replay, ContentType: "application/json"}, map[string]string{"GOGC": "400"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, resp := send(ctx, newLoadClient(1), target{URL: c.URL + "/graphql", Body: cachedPage})
	if s.outcome != outcomeOK || string(resp.body) != `{"data":{}}` {
		t.Errorf("got outcome %d, body %q; want the replayed bytes", s.outcome, resp.body)
	}
	if runtime.GOOS == "linux" {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		vars := strings.Split(string(environ), "\x00")
		if !slices.Contains(vars, "GOGC=400") || !slices.Contains(vars, "PATH="+os.Getenv("PATH")) {
			t.Error("the child lacks its extra variable or the parent's environment")
		}
		rss, hwm, ok := procMemory(c.Pid())
		if !ok || rss <= 0 || hwm < rss {
			t.Errorf("procMemory = %d, %d, %v; want a positive VmRSS at most VmHWM", rss, hwm, ok)
		}
		if _, ok := procCPU(c.Pid()); !ok {
			t.Error("procCPU found no processor time")
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("the child did not stop cleanly when its stdin closed: %v", err)
	}
}

func TestChildRefusesAnUnknownServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := startChild(ctx, childSpec{Server: "nope"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown server "nope"`) {
		t.Errorf("got %v, want the child's refusal", err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{1: "1", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
