package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian/internal/audit"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

// testKey is a fixed pseudonym key; real keys come from configuration.
var testKey = bytes.Repeat([]byte{0x5a}, audit.MinKeyBytes)

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T) (*audit.SQLStore, *db.DB) {
		return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "audit.db"))
	})
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T) (*audit.SQLStore, *db.DB) {
		return newStoreAt(t, testenv.PostgresURL(t))
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

// clock moves one second each time it is read. Its times are not UTC and
// finer than a microsecond: the store must normalize both.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newStoreAt(t *testing.T, url string) (*audit.SQLStore, *db.DB) {
	t.Helper()
	ctx := testContext(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	c := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 999, time.FixedZone("CST", 8*3600))}
	s, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: testKey, Now: c.Now})
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	return s, d
}

func entry(actor, role, subject string, action audit.Action, fields ...string) audit.Entry {
	return audit.Entry{ActorSubject: actor, ActorRole: role, DataSubject: subject, Action: action,
		Fields: fields, Purpose: "DATA_SUBJECT_REQUEST", RequestID: "req-" + actor}
}

func mustAppend(t *testing.T, s audit.Store, entries ...audit.Entry) {
	t.Helper()
	if err := s.Append(testContext(t), entries); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func listAll(t *testing.T, s audit.Store, subject string) []audit.Entry {
	t.Helper()
	page, err := s.List(testContext(t), subject, 1000, 0)
	if err != nil {
		t.Fatalf("List(%s): %v", subject, err)
	}
	return page.Entries
}

func fieldNames(err error) []string {
	var names []string
	for _, fe := range audit.FieldErrors(err) {
		names = append(names, fe.Field)
	}
	return names
}

func runStoreContract(t *testing.T, newStore func(t *testing.T) (*audit.SQLStore, *db.DB)) {
	t.Run("AppendAndList", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		ctx := testContext(t)
		if page, err := s.List(ctx, "cust-0001", 10, 0); err != nil || len(page.Entries) != 0 || page.HasNextPage {
			t.Errorf("List on empty trail = %+v, %v", page, err)
		}
		mustAppend(t, s,
			entry("cust-0001", "customer", "cust-0001", audit.ActionRead, "displayName", "mobile", "addresses[0].line1"),
			entry("cons-0001", "consultant", "cust-0002", audit.ActionRead, "displayName"),
		)
		mustAppend(t, s, entry("cust-0001", "customer", "cust-0001", audit.ActionConsent, "consent.MARKETING"))
		mustAppend(t, s, entry("cust-0001", "customer", "cust-0001", audit.ActionDelete))

		got := listAll(t, s, "cust-0001")
		want := []audit.Entry{
			entry("cust-0001", "customer", "cust-0001", audit.ActionDelete),
			entry("cust-0001", "customer", "cust-0001", audit.ActionConsent, "consent.MARKETING"),
			entry("cust-0001", "customer", "cust-0001", audit.ActionRead, "displayName", "mobile", "addresses[0].line1"),
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(audit.Entry{}, "ID", "At")); diff != "" {
			t.Errorf("List newest first (-want +got):\n%s", diff)
		}
		for i, e := range got {
			if e.At.Location() != time.UTC || e.At.Nanosecond()%1000 != 0 || e.At.Year() != 2025 {
				t.Errorf("entry %d At = %v; want store time in UTC at microseconds", i, e.At)
			}
			if i > 0 && (e.ID >= got[i-1].ID || e.At.After(got[i-1].At)) {
				t.Errorf("entry %d (id %d) is not older than entry %d (id %d)", i, e.ID, i-1, got[i-1].ID)
			}
		}
		if others := listAll(t, s, "cust-0002"); len(others) != 1 || others[0].ActorSubject != "cons-0001" {
			t.Errorf("List(cust-0002) = %+v", others)
		}
	})

	t.Run("OneAppendSharesItsTime", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		var batch []audit.Entry
		for i := range 250 { // more than one INSERT
			batch = append(batch, entry("cons-0001", "consultant", fmt.Sprintf("cust-%04d", i), audit.ActionRead, "displayName"))
		}
		batch[0].At = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // ignored
		mustAppend(t, s, batch...)
		first, last := listAll(t, s, "cust-0000"), listAll(t, s, "cust-0249")
		if len(first) != 1 || len(last) != 1 || !first[0].At.Equal(last[0].At) || first[0].ID >= last[0].ID {
			t.Errorf("first and last entry of one Append = %+v, %+v; want one time, increasing IDs", first, last)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		ctx := testContext(t)
		for i := range 23 {
			mustAppend(t, s,
				entry("cust-0001", "customer", "cust-0001", audit.ActionRead, fmt.Sprintf("field%d", i)),
				entry("cust-0002", "customer", "cust-0002", audit.ActionRead, "other"))
		}
		var visited []string
		var after int64
		for pageNo := 1; ; pageNo++ {
			if pageNo > 10 {
				t.Fatal("paging does not end")
			}
			page, err := s.List(ctx, "cust-0001", 5, after)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				visited = append(visited, e.Fields[0])
			}
			if page.HasNextPage != (len(visited) < 23) {
				t.Errorf("page %d: HasNextPage = %v after %d of 23", pageNo, page.HasNextPage, len(visited))
			}
			if !page.HasNextPage {
				break
			}
			after = page.Entries[len(page.Entries)-1].ID
		}
		var want []string
		for i := 22; i >= 0; i-- {
			want = append(want, fmt.Sprintf("field%d", i))
		}
		if diff := cmp.Diff(want, visited); diff != "" {
			t.Errorf("paging visited (-want +got):\n%s", diff)
		}
		for _, bad := range []struct {
			first int
			after int64
			field string
		}{{0, 0, "first"}, {5, -1, "after"}} {
			if _, err := s.List(ctx, "cust-0001", bad.first, bad.after); !slices.Equal(fieldNames(err), []string{bad.field}) {
				t.Errorf("List(first %d, after %d) = %v, want a %s field error", bad.first, bad.after, err, bad.field)
			}
		}
	})

	t.Run("MalformedBatchRecordsNothing", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		good := entry("cons-0001", "consultant", "cust-0001", audit.ActionRead, "displayName")
		bad := good
		bad.ActorRole = "Consultant"
		bad.Action = "peek"
		bad.Fields = []string{"mobile", "13812345678", "wang.fang@example.cn", "display name", ""}
		bad.Purpose = ""
		bad.DataSubject = "pseud-123"
		bad.RequestID = "req 1"
		err := s.Append(testContext(t), []audit.Entry{good, bad})
		want := []string{"entries[1].dataSubject", "entries[1].actorRole", "entries[1].action",
			"entries[1].fields[1]", "entries[1].fields[2]", "entries[1].fields[3]", "entries[1].fields[4]",
			"entries[1].purpose", "entries[1].requestId"}
		if diff := cmp.Diff(want, fieldNames(err)); diff != "" || !errors.Is(err, audit.ErrInvalidInput) {
			t.Errorf("Append(malformed) = %v; fields (-want +got):\n%s", err, diff)
		}
		for _, secret := range []string{"13812345678", "wang.fang", "display name", "peek", "Consultant"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the value %q", secret)
			}
		}
		if got := listAll(t, s, "cust-0001"); len(got) != 0 {
			t.Errorf("a rejected batch recorded %d entries", len(got))
		}
		tooMany := good
		tooMany.Fields = slices.Repeat([]string{"f"}, audit.MaxFields+1)
		if err := s.Append(testContext(t), []audit.Entry{tooMany}); !slices.Equal(fieldNames(err), []string{"entries[0].fields"}) {
			t.Errorf("Append with too many fields = %v", err)
		}
		if err := s.Append(testContext(t), nil); err != nil {
			t.Errorf("Append(nil) = %v", err)
		}
	})

	t.Run("Pseudonymize", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		ctx := testContext(t)
		mustAppend(t, s,
			entry("cust-0001", "customer", "cust-0001", audit.ActionRead, "mobile"),
			entry("cons-0001", "consultant", "cust-0001", audit.ActionRead, "displayName"),
			entry("cust-0001", "customer", "cust-0001", audit.ActionConsent, "consent.MARKETING"),
			entry("cons-0001", "consultant", "cust-0002", audit.ActionRead, "displayName"),
		)
		mustAppend(t, s, entry("cust-0001", "customer", "cust-0001", audit.ActionDelete))
		before := listAll(t, s, "cust-0001")

		n, err := s.Pseudonymize(ctx, "cust-0001")
		if err != nil || n != 4 {
			t.Fatalf("Pseudonymize = %d, %v; want 4", n, err)
		}
		pseudonym := s.Pseudonym("cust-0001")
		if !audit.IsPseudonym(pseudonym) || strings.Contains(pseudonym, "cust-0001") {
			t.Fatalf("pseudonym %q", pseudonym)
		}
		if got := listAll(t, s, "cust-0001"); len(got) != 0 {
			t.Errorf("List(subject) after Pseudonymize = %d entries", len(got))
		}
		// The trail keeps its shape: same entries, same order, the
		// subject replaced as data subject and as actor.
		want := slices.Clone(before)
		for i := range want {
			want[i].DataSubject = pseudonym
			if want[i].ActorSubject == "cust-0001" {
				want[i].ActorSubject = pseudonym
			}
		}
		if diff := cmp.Diff(want, listAll(t, s, pseudonym)); diff != "" {
			t.Errorf("List(pseudonym) (-want +got):\n%s", diff)
		}
		if other := listAll(t, s, "cust-0002"); len(other) != 1 || other[0].ActorSubject != "cons-0001" {
			t.Errorf("another subject's entries changed: %+v", other)
		}
		if n, err := s.Pseudonymize(ctx, "cust-0001"); n != 0 || err != nil {
			t.Errorf("second Pseudonymize = %d, %v; want 0, nil", n, err)
		}
		if _, err := s.Pseudonymize(ctx, pseudonym); !errors.Is(err, audit.ErrInvalidInput) {
			t.Errorf("Pseudonymize(pseudonym) = %v, want ErrInvalidInput", err)
		}
		// An actor who is erased is pseudonymized in entries about
		// others too.
		if n, err := s.Pseudonymize(ctx, "cons-0001"); n != 2 || err != nil {
			t.Errorf("Pseudonymize(cons-0001) = %d, %v; want 2", n, err)
		}
		if other := listAll(t, s, "cust-0002"); len(other) != 1 || other[0].ActorSubject != s.Pseudonym("cons-0001") {
			t.Errorf("consultant not pseudonymized as actor: %+v", other)
		}
	})

	t.Run("AppendOnlyEnforcedByDatabase", func(t *testing.T) {
		t.Parallel()
		s, d := newStore(t)
		ctx := testContext(t)
		mustAppend(t, s,
			entry("cust-0001", "customer", "cust-0001", audit.ActionRead, "mobile"),
			entry("cons-0001", "consultant", "cust-0002", audit.ActionRead, "displayName"))
		before2 := listAll(t, s, "cust-0002")
		fakePseudonym := audit.PseudonymPrefix + strings.Repeat("0", 64)

		refused := []string{
			"DELETE FROM audit_entries",
			"DELETE FROM audit_entries WHERE data_subject = 'cust-0002'",
			"UPDATE audit_entries SET action = 'update' WHERE data_subject = 'cust-0002'",
			"UPDATE audit_entries SET fields = '[]'",
			"UPDATE audit_entries SET purpose = 'ANALYTICS'",
			"UPDATE audit_entries SET request_id = ''",
			"UPDATE audit_entries SET actor_role = 'system'",
			"UPDATE audit_entries SET data_subject = 'cust-0003' WHERE data_subject = 'cust-0002'",
			"UPDATE audit_entries SET actor_subject = 'cons-0009' WHERE data_subject = 'cust-0002'",
			"UPDATE audit_entries SET data_subject = 'pseud-XYZ' WHERE data_subject = 'cust-0002'",
			// A pseudonym-shaped value plus any other change.
			"UPDATE audit_entries SET data_subject = '" + fakePseudonym + "', purpose = 'X' WHERE data_subject = 'cust-0002'",
		}
		if d.Dialect() == db.Postgres {
			refused = append(refused,
				"TRUNCATE audit_entries",
				"UPDATE audit_entries SET recorded_at = recorded_at - interval '1 day'",
				// id is GENERATED ALWAYS: DEFAULT is the only
				// value an UPDATE may give it, and the trigger
				// still refuses the change.
				"UPDATE audit_entries SET id = DEFAULT",
			)
		} else {
			refused = append(refused,
				"UPDATE audit_entries SET recorded_at = '2001-01-01T00:00:00.000000Z'",
				"UPDATE audit_entries SET id = id + 100",
				"INSERT OR REPLACE INTO audit_entries (id, recorded_at, actor_subject, actor_role, data_subject, action, fields, purpose, request_id) "+
					"SELECT id, recorded_at, actor_subject, actor_role, data_subject, 'update', fields, purpose, request_id FROM audit_entries",
				"REPLACE INTO audit_entries (id, recorded_at, actor_subject, actor_role, data_subject, action, fields, purpose, request_id) "+
					"SELECT id, recorded_at, actor_subject, actor_role, data_subject, action, '[]', purpose, request_id FROM audit_entries",
			)
		}
		for _, stmt := range refused {
			if _, err := d.SQL().ExecContext(ctx, stmt); err == nil {
				t.Errorf("%s: succeeded, want the database to refuse it", stmt)
			} else if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: failed with %v, want the append-only trigger", stmt, err)
			}
		}
		if diff := cmp.Diff(before2, listAll(t, s, "cust-0002")); diff != "" {
			t.Errorf("refused statements changed the trail (-before +after):\n%s", diff)
		}
		if got := listAll(t, s, "cust-0001"); len(got) != 1 {
			t.Errorf("refused statements changed cust-0001's entries: %+v", got)
		}

		// The one change allowed: a subject replaced with a pseudonym,
		// once. (The database cannot check the HMAC; it checks the
		// shape, so pseudonyms cannot be rewritten afterwards.)
		if _, err := d.SQL().ExecContext(ctx, "UPDATE audit_entries SET data_subject = '"+fakePseudonym+"' WHERE data_subject = 'cust-0002'"); err != nil {
			t.Errorf("pseudonym-shaped replacement refused: %v", err)
		}
		other := audit.PseudonymPrefix + strings.Repeat("1", 64)
		if _, err := d.SQL().ExecContext(ctx, "UPDATE audit_entries SET data_subject = '"+other+"' WHERE data_subject = '"+fakePseudonym+"'"); err == nil {
			t.Error("rewriting a pseudonym succeeded")
		}
		if _, err := d.SQL().ExecContext(ctx, "UPDATE audit_entries SET data_subject = 'cust-0002' WHERE data_subject = '"+fakePseudonym+"'"); err == nil {
			t.Error("turning a pseudonym back into a subject succeeded")
		}
	})
}

