// Package db opens Meridian's SQL database and gives the stores built on it
// one way to write SQL for both supported engines: PostgreSQL in production
// and SQLite as the embedded default.
//
// The database is chosen by URL:
//
//	postgres://user:pass@host:5432/meridian?sslmode=disable   PostgreSQL (also postgresql://)
//	sqlite:meridian.db                                        SQLite file, relative to the working directory
//	sqlite:/var/lib/meridian/meridian.db                      SQLite file, absolute path
//	sqlite::memory:                                           private in-memory SQLite (tests)
//	sqlite:file:name?mode=memory                              SQLite URI filename (tests)
//
// Store SQL is written once with ? placeholders; DB, Tx and Rebind turn them
// into $1, $2, ... on PostgreSQL. Everything else that differs between the
// engines (DDL, timestamps) is made explicit: migrations carry one SQL text
// per dialect (see Migrate), and Dialect.TimeArg and Timestamp carry
// timestamps in and out.
//
// Every error from this package is wrapped with a "db:" context and may carry
// driver detail; callers classify errors and must not show them to end users.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect identifies the SQL engine behind a DB.
type Dialect int

const (
	// SQLite is the embedded engine (modernc.org/sqlite, pure Go).
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL through pgx's database/sql driver.
	Postgres
)

// String returns "sqlite" or "postgres"; any other value prints as
// "dialect(N)".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return fmt.Sprintf("dialect(%d)", int(d))
	}
}

// ErrUnsupportedURL is returned (wrapped) by Open for a database URL that is
// neither a PostgreSQL URL nor a sqlite: URL, or is malformed.
var ErrUnsupportedURL = errors.New("db: unsupported database URL")

// acceptedForms is quoted in every rejection so the operator sees both
// accepted forms without reading the code.
const acceptedForms = "want postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://...) for PostgreSQL, or sqlite:PATH (e.g. sqlite:meridian.db, sqlite::memory:) for SQLite"

// sqliteDefaults returns the SQLite connection defaults, applied unless the
// URL's query sets the same key. They are modernc.org/sqlite DSN keys,
// validated by the driver before any of them is applied.
func sqliteDefaults() [][2]string {
	return [][2]string{
		// Wait up to 5s for another connection's lock instead of failing
		// at once with SQLITE_BUSY. Applied first by the driver, so the
		// other pragmas below already wait too.
		{"_busy_timeout", "5000"},
		// SQLite ships with foreign keys off for compatibility; Meridian's
		// schemas rely on them (ON DELETE CASCADE).
		{"_foreign_keys", "1"},
		// Readers never block the writer and the writer never blocks
		// readers. Persistent in the file once set.
		{"_journal_mode", "WAL"},
		// In WAL mode NORMAL is durable against application crashes and
		// only risks the last commits on power loss, which a mirror that
		// is re-synced from its source can afford; FULL would fsync every
		// commit.
		{"_synchronous", "NORMAL"},
		// Read-write transactions take the write lock at BEGIN. With the
		// default DEFERRED, a transaction that reads and then writes
		// upgrades its lock mid-way and gets SQLITE_BUSY immediately,
		// without waiting, when another writer got there first; with
		// IMMEDIATE it waits at BEGIN under busy_timeout instead.
		// Read-only transactions (DB.ReadTx) still begin DEFERRED.
		{"_txlock", "immediate"},
	}
}

// Pool sizes. SQLite in WAL mode runs readers in parallel with the single
// writer, so a small pool is enough and writers queue on busy_timeout.
const (
	sqliteMaxConns   = 8
	postgresMaxConns = 16
	postgresMaxIdle  = 8
	connMaxLifetime  = 30 * time.Minute
	connMaxIdleTime  = 5 * time.Minute
)

// DB is an open database: a *sql.DB pool plus the dialect it speaks. It is
// safe for concurrent use. Its query methods accept ? placeholders on both
// dialects.
type DB struct {
	sql      *sql.DB
	dialect  Dialect
	redacted string
}

