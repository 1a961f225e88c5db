package profile_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian/adapters/consent"
	"meridian/adapters/profile"
	"meridian/internal/audit"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

// TestErasure runs a whole deletion request across the three personal-data
// stores sharing one database, the way the gateway does it, and then reads
// every column of every table to check that nothing of the person is left.
func TestErasure(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "meridian.db")
		d := openDB(t, "sqlite:"+path)
		runErasure(t, d)

		// Beyond what SQL can read: after a checkpoint moves the WAL
		// into the file, the erased values must not be in the file's
		// bytes either: the store writes with secure_delete.
		if _, err := d.ExecContext(testContext(t), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range erasedValues() {
			if bytes.Contains(raw, []byte(v)) {
				t.Errorf("the database file still holds an erased value (%d bytes)", len(v))
			}
		}
		if !bytes.Contains(raw, []byte(keptName)) {
			t.Error("the database file lacks the other customer's name: the byte scan proves nothing")
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		runErasure(t, openDB(t, testenv.PostgresURL(t)))
	})
}

// The person erased, and another customer whose data must stay.
const (
	erasedSubject = "cust-0001"
	keptSubject   = "cust-0002"
	keptName      = "李静怡"
)

// erasedValues are the personal values of erasedSubject, as stored.
func erasedValues() []string {
	return []string{"王芳", "13812345678", "wang.fang@example.cn", "Wang.Fang", "南京西路227号", "3栋1201室", "17000000009", "王建国"}
}

