package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meridian/internal/db"
)

// maxIDsPerQuery bounds the IN lists GrantedFor sends, well under the bind
// parameter limits of both engines.
const maxIDsPerQuery = 500

// subjectLockClass is the first key of the PostgreSQL advisory locks that
// serialize the writers of one subject's consent ("cons" in ASCII). The
// two-key form keeps these locks out of the single 64-bit key space that
// migrations and leases use.
const subjectLockClass int32 = 0x636f6e73

// changeColumns is what scanChange reads, in order.
const changeColumns = `subject, purpose, granted, policy_version, changed_by, request_id, version, changed_at`

// latestVersion restricts a query on consent_changes c to the latest
// version of each (subject, purpose), through the unique index.
const latestVersion = `c.version = (SELECT MAX(m.version) FROM consent_changes m WHERE m.subject = c.subject AND m.purpose = c.purpose)`

// grantedQuery is Granted's query: a backward scan of the unique index that
// stops at its first entry.
const grantedQuery = `SELECT granted FROM consent_changes WHERE subject = ? AND purpose = ? ORDER BY version DESC LIMIT 1`

// SQLStore is the Store on Meridian's SQL database, SQLite or PostgreSQL. It
// is safe for concurrent use.
//
// The store offers no way to change or delete a recorded version. Writers
// of one subject are serialized (a PostgreSQL advisory lock per subject;
// SQLite's single write lock), so concurrent changes get consecutive
// versions and each sees the one before it.
type SQLStore struct {
	db  *db.DB
	now func() time.Time
}

var _ Store = (*SQLStore)(nil)

// Option configures a SQLStore.
type Option func(*SQLStore)

// WithClock makes the store stamp changes with now instead of time.Now. For
// tests.
func WithClock(now func() time.Time) Option {
	return func(s *SQLStore) { s.now = now }
}

// NewSQLStore brings the consent tables in database up to date (see
// db.Migrate; the component is "consent") and returns a store on them. It
// may wait for another replica that is migrating the same database, bounded
// by ctx. It fails without touching the database when database is nil or an
// option sets a nil clock. The caller keeps ownership of database.
func NewSQLStore(ctx context.Context, database *db.DB, opts ...Option) (*SQLStore, error) {
	if database == nil {
		return nil, errors.New("consent: new store: nil database")
	}
	s := &SQLStore{db: database, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("consent: new store: nil clock")
	}
	if err := db.Migrate(ctx, database, migrationComponent, migrations()); err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	return s, nil
}

// Current implements Store, reading the latest version of every purpose in
// one query. Versions of purposes no longer in Purposes are left out.
func (s *SQLStore) Current(ctx context.Context, subject string) (map[Purpose]State, error) {
	if err := checkSubject("subject", subject); err != nil {
		return nil, fmt.Errorf("consent: current: %w", err)
	}
	out := make(map[Purpose]State, len(Purposes()))
	for _, p := range Purposes() {
		out[p] = State{Purpose: p}
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+changeColumns+" FROM consent_changes c WHERE c.subject = ? AND "+latestVersion, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: current: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, fmt.Errorf("consent: current: %w", err)
		}
		if c.Purpose.Valid() {
			out[c.Purpose] = stateOf(c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: current: %w", err)
	}
	return out, nil
}

// Set implements Store.
func (s *SQLStore) Set(ctx context.Context, c Change) (State, error) {
	if err := checkChange(c); err != nil {
		return State{}, fmt.Errorf("consent: set: %w", err)
	}
	var out State
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := lockSubject(ctx, tx, c.Subject); err != nil {
			return err
		}
		latest, found, err := latestChange(ctx, tx, c.Subject, c.Purpose)
		if err != nil {
			return err
		}
		if found && latest.Granted == c.Granted && latest.PolicyVersion == c.PolicyVersion {
			out = stateOf(latest)
			return nil
		}
		c.Version = latest.Version + 1
		recorded, err := s.insert(ctx, tx, c)
		out = stateOf(recorded)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("consent: set: %w", err)
	}
	return out, nil
}

// History implements Store.
func (s *SQLStore) History(ctx context.Context, subject string) ([]Change, error) {
	if err := checkSubject("subject", subject); err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+changeColumns+" FROM consent_changes WHERE subject = ? ORDER BY id", subject)
	if err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, fmt.Errorf("consent: history: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	return out, nil
}

// Granted implements Store.
func (s *SQLStore) Granted(ctx context.Context, subject string, purpose Purpose) (bool, error) {
	if err := errors.Join(checkSubject("subject", subject), checkPurpose(purpose)); err != nil {
		return false, fmt.Errorf("consent: granted: %w", err)
	}
	var granted bool
	err := s.db.QueryRowContext(ctx, grantedQuery, subject, string(purpose)).Scan(&granted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("consent: granted: %w", err)
	}
	return granted, nil
}

