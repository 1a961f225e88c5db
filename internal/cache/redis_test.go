package cache

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/internal/testenv"
)

// openTestRedis connects to the test server and removes every key under a
// fresh prefix when the test ends.
func openTestRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	ctx := context.Background()
	client, err := OpenRedis(ctx, testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.UniquePrefix("cache-test")
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := client.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("unlink test keys: %v", err)
			}
		}
	})
	return client, prefix
}

func newTestRedis(t *testing.T, now func() time.Time) *Redis {
	t.Helper()
	client, prefix := openTestRedis(t)
	r, err := NewRedis(RedisConfig{Client: client, Prefix: prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRedisRejectsIncompleteConfig(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	if _, err := NewRedis(RedisConfig{Prefix: "p:"}); err == nil {
		t.Error("NewRedis without a client = nil error")
	}
	if _, err := NewRedis(RedisConfig{Client: client}); err == nil {
		t.Error("NewRedis without a prefix = nil error")
	}
}

func TestRedisStoresPrefixedKeysThatExpire(t *testing.T) {
	ctx := context.Background()
	client, prefix := openTestRedis(t)
	r, err := NewRedis(RedisConfig{Client: client, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, "k", []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	pttl, err := client.PTTL(ctx, prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > 90*time.Second {
		t.Errorf("PTTL of the stored key = %v; want in (0, 90s]", pttl)
	}
	raw, err := client.Get(ctx, prefix+"k").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != redisHeaderLen+1 || raw[0] != redisFormat || raw[len(raw)-1] != 'v' {
		t.Errorf("stored string = %x; want version byte, 8-byte time, value", raw)
	}
	// A sub-millisecond ttl is rounded up, not sent as PX 0 (which Redis
	// refuses).
	if err := r.Set(ctx, "tiny", []byte("v"), time.Microsecond); err != nil {
		t.Errorf("Set with a 1µs ttl: %v", err)
	}
}

func TestRedisGetUnexpectedContents(t *testing.T) {
	ctx := context.Background()
	client, prefix := openTestRedis(t)
	r, err := NewRedis(RedisConfig{Client: client, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// Written by a future format version: a miss, not an error.
	future := append([]byte{redisFormat + 1}, make([]byte, 12)...)
	if err := client.Set(ctx, prefix+"future", future, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Get(ctx, "future"); ok || err != nil {
		t.Errorf("Get of an unknown format = ok %v, err %v; want a clean miss", ok, err)
	}
	// Too short to be ours: an error.
	if err := client.Set(ctx, prefix+"short", "abc", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Get(ctx, "short"); ok || err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("Get of a malformed entry = ok %v, err %v; want a malformed-entry error", ok, err)
	}
}

func TestRedisErrorsAreWrapped(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on port 1; no retries so the test is quick.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer client.Close()
	r, err := NewRedis(RedisConfig{Client: client, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Get(ctx, "k"); ok || err == nil || !strings.HasPrefix(err.Error(), "cache: redis get: ") {
		t.Errorf("Get = ok %v, err %v; want a wrapped error", ok, err)
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err == nil || !strings.HasPrefix(err.Error(), "cache: redis set: ") {
		t.Errorf("Set = %v; want a wrapped error", err)
	}
	if err := r.Delete(ctx, "a", "b"); err == nil || !strings.HasPrefix(err.Error(), "cache: redis delete: ") {
		t.Errorf("Delete = %v; want a wrapped error", err)
	}
}

func TestOpenRedisBadURL(t *testing.T) {
	const secret = "s3cr%t-pw"
	for _, raw := range []string{
		"",
		"http://cache.internal:6379",
		"unix:///var/run/redis.sock",
		"redis://:" + secret + "@cache.internal:6379/0",    // bad escape in the password
		"redis://:s3cret-pw@cache.internal:notaport/0",     // bad port
		"redis://:s3cret-pw@cache.internal:6379/notadb",    // bad database
		"redis://:s3cret-pw@cache.internal:6379/0?bogus=1", // unknown option
	} {
		start := time.Now()
		client, err := OpenRedis(context.Background(), raw)
		if err == nil {
			client.Close()
			t.Errorf("OpenRedis(%q) = nil error", raw)
			continue
		}
		if time.Since(start) > time.Second {
			t.Errorf("OpenRedis(%q) took %v to reject a bad URL", raw, time.Since(start))
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cr") {
			t.Errorf("OpenRedis(%q) error leaks the password: %s", raw, msg)
		}
		if !strings.HasPrefix(msg, "cache: ") {
			t.Errorf("OpenRedis(%q) error %q lacks the cache: context", raw, msg)
		}
		t.Logf("%q: %v", raw, err)
	}
}

func TestOpenRedisUnreachable(t *testing.T) {
	start := time.Now()
	client, err := OpenRedis(context.Background(), "redis://:s3cret-pw@127.0.0.1:1/0")
	elapsed := time.Since(start)
	if err == nil {
		client.Close()
		t.Fatal("OpenRedis of a closed port = nil error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("error %q does not name the server", msg)
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("error %q leaks the password", msg)
	}
	if elapsed > 3*time.Second {
		t.Errorf("OpenRedis took %v to give up on a closed port", elapsed)
	}
	t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
}

func TestOpenRedisHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	client, err := OpenRedis(ctx, testenv.RedisURL(t))
	if err == nil {
		client.Close()
		t.Fatal("OpenRedis with a cancelled context = nil error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}
