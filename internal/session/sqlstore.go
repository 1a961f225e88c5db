package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"meridian/internal/db"
)

// migrationComponent is this package's name in schema_migrations; its
// tables are prefixed with it.
const migrationComponent = "session"

// migrations create the session table. value holds sealed bytes only;
// id_hash is the base64url SHA-256 of the session id, so the table never
// holds a cookie that could be replayed.
func migrations() []db.Migration {
	return []db.Migration{{
		Version: 1,
		Name:    "create session_entries",
		SQLite: `CREATE TABLE session_entries (
	id_hash    TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX session_entries_expires_at ON session_entries (expires_at)`,
		Postgres: `CREATE TABLE session_entries (
	id_hash    TEXT PRIMARY KEY,
	value      BYTEA NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_entries_expires_at ON session_entries (expires_at)`,
	}}
}

// Lazy purging: a Put deletes at most purgeBatch expired rows, at most once
// per purgeEvery, so the table stays bounded without a background job and
// without making any one sign-in wait long.
const (
	purgeEvery = time.Minute
	purgeBatch = 500
)

// SQLStore is a Store in Meridian's SQL database (PostgreSQL or SQLite),
// shared by every replica on the same database. Use NewSQLStore. It is safe
// for concurrent use.
//
// Expired rows are invisible at once and removed lazily: Get deletes the
// expired row it finds, and Put sweeps a bounded batch of expired rows at
// most once a minute. PurgeExpired removes all of them, for a scheduled job.
type SQLStore struct {
	db  *db.DB
	now func() time.Time

	mu        sync.Mutex // guards nextPurge
	nextPurge time.Time
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore migrates the "session" component of d's schema and returns a
// store over it. It fails when d is nil or the migration fails. The store
// does not close d.
func NewSQLStore(ctx context.Context, d *db.DB, opts ...StoreOption) (*SQLStore, error) {
	if d == nil {
		return nil, errors.New("session: SQL store needs a database")
	}
	if err := db.Migrate(ctx, d, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	o := applyStoreOptions(opts)
	return &SQLStore{db: d, now: o.now}, nil
}

// Get implements Store. Finding an expired row deletes it, unless it was
// renewed in the meantime.
func (s *SQLStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var (
		value   []byte
		expires db.Timestamp
	)
	err := s.db.QueryRowContext(ctx,
		"SELECT value, expires_at FROM session_entries WHERE id_hash = ?", key).Scan(&value, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("session: sql get: %w", err)
	}
	now := s.now()
	if expires.Time.After(now) {
		return value, true, nil
	}
	if _, err := s.db.ExecContext(ctx,
		"DELETE FROM session_entries WHERE id_hash = ? AND expires_at <= ?",
		key, s.db.Dialect().TimeArg(now)); err != nil {
		return nil, false, fmt.Errorf("session: sql delete expired: %w", err)
	}
	return nil, false, nil
}

// Put implements Store with an upsert, then sweeps expired rows if the last
// sweep is a minute old. A failed sweep does not fail the Put: the rows it
// missed stay invisible and are swept next time.
func (s *SQLStore) Put(ctx context.Context, key string, value []byte, expires time.Time) error {
	now := s.now()
	if !expires.After(now) {
		return s.Delete(ctx, key)
	}
	d := s.db.Dialect()
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO session_entries (id_hash, value, expires_at) VALUES (?, ?, ?)
		 ON CONFLICT (id_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		key, value, d.TimeArg(expires)); err != nil {
		return fmt.Errorf("session: sql put: %w", err)
	}
	if s.purgeDue(now) {
		_, _ = s.purgeBatch(ctx, now)
	}
	return nil
}

// Update implements Store.
func (s *SQLStore) Update(ctx context.Context, key string, value []byte, expires time.Time) (bool, error) {
	now := s.now()
	d := s.db.Dialect()
	if !expires.After(now) {
		return false, s.Delete(ctx, key)
	}
	res, err := s.db.ExecContext(ctx,
		"UPDATE session_entries SET value = ?, expires_at = ? WHERE id_hash = ? AND expires_at > ?",
		value, d.TimeArg(expires), key, d.TimeArg(now))
	if err != nil {
		return false, fmt.Errorf("session: sql update: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("session: sql update: %w", err)
	}
	return n == 1, nil
}

// Delete implements Store.
func (s *SQLStore) Delete(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM session_entries WHERE id_hash = ?", key); err != nil {
		return fmt.Errorf("session: sql delete: %w", err)
	}
	return nil
}

// PurgeExpired deletes every expired row, in batches so that no statement
// holds locks for long, and returns how many it deleted. Run it from a
// periodic job when sessions are created faster than Put's lazy sweep
// removes them; it is safe to run on several replicas at once.
func (s *SQLStore) PurgeExpired(ctx context.Context) (int64, error) {
	now := s.now()
	var total int64
	for {
		n, err := s.purgeBatch(ctx, now)
		total += n
		if err != nil {
			return total, err
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

func (s *SQLStore) purgeDue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.nextPurge) {
		return false
	}
	s.nextPurge = now.Add(purgeEvery)
	return true
}

// purgeBatch deletes at most purgeBatch rows that expired by now. The
// subquery form is the one both engines accept for a bounded DELETE.
func (s *SQLStore) purgeBatch(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM session_entries WHERE id_hash IN (
		   SELECT id_hash FROM session_entries WHERE expires_at <= ? LIMIT ?)`,
		s.db.Dialect().TimeArg(now), purgeBatch)
	if err != nil {
		return 0, fmt.Errorf("session: sql purge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("session: sql purge: %w", err)
	}
	return n, nil
}
