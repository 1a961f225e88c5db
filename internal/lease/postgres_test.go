package lease

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"meridian/internal/db"
	"meridian/internal/testenv"
)

// testPingInterval keeps loss detection quick in tests, and leaves a ping
// on a loaded two-core CI machine room to answer before it counts as lost.
const testPingInterval = 200 * time.Millisecond

func openTestPostgres(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newTestPostgres(t *testing.T, d *db.DB) *Postgres {
	t.Helper()
	p, err := NewPostgres(d, WithPingInterval(testPingInterval))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// backendPID returns the server process of the session holding h, as
// recorded when the lock was taken. Asking the held connection instead
// would race with its watch: a ping while the query's rows are open finds
// the connection busy and gives the lease up.
func backendPID(t *testing.T, h Held) int {
	t.Helper()
	return h.(*pgHeld).pid
}

func TestPostgresContract(t *testing.T) {
	testContract(t, func(t *testing.T) replicas {
		// Two pools on one database, like two replicas.
		url := testenv.PostgresURL(t)
		dbA, dbB := openTestPostgres(t, url), openTestPostgres(t, url)
		return replicas{
			a:       newTestPostgres(t, dbA),
			b:       newTestPostgres(t, dbB),
			holdFor: 5 * testPingInterval,
			crash: func(t *testing.T, h Held) {
				// A crashed process's sockets are closed by the
				// kernel: close the held session's socket under
				// pgx's feet, then the rest of the pool.
				err := h.(*pgHeld).conn.Raw(func(dc any) error {
					return dc.(*stdlib.Conn).Conn().PgConn().Conn().Close()
				})
				if err != nil {
					t.Fatal(err)
				}
				dbA.Close()
				t.Cleanup(func() { h.Release(context.Background()) })
			},
			takeAway: func(t *testing.T, h Held) {
				var ok bool
				if err := dbB.QueryRowContext(context.Background(), "SELECT pg_terminate_backend(?)", backendPID(t, h)).Scan(&ok); err != nil || !ok {
					t.Fatalf("pg_terminate_backend = %v, %v", ok, err)
				}
			},
			freedWithin: 5 * time.Second,
		}
	})
}

func TestPostgresLockIsTheAdvisoryKey(t *testing.T) {
	ctx := context.Background()
	d := openTestPostgres(t, testenv.PostgresURL(t))
	p := newTestPostgres(t, d)
	name := testenv.UniquePrefix("lease-test") + "key"
	h := mustAcquire(t, p, name)
	defer h.Release(ctx)
	// A bigint advisory key shows in pg_locks as its high and low halves.
	key := uint64(AdvisoryKey(name))
	var pid int
	err := d.QueryRowContext(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		  AND classid::bigint = ? AND objid::bigint = ?`, int64(key>>32), int64(key&0xffffffff)).Scan(&pid)
	if err != nil {
		t.Fatalf("advisory lock for %q not found in pg_locks: %v", name, err)
	}
	if want := backendPID(t, h); pid != want {
		t.Errorf("lock held by backend %d, want the lease's session %d", pid, want)
	}
}

func TestAdvisoryKeyIsStable(t *testing.T) {
	// Replicas of different versions must agree on the key: changing
	// these values breaks mutual exclusion during a rolling deploy.
	// The values are the first 8 bytes of SHA-256("meridian:lease:"+name)
	// as a big-endian int64, computed independently of this package.
	for name, want := range map[string]int64{
		"catalog-sync":   -502428078831670574,
		"order-dispatch": 8329924307067629765,
	} {
		if got := AdvisoryKey(name); got != want {
			t.Errorf("AdvisoryKey(%q) = %d, want %d", name, got, want)
		}
	}
	if AdvisoryKey("catalog-sync") == AdvisoryKey("content-sync") {
		t.Error("different names share a key")
	}
}

func TestPostgresReleaseReturnsTheConnection(t *testing.T) {
	ctx := context.Background()
	d := openTestPostgres(t, testenv.PostgresURL(t))
	p := newTestPostgres(t, d)
	name := testenv.UniquePrefix("lease-test") + "conn"
	h := mustAcquire(t, p, name)
	if inUse := d.SQL().Stats().InUse; inUse != 1 {
		t.Errorf("connections in use while held = %d, want 1", inUse)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if inUse := d.SQL().Stats().InUse; inUse != 0 {
		t.Errorf("connections in use after Release = %d, want 0", inUse)
	}
	// Refused attempts give their connection back too.
	other := openTestPostgres(t, testenv.PostgresURL(t))
	h = mustAcquire(t, newTestPostgres(t, other), name)
	defer h.Release(ctx)
	mustNotAcquire(t, p, name, "the other pool")
	if inUse := d.SQL().Stats().InUse; inUse != 0 {
		t.Errorf("connections in use after a refused TryAcquire = %d, want 0", inUse)
	}
}

func TestNewPostgresValidates(t *testing.T) {
	if _, err := NewPostgres(nil); err == nil {
		t.Error("NewPostgres(nil) = nil error")
	}
	sqlite, err := db.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	if _, err := NewPostgres(sqlite); err == nil {
		t.Error("NewPostgres(SQLite database) = nil error")
	}
	pg := openTestPostgres(t, testenv.PostgresURL(t))
	if _, err := NewPostgres(pg, WithPingInterval(0)); err == nil {
		t.Error("NewPostgres with a zero ping interval = nil error")
	}
	p, err := NewPostgres(pg)
	if err != nil {
		t.Fatal(err)
	}
	if p.pingEvery != DefaultPingInterval {
		t.Errorf("default ping interval = %s, want %s", p.pingEvery, DefaultPingInterval)
	}
}

func TestPostgresClosingThePoolDoesNotFreeAHeldLease(t *testing.T) {
	// database/sql leaves connections in use open on Close, so a graceful
	// shutdown must Release its leases; only the process's end (its
	// sockets closing) frees them without it.
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	dbA, dbB := openTestPostgres(t, url), openTestPostgres(t, url)
	name := testenv.UniquePrefix("lease-test") + "close"
	h := mustAcquire(t, newTestPostgres(t, dbA), name)
	if err := dbA.Close(); err != nil {
		t.Fatal(err)
	}
	b := newTestPostgres(t, dbB)
	mustNotAcquire(t, b, name, "the other pool after the holder's pool was closed")
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release after the pool was closed = %v", err)
	}
	waitAcquire(t, b, name, 5*time.Second).Release(ctx)
}
