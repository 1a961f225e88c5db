package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// sameSQL is a migration whose SQL is valid on both engines.
func sameSQL(version int, name, sql string) Migration {
	return Migration{Version: version, Name: name, SQLite: sql, Postgres: sql}
}

var (
	migWidgets = sameSQL(1, "create widgets", "CREATE TABLE test_widgets (id TEXT PRIMARY KEY); CREATE INDEX test_widgets_id ON test_widgets (id)")
	migColor   = sameSQL(2, "add color", "ALTER TABLE test_widgets ADD COLUMN color TEXT")
	migGadgets = sameSQL(3, "create gadgets", "CREATE TABLE test_gadgets (id TEXT PRIMARY KEY)")
)

type appliedRow struct {
	Component string
	Version   int
	Name      string
	AppliedAt Timestamp
}

func appliedRows(t *testing.T, d *DB) []appliedRow {
	t.Helper()
	rows, err := d.QueryContext(testContext(t), "SELECT component, version, name, applied_at FROM schema_migrations ORDER BY component, version")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []appliedRow
	for rows.Next() {
		var r appliedRow
		if err := rows.Scan(&r.Component, &r.Version, &r.Name, &r.AppliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(rows []appliedRow) string {
	s := ""
	for _, r := range rows {
		s += fmt.Sprintf("%s/%d/%s ", r.Component, r.Version, r.Name)
	}
	return s
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, _ string) {
		ctx := testContext(t)
		if err := Migrate(ctx, d, "test", []Migration{migWidgets, migColor}); err != nil {
			t.Fatalf("first Migrate: %v", err)
		}
		first := appliedRows(t, d)
		if got, want := describe(first), "test/1/create widgets test/2/add color "; got != want {
			t.Fatalf("applied = %q, want %q", got, want)
		}
		if _, err := d.ExecContext(ctx, "INSERT INTO test_widgets (id, color) VALUES (?, ?)", "w1", "red"); err != nil {
			t.Fatalf("migrated schema unusable: %v", err)
		}

		// Idempotent: nothing re-runs (ALTER TABLE ADD COLUMN would fail)
		// and applied_at is untouched.
		if err := Migrate(ctx, d, "test", []Migration{migWidgets, migColor}); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if again := appliedRows(t, d); describe(again) != describe(first) || !again[1].AppliedAt.Time.Equal(first[1].AppliedAt.Time) {
			t.Fatalf("second Migrate changed schema_migrations: %v -> %v", first, again)
		}

		// Appending a version applies just that one.
		if err := Migrate(ctx, d, "test", []Migration{migWidgets, migColor, migGadgets}); err != nil {
			t.Fatalf("Migrate with v3: %v", err)
		}
		// Another component counts its versions independently.
		if err := Migrate(ctx, d, "other", []Migration{sameSQL(1, "create other", "CREATE TABLE test_other (id TEXT)")}); err != nil {
			t.Fatalf("Migrate other component: %v", err)
		}
		if got, want := describe(appliedRows(t, d)), "other/1/create other test/1/create widgets test/2/add color test/3/create gadgets "; got != want {
			t.Fatalf("applied = %q, want %q", got, want)
		}

		// An older release that knows fewer versions still starts.
		if err := Migrate(ctx, d, "test", []Migration{migWidgets}); err != nil {
			t.Errorf("Migrate with a prefix of the applied versions: %v", err)
		}
	})
}

func TestMigrateRejects(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, _ string) {
		ctx := testContext(t)
		if err := Migrate(ctx, d, "test", []Migration{migWidgets, migGadgets}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name      string
			component string
			list      []Migration
		}{
			{"duplicate version", "test", []Migration{migWidgets, migWidgets}},
			{"out of order", "test", []Migration{migColor, migWidgets}},
			{"version zero", "test", []Migration{sameSQL(0, "zero", "SELECT 1")}},
			{"no name", "test", []Migration{sameSQL(1, " ", "SELECT 1")}},
			{"no SQL for dialect", "test", []Migration{{Version: 1, Name: "create widgets"}}},
			{"bad component", "Test-1", []Migration{migWidgets}},
			{"empty component", "", []Migration{migWidgets}},
			{"renamed version", "test", []Migration{sameSQL(1, "create widgets v2", migWidgets.Postgres)}},
			{"inserted behind a released version", "test", []Migration{migWidgets, migColor, migGadgets}},
		} {
			err := Migrate(ctx, d, tc.component, tc.list)
			if !errors.Is(err, ErrInvalidMigration) {
				t.Errorf("%s: Migrate = %v, want ErrInvalidMigration", tc.name, err)
			}
		}
		if got, want := describe(appliedRows(t, d)), "test/1/create widgets test/3/create gadgets "; got != want {
			t.Errorf("rejected migrations changed schema_migrations: %q, want %q", got, want)
		}
	})
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, _ string) {
		ctx := testContext(t)
		broken := sameSQL(2, "broken", "CREATE TABLE test_half (id TEXT); THIS IS NOT SQL")
		err := Migrate(ctx, d, "test", []Migration{migWidgets, broken, migGadgets})
		if err == nil {
			t.Fatal("Migrate with broken SQL succeeded")
		}
		if errors.Is(err, ErrInvalidMigration) {
			t.Errorf("SQL failure reported as ErrInvalidMigration: %v", err)
		}
		if got, want := describe(appliedRows(t, d)), "test/1/create widgets "; got != want {
			t.Errorf("applied = %q, want %q", got, want)
		}
		if _, err := d.ExecContext(ctx, "INSERT INTO test_half (id) VALUES ('x')"); err == nil {
			t.Errorf("table from the failed migration exists: its first statement was not rolled back")
		}
		// Fixed in the next release, it applies.
		fixed := sameSQL(2, "broken", "CREATE TABLE test_half (id TEXT)")
		if err := Migrate(ctx, d, "test", []Migration{migWidgets, fixed, migGadgets}); err != nil {
			t.Fatalf("Migrate after fix: %v", err)
		}
	})
}

// TestMigrateConcurrent starts several migrators on the same database at
// once, as gateway replicas do, each with its own pool.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, url string) {
		ctx := testContext(t)
		// A slow first migration widens the window in which the
		// others must wait rather than run it again.
		slow := Migration{
			Version:  1,
			Name:     "create widgets slowly",
			SQLite:   "CREATE TABLE test_widgets (id TEXT PRIMARY KEY); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) SELECT COUNT(*) FROM n",
			Postgres: "CREATE TABLE test_widgets (id TEXT PRIMARY KEY); SELECT pg_sleep(0.2)",
		}
		list := []Migration{slow, migColor, migGadgets}

		const replicas = 4
		pools := make([]*DB, replicas)
		for i := range pools {
			p, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pools[i] = p
		}
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		start := make(chan struct{})
		for i, p := range pools {
			wg.Go(func() {
				<-start
				errs[i] = Migrate(ctx, p, "test", list)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: Migrate: %v", i, err)
			}
		}
		if got, want := describe(appliedRows(t, d)), "test/1/create widgets slowly test/2/add color test/3/create gadgets "; got != want {
			t.Errorf("applied = %q, want one row per version %q", got, want)
		}
	})
}

func TestMigrateCanceled(t *testing.T) {
	t.Parallel()
	d, _ := openSQLiteFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Migrate(ctx, d, "test", []Migration{migWidgets}); !errors.Is(err, context.Canceled) {
		t.Errorf("Migrate with a canceled context = %v, want context.Canceled", err)
	}
}
