package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/internal/cache"
	"meridian/internal/cachecontrol"
	"meridian/internal/testenv"
)

func testEntry(now time.Time, tags ...string) *entry {
	return (&entry{
		storedAt:    now,
		freshUntil:  now.Add(time.Minute),
		startedAt:   now.Add(-time.Millisecond),
		degraded:    true,
		contentType: "application/json",
		data:        []byte(`{"product":{"id":"1"}}`),
		ext:         []byte(`"degraded":[]`),
		tags:        tags,
	}).derive()
}

func TestEntryEncoding(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC)
	e := testEntry(now, "content:about", "product:1")
	got, ok, err := decodeEntry(e.encode())
	if err != nil || !ok {
		t.Fatalf("decode: ok=%v err=%v", ok, err)
	}
	if !got.storedAt.Equal(e.storedAt) || !got.freshUntil.Equal(e.freshUntil) || !got.startedAt.Equal(e.startedAt) ||
		got.degraded != e.degraded || got.scope != cachecontrol.Public || got.contentType != e.contentType ||
		!bytes.Equal(got.data, e.data) || !bytes.Equal(got.ext, e.ext) || len(got.tags) != 2 || got.tags[1] != "product:1" ||
		got.size != e.size || got.storedAtText != "2026-11-23T09:00:00.123Z" {
		t.Fatalf("round trip: %+v\nwant %+v", got, e)
	}
	if cap(got.data) != len(got.data) {
		t.Fatal("decoded data can be appended into its neighbour")
	}

	enc := e.encode()
	future := append([]byte{entryFormat + 1}, enc[1:]...)
	if _, ok, err := decodeEntry(future); ok || err != nil {
		t.Fatalf("unknown version: ok=%v err=%v, want a clean miss", ok, err)
	}
	for _, bad := range [][]byte{nil, enc[:10], enc[:len(enc)-1], append(append([]byte(nil), enc...), 0)} {
		if _, ok, err := decodeEntry(bad); ok || err == nil {
			t.Fatalf("malformed %d bytes: ok=%v err=%v", len(bad), ok, err)
		}
	}
}

func TestSplitResponse(t *testing.T) {
	data, ext, deg, ok := splitResponse([]byte(`{"data":{"a":1},"extensions":{"z":1,"cache":{"status":"HIT"},"degraded":[{"path":"a"}]}}`))
	if !ok || string(data) != `{"a":1}` || string(ext) != `"degraded":[{"path":"a"}],"z":1` || !deg {
		t.Fatalf("%s | %s | %v %v", data, ext, deg, ok)
	}
	for _, body := range []string{
		`{"errors":[{"message":"x"}],"data":{"a":1}}`,
		`{"errors":[],"data":{"a":1}}`,
		`{"data":null}`,
		`{}`,
		`not json`,
	} {
		if _, _, _, ok := splitResponse([]byte(body)); ok {
			t.Errorf("%s: accepted", body)
		}
	}
}

func TestFrontEvictsAndIndexes(t *testing.T) {
	now := time.Now()
	var gauge int64
	e := testEntry(now, "t", "n0")
	f := newFront(3, 3*e.size, func(n int64) { gauge = n })
	k := func(i int) key { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	for i := range 4 {
		f.put(k(i), testEntry(now, "t", "n"+strconv.Itoa(i)), now.Add(time.Minute))
	}
	if f.len() != 3 || f.get(k(0), now) != nil {
		t.Fatalf("len %d; oldest kept", f.len())
	}
	if _, ok := f.tags["n0"]; ok {
		t.Fatal("evicted entry left in the index")
	}
	if gauge != f.bytes || gauge <= 0 {
		t.Fatalf("gauge %d, bytes %d", gauge, f.bytes)
	}
	f.get(k(1), now) // 1 is now the most recent
	f.put(k(4), testEntry(now, "t"), now.Add(time.Minute))
	if f.get(k(2), now) != nil || f.get(k(1), now) == nil {
		t.Fatal("LRU order not kept")
	}
	if got := f.purge([]string{"t"}); len(got) != 3 || f.len() != 0 || len(f.tags) != 0 || f.bytes != 0 {
		t.Fatalf("purge removed %d, left %d entries, %d tags, %d bytes", len(got), f.len(), len(f.tags), f.bytes)
	}
	f.put(k(5), testEntry(now), now.Add(time.Second))
	if f.get(k(5), now.Add(time.Second)) != nil || f.len() != 0 {
		t.Fatal("expired entry served")
	}
	huge := testEntry(now)
	huge.size = f.maxBytes + 1
	f.put(k(6), huge, now.Add(time.Minute))
	if f.len() != 0 {
		t.Fatal("entry larger than the store kept")
	}
}

func TestPurgeLog(t *testing.T) {
	p := newPurgeLog()
	t0 := time.Now()
	if p.void(t0, []string{"a"}) {
		t.Fatal("void without purges")
	}
	p.record([]string{"a"}, t0)
	if !p.void(t0, []string{"a", "b"}) || !p.void(t0.Add(-time.Second), []string{"a"}) {
		t.Fatal("entry started before (or at) the purge not void")
	}
	if p.void(t0.Add(time.Nanosecond), []string{"a"}) || p.void(t0, []string{"b"}) {
		t.Fatal("unrelated or later entry void")
	}
	p.recordAll(t0.Add(time.Second))
	if !p.void(t0.Add(time.Millisecond), []string{"b"}) {
		t.Fatal("recordAll did not void everything before it")
	}
	p.keep(time.Minute)
	p.prune(t0.Add(time.Hour))
	if len(p.at) != 0 {
		t.Fatal("old records kept")
	}
}

// A lost subscription (a second confirmation) drops in-process entries.
func TestResubscriptionDropsEntries(t *testing.T) {
	h := newHarness(t, Config{})
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "MISS", 1)
	ch := make(chan any, 3)
	ready := make(chan struct{})
	ch <- &redis.Subscription{Kind: "subscribe", Channel: "x", Count: 1}
	ch <- &redis.Message{Channel: "x", Payload: `{"from":"other","tags":["product:9"]}`}
	close(ch)
	h.cache.listen(ch, ready)
	<-ready
	if h.cache.front.len() != 0 {
		t.Fatal("entries kept although purges may have been missed")
	}
	h.clock.Advance(time.Millisecond)
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "MISS", 2)
	h.expect(h.do(gql(productQuery, `{"id":"1"}`)), "HIT", 2)
}

