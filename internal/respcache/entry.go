package respcache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"meridian/internal/cachecontrol"
)

// entry is one stored response, immutable once made: hits on every
// goroutine read it without locks.
//
// The response is kept in pieces, the raw data bytes and the members of
// extensions other than "cache", so a hit can say in its own JSON that it
// came from the cache without re-encoding data: data is served byte for
// byte as computed, freshness values (asOf) included, because those are
// the values the response was computed with.
type entry struct {
	storedAt   time.Time
	freshUntil time.Time // served as fresh before, as stale within the SWR window after
	// startedAt is when the execution that produced the entry began; an
	// entry is void if one of its tags was purged at or after it.
	startedAt   time.Time
	degraded    bool
	scope       cachecontrol.Scope
	contentType string
	data        []byte
	ext         []byte // members of extensions, without braces and without "cache"; may be empty
	tags        []string

	// Derived once, for the hit path.
	storedAtText string
	size         int64
}

// entryOverhead approximates the bookkeeping of one entry in the
// in-process store (struct, list links, map slot), so MaxBytes bounds
// memory rather than payload alone.
const entryOverhead = 256

func (e *entry) derive() *entry {
	e.storedAtText = e.storedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	e.size = entryOverhead + int64(len(e.contentType)+len(e.data)+len(e.ext))
	for _, t := range e.tags {
		e.size += int64(len(t)) + 32 // the tag and its index slot
	}
	return e
}

// splitResponse reads a GraphQL response body into its data and the
// members of its extensions other than "cache". ok is false when the body
// is not a plain success: not JSON, errors present (even an empty list is
// not trusted), data missing or null.
func splitResponse(body []byte) (data, ext []byte, hasDegraded, ok bool) {
	var resp struct {
		Data       json.RawMessage            `json:"data"`
		Errors     json.RawMessage            `json:"errors"`
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return nil, nil, false, false
	}
	if len(resp.Errors) > 0 && !bytes.Equal(bytes.TrimSpace(resp.Errors), []byte("null")) {
		return nil, nil, false, false
	}
	if d := bytes.TrimSpace(resp.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return nil, nil, false, false
	}
	delete(resp.Extensions, "cache")
	_, hasDegraded = resp.Extensions["degraded"]
	if len(resp.Extensions) > 0 {
		all, err := json.Marshal(resp.Extensions) // sorted members, compact
		if err != nil {
			return nil, nil, false, false
		}
		ext = all[1 : len(all)-1]
	}
	return resp.Data, ext, hasDegraded, true
}

// Shared-tier encoding: a fixed header, then length-prefixed pieces.
//
//	version(1) flags(1) storedAt(8) freshUntil(8) startedAt(8)  unix ns, big-endian
//	uvarint len + content type, uvarint len + data, uvarint len + extensions,
//	uvarint tag count, then uvarint len + tag for each
//
// An unknown version reads as a miss, so replicas of two releases can
// share a server during a rolling deploy.
const (
	entryFormat    = 1
	entryHeaderLen = 2 + 3*8

	flagDegraded = 1 << 0
	flagPrivate  = 1 << 1
)

var errMalformedEntry = errors.New("respcache: malformed shared entry")

func (e *entry) encode() []byte {
	n := entryHeaderLen + 4*binary.MaxVarintLen64 + len(e.contentType) + len(e.data) + len(e.ext)
	for _, t := range e.tags {
		n += binary.MaxVarintLen64 + len(t)
	}
	b := make([]byte, entryHeaderLen, n)
	b[0] = entryFormat
	if e.degraded {
		b[1] |= flagDegraded
	}
	if e.scope == cachecontrol.Private {
		b[1] |= flagPrivate
	}
	binary.BigEndian.PutUint64(b[2:], uint64(e.storedAt.UnixNano()))
	binary.BigEndian.PutUint64(b[10:], uint64(e.freshUntil.UnixNano()))
	binary.BigEndian.PutUint64(b[18:], uint64(e.startedAt.UnixNano()))
	b = appendPiece(b, []byte(e.contentType))
	b = appendPiece(b, e.data)
	b = appendPiece(b, e.ext)
	b = binary.AppendUvarint(b, uint64(len(e.tags)))
	for _, t := range e.tags {
		b = appendPiece(b, []byte(t))
	}
	return b
}

func appendPiece(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// decodeEntry reads an encoded entry. ok is false (with a nil error) for
// an unknown format version; a malformed one is an error.
func decodeEntry(b []byte) (_ *entry, ok bool, _ error) {
	if len(b) < entryHeaderLen {
		return nil, false, errMalformedEntry
	}
	if b[0] != entryFormat {
		return nil, false, nil
	}
	e := &entry{
		degraded:   b[1]&flagDegraded != 0,
		storedAt:   time.Unix(0, int64(binary.BigEndian.Uint64(b[2:]))),
		freshUntil: time.Unix(0, int64(binary.BigEndian.Uint64(b[10:]))),
		startedAt:  time.Unix(0, int64(binary.BigEndian.Uint64(b[18:]))),
	}
	if b[1]&flagPrivate != 0 {
		e.scope = cachecontrol.Private
	}
	rest := b[entryHeaderLen:]
	var ct []byte
	var err error
	if ct, rest, err = piece(rest); err != nil {
		return nil, false, err
	}
	e.contentType = string(ct)
	if e.data, rest, err = piece(rest); err != nil {
		return nil, false, err
	}
	if e.ext, rest, err = piece(rest); err != nil {
		return nil, false, err
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > maxTags {
		return nil, false, errMalformedEntry
	}
	rest = rest[w:]
	e.tags = make([]string, 0, n)
	for range n {
		var t []byte
		if t, rest, err = piece(rest); err != nil {
			return nil, false, err
		}
		e.tags = append(e.tags, string(t))
	}
	if len(rest) != 0 {
		return nil, false, errMalformedEntry
	}
	return e.derive(), true, nil
}

// piece reads one length-prefixed piece. The piece is a sub-slice of b
// with its capacity cut at its length, so nothing appends into its
// neighbour.
func piece(b []byte) (p, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, errMalformedEntry
	}
	end := w + int(n)
	return b[w:end:end], b[end:], nil
}

// sortedTags returns tags sorted, so equal entries encode equally.
func sortedTags(tags []string) []string {
	slices.Sort(tags)
	return tags
}
