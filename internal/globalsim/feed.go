package globalsim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Paging bounds shared by every feed and list endpoint.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// feed is a change feed read with opaque cursors. A cursor encodes the
// sequence number of the next change to read, tagged with the feed it belongs
// to so that a CMS cursor is refused by the master data feed instead of
// silently skipping changes. Only the last retention changes are kept; a
// cursor older than that is answered 410 so the reader knows to resync in
// full rather than miss changes. Not safe for concurrent use; its owner locks.
type feed[T any] struct {
	tag     string
	changes *ring[T]
}

// feedPage is the JSON shape of one read of a change feed. NextCursor is
// always set: a reader stores it and polls with it, whether or not this page
// had changes.
type feedPage[T any] struct {
	Changes    []T    `json:"changes"`
	NextCursor string `json:"nextCursor"`
	HasMore    bool   `json:"hasMore"`
}

func newFeed[T any](tag string, retention int) *feed[T] {
	return &feed[T]{tag: tag, changes: newRing[T](retention)}
}

// add appends the change build makes from its ID and returns it.
func (f *feed[T]) add(build func(id string) T) T {
	c := build(f.tag + "-" + strconv.FormatInt(f.changes.next+1, 10))
	f.changes.push(c)
	return c
}

// page returns up to limit changes after cursor; the empty cursor reads from
// the oldest change still held.
func (f *feed[T]) page(cursor string, limit int) (feedPage[T], error) {
	from := f.changes.oldest()
	if cursor != "" {
		seq, err := f.decodeCursor(cursor)
		if err != nil {
			return feedPage[T]{}, err
		}
		if seq < f.changes.oldest() {
			return feedPage[T]{}, newAPIError(http.StatusGone, "cursor_expired",
				"cursor points before the oldest retained change; resynchronise in full and read the feed from the start")
		}
		from = seq
	}
	changes := f.changes.slice(from, limit)
	next := from + int64(len(changes))
	return feedPage[T]{
		Changes:    changes,
		NextCursor: f.encodeCursor(next),
		HasMore:    next < f.changes.next,
	}, nil
}

func (f *feed[T]) encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(f.tag + ":" + strconv.FormatInt(seq, 10)))
}

func (f *feed[T]) decodeCursor(cursor string) (int64, error) {
	invalid := newAPIError(http.StatusBadRequest, "cursor_invalid", "cursor %q was not issued by this feed", cursor)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, invalid
	}
	tag, num, ok := strings.Cut(string(raw), ":")
	if !ok || tag != f.tag {
		return 0, invalid
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 0 || seq > f.changes.next {
		return 0, invalid
	}
	return seq, nil
}

// parseLimit reads the "limit" query parameter: absent means def; anything
// but an integer in [1, maxPageLimit] is a 400.
func parseLimit(q url.Values, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, newAPIError(http.StatusBadRequest, "invalid_request", "limit %q: want an integer from 1 to %d", s, maxPageLimit)
	}
	return n, nil
}
