package lease

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"meridian/internal/db"
)

// DefaultPingInterval is how often a held Postgres lease checks its
// connection unless WithPingInterval says otherwise.
const DefaultPingInterval = 5 * time.Second

// Postgres is a Lease made of PostgreSQL session-level advisory locks, for
// gateway replicas sharing one PostgreSQL database. Use NewPostgres. It is
// safe for concurrent use.
//
// Each held lease keeps one connection out of the db.DB's pool, holding
// pg_try_advisory_lock(key) in its session, where key is a stable 64-bit
// hash of "meridian:lease:"+name (see AdvisoryKey). Advisory locks belong to
// the database, not a schema, so every replica on the same database meets
// the same locks whatever its search_path.
//
// The lock lives exactly as long as the session. If the runner's process
// crashes, its connections close, the session ends and PostgreSQL frees the
// lock at once: that is how a crashed runner's lease expires, with no ttl to
// wait out. Across a network partition the runner finds out from its
// periodic ping (see WithPingInterval) and closes Lost, but the server
// frees the lock only once it notices the dead connection by TCP
// keepalive, which with the operating system's defaults can take hours:
// set the server's tcp_keepalives_idle, tcp_keepalives_interval and
// tcp_keepalives_count to bound that.
//
// Closing the db.DB does not free a held lease: database/sql leaves
// connections in use open. Release every lease before closing the pool.
type Postgres struct {
	db        *db.DB
	pingEvery time.Duration
}

var _ Lease = (*Postgres)(nil)

// PostgresOption configures NewPostgres.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	pingEvery time.Duration
}

// WithPingInterval sets how often a held lease pings its connection, and
// how long each ping may take before the lease is counted lost; it must be
// positive. Shorter notices a dead connection sooner at the cost of a
// round trip per held lease per interval.
func WithPingInterval(every time.Duration) PostgresOption {
	return func(o *postgresOptions) { o.pingEvery = every }
}

// NewPostgres returns a Postgres lease over d, which must be a PostgreSQL
// database; it does not contact the server.
func NewPostgres(d *db.DB, opts ...PostgresOption) (*Postgres, error) {
	if d == nil {
		return nil, errors.New("lease: postgres lease needs a database")
	}
	if d.Dialect() != db.Postgres {
		return nil, fmt.Errorf("lease: postgres lease needs a PostgreSQL database, not %s (use NewLocal for SQLite)", d.Dialect())
	}
	o := postgresOptions{pingEvery: DefaultPingInterval}
	for _, opt := range opts {
		opt(&o)
	}
	if o.pingEvery <= 0 {
		return nil, fmt.Errorf("lease: postgres ping interval %s, want > 0", o.pingEvery)
	}
	return &Postgres{db: d, pingEvery: o.pingEvery}, nil
}

// AdvisoryKey returns the pg_advisory_lock key of the lease called name:
// the first 8 bytes of SHA-256("meridian:lease:"+name), big-endian, as a
// signed 64-bit integer. It is part of the contract between replicas:
// changing it would let an old and a new replica hold the same lease
// during a rolling deploy. The prefix keeps these keys apart from other
// users of advisory locks in the same database.
func AdvisoryKey(name string) int64 {
	sum := sha256.Sum256([]byte("meridian:lease:" + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// TryAcquire implements Lease. It takes a connection from the pool, waiting
// for one under ctx if the pool is exhausted, and asks for the lock without
// waiting for it. The connection goes back to the pool at once when the
// lock is held elsewhere, and stays out until Release when it is taken.
func (p *Postgres) TryAcquire(ctx context.Context, name string) (Held, bool, error) {
	if err := checkAcquire(ctx, name); err != nil {
		return nil, false, err
	}
	conn, err := p.db.SQL().Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lease: postgres %q: take a connection: %w", name, err)
	}
	key := AdvisoryKey(name)
	var got bool
	var pid int
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1), pg_backend_pid()", key).Scan(&got, &pid); err != nil {
		// The lock may have been granted before the error (a cancelled
		// ctx, a lost reply): closing the session is the only way to be
		// sure it is not left held by a pooled connection.
		discard(conn)
		return nil, false, fmt.Errorf("lease: postgres %q: try lock: %w", name, err)
	}
	if !got {
		_ = conn.Close() // back to the pool; nothing is held on it
		return nil, false, nil
	}
	h := &pgHeld{
		name:  name,
		key:   key,
		pid:   pid,
		conn:  conn,
		every: p.pingEvery,
		lost:  newSignal(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go h.watch()
	return h, true, nil
}

// discard closes conn's session instead of returning it to the pool, which
// ends any advisory lock it holds. Returning driver.ErrBadConn from Raw is
// how database/sql is told to throw a connection away.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

type pgHeld struct {
	name  string
	key   int64
	pid   int // server process of the session: pg_locks.pid of the lock
	conn  *sql.Conn
	every time.Duration
	lost  *signal

	stopOnce sync.Once
	stop     chan struct{} // closed by Release to end watch
	done     chan struct{} // closed when watch has returned

	mu   sync.Mutex
	gone bool // conn was released or discarded
}

// watch pings the connection every interval and gives the lease up as
// lost when a ping fails or takes longer than the interval.
func (h *pgHeld) watch() {
	defer close(h.done)
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.every)
		err := h.conn.PingContext(ctx)
		cancel()
		if err != nil {
			h.lose()
			return
		}
	}
}

// lose ends the session, so that once Lost is closed the lock is certainly
// free or about to be, and not held by a connection nobody watches.
func (h *pgHeld) lose() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone {
		return
	}
	h.gone = true
	discard(h.conn)
	h.lost.close()
}

// Release implements Held. It stops the connection watch (waiting for a
// ping in flight, at most the ping interval), unlocks and returns the
// connection to the pool. If the unlock fails, the connection is closed
// instead, which ends the session and frees the lock all the same, and the
// error is returned for the log: the lease is given up either way. After
// the lease was lost Release does nothing and returns nil.
func (h *pgHeld) Release(ctx context.Context) error {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone {
		return nil
	}
	h.gone = true
	defer h.lost.close()
	var unlocked bool
	if err := h.conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", h.key).Scan(&unlocked); err != nil {
		discard(h.conn)
		return fmt.Errorf("lease: postgres %q: unlock on backend %d (session closed instead): %w", h.name, h.pid, err)
	}
	if !unlocked {
		discard(h.conn)
		return fmt.Errorf("lease: postgres %q: unlock: backend %d did not hold the lock", h.name, h.pid)
	}
	if err := h.conn.Close(); err != nil {
		return fmt.Errorf("lease: postgres %q: return connection: %w", h.name, err)
	}
	return nil
}

func (h *pgHeld) Lost() <-chan struct{} { return h.lost.ch }
