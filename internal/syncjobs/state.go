package syncjobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"meridian/internal/db"
)

// State is what is known about one job, persisted after every run so that
// any replica (and the next start) resumes where the last run left off and
// the operator view shows the same thing on every replica.
type State struct {
	// Job is the job's name, the key of its state.
	Job string
	// Cursor is the change feed position the next incremental run reads
	// from. Empty means the next run is a full sync.
	Cursor string
	// LastStartedAt and LastFinishedAt bound the last run; zero means
	// never. A start after the finish means a run is in progress, or its
	// replica died before recording the end.
	LastStartedAt  time.Time
	LastFinishedAt time.Time
	// LastSuccessAt is when the last successful run finished; the lag of
	// the mirror is measured from it. Zero means never.
	LastSuccessAt time.Time
	// LastFullSyncAt is when the last complete full sync finished.
	LastFullSyncAt time.Time
	// LastError is the error of the last run, for the operator; empty when
	// it succeeded. It is bounded in length and scrubbed of credentials.
	LastError string
	// ItemsApplied is how many items (products, prices, inventory
	// figures, pages, deletions) the last run wrote into the mirror,
	// including what a failed run committed before failing.
	ItemsApplied int
	// TotalItemsApplied sums ItemsApplied over every run.
	TotalItemsApplied int64
	// ConsecutiveFailures counts failed runs since the last success.
	ConsecutiveFailures int
	// SyncedThrough is the newest source timestamp (the origin's
	// updatedAt or changedAt) the job has applied: the mirror reflects
	// the origin at least up to this moment of the origin's clock.
	SyncedThrough time.Time
}

// StateStore persists job states. Implementations must be safe for
// concurrent use.
type StateStore interface {
	// Load returns the state of job; a job never recorded has the zero
	// State with Job set, and no error.
	Load(ctx context.Context, job string) (State, error)
	// Save records s under s.Job, replacing what was there.
	Save(ctx context.Context, s State) error
	// All returns the state of every recorded job, ordered by name.
	All(ctx context.Context) ([]State, error)
}

// stateComponent is the package's name in schema_migrations; its table is
// prefixed "syncjobs_" for the same reason.
const stateComponent = "syncjobs"

func stateMigrations() []db.Migration {
	return []db.Migration{{
		Version: 1,
		Name:    "create syncjobs state",
		SQLite: `
CREATE TABLE syncjobs_state (
	job                  TEXT    NOT NULL PRIMARY KEY,
	cursor               TEXT    NOT NULL,
	last_started_at      TEXT,
	last_finished_at     TEXT,
	last_success_at      TEXT,
	last_full_sync_at    TEXT,
	last_error           TEXT    NOT NULL,
	items_applied        INTEGER NOT NULL,
	total_items_applied  INTEGER NOT NULL,
	consecutive_failures INTEGER NOT NULL,
	synced_through       TEXT
);
`,
		Postgres: `
CREATE TABLE syncjobs_state (
	job                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	cursor               TEXT        NOT NULL,
	last_started_at      TIMESTAMPTZ,
	last_finished_at     TIMESTAMPTZ,
	last_success_at      TIMESTAMPTZ,
	last_full_sync_at    TIMESTAMPTZ,
	last_error           TEXT        NOT NULL,
	items_applied        INTEGER     NOT NULL,
	total_items_applied  BIGINT      NOT NULL,
	consecutive_failures INTEGER     NOT NULL,
	synced_through       TIMESTAMPTZ
);
`,
	}}
}

// SQLStateStore is the StateStore on Meridian's SQL database, one row per
// job in syncjobs_state. Replicas share it; the lease (see Lease) makes sure
// one replica at a time writes a given job's row.
type SQLStateStore struct {
	db *db.DB
}

var _ StateStore = (*SQLStateStore)(nil)

// NewSQLStateStore brings the syncjobs table in database up to date (see
// db.Migrate; the component is "syncjobs") and returns a store on it. The
// caller keeps ownership of database; a nil database is an error.
func NewSQLStateStore(ctx context.Context, database *db.DB) (*SQLStateStore, error) {
	if database == nil {
		return nil, errors.New("syncjobs: new state store: database is nil")
	}
	if err := db.Migrate(ctx, database, stateComponent, stateMigrations()); err != nil {
		return nil, fmt.Errorf("syncjobs: %w", err)
	}
	return &SQLStateStore{db: database}, nil
}

const stateColumns = `job, cursor, last_started_at, last_finished_at, last_success_at, last_full_sync_at,
	last_error, items_applied, total_items_applied, consecutive_failures, synced_through`

// Load implements StateStore. Times come back in UTC at microsecond
// precision.
func (s *SQLStateStore) Load(ctx context.Context, job string) (State, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+stateColumns+" FROM syncjobs_state WHERE job = ?", job)
	st, err := scanState(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return State{Job: job}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("syncjobs: load state of %s: %w", job, err)
	}
	return st, nil
}

// Save implements StateStore, as one upsert.
func (s *SQLStateStore) Save(ctx context.Context, st State) error {
	if st.Job == "" {
		return errors.New("syncjobs: save state: no job name")
	}
	d := s.db.Dialect()
	_, err := s.db.ExecContext(ctx, `INSERT INTO syncjobs_state (`+stateColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job) DO UPDATE SET cursor = excluded.cursor,
	last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at,
	last_success_at = excluded.last_success_at, last_full_sync_at = excluded.last_full_sync_at,
	last_error = excluded.last_error, items_applied = excluded.items_applied,
	total_items_applied = excluded.total_items_applied, consecutive_failures = excluded.consecutive_failures,
	synced_through = excluded.synced_through`,
		st.Job, st.Cursor,
		nullTime(d, st.LastStartedAt), nullTime(d, st.LastFinishedAt), nullTime(d, st.LastSuccessAt), nullTime(d, st.LastFullSyncAt),
		st.LastError, st.ItemsApplied, st.TotalItemsApplied, st.ConsecutiveFailures, nullTime(d, st.SyncedThrough))
	if err != nil {
		return fmt.Errorf("syncjobs: save state of %s: %w", st.Job, err)
	}
	return nil
}

// All implements StateStore.
func (s *SQLStateStore) All(ctx context.Context) ([]State, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+stateColumns+" FROM syncjobs_state ORDER BY job")
	if err != nil {
		return nil, fmt.Errorf("syncjobs: load states: %w", err)
	}
	defer rows.Close()
	var out []State
	for rows.Next() {
		st, err := scanState(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("syncjobs: load states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("syncjobs: load states: %w", err)
	}
	return out, nil
}

func scanState(scan func(...any) error) (State, error) {
	var st State
	var started, finished, success, full, through sql.Null[db.Timestamp]
	var items, failures int64
	if err := scan(&st.Job, &st.Cursor, &started, &finished, &success, &full,
		&st.LastError, &items, &st.TotalItemsApplied, &failures, &through); err != nil {
		return State{}, err
	}
	st.ItemsApplied, st.ConsecutiveFailures = int(items), int(failures)
	st.LastStartedAt, st.LastFinishedAt = started.V.Time, finished.V.Time
	st.LastSuccessAt, st.LastFullSyncAt, st.SyncedThrough = success.V.Time, full.V.Time, through.V.Time
	return st, nil
}

// nullTime stores the zero time ("never") as NULL.
func nullTime(d db.Dialect, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.TimeArg(t)
}