// Open connects to the database named by databaseURL and checks that it
// answers, bounded by ctx.
//
// PostgreSQL URLs (postgres:// or postgresql://) are handed to pgx as they
// are, so pgx's URL parameters (sslmode, search_path, ...) apply.
//
// sqlite:PATH opens or creates the SQLite file at PATH with the connection
// defaults WAL journal, busy_timeout 5000ms, foreign_keys on, synchronous
// NORMAL and IMMEDIATE read-write transactions. PATH may carry a query of
// modernc.org/sqlite DSN keys (sqlite:meridian.db?_busy_timeout=10000),
// which replace the default of the same key. PATH may also be a SQLite URI
// filename (sqlite:file:meridian.db?mode=rwc). sqlite::memory: and URIs with
// mode=memory open an in-memory database on a single pooled connection that
// is never recycled, because each SQLite connection to :memory: would
// otherwise see its own empty database; it lives until Close and is meant for
// tests. sqlite://... is rejected: the form is sqlite:PATH.
//
// Any other URL, including an empty one, fails with an error wrapping
// ErrUnsupportedURL that names both accepted forms. Errors never contain the
// URL's password.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	lower := strings.ToLower(databaseURL)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return openPostgres(ctx, databaseURL)
	case strings.HasPrefix(lower, "sqlite:"):
		return openSQLite(ctx, databaseURL, databaseURL[len("sqlite:"):])
	case databaseURL == "":
		return nil, fmt.Errorf("%w: empty; %s", ErrUnsupportedURL, acceptedForms)
	default:
		return nil, fmt.Errorf("%w %q: %s", ErrUnsupportedURL, RedactURL(databaseURL), acceptedForms)
	}
}

func openPostgres(ctx context.Context, databaseURL string) (*DB, error) {
	redacted := RedactURL(databaseURL)
	if _, err := url.Parse(databaseURL); err != nil {
		// url.Error quotes the URL it failed on, password included,
		// so only its redacted form is reported.
		return nil, fmt.Errorf("%w %q: malformed URL; %s", ErrUnsupportedURL, redacted, acceptedForms)
	}
	pool, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", redacted, err)
	}
	pool.SetMaxOpenConns(postgresMaxConns)
	pool.SetMaxIdleConns(postgresMaxIdle)
	pool.SetConnMaxLifetime(connMaxLifetime)
	pool.SetConnMaxIdleTime(connMaxIdleTime)
	return finishOpen(ctx, pool, Postgres, redacted)
}

func openSQLite(ctx context.Context, databaseURL, rest string) (*DB, error) {
	redacted := RedactURL(databaseURL)
	dsn, memory, err := sqliteDSN(rest)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v; %s", ErrUnsupportedURL, redacted, err, acceptedForms)
	}
	pool, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", redacted, err)
	}
	if memory {
		// One connection, kept forever: closing it would drop the
		// database.
		pool.SetMaxOpenConns(1)
		pool.SetMaxIdleConns(1)
		pool.SetConnMaxLifetime(0)
		pool.SetConnMaxIdleTime(0)
	} else {
		pool.SetMaxOpenConns(sqliteMaxConns)
		// Keep every connection idle rather than reopening it: each
		// open re-runs the pragmas.
		pool.SetMaxIdleConns(sqliteMaxConns)
		pool.SetConnMaxLifetime(0)
		pool.SetConnMaxIdleTime(connMaxIdleTime)
	}
	return finishOpen(ctx, pool, SQLite, redacted)
}

// sqliteDSN turns the part after "sqlite:" into a modernc.org/sqlite DSN
// with the connection defaults added, and reports whether it names an
// in-memory database.
func sqliteDSN(rest string) (dsn string, memory bool, err error) {
	path, rawQuery, _ := strings.Cut(rest, "?")
	switch {
	case path == "":
		return "", false, errors.New("missing PATH after sqlite:")
	case strings.HasPrefix(path, "//"):
		return "", false, errors.New("sqlite:// is not accepted, write sqlite:PATH")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("malformed query: %v", err)
	}
	memory = path == ":memory:" ||
		strings.HasPrefix(path, "file::memory:") ||
		(strings.HasPrefix(path, "file:") && q.Get("mode") == "memory")
	for _, kv := range sqliteDefaults() {
		if memory && kv[0] == "_journal_mode" {
			// In-memory databases have no WAL; SQLite would keep
			// "memory" anyway.
			continue
		}
		if _, set := q[kv[0]]; !set {
			q.Set(kv[0], kv[1])
		}
	}
	return path + "?" + q.Encode(), memory, nil
}

