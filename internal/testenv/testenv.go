// Package testenv gives tests the real servers they need (PostgreSQL, Redis)
// and decides what happens when one is missing.
//
// Locally a missing server skips the test with a message saying what to
// start. With MERIDIAN_REQUIRE_SERVERS=1 (set by .ci/run) a missing server
// fails the test instead, so CI can never pass by skipping.
//
// Environment:
//
//	TEST_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	TEST_REDIS_URL     default redis://127.0.0.1:6379/15
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/15"
)

// ServersRequired reports whether a missing server must fail the test.
func ServersRequired() bool { return os.Getenv("MERIDIAN_REQUIRE_SERVERS") == "1" }

func unavailable(t testing.TB, what, hint string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s unreachable (%v); %s", what, err, hint)
	if ServersRequired() {
		t.Fatalf("MERIDIAN_REQUIRE_SERVERS=1 and %s", msg)
	}
	t.Skip("skipped: " + msg)
}

// PostgresURL returns the URL of a fresh, empty schema on the test
// PostgreSQL server (search_path set in the URL), dropped when the test ends.
// Every caller gets its own schema, so tests may run in parallel.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		base = defaultPostgresURL
	}
	hint := "start PostgreSQL on 127.0.0.1:5432 or set TEST_POSTGRES_URL"
	admin, err := sql.Open("pgx", base)
	if err != nil {
		unavailable(t, "PostgreSQL", hint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		unavailable(t, "PostgreSQL", hint, err)
	}
	schema := "test_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL returns the URL of the test Redis server after checking that it
// answers on TCP. Tests sharing it must use their own key prefix (see
// UniquePrefix) and clean up after themselves.
func RedisURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = defaultRedisURL
	}
	hint := "start Redis on 127.0.0.1:6379 or set TEST_REDIS_URL"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		unavailable(t, "Redis", hint, err)
	}
	conn.Close()
	return raw
}

// UniquePrefix returns a short random prefix for keys a test writes into a
// shared server.
func UniquePrefix(name string) string { return name + ":" + randomHex(4) + ":" }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// Context returns a context that ends after timeout or with the test,
// whichever comes first: a hung server fails the test instead of hanging
// the suite.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Clock is a settable clock for code that takes a func() time.Time or a
// Now method: tests move it instead of sleeping. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until it is advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forward or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
