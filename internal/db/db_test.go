package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian/internal/testenv"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

// openSQLiteFile opens a fresh SQLite file in a temporary directory.
func openSQLiteFile(t *testing.T) (*DB, string) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	d, err := Open(testContext(t), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { d.Close() })
	return d, url
}

func openPostgresSchema(t *testing.T) (*DB, string) {
	t.Helper()
	url := testenv.PostgresURL(t)
	d, err := Open(testContext(t), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	return d, url
}

func TestOpenRejectsUnsupportedURLs(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"",
		"meridian.db",
		"mysql://root:hunter2@localhost/meridian",
		"http://example.com/db",
		"postgres:meridian",
		"sqlite:",
		"sqlite://meridian.db",
		"sqlite:///var/lib/meridian.db",
		"sqlite:x.db?%zz",
		"file:meridian.db",
		"host=localhost password=hunter2",
		"postgres://user:hunter2@host:notaport/db",
	} {
		_, err := Open(testContext(t), url)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", url)
			continue
		}
		if !errors.Is(err, ErrUnsupportedURL) {
			t.Errorf("Open(%q) = %v, want it to wrap ErrUnsupportedURL", url, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "postgres://") || !strings.Contains(msg, "sqlite:PATH") {
			t.Errorf("Open(%q) error %q does not name both accepted forms", url, msg)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) error leaks the password: %q", url, msg)
		}
	}
}