// GrantedFor implements Store, with one query per maxIDsPerQuery distinct
// subjects. Duplicate subjects are answered once; a malformed subject fails
// the whole call, naming its index.
func (s *SQLStore) GrantedFor(ctx context.Context, subjects []string, purpose Purpose) (map[string]bool, error) {
	errs := []error{checkPurpose(purpose)}
	out := make(map[string]bool, len(subjects))
	unique := make([]string, 0, len(subjects))
	for i, subject := range subjects {
		if err := checkSubject(fmt.Sprintf("subjects[%d]", i), subject); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := out[subject]; !dup {
			out[subject] = false
			unique = append(unique, subject)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("consent: granted for: %w", err)
	}
	for batch := range slices.Chunk(unique, maxIDsPerQuery) {
		args := make([]any, 0, len(batch)+1)
		args = append(args, string(purpose))
		for _, subject := range batch {
			args = append(args, subject)
		}
		if err := s.grantedBatch(ctx, out, args, len(batch)); err != nil {
			return nil, fmt.Errorf("consent: granted for: %w", err)
		}
	}
	return out, nil
}

func (s *SQLStore) grantedBatch(ctx context.Context, out map[string]bool, args []any, n int) error {
	rows, err := s.db.QueryContext(ctx, "SELECT c.subject, c.granted FROM consent_changes c WHERE c.purpose = ? AND c.subject IN ("+
		strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+") AND "+latestVersion, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var subject string
		var granted bool
		if err := rows.Scan(&subject, &granted); err != nil {
			return err
		}
		out[subject] = granted
	}
	return rows.Err()
}

// WithdrawAll implements Store, in one transaction.
func (s *SQLStore) WithdrawAll(ctx context.Context, subject, actor, requestID string) ([]Change, error) {
	if err := errors.Join(checkSubject("subject", subject), checkSubject("changedBy", actor), checkRequestID(requestID)); err != nil {
		return nil, fmt.Errorf("consent: withdraw all: %w", err)
	}
	var out []Change
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := lockSubject(ctx, tx, subject); err != nil {
			return err
		}
		for _, p := range Purposes() {
			latest, found, err := latestChange(ctx, tx, subject, p)
			if err != nil {
				return err
			}
			if !found || !latest.Granted {
				continue
			}
			recorded, err := s.insert(ctx, tx, Change{
				Subject: subject, Purpose: p, Granted: false, PolicyVersion: latest.PolicyVersion,
				ChangedBy: actor, RequestID: requestID, Version: latest.Version + 1,
			})
			if err != nil {
				return err
			}
			out = append(out, recorded)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: withdraw all: %w", err)
	}
	return out, nil
}

// lockSubject serializes the writers of subject's consent on PostgreSQL
// until tx ends. On SQLite the write transaction already holds the
// database's only write lock.
func lockSubject(ctx context.Context, tx *db.Tx, subject string) error {
	if tx.Dialect() != db.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(?))", subjectLockClass, subject); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// latestChange returns the latest version of subject's purpose, if any.
func latestChange(ctx context.Context, tx *db.Tx, subject string, purpose Purpose) (Change, bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+changeColumns+
		" FROM consent_changes WHERE subject = ? AND purpose = ? ORDER BY version DESC LIMIT 1", subject, string(purpose))
	if err != nil {
		return Change{}, false, fmt.Errorf("read latest: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return Change{}, false, rows.Err()
	}
	c, err := scanChange(rows)
	if err != nil {
		return Change{}, false, fmt.Errorf("read latest: %w", err)
	}
	return c, true, nil
}

// insert records c, stamped now, and returns it as stored.
func (s *SQLStore) insert(ctx context.Context, tx *db.Tx, c Change) (Change, error) {
	c.At = s.now().UTC().Truncate(time.Microsecond)
	if _, err := tx.ExecContext(ctx, `INSERT INTO consent_changes
	(subject, purpose, version, granted, policy_version, changed_by, request_id, changed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Subject, string(c.Purpose), c.Version, c.Granted, c.PolicyVersion, c.ChangedBy, c.RequestID,
		tx.Dialect().TimeArg(c.At)); err != nil {
		return Change{}, fmt.Errorf("insert: %w", err)
	}
	return c, nil
}

func scanChange(rows *sql.Rows) (Change, error) {
	var c Change
	var purpose string
	var at db.Timestamp
	if err := rows.Scan(&c.Subject, &purpose, &c.Granted, &c.PolicyVersion, &c.ChangedBy, &c.RequestID, &c.Version, &at); err != nil {
		return Change{}, err
	}
	c.Purpose = Purpose(purpose)
	c.At = at.Time
	return c, nil
}

func stateOf(c Change) State {
	return State{
		Purpose: c.Purpose, Granted: c.Granted, PolicyVersion: c.PolicyVersion, ChangedBy: c.ChangedBy,
		RequestID: c.RequestID, Version: c.Version, At: c.At,
	}
}
