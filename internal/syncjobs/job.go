package syncjobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"meridian/internal/originhttp"
)

// Job is one mirror's synchronisation: a full sync when it has no cursor,
// otherwise an incremental run from the cursor. The Runner schedules it and
// persists what Run reports; a Job keeps no state between runs.
type Job interface {
	// Name identifies the job in state, metrics, logs and Trigger:
	// lowercase letters, digits, '-' and '_', starting with a letter.
	Name() string
	// Run performs one bounded run. It must apply changes idempotently,
	// so that a run repeated from the same cursor is harmless, and never
	// delete anything on the strength of a listing it did not read to the
	// end. On error, the result still reports what was committed before
	// the failure (a cursor past the pages applied, the changes), so
	// progress is kept and caches learn of it.
	Run(ctx context.Context, p RunParams) (RunResult, error)
}

// RunParams is what a run is given. The Runner sets every field; a zero
// Now, CallTimeout, MaxPages or Logger takes the Runner's default.
type RunParams struct {
	// Cursor is where the last run left the change feed; empty asks for a
	// full sync.
	Cursor string
	// Now is the clock for MirroredAt stamps.
	Now func() time.Time
	// CallTimeout bounds each call to the origin.
	CallTimeout time.Duration
	// MaxPages bounds the pages a run reads from the origin in each of its
	// phases (the feed, the full listing).
	MaxPages int
	// Logger receives the run's operator-facing events.
	Logger *slog.Logger
}

// withDefaults fills what a caller other than the Runner may leave zero,
// with the Runner's defaults.
func (p RunParams) withDefaults() RunParams {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.CallTimeout <= 0 {
		p.CallTimeout = DefaultCallTimeout
	}
	if p.MaxPages <= 0 {
		p.MaxPages = DefaultMaxPages
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return p
}

// RunResult is what a run reports back to the Runner.
type RunResult struct {
	// Cursor is the feed position to resume from next time; empty keeps
	// the stored one.
	Cursor string
	// Full says a full sync completed (listing read to the end, purge
	// done).
	Full bool
	// Applied counts the items written into or deleted from the mirror.
	Applied int
	// SyncedThrough is the newest source timestamp applied; zero when
	// nothing was.
	SyncedThrough time.Time
	// Changes lists what the run committed, for Config.OnChange.
	Changes []Change
	// More says the run stopped at MaxPages with more of the feed to read;
	// the Runner runs the job again at once.
	More bool
}

// ChangeKind says what kind of mirrored item changed.
type ChangeKind string

// The kinds of change reported to Config.OnChange.
const (
	// ChangeProduct: IDs are catalog product IDs whose texts, price,
	// images or inventory snapshot changed, or which were deleted.
	ChangeProduct ChangeKind = "product"
	// ChangeContent: IDs are slugs of content pages that changed or were
	// deleted.
	ChangeContent ChangeKind = "content"
)

// Change is what one run committed into a mirror, for purging cached
// responses by tag. IDs are distinct and sorted.
type Change struct {
	Kind ChangeKind
	IDs  []string
}

// idSet collects the IDs of one kind of change.
type idSet map[string]bool

func (s idSet) add(ids ...string) {
	for _, id := range ids {
		if id != "" {
			s[id] = true
		}
	}
}

// change returns the set as a Change, or nil when it is empty.
func (s idSet) change(kind ChangeKind) []Change {
	if len(s) == 0 {
		return nil
	}
	ids := make([]string, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return []Change{{Kind: kind, IDs: ids}}
}

// call runs one origin call under its own deadline.
func call[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// errPageCap is wrapped by a full sync whose listing does not end within
// RunParams.MaxPages: nothing is purged and the cursor is not moved.
var errPageCap = errors.New("listing not finished within the page cap")

// maxErrorText bounds the error text kept in State.LastError.
const maxErrorText = 1000

var (
	// urlUserinfo matches the user info of a URL ("//user:pass@").
	urlUserinfo = regexp.MustCompile(`//[^/@\s"']+@`)
	// secretParam matches query or form parameters that commonly carry
	// credentials.
	secretParam = regexp.MustCompile(`(?i)\b(token|secret|password|passwd|api[_-]?key|access[_-]?key|signature|sig|auth)=[^&\s"']+`)
)

// errorText turns a run's error into the text kept in state and shown to
// operators: the errors of this package and the origin clients carry no
// secrets, but a transport error may quote a URL, so credentials in URLs are
// scrubbed, and the text is bounded.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	s = urlUserinfo.ReplaceAllString(s, "//REDACTED@")
	s = secretParam.ReplaceAllString(s, "$1=REDACTED")
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// scanToHead reads a change feed from its oldest retained change to its end
// without applying anything and returns the cursor of the end. A full sync
// calls it before reading the listing, so that the changes made while the
// listing is read are after the returned cursor and are applied by the next
// incremental run (idempotently, in order) instead of being skipped.
//
// It reads at most maxPages pages. If the feed has not ended by then, it
// logs so for job and returns the cursor reached: starting there is still
// correct, only slower, since the following runs replay the rest.
func scanToHead(ctx context.Context, p RunParams, job string, read func(ctx context.Context, cursor string) (next string, hasMore bool, err error)) (cursor string, err error) {
	for range max(p.MaxPages, 1) {
		callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
		next, more, err := read(callCtx, cursor)
		cancel()
		if err != nil {
			return "", fmt.Errorf("reading the change feed to its end: %w", err)
		}
		cursor = next
		if !more {
			return cursor, nil
		}
	}
	p.Logger.Warn("change feed longer than the page cap; the next runs replay its tail", "job", job, "max_pages", p.MaxPages)
	return cursor, nil
}

// runFeed is every feed job's run: a full sync without a cursor, otherwise
// the changes since the cursor; an expired cursor falls back to a full sync
// in the same run, reporting both parts together.
func runFeed(ctx context.Context, p RunParams, job string, full, incremental func(context.Context, RunParams) (RunResult, error)) (RunResult, error) {
	if p.Cursor == "" {
		return full(ctx, p)
	}
	res, err := incremental(ctx, p)
	if !errors.Is(err, originhttp.ErrCursorExpired) {
		return res, err
	}
	p.Logger.Warn("change feed cursor expired; running a full sync", "job", job)
	all, ferr := full(ctx, p)
	all.Applied += res.Applied
	all.Changes = append(res.Changes, all.Changes...)
	all.SyncedThrough = later(res.SyncedThrough, all.SyncedThrough)
	if ferr != nil {
		// Keep what the incremental part committed; the next run meets
		// the expired cursor again and retries.
		all.Cursor = res.Cursor
		return all, fmt.Errorf("cursor expired, then full sync: %w", ferr)
	}
	return all, nil
}