func TestOpenSQLiteBadDriverParameter(t *testing.T) {
	t.Parallel()
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?_journal_mode=sideways"
	if d, err := Open(testContext(t), url); err == nil {
		d.Close()
		t.Fatalf("Open(%q) succeeded, want the driver to reject _journal_mode", url)
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections at once.
	_, err := Open(ctx, "postgres://meridian:hunter2@127.0.0.1:1/meridian?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if errors.Is(err, ErrUnsupportedURL) {
		t.Errorf("error wraps ErrUnsupportedURL for a well-formed URL: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgres://meridian:hunter2@db:5432/meridian?sslmode=require", "postgres://meridian:xxxxx@db:5432/meridian?sslmode=require"},
		{"postgresql://meridian@db/meridian", "postgresql://meridian@db/meridian"},
		{"postgres://db/meridian?user=m&password=hunter2", "postgres://db/meridian?password=xxxxx&user=m"},
		{"postgres://db/meridian?sslpassword=hunter2", "postgres://db/meridian?sslpassword=xxxxx"},
		{"postgres://u:hunter2@db:bad/x", "postgres://<unparseable>"},
		{"host=db user=m password=hunter2 dbname=x", "host=db user=m password=xxxxx dbname=x"},
		{"host=db password='hun ter2'", "host=db password=xxxxx"},
		{"sqlite:meridian.db", "sqlite:meridian.db"},
		{"sqlite::memory:", "sqlite::memory:"},
		{"", ""},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"INSERT INTO t VALUES (?,?,?)", "INSERT INTO t VALUES ($1,$2,$3)"},
		{"WHERE s LIKE ? ESCAPE '\\' AND c = ?", "WHERE s LIKE $1 ESCAPE '\\' AND c = $2"},
		{"SELECT 'why?', ?", "SELECT 'why?', $1"},
		{"SELECT 'it''s?', ?", "SELECT 'it''s?', $1"},
		{`SELECT E'a\'?', ?`, `SELECT E'a\'?', $1`},
		{`SELECT "odd?col" FROM t WHERE x = ?`, `SELECT "odd?col" FROM t WHERE x = $1`},
		{"SELECT ? -- really?\n, ?", "SELECT $1 -- really?\n, $2"},
		{"SELECT /* a? /* nested? */ b? */ ?", "SELECT /* a? /* nested? */ b? */ $1"},
		{"SELECT $$what?$$, ?", "SELECT $$what?$$, $1"},
		{"SELECT $fn$ x ? $fn$, ?", "SELECT $fn$ x ? $fn$, $1"},
		{"SELECT ? -- trailing?", "SELECT $1 -- trailing?"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	} {
		if got := Rebind(Postgres, tc.in); got != tc.want {
			t.Errorf("Rebind(Postgres, %q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Rebind(SQLite, tc.in); got != tc.in {
			t.Errorf("Rebind(SQLite, %q) = %q, want it unchanged", tc.in, got)
		}
	}
	// Twelve placeholders: two-digit numbering.
	in := strings.TrimSuffix(strings.Repeat("?,", 12), ",")
	want := "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"
	if got := Rebind(Postgres, in); got != want {
		t.Errorf("Rebind(Postgres, %q) = %q, want %q", in, got, want)
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	d, _ := openSQLiteFile(t)
	ctx := testContext(t)
	if d.Dialect() != SQLite {
		t.Fatalf("Dialect() = %v, want sqlite", d.Dialect())
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := d.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestSQLiteURLOverridesDefault(t *testing.T) {
	t.Parallel()
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?_busy_timeout=1234"
	d, err := Open(testContext(t), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	defer d.Close()
	var got int
	if err := d.QueryRowContext(testContext(t), "PRAGMA busy_timeout").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != 1234 {
		t.Errorf("busy_timeout = %d, want the URL's 1234", got)
	}
}

func TestSQLiteInMemory(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"sqlite::memory:", "sqlite:file:memtest?mode=memory"} {
		d, err := Open(testContext(t), url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		ctx := testContext(t)
		// Separate calls may land on separate pool connections; the
		// table must still be there.
		if _, err := d.ExecContext(ctx, "CREATE TABLE t (v INTEGER)"); err != nil {
			t.Fatalf("%s: create: %v", url, err)
		}
		if _, err := d.ExecContext(ctx, "INSERT INTO t VALUES (?)", 7); err != nil {
			t.Fatalf("%s: insert: %v", url, err)
		}
		var v int
		if err := d.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 7 {
			t.Fatalf("%s: select = %d, %v; want 7", url, v, err)
		}
		if err := d.Ping(ctx); err != nil {
			t.Errorf("%s: Ping: %v", url, err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("%s: Close: %v", url, err)
		}
	}
}

// TestSQLiteConcurrentWriters runs the pattern that fails with SQLITE_BUSY
// under DEFERRED transactions: many transactions that read, then write.
func TestSQLiteConcurrentWriters(t *testing.T) {
	t.Parallel()
	d, url := openSQLiteFile(t)
	ctx := testContext(t)
	if _, err := d.ExecContext(ctx, "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	// A second pool on the same file stands in for a second process.
	other, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*rounds)
	for w := range workers {
		pool := d
		if w%2 == 1 {
			pool = other
		}
		wg.Go(func() {
			for range rounds {
				errs <- pool.WriteTx(ctx, func(tx *Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "UPDATE counter SET n = ?", n+1)
					return err
				})
				var n int
				errs <- pool.ReadTx(ctx, func(tx *Tx) error {
					return tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent transaction: %v", err)
		}
	}
	var n int
	if err := d.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != workers*rounds {
		t.Errorf("counter = %d, want %d (lost updates)", n, workers*rounds)
	}
}

func TestTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, _ string) {
		ctx := testContext(t)
		if _, err := d.ExecContext(ctx, "CREATE TABLE rb (v INTEGER)"); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := d.WriteTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO rb VALUES (?)", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WriteTx = %v, want fn's error", err)
		}
		var n int
		if err := d.QueryRowContext(ctx, "SELECT COUNT(*) FROM rb").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows after rollback, want 0", n)
		}
		err = d.ReadTx(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO rb VALUES (?)", 2)
			return err
		})
		if err == nil && d.Dialect() == Postgres {
			t.Errorf("write inside ReadTx succeeded on PostgreSQL")
		}
	})
}

func TestTimestampRoundTrip(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, d *DB, _ string) {
		ctx := testContext(t)
		col := "TEXT"
		if d.Dialect() == Postgres {
			col = "TIMESTAMPTZ"
		}
		if _, err := d.ExecContext(ctx, "CREATE TABLE ts (at "+col+" NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		in := time.Date(2025, 3, 9, 23, 59, 58, 123456789, time.FixedZone("CST", 8*3600))
		if _, err := d.ExecContext(ctx, "INSERT INTO ts VALUES (?)", d.Dialect().TimeArg(in)); err != nil {
			t.Fatal(err)
		}
		var got Timestamp
		if err := d.QueryRowContext(ctx, "SELECT at FROM ts").Scan(&got); err != nil {
			t.Fatal(err)
		}
		want := in.UTC().Truncate(time.Microsecond)
		if !got.Time.Equal(want) || got.Time.Location() != time.UTC {
			t.Errorf("read back %v, want %v in UTC", got.Time, want)
		}
	})
}

// forEachDialect runs fn as parallel subtests on a fresh SQLite file and a
// fresh PostgreSQL schema.
func forEachDialect(t *testing.T, fn func(t *testing.T, d *DB, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		d, url := openSQLiteFile(t)
		fn(t, d, url)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		d, url := openPostgresSchema(t)
		if d.Dialect() != Postgres {
			t.Fatalf("Dialect() = %v, want postgres", d.Dialect())
		}
		fn(t, d, url)
	})
}

func ExampleRebind() {
	fmt.Println(Rebind(Postgres, "SELECT id FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\'"))
	// Output: SELECT id FROM t WHERE a = $1 AND b LIKE $2 ESCAPE '\'
}
