package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Migration is one versioned schema change of a component, with the SQL for
// each dialect. The SQL may hold several statements separated by semicolons;
// it runs in the same transaction as the bookkeeping row that records it, so
// a migration is applied entirely or not at all (DDL is transactional on
// both engines).
type Migration struct {
	// Version orders the component's migrations; it starts at 1 and
	// only ever grows. A released version is never renumbered,
	// reused or edited: schema changes are new versions.
	Version int
	// Name is a short description, recorded with the version. It is
	// part of the version's identity: a database that applied version
	// 3 under another name makes Migrate fail, which catches two
	// branches that both added a version 3.
	Name string
	// SQLite is the migration's SQL for SQLite.
	SQLite string
	// Postgres is the migration's SQL for PostgreSQL.
	Postgres string
}

// ErrInvalidMigration is returned (wrapped) by Migrate when the migration
// list is malformed or contradicts what the database has already applied.
var ErrInvalidMigration = errors.New("db: invalid migration")

// migrationLockKey is the PostgreSQL advisory lock that serializes
// migrators: the bytes of "meridian" as a bigint. It is one key for every
// component and every schema of the database, which costs nothing (migrating
// takes milliseconds) and leaves no room for two keys to disagree.
const migrationLockKey int64 = 0x6d6572696469616e

// componentName keeps component names plain identifiers, as they appear in
// logs and in schema_migrations.
var componentName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

const createMigrationsTableSQLite = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	PRIMARY KEY (component, version)
)`

const createMigrationsTablePostgres = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT        NOT NULL,
	version    INTEGER     NOT NULL,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (component, version)
)`

// Migrate brings component's part of the schema up to date by applying,
// in version order, each migration of migrations that the database has not
// recorded yet in schema_migrations.
//
// Each store package owns its migrations and passes its own component name
// ("catalog", "profile", ...; lowercase letters, digits and underscores).
// Versions are counted per component, so components never coordinate
// version numbers, and schema_migrations holds one row per (component,
// version) with the name and the time it was applied. A component must also
// prefix its table and index names with its own name, so that components
// sharing a database cannot clash.
//
// Each migration runs in its own transaction, which first takes the
// migration lock, then re-reads what is applied, then applies the migration
// and records it. The lock is a transaction-scoped PostgreSQL advisory lock
// (pg_advisory_xact_lock) on a fixed key, and SQLite's write lock, which
// read-write transactions take at BEGIN. So several replicas starting at
// once apply each version exactly once, the others wait and then skip it,
// and no lock can outlive its transaction on a pooled connection.
//
// Migrate fails with an error wrapping ErrInvalidMigration, before touching
// the database, when component is malformed, a version is below 1, versions
// are not strictly increasing (duplicates or out of order), a name is empty,
// or a migration has no SQL for the database's dialect. It also fails so,
// without applying it, on a migration whose version is recorded under a
// different name or that is not applied while a later version is (a version
// inserted behind released ones). Versions recorded in the database but
// absent from migrations are tolerated: a newer release has migrated, and
// migrations are written to keep the previous release working during a
// rolling deploy. A migration whose SQL fails is rolled back and its error
// returned; the versions before it stay applied.
func Migrate(ctx context.Context, d *DB, component string, migrations []Migration) error {
	if err := validateMigrations(d.dialect, component, migrations); err != nil {
		return err
	}
	for _, m := range migrations {
		if err := d.migrateOne(ctx, component, m); err != nil {
			return err
		}
	}
	return nil
}

func validateMigrations(dialect Dialect, component string, migrations []Migration) error {
	if !componentName.MatchString(component) {
		return fmt.Errorf("%w: component %q is not a lowercase identifier", ErrInvalidMigration, component)
	}
	prev := 0
	for i, m := range migrations {
		switch {
		case m.Version < 1:
			return fmt.Errorf("%w: %s migration #%d: version %d is below 1", ErrInvalidMigration, component, i, m.Version)
		case m.Version == prev:
			return fmt.Errorf("%w: %s migration #%d: duplicate version %d", ErrInvalidMigration, component, i, m.Version)
		case m.Version < prev:
			return fmt.Errorf("%w: %s migration #%d: version %d listed after version %d", ErrInvalidMigration, component, i, m.Version, prev)
		case strings.TrimSpace(m.Name) == "":
			return fmt.Errorf("%w: %s migration %d has no name", ErrInvalidMigration, component, m.Version)
		case strings.TrimSpace(m.sql(dialect)) == "":
			return fmt.Errorf("%w: %s migration %d (%s) has no %s SQL", ErrInvalidMigration, component, m.Version, m.Name, dialect)
		}
		prev = m.Version
	}
	return nil
}

func (m Migration) sql(dialect Dialect) string {
	if dialect == Postgres {
		return m.Postgres
	}
	return m.SQLite
}

// migrateOne applies m unless it is already applied, in one transaction
// that holds the migration lock from its first statement.
func (d *DB) migrateOne(ctx context.Context, component string, m Migration) error {
	// WriteTx begins IMMEDIATE on SQLite, so the transaction owns the
	// write lock before it reads schema_migrations; on PostgreSQL the
	// advisory lock below plays that role. READ COMMITTED matters there:
	// each statement after the lock sees what the previous holder
	// committed.
	err := d.WriteTx(ctx, func(tx *Tx) error {
		create := createMigrationsTableSQLite
		if d.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrationLockKey); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			create = createMigrationsTablePostgres
		}
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}

		var appliedName string
		err := tx.QueryRowContext(ctx,
			"SELECT name FROM schema_migrations WHERE component = ? AND version = ?",
			component, m.Version).Scan(&appliedName)
		switch {
		case err == nil:
			if appliedName != m.Name {
				return fmt.Errorf("%w: version %d is applied as %q, not %q", ErrInvalidMigration, m.Version, appliedName, m.Name)
			}
			return nil // already applied
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read schema_migrations: %w", err)
		}

		var later sql.NullInt64
		if err := tx.QueryRowContext(ctx,
			"SELECT MAX(version) FROM schema_migrations WHERE component = ? AND version > ?",
			component, m.Version).Scan(&later); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if later.Valid {
			return fmt.Errorf("%w: version %d is not applied but later version %d is; new migrations must come after released ones", ErrInvalidMigration, m.Version, later.Int64)
		}

		// Migration SQL is dialect-specific already, so it bypasses
		// Rebind: a ? in it (a jsonb operator, a comment) stays as
		// written. Without arguments it goes out as one
		// simple-protocol message on PostgreSQL and statement by
		// statement on SQLite, so multi-statement migrations work on
		// both.
		if _, err := tx.tx.ExecContext(ctx, m.sql(d.dialect)); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO schema_migrations (component, version, name) VALUES (?, ?, ?)",
			component, m.Version, m.Name); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: migrate %s %d (%s): %w", component, m.Version, m.Name, err)
	}
	return nil
}
