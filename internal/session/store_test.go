package session

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meridian/internal/cache"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

// storeFactories open an empty store of each kind on clock now.
func storeFactories() map[string]func(t *testing.T, now func() time.Time) Store {
	return map[string]func(t *testing.T, now func() time.Time) Store{
		"sqlite": func(t *testing.T, now func() time.Time) Store {
			return openSQLStore(t, "sqlite:"+filepath.Join(t.TempDir(), "sessions.db"), now)
		},
		"postgres": func(t *testing.T, now func() time.Time) Store {
			return openSQLStore(t, testenv.PostgresURL(t), now)
		},
		"redis": func(t *testing.T, now func() time.Time) Store {
			return openRedisStore(t, now)
		},
	}
}

func openSQLStore(t *testing.T, url string, now func() time.Time) *SQLStore {
	t.Helper()
	ctx := testContext(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := NewSQLStore(ctx, d, WithStoreClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openRedisStore(t *testing.T, now func() time.Time) *RedisStore {
	t.Helper()
	ctx := testContext(t)
	client, err := cache.OpenRedis(ctx, testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.UniquePrefix("session-test")
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			client.Unlink(ctx, keys...)
		}
	})
	s, err := NewRedisStore(client, prefix, WithStoreClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStoreContract runs the Store contract against SQLite, PostgreSQL and
// Redis. Expiry is checked on the wall clock, as Redis expires keys by its
// own.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	for name, open := range storeFactories() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, time.Now)
			ctx := testContext(t)
			later := func() time.Time { return time.Now().Add(time.Hour) }
			get := func(key string) ([]byte, bool) {
				t.Helper()
				v, ok, err := s.Get(ctx, key)
				if err != nil {
					t.Fatalf("Get(%s): %v", key, err)
				}
				return v, ok
			}
			put := func(key string, v []byte, exp time.Time) {
				t.Helper()
				if err := s.Put(ctx, key, v, exp); err != nil {
					t.Fatalf("Put(%s): %v", key, err)
				}
			}
			update := func(key string, v []byte, exp time.Time) bool {
				t.Helper()
				ok, err := s.Update(ctx, key, v, exp)
				if err != nil {
					t.Fatalf("Update(%s): %v", key, err)
				}
				return ok
			}

			if _, ok := get("missing"); ok {
				t.Fatal("Get of a missing key found something")
			}

			binary := []byte{0, 1, 0xff, 0xfe, 0, 'x'}
			put("a", binary, later())
			v, ok := get("a")
			if !ok || !bytes.Equal(v, binary) {
				t.Fatalf("Get after Put = %x %v, want %x", v, ok, binary)
			}
			v[0] = 'z'
			if v2, _ := get("a"); !bytes.Equal(v2, binary) {
				t.Error("the slice Get returned is shared with the store")
			}

			put("a", []byte("second"), later())
			if v, _ := get("a"); string(v) != "second" {
				t.Errorf("Put did not replace: %q", v)
			}

			if !update("a", []byte("third"), later()) {
				t.Error("Update of a live key reported false")
			}
			if v, _ := get("a"); string(v) != "third" {
				t.Errorf("Update did not replace: %q", v)
			}
			if update("b", []byte("x"), later()) {
				t.Error("Update of a missing key reported true")
			}
			if _, ok := get("b"); ok {
				t.Error("Update created a missing key")
			}

			put("c", []byte("c"), later())
			if err := s.Delete(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			if _, ok := get("c"); ok {
				t.Error("Delete left the value")
			}
			if err := s.Delete(ctx, "c"); err != nil {
				t.Errorf("Delete of a missing key: %v", err)
			}
			if _, ok := get("a"); !ok {
				t.Error("deleting c removed a")
			}

			put("d", []byte("d"), later())
			put("d", []byte("gone"), time.Now().Add(-time.Second))
			if _, ok := get("d"); ok {
				t.Error("Put with a past expiry left a value")
			}
			put("e", []byte("e"), later())
			if update("e", []byte("gone"), time.Now().Add(-time.Second)) {
				t.Error("Update with a past expiry reported true")
			}
			if _, ok := get("e"); ok {
				t.Error("Update with a past expiry left a value")
			}

			put("f", []byte("f"), time.Now().Add(300*time.Millisecond))
			if _, ok := get("f"); !ok {
				t.Fatal("value gone before its expiry")
			}
			time.Sleep(400 * time.Millisecond)
			if _, ok := get("f"); ok {
				t.Error("value still there after its expiry")
			}
			if update("f", []byte("f"), later()) {
				t.Error("Update revived an expired value")
			}

			// Concurrent writers and readers of distinct keys.
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					key := fmt.Sprintf("k%d", i)
					for j := range 5 {
						want := fmt.Sprintf("%d-%d", i, j)
						if err := s.Put(ctx, key, []byte(want), later()); err != nil {
							t.Error(err)
							return
						}
						if v, ok, err := s.Get(ctx, key); err != nil || !ok || string(v) != want {
							t.Errorf("%s: %q %v %v, want %q", key, v, ok, err, want)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestSQLStorePurgesExpiredRows: Get removes the expired row it finds, Put
// sweeps expired rows at most once a minute, and PurgeExpired removes the
// rest.
func TestSQLStorePurgesExpiredRows(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testEpoch)
			s := storeFactories()[name](t, clock.Now).(*SQLStore)
			ctx := testContext(t)
			count := func() int {
				t.Helper()
				var n int
				if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM session_entries").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for i := range 5 {
				if err := s.Put(ctx, fmt.Sprintf("short%d", i), []byte("x"), clock.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Put(ctx, "long", []byte("x"), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute)

			if _, ok, err := s.Get(ctx, "short0"); ok || err != nil {
				t.Fatalf("Get of an expired row: %v %v", ok, err)
			}
			if n := count(); n != 5 {
				t.Errorf("%d rows after Get found an expired one, want 5", n)
			}
			// The first Put swept already; the next is due a minute
			// after it, which has passed.
			if err := s.Put(ctx, "new", []byte("x"), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 2 {
				t.Errorf("%d rows after a sweeping Put, want 2 (long, new)", n)
			}

			for i := range 3 {
				if err := s.Put(ctx, fmt.Sprintf("more%d", i), []byte("x"), clock.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(2 * time.Second)
			n, err := s.PurgeExpired(ctx)
			if err != nil || n != 3 {
				t.Errorf("PurgeExpired = %d, %v, want 3", n, err)
			}
			if n := count(); n != 2 {
				t.Errorf("%d rows after PurgeExpired, want 2", n)
			}
			if _, ok, _ := s.Get(ctx, "long"); !ok {
				t.Error("a live row was purged")
			}
		})
	}
}

func TestSQLStoreMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 2 {
		if _, err := NewSQLStore(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'session'").Scan(&n); err != nil || n != 1 {
		t.Errorf("session migrations recorded: %d, %v", n, err)
	}
	if _, err := NewSQLStore(ctx, nil); err == nil {
		t.Error("NewSQLStore(nil) succeeded")
	}
}

func TestRedisStoreKeysAndTTL(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(testEpoch)
	s := openRedisStore(t, clock.Now)
	ctx := testContext(t)
	if err := s.Put(ctx, "k", []byte("v"), clock.Now().Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.client.PTTL(ctx, s.prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 89*time.Minute || ttl > 90*time.Minute {
		t.Errorf("TTL %v, want the 90 minutes left on the store's clock", ttl)
	}
	if _, err := NewRedisStore(nil, "p"); err == nil {
		t.Error("NewRedisStore without a client succeeded")
	}
	if _, err := NewRedisStore(s.client, ""); err == nil {
		t.Error("NewRedisStore without a prefix succeeded")
	}
}