func finishOpen(ctx context.Context, pool *sql.DB, dialect Dialect, redacted string) (*DB, error) {
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: open %s: %w", redacted, err)
	}
	return &DB{sql: pool, dialect: dialect, redacted: redacted}, nil
}

// Dialect reports which engine d talks to.
func (d *DB) Dialect() Dialect { return d.dialect }

// String returns the database URL with any password redacted, for logs.
func (d *DB) String() string { return d.redacted }

// SQL returns the underlying pool for what this package does not wrap.
// Queries sent through it are not rebound: they must use the dialect's own
// placeholders.
func (d *DB) SQL() *sql.DB { return d.sql }

// Rebind rewrites ? placeholders for d's dialect; see the package-level
// Rebind.
func (d *DB) Rebind(query string) string { return Rebind(d.dialect, query) }

// Ping checks that the database answers, for readiness probes: on
// PostgreSQL a round trip to the server, on SQLite that a connection to the
// file can be had.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("db: ping %s: %w", d.dialect, err)
	}
	return nil
}

// Close closes the pool, waiting for queries in flight to finish. An
// in-memory SQLite database is gone afterwards.
func (d *DB) Close() error {
	if err := d.sql.Close(); err != nil {
		return fmt.Errorf("db: close: %w", err)
	}
	return nil
}

// ExecContext runs a statement written with ? placeholders.
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.sql.ExecContext(ctx, d.Rebind(query), args...)
}

// QueryContext runs a query written with ? placeholders. The caller must
// close the rows.
func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.sql.QueryContext(ctx, d.Rebind(query), args...)
}

// QueryRowContext runs a query written with ? placeholders that returns at
// most one row.
func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.sql.QueryRowContext(ctx, d.Rebind(query), args...)
}

// Tx is a transaction handed to the function given to DB.ReadTx or
// DB.WriteTx; its query methods accept ? placeholders. It must not be used
// after that function returns.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
}

// Dialect reports which engine the transaction runs on.
func (t *Tx) Dialect() Dialect { return t.dialect }

// ExecContext runs a statement written with ? placeholders.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, Rebind(t.dialect, query), args...)
}

// QueryContext runs a query written with ? placeholders. The caller must
// close the rows before running the next statement on t.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, Rebind(t.dialect, query), args...)
}

// QueryRowContext runs a query written with ? placeholders that returns at
// most one row.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, Rebind(t.dialect, query), args...)
}

// ReadTx runs fn in a read-only transaction, so that the several queries of
// one read (a count and a page, products and their texts) see one consistent
// state of the database. On PostgreSQL it is REPEATABLE READ READ ONLY; on
// SQLite a deferred transaction, which in WAL mode reads one snapshot without
// blocking the writer. Writes inside fn fail.
//
// fn's error is returned as it is, after rolling back; a panic in fn rolls
// back and is re-raised.
func (d *DB) ReadTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return runTx(ctx, d.sql, d.dialect, opts, fn)
}

// WriteTx runs fn in a read-write transaction and commits it when fn returns
// nil. On SQLite the transaction holds the database's single write lock from
// its start (see the _txlock default), so concurrent writers queue under
// busy_timeout instead of failing with SQLITE_BUSY; keep fn short. On
// PostgreSQL it is READ COMMITTED.
//
// fn's error is returned as it is, after rolling back; a panic in fn rolls
// back and is re-raised. A failed commit returns an error wrapping the
// driver's.
func (d *DB) WriteTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{}
	if d.dialect == Postgres {
		opts.Isolation = sql.LevelReadCommitted
	}
	return runTx(ctx, d.sql, d.dialect, opts, fn)
}

// beginner is what *sql.DB and *sql.Conn have in common for starting
// transactions.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func runTx(ctx context.Context, b beginner, dialect Dialect, opts *sql.TxOptions, fn func(*Tx) error) (err error) {
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The rollback's own error adds nothing: the
			// transaction is abandoned either way.
			_ = tx.Rollback()
		}
	}()
	if err := fn(&Tx{tx: tx, dialect: dialect}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		// database/sql has ended the transaction whatever Commit
		// returned.
		committed = true
		return fmt.Errorf("db: commit: %w", err)
	}
	committed = true
	return nil
}