// replica is one gateway replica over a shared Redis.
func replica(t *testing.T, client redis.UniversalClient, storePrefix, redisPrefix string) *harness {
	t.Helper()
	shared, err := cache.NewRedis(cache.RedisConfig{Client: client, Prefix: storePrefix})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, Config{Shared: shared, Redis: client, RedisPrefix: redisPrefix})
}

func TestPurgeAcrossReplicasOverRedis(t *testing.T) {
	ctx := context.Background()
	client, err := cache.OpenRedis(ctx, testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	storePrefix := testenv.UniquePrefix("respcache-entries")
	redisPrefix := testenv.UniquePrefix("respcache")
	t.Cleanup(func() {
		for _, p := range []string{storePrefix, redisPrefix} {
			keys, _ := client.Keys(context.Background(), p+"*").Result()
			if len(keys) > 0 {
				client.Del(context.Background(), keys...)
			}
		}
	})
	a := replica(t, client, storePrefix, redisPrefix)
	b := replica(t, client, storePrefix, redisPrefix)
	page := gql(`{ page(ids: ["1", "2"]) { items { id name } } }`)
	other := gql(productQuery, `{"id":"3"}`)

	missA := a.do(page)
	a.expect(missA, "MISS", 1)
	a.expect(a.do(other), "MISS", 2)
	setKey := redisPrefix + "tag:product:1"
	// B reads A's entries from the shared tier once they are written. The
	// entry is written before its tag sets (in the background), so wait
	// for both: a purge can only reach an entry its tag set names.
	waitFor(t, "the shared entries and their tag sets", func() bool {
		keys, _ := client.Keys(ctx, storePrefix+"*").Result()
		n, _ := client.SCard(ctx, setKey).Result()
		return len(keys) == 2 && n == 1
	})
	hitB := b.do(page)
	b.expect(hitB, "HIT", 0)
	if !bytes.Equal(parse(t, hitB).Data, parse(t, missA).Data) {
		t.Fatalf("B's data %s differs from A's %s", parse(t, hitB).Data, parse(t, missA).Data)
	}
	b.expect(b.do(other), "HIT", 0)
	if b.cache.front.len() != 2 {
		t.Fatalf("B holds %d entries in process", b.cache.front.len())
	}

	// A purge on A reaches B's in-process copy and the shared entry.
	a.version.Store(1)
	b.version.Store(1)
	if err := a.cache.Purge(ctx, "product:1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to drop its copy", func() bool { return b.cache.front.len() == 1 })
	if n, _ := client.Exists(ctx, setKey).Result(); n != 0 {
		t.Fatal("tag set left behind")
	}
	if keys, _ := client.Keys(ctx, storePrefix+"*").Result(); len(keys) != 1 {
		t.Fatalf("shared entries after purge: %v", keys)
	}
	a.clock.Advance(time.Millisecond)
	b.clock.Advance(time.Millisecond)
	b.expect(b.do(page), "MISS", 1)
	b.expect(b.do(other), "HIT", 1)
	// Gone on A too: A executes, or reads B's new entry if it is shared
	// already; never the old page.
	if body := a.do(page).Body.String(); !strings.Contains(body, "v1") || strings.Contains(body, "v0") {
		t.Fatalf("A after the purge: %s", body)
	}

	// And the other way round, with the purge counted as remote on A.
	if err := b.cache.Purge(ctx, "product:3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to drop product 3", func() bool {
		return a.cache.front.get(sha256Key(t, a, other), a.clock.Now()) == nil
	})
}

// sha256Key computes the key the harness gives request r.
func sha256Key(t *testing.T, h *harness, r req) key {
	t.Helper()
	rq, _, _, ok := h.cache.prepare(new(scratch), newRequestFor(r))
	if !ok {
		t.Fatal("request not keyed")
	}
	return rq.key
}
