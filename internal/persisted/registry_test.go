package persisted

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects log output written from the watcher's goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// writeFile replaces path atomically and moves its modification time
// forward, so a change is visible even on file systems with coarse times.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	var prev time.Time
	if fi, err := os.Stat(path); err == nil {
		prev = fi.ModTime()
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The time is set before the rename, which keeps it: the watcher must
	// see one change per write, as with a deployment's atomic replace.
	mtime := time.Now()
	if !mtime.After(prev) {
		mtime = prev.Add(time.Second)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistryChecks(t *testing.T) {
	log, _ := testLogger(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "m.json")
	writeFile(t, good, manifestJSON(t, opName))
	for _, tt := range []struct {
		name  string
		log   *slog.Logger
		paths []string
		want  string
	}{
		{"no logger", nil, []string{good}, "logger"},
		{"empty path", log, []string{good, ""}, "empty manifest path"},
		{"listed twice", log, []string{good, good}, "listed twice"},
		{"missing file", log, []string{filepath.Join(dir, "nope.json")}, "nope.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistry(tt.log, tt.paths...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRegistryWithoutFiles(t *testing.T) {
	log, _ := testLogger(t)
	r, err := NewRegistry(log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup(opName.ID); ok || r.Manifest().Len() != 0 {
		t.Error("a registry without files must hold no operations")
	}
	if err := r.Reload(); err != nil {
		t.Errorf("Reload: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Watch(context.Background(), time.Millisecond) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch without files must return at once")
	}
	if err := r.Watch(context.Background(), 0); err == nil {
		t.Error("Watch accepted a zero interval")
	}
}

func TestRegistryReload(t *testing.T) {
	log, _ := testLogger(t)
	path := filepath.Join(t.TempDir(), "m.json")
	writeFile(t, path, manifestJSON(t, opName))
	r, err := NewRegistry(log, path)
	if err != nil {
		t.Fatal(err)
	}
	before := r.Manifest()
	if _, ok := r.Lookup(opName.ID); !ok {
		t.Fatal("initial manifest not loaded")
	}

	writeFile(t, path, manifestJSON(t, opFind))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup(opFind.ID); !ok {
		t.Error("reloaded operation not found")
	}
	if _, ok := r.Lookup(opName.ID); ok {
		t.Error("removed operation still found")
	}
	if _, ok := before.Lookup(opName.ID); !ok || before.Len() != 1 {
		t.Error("a reload changed a manifest a caller already held")
	}

	broken := opRename
	broken.Type = Query
	writeFile(t, path, manifestJSON(t, opName, broken))
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"Rename"`) {
		t.Fatalf("Reload of a broken file: %v, want an error naming the file and the operation", err)
	}
	if _, ok := r.Lookup(opFind.ID); !ok || r.Manifest().Len() != 1 {
		t.Error("a broken file replaced the manifest; the previous one must stay")
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if _, ok := r.Lookup(opFind.ID); !ok {
		t.Error("a missing file emptied the manifest")
	}
}

func TestRegistryWatch(t *testing.T) {
	log, logs := testLogger(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	other := filepath.Join(dir, "other.json")
	writeFile(t, path, manifestJSON(t, opName))
	writeFile(t, other, manifestJSON(t, opRename))
	r, err := NewRegistry(log, path, other)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, 5*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v when its context ended", err)
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs:\n%s", what, logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	writeFile(t, path, manifestJSON(t, opName, opFind))
	waitFor("the new operation", func() bool { _, ok := r.Lookup(opFind.ID); return ok })
	waitFor("the reload log", func() bool {
		return strings.Contains(logs.String(), "manifests reloaded") && strings.Contains(logs.String(), "added=1")
	})

	writeFile(t, path, []byte(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"0"}]}`))
	waitFor("the failure log", func() bool { return strings.Contains(logs.String(), "reload failed") })
	if _, ok := r.Lookup(opFind.ID); !ok || r.Manifest().Len() != 3 {
		t.Error("a broken file replaced the manifest")
	}
	time.Sleep(30 * time.Millisecond)
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Errorf("the same broken file was reported %d times; once until it changes", n)
	}

	writeFile(t, path, manifestJSON(t, opFind))
	waitFor("the repaired file", func() bool { _, ok := r.Lookup(opName.ID); return !ok })
	if _, ok := r.Lookup(opRename.ID); !ok {
		t.Error("the other file's operation was lost")
	}
}
