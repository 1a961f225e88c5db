package lease

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/internal/cache"
	"meridian/internal/testenv"
)

// testTTL is short so that expiry is seen quickly, and long enough that a
// renewal every ttl/3 keeps up on a loaded machine.
const testTTL = 300 * time.Millisecond

// openTestRedis connects to the test server and removes every key under
// prefix when the test ends.
func openTestRedis(t *testing.T, prefix string) redis.UniversalClient {
	t.Helper()
	client, err := cache.OpenRedis(context.Background(), testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Errorf("list test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := client.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("unlink test keys: %v", err)
			}
		}
	})
	return client
}

func newTestRedis(t *testing.T, client redis.UniversalClient, prefix string) *Redis {
	t.Helper()
	r, err := NewRedis(client, prefix, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crash stops h's renewals without releasing it, as if its process died.
func crash(h Held) { h.(*redisHeld).stopRenewal() }

func TestRedisContract(t *testing.T) {
	testContract(t, func(t *testing.T) replicas {
		prefix := testenv.UniquePrefix("lease-test")
		// Two clients, like two replicas.
		clientA, clientB := openTestRedis(t, prefix), openTestRedis(t, prefix)
		return replicas{
			a:       newTestRedis(t, clientA, prefix),
			b:       newTestRedis(t, clientB, prefix),
			holdFor: 3 * testTTL,
			crash: func(t *testing.T, h Held) {
				crash(h)
				// Not free at once: the key outlives its runner
				// until the ttl runs out.
				name := h.(*redisHeld).name
				if pttl := clientB.PTTL(context.Background(), prefix+name).Val(); pttl <= 0 {
					t.Errorf("key's PTTL right after the crash = %s, want it still set", pttl)
				}
			},
			takeAway: func(t *testing.T, h Held) {
				if err := clientB.Del(context.Background(), h.(*redisHeld).key).Err(); err != nil {
					t.Fatal(err)
				}
			},
			freedWithin: testTTL + 2*time.Second,
		}
	})
}

func TestRedisCrashedLeaseExpiresAfterTTL(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix("lease-test")
	a := newTestRedis(t, openTestRedis(t, prefix), prefix)
	b := newTestRedis(t, openTestRedis(t, prefix), prefix)
	h := mustAcquire(t, a, "job")
	crash(h)
	crashed := time.Now()
	mustNotAcquire(t, b, "job", "the other replica right after the crash")
	next := waitAcquire(t, b, "job", testTTL+2*time.Second)
	defer next.Release(ctx)
	if waited := time.Since(crashed); waited > testTTL+time.Second {
		t.Errorf("crashed lease freed after %s, want about the %s ttl", waited, testTTL)
	}
	// The crashed holder's late Release must not free the new holder's
	// lease.
	if err := h.Release(ctx); err != nil {
		t.Errorf("late Release = %v", err)
	}
	mustNotAcquire(t, a, "job", "the crashed replica after its late Release")
}

func TestRedisLostWhenAnotherTokenTakesTheKey(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix("lease-test")
	client := openTestRedis(t, prefix)
	r := newTestRedis(t, client, prefix)
	h := mustAcquire(t, r, "job")
	// As if the key had expired and another runner had taken it.
	if err := client.Set(ctx, prefix+"job", "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("Lost still open 2s after another token took the key")
	}
	if err := h.Release(ctx); err != nil {
		t.Errorf("Release after loss = %v", err)
	}
	if got := client.Get(ctx, prefix+"job").Val(); got != "someone-else" {
		t.Errorf("after the lost holder's Release the key holds %q, want the new holder's token kept", got)
	}
	// The new holder's ttl was not extended by the lost holder.
	if pttl := client.PTTL(ctx, prefix+"job").Val(); pttl > time.Minute {
		t.Errorf("PTTL = %s, want at most the new holder's 1m", pttl)
	}
}

func TestRedisRenewsTheKey(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix("lease-test")
	client := openTestRedis(t, prefix)
	r := newTestRedis(t, client, prefix)
	h := mustAcquire(t, r, "job")
	defer h.Release(ctx)
	time.Sleep(2 * testTTL)
	pttl := client.PTTL(ctx, prefix+"job").Val()
	if pttl <= 0 || pttl > testTTL {
		t.Errorf("PTTL after holding for 2 ttls = %s, want renewed within (0, %s]", pttl, testTTL)
	}
}

func TestRedisLostWhenServerUnreachable(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix("lease-test")
	client := openTestRedis(t, prefix)
	// A client of its own, closed under the holder's feet.
	own, err := cache.OpenRedis(ctx, testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRedis(t, own, prefix)
	h := mustAcquire(t, r, "job")
	own.Close()
	select {
	case <-h.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("Lost still open 2s after the client was closed")
	}
	if err := h.Release(ctx); err == nil {
		t.Error("Release through a closed client = nil error, want the failure reported")
	}
	// Renewals stopped, so the key expires by itself.
	b := newTestRedis(t, client, prefix)
	waitAcquire(t, b, "job", testTTL+2*time.Second).Release(ctx)
}

func TestNewRedisValidates(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	if _, err := NewRedis(nil, "p:", time.Second); err == nil {
		t.Error("NewRedis without a client = nil error")
	}
	if _, err := NewRedis(client, "", time.Second); err == nil {
		t.Error("NewRedis without a prefix = nil error")
	}
	if _, err := NewRedis(client, "p:", MinRedisTTL-time.Millisecond); err == nil {
		t.Error("NewRedis with a ttl below the minimum = nil error")
	}
	r, err := NewRedis(client, "p:", 1500*time.Microsecond+MinRedisTTL)
	if err != nil {
		t.Fatal(err)
	}
	if r.ttl != MinRedisTTL+2*time.Millisecond {
		t.Errorf("ttl = %s, want rounded up to whole milliseconds", r.ttl)
	}
}

func TestRedisTryAcquireFailsWhenUnreachable(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	r, err := NewRedis(client, "p:", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok, err := r.TryAcquire(context.Background(), "job"); err == nil || ok || h != nil {
		t.Errorf("TryAcquire against an unreachable server = %v, %v, %v; want an error", h, ok, err)
	}
}
