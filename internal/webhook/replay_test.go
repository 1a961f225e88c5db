package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"meridian/internal/cache"
	"meridian/internal/testenv"
)

// testReplayStore runs the ReplayStore contract against s.
func testReplayStore(t *testing.T, s ReplayStore) {
	ctx := context.Background()
	t.Run("second sighting is seen", func(t *testing.T) {
		for i, want := range []bool{false, true, true} {
			seen, err := s.Seen(ctx, "sig-a", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if seen != want {
				t.Fatalf("Seen #%d = %v, want %v", i+1, seen, want)
			}
		}
		if seen, err := s.Seen(ctx, "sig-b", time.Minute); err != nil || seen {
			t.Fatalf("Seen(other key) = %v, %v; want false, nil", seen, err)
		}
	})
	t.Run("exactly one concurrent caller wins", func(t *testing.T) {
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				seen, err := s.Seen(ctx, "sig-race", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if !seen {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Fatalf("%d of 8 concurrent callers saw the key as new, want 1", n)
		}
	})
	t.Run("key expires after ttl", func(t *testing.T) {
		if seen, err := s.Seen(ctx, "sig-short", 50*time.Millisecond); err != nil || seen {
			t.Fatalf("first Seen = %v, %v", seen, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			seen, err := s.Seen(ctx, "sig-short", 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if !seen {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("key with a 50ms ttl still seen after 5s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("forgotten key is new again", func(t *testing.T) {
		f, ok := s.(ReplayForgetter)
		if !ok {
			t.Fatal("store does not implement ReplayForgetter")
		}
		if seen, err := s.Seen(ctx, "sig-forget", time.Minute); err != nil || seen {
			t.Fatalf("first Seen = %v, %v", seen, err)
		}
		if err := f.Forget(ctx, "sig-forget"); err != nil {
			t.Fatal(err)
		}
		if seen, err := s.Seen(ctx, "sig-forget", time.Minute); err != nil || seen {
			t.Fatalf("Seen after Forget = %v, %v; want false, nil", seen, err)
		}
		if err := f.Forget(ctx, "sig-never-seen"); err != nil {
			t.Errorf("Forget(unknown key) = %v, want nil", err)
		}
	})
	t.Run("non-positive ttl is an error", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			if _, err := s.Seen(ctx, "sig-ttl", ttl); err == nil {
				t.Errorf("Seen(ttl %s) = nil error", ttl)
			}
		}
	})
}

func TestMemoryReplays(t *testing.T) {
	s, err := NewMemoryReplays(100)
	if err != nil {
		t.Fatal(err)
	}
	testReplayStore(t, s)
}

func TestNewMemoryReplaysValidates(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewMemoryReplays(n); err == nil {
			t.Errorf("NewMemoryReplays(%d) = nil error", n)
		}
	}
}

func TestMemoryReplaysIsBoundedAndEvictsOldest(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryReplays(3)
	if err != nil {
		t.Fatal(err)
	}
	now := epoch
	s.now = func() time.Time { return now }
	for i := range 1000 {
		if seen, err := s.Seen(ctx, fmt.Sprint("flood-", i), time.Hour); err != nil || seen {
			t.Fatalf("Seen(flood-%d) = %v, %v", i, seen, err)
		}
		if n := s.order.Len(); n > 3 || len(s.index) != n {
			t.Fatalf("after %d keys the store holds %d (index %d), want at most 3", i+1, n, len(s.index))
		}
	}
	// The three newest are remembered; the oldest were forgotten.
	for _, k := range []string{"flood-997", "flood-998", "flood-999"} {
		if seen, _ := s.Seen(ctx, k, time.Hour); !seen {
			t.Errorf("newest key %s was evicted", k)
		}
	}
	if seen, _ := s.Seen(ctx, "flood-0", time.Hour); seen {
		t.Error("oldest key flood-0 is still remembered in a store of 3")
	}
}

func TestMemoryReplaysDropsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryReplays(10)
	if err != nil {
		t.Fatal(err)
	}
	now := epoch
	s.now = func() time.Time { return now }
	for i := range 5 {
		if _, err := s.Seen(ctx, fmt.Sprint("k", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if seen, _ := s.Seen(ctx, "k0", time.Minute); !seen {
		t.Fatal("key seen again just before its ttl is not reported")
	}
	now = now.Add(time.Nanosecond)
	if seen, _ := s.Seen(ctx, "fresh", time.Minute); seen {
		t.Fatal("new key reported as seen")
	}
	// k1..k4 expired at the old end and were dropped on that call.
	if n := s.order.Len(); n != 1 {
		t.Errorf("store holds %d keys after the others expired, want 1", n)
	}
}

// openTestRedis connects to the test server and removes every key under a
// fresh prefix when the test ends.
func openTestRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	client, err := cache.OpenRedis(context.Background(), testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.UniquePrefix("webhook-test")
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
	return client, prefix
}

func TestRedisReplays(t *testing.T) {
	client, prefix := openTestRedis(t)
	s, err := NewRedisReplays(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	testReplayStore(t, s)

	pttl, err := client.PTTL(context.Background(), prefix+"sig-a").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > time.Minute {
		t.Errorf("PTTL of a key recorded for 1m = %s, want in (0, 1m]", pttl)
	}
}

func TestNewRedisReplaysValidates(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	if _, err := NewRedisReplays(nil, "p:"); err == nil {
		t.Error("NewRedisReplays without a client = nil error")
	}
	if _, err := NewRedisReplays(client, ""); err == nil {
		t.Error("NewRedisReplays without a prefix = nil error")
	}
}

func TestRedisReplaysSharedAcrossReplicas(t *testing.T) {
	client, prefix := openTestRedis(t)
	other, err := cache.OpenRedis(context.Background(), testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	newVerifier := func(c redis.UniversalClient) *Verifier {
		s, err := NewRedisReplays(c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch }, Replays: s})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	replica1, replica2 := newVerifier(client), newVerifier(other)
	body := []byte(`{"changes":[]}`)
	h := signedHeader(secretA, epoch, body)
	if err := replica1.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("replica 1: %v", err)
	}
	if err := replica2.Verify(context.Background(), h, body); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replica 2 given the same request = %v, want ErrReplayed", err)
	}
}

func TestRedisReplaysFailureIsAnError(t *testing.T) {
	// Nothing listens on port 1.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	s, err := NewRedisReplays(client, "p:")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seen(context.Background(), "k", time.Minute); err == nil {
		t.Fatal("Seen against an unreachable server = nil error")
	}
	v, err := NewVerifier(VerifierConfig{Secrets: [][]byte{secretA}, Now: func() time.Time { return epoch }, Replays: s})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{}")
	rec := serve(Handler(v, 1024, func(context.Context, []byte) error { return nil }), http.MethodPost, signedHeader(secretA, epoch, body), body)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("handler with an unreachable replay store answered %d, want 503", rec.Code)
	}
}