func runErasure(t *testing.T, d *db.DB) {
	ctx := testContext(t)
	clock := newTestClock()
	profiles, err := profile.NewSQLStore(ctx, d, profile.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	consents, err := consent.NewSQLStore(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: bytes.Repeat([]byte{7}, audit.MinKeyBytes)})
	if err != nil {
		t.Fatal(err)
	}

	// The person's life in the stores: a profile, consents given by
	// them and by their consultant, reads and updates in the trail.
	mustUpsert(t, profiles, erasedSubject, fullPatch())
	mustUpsert(t, profiles, erasedSubject, profile.Patch{Email: ptr("wang.fang@example.cn")})
	mustUpsert(t, profiles, keptSubject, profile.Patch{DisplayName: ptr(keptName), Mobile: ptr("17000000002"), ConsultantID: ptr("cons-0001")})
	for _, c := range []consent.Change{
		{Subject: erasedSubject, Purpose: consent.Marketing, Granted: true, PolicyVersion: "2025-01", ChangedBy: erasedSubject, RequestID: "req-1"},
		{Subject: erasedSubject, Purpose: consent.Personalization, Granted: true, PolicyVersion: "2025-01", ChangedBy: erasedSubject, RequestID: "req-1"},
		{Subject: erasedSubject, Purpose: consent.ConsultantContact, Granted: true, PolicyVersion: "2025-01", ChangedBy: "cons-0001", RequestID: "req-2"},
		{Subject: keptSubject, Purpose: consent.Marketing, Granted: true, PolicyVersion: "2025-01", ChangedBy: keptSubject, RequestID: "req-3"},
	} {
		if _, err := consents.Set(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := trail.Append(ctx, []audit.Entry{
		{ActorSubject: erasedSubject, ActorRole: "customer", DataSubject: erasedSubject, Action: audit.ActionUpdate,
			Fields: []string{"displayName", "mobile", "email", "addresses"}, Purpose: "ACCOUNT", RequestID: "req-0"},
		{ActorSubject: "cons-0001", ActorRole: "consultant", DataSubject: erasedSubject, Action: audit.ActionRead,
			Fields: []string{"displayName", "mobile"}, Purpose: "CONSULTANT_CONTACT", RequestID: "req-2"},
		{ActorSubject: "cons-0001", ActorRole: "consultant", DataSubject: keptSubject, Action: audit.ActionRead,
			Fields: []string{"displayName"}, Purpose: "CONSULTANT_CONTACT", RequestID: "req-2"},
	}); err != nil {
		t.Fatal(err)
	}

	// The scan finds the values before the deletion, or it proves
	// nothing afterwards.
	before := scanAllTables(t, d, append(erasedValues(), erasedSubject))
	for _, v := range []string{"王芳", "13812345678", "wang.fang@example.cn", erasedSubject} {
		if len(before[v]) == 0 {
			t.Fatalf("scan does not find %q before the deletion", v)
		}
	}

	// The deletion request, in the order the gateway runs it.
	withdrawn, err := consents.WithdrawAll(ctx, erasedSubject, erasedSubject, "req-delete")
	if err != nil || len(withdrawn) != 3 {
		t.Fatalf("WithdrawAll = %d withdrawals, %v; want 3", len(withdrawn), err)
	}
	if erased, err := profiles.Erase(ctx, erasedSubject); err != nil || !erased {
		t.Fatalf("Erase = %v, %v", erased, err)
	}
	if err := trail.Append(ctx, []audit.Entry{{ActorSubject: erasedSubject, ActorRole: "customer", DataSubject: erasedSubject,
		Action: audit.ActionDelete, Purpose: "DATA_SUBJECT_REQUEST", RequestID: "req-delete"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := trail.Pseudonymize(ctx, erasedSubject); err != nil || n != 3 {
		t.Fatalf("Pseudonymize = %d, %v; want 3", n, err)
	}

	after := scanAllTables(t, d, append(erasedValues(), erasedSubject, keptName))
	for _, v := range erasedValues() {
		if hits := after[v]; len(hits) > 0 {
			t.Errorf("an erased value is still stored, in %s", strings.Join(hits, ", "))
		}
	}
	// The subject id stays where it is evidence (the consent history,
	// now ending in withdrawals) and the profile tombstone; the audit
	// trail names the person only by pseudonym.
	for _, hit := range after[erasedSubject] {
		if strings.HasPrefix(hit, "audit_") {
			t.Errorf("the audit trail still names the subject, in %s", hit)
		}
	}
	if len(after[keptName]) == 0 {
		t.Error("the other customer's name is gone too")
	}
	for p, st := range must(consents.Current(ctx, erasedSubject)) {
		if st.Granted {
			t.Errorf("%s still granted after the deletion", p)
		}
	}
	if _, found, _ := profiles.Get(ctx, erasedSubject); found {
		t.Error("the erased profile is still found")
	}
	if p := mustGet(t, profiles, keptSubject); p.DisplayName != keptName {
		t.Errorf("the other customer's profile changed: %+v", p)
	}
	if page, err := trail.List(ctx, trail.Pseudonym(erasedSubject), 10, 0); err != nil || len(page.Entries) != 3 {
		t.Errorf("the pseudonymized trail has %d entries, %v; want 3 (its shape kept)", len(page.Entries), err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// scanAllTables reads every column of every row of every table in d's
// database (the current schema on PostgreSQL) and returns, for each of
// values, where it occurs as "table.column".
func scanAllTables(t *testing.T, d *db.DB, values []string) map[string][]string {
	t.Helper()
	ctx := testContext(t)
	listTables := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if d.Dialect() == db.Postgres {
		listTables = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
	}
	var tables []string
	rows, err := d.QueryContext(ctx, listTables)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, want := range []string{"profile_profiles", "profile_addresses", "consent_changes", "audit_entries"} {
		if !slices.Contains(tables, want) {
			t.Fatalf("table %s not found among %v", want, tables)
		}
	}

	found := map[string][]string{}
	for _, table := range tables {
		scanTable(ctx, t, d, table, func(column, value string) {
			for _, v := range values {
				if strings.Contains(strings.ToLower(value), strings.ToLower(v)) {
					found[v] = append(found[v], table+"."+column)
				}
			}
		})
	}
	return found
}

func scanTable(ctx context.Context, t *testing.T, d *db.DB, table string, visit func(column, value string)) {
	t.Helper()
	rows, err := d.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		t.Fatalf("scan %s: %v", table, err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		values := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for i, v := range values {
			switch v := v.(type) {
			case nil:
			case string:
				visit(columns[i], v)
			case []byte:
				visit(columns[i], string(v))
			case time.Time:
				visit(columns[i], v.Format(time.RFC3339Nano))
			default:
				visit(columns[i], fmt.Sprint(v))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
