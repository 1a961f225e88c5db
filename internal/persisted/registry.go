package persisted

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds the current Manifest of a set of manifest files and
// replaces it, whole, when they change. It is safe for concurrent use:
// lookups never wait for a reload and always see one complete manifest.
//
// A Registry of no files holds an empty manifest for good: nothing is
// persisted, Reload and Watch have nothing to do.
type Registry struct {
	paths   []string
	log     *slog.Logger
	current atomic.Pointer[Manifest]

	// mu serializes reloads and guards stamps.
	mu sync.Mutex
	// stamps are the files' size and modification time as of the last load
	// attempt, good or bad, so that Watch retries a broken file only once
	// it changes again instead of logging the same error every tick.
	stamps []stamp
}

// stamp identifies one version of a file cheaply.
type stamp struct {
	size    int64
	modTime time.Time
	missing bool
}

// NewRegistry loads the manifests at paths (see LoadManifests) and returns a
// Registry holding them. It fails when a file is missing or invalid, so a
// gateway never starts with fewer operations than it was told to serve.
// Paths must be non-empty and distinct; none at all is allowed and means no
// manifest. log receives Watch's outcomes and must not be nil.
func NewRegistry(log *slog.Logger, paths ...string) (*Registry, error) {
	if log == nil {
		return nil, errors.New("persisted: NewRegistry needs a logger")
	}
	for i, p := range paths {
		if p == "" {
			return nil, errors.New("persisted: an empty manifest path")
		}
		if slices.Contains(paths[:i], p) {
			return nil, fmt.Errorf("persisted: manifest %s is listed twice", p)
		}
	}
	r := &Registry{paths: slices.Clone(paths), log: log}
	r.current.Store(&Manifest{byID: map[string]Operation{}})
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Paths returns the manifest files the registry reads, in the order given.
func (r *Registry) Paths() []string { return slices.Clone(r.paths) }

// Manifest returns the current manifest. It is immutable: a later reload
// replaces it rather than changing it.
func (r *Registry) Manifest() *Manifest { return r.current.Load() }

// Lookup finds an operation by id in the current manifest (see
// Manifest.Lookup).
func (r *Registry) Lookup(id string) (Operation, bool) { return r.current.Load().Lookup(id) }

// Reload reads every file again and, if all are valid, makes them the
// current manifest in one atomic swap. If any is missing or invalid, the
// current manifest stays as it is and the error (naming the file and the
// operation) is returned. With no files it does nothing.
func (r *Registry) Reload() error {
	_, err := r.reload()
	return err
}

// reload is Reload that also returns the manifest it replaced.
func (r *Registry) reload() (previous *Manifest, err error) {
	if len(r.paths) == 0 {
		return r.current.Load(), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Stamps first: a file rewritten while it is read then looks changed on
	// the next check and is read again.
	r.stamps = r.stat()
	m, err := LoadManifests(r.paths...)
	if err != nil {
		return r.current.Load(), err
	}
	return r.current.Swap(m), nil
}

func (r *Registry) stat() []stamp {
	out := make([]stamp, len(r.paths))
	for i, p := range r.paths {
		fi, err := os.Stat(p)
		if err != nil {
			out[i] = stamp{missing: true}
			continue
		}
		out[i] = stamp{size: fi.Size(), modTime: fi.ModTime()}
	}
	return out
}

// changed reports whether any file's size or modification time differs from
// the last load attempt.
func (r *Registry) changed() bool {
	now := r.stat()
	r.mu.Lock()
	defer r.mu.Unlock()
	return !slices.EqualFunc(now, r.stamps, func(a, b stamp) bool {
		return a.size == b.size && a.modTime.Equal(b.modTime) && a.missing == b.missing
	})
}

// Watch checks the files every interval until ctx ends and reloads when one
// changed size or modification time, logging each outcome: the operations
// added and removed, or the error and that the previous manifest is still
// served. A broken file is retried when it changes again. Writers should
// replace files atomically (write, then rename) so a reload never reads
// half a file; if one does, the next change reloads it again.
//
// Watch blocks: run it in its own goroutine. It returns nil when ctx ends,
// at once when there are no files, and an error if interval is not
// positive.
func (r *Registry) Watch(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("persisted: watch interval must be positive, got %v", interval)
	}
	if len(r.paths) == 0 {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !r.changed() {
			continue
		}
		prev, err := r.reload()
		if err != nil {
			r.log.ErrorContext(ctx, "persisted query manifest reload failed; serving the previous operations",
				"err", err, "operations", prev.Len())
			continue
		}
		added, removed := diffIDs(prev, r.Manifest())
		r.log.InfoContext(ctx, "persisted query manifests reloaded",
			"operations", r.Manifest().Len(), "added", added, "removed", removed)
	}
}

// diffIDs counts the operations in next that were not in prev, and the
// reverse.
func diffIDs(prev, next *Manifest) (added, removed int) {
	for id := range next.byID {
		if _, ok := prev.byID[id]; !ok {
			added++
		}
	}
	for id := range prev.byID {
		if _, ok := next.byID[id]; !ok {
			removed++
		}
	}
	return added, removed
}