func TestPseudonymIsKeyed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d, err := db.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	otherKey := bytes.Repeat([]byte{0xa5}, audit.MinKeyBytes)
	b, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	if a.Pseudonym("cust-0001") != a.Pseudonym("cust-0001") {
		t.Error("pseudonym is not stable")
	}
	if a.Pseudonym("cust-0001") == a.Pseudonym("cust-0002") {
		t.Error("two subjects share a pseudonym")
	}
	if a.Pseudonym("cust-0001") == b.Pseudonym("cust-0001") {
		t.Error("pseudonym does not depend on the key")
	}
	// The store keeps its own copy of the key.
	key := bytes.Clone(testKey)
	c, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: key})
	if err != nil {
		t.Fatal(err)
	}
	want := c.Pseudonym("cust-0001")
	key[0] ^= 0xff
	if c.Pseudonym("cust-0001") != want {
		t.Error("changing the caller's key slice changed the store's pseudonyms")
	}
}

func TestNewSQLStoreValidates(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := audit.NewSQLStore(ctx, nil, audit.Config{PseudonymKey: testKey}); err == nil {
		t.Error("NewSQLStore(nil database) succeeded")
	}
	d, err := db.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, key := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{1}, audit.MinKeyBytes-1)} {
		_, err := audit.NewSQLStore(ctx, d, audit.Config{PseudonymKey: key})
		if err == nil {
			t.Errorf("NewSQLStore with a %d-byte key succeeded", len(key))
		} else if len(key) > 0 && strings.Contains(err.Error(), string(key)) {
			t.Errorf("error contains the key: %v", err)
		}
	}
}
