package consent_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian/adapters/consent"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T, clock *testClock) consent.Store {
		return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "consent.db"), clock)
	})
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T, clock *testClock) consent.Store {
		return newStoreAt(t, testenv.PostgresURL(t), clock)
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

// testClock is a clock that moves one second each time it is read, so
// every recorded change has its own time. Its times are not UTC and finer
// than a microsecond: the store must normalize both.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 6, 1, 9, 0, 0, 999, time.FixedZone("CST", 8*3600))}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newStoreAt(t *testing.T, url string, clock *testClock) *consent.SQLStore {
	t.Helper()
	ctx := testContext(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := consent.NewSQLStore(ctx, d, consent.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	return s
}

func mustSet(t *testing.T, s consent.Store, c consent.Change) consent.State {
	t.Helper()
	st, err := s.Set(testContext(t), c)
	if err != nil {
		t.Fatalf("Set(%+v): %v", c, err)
	}
	return st
}

func grant(subject string, p consent.Purpose, granted bool, policy string) consent.Change {
	return consent.Change{Subject: subject, Purpose: p, Granted: granted, PolicyVersion: policy, ChangedBy: subject, RequestID: "req-" + subject}
}

func runStoreContract(t *testing.T, newStore func(t *testing.T, clock *testClock) consent.Store) {
	t.Run("NothingSetIsNotGranted", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		cur, err := s.Current(ctx, "cust-0001")
		if err != nil {
			t.Fatal(err)
		}
		if len(cur) != len(consent.Purposes()) {
			t.Errorf("Current has %d purposes, want %d", len(cur), len(consent.Purposes()))
		}
		for _, p := range consent.Purposes() {
			if cur[p] != (consent.State{Purpose: p}) {
				t.Errorf("Current[%s] = %+v, want not granted, version 0", p, cur[p])
			}
			if granted, err := s.Granted(ctx, "cust-0001", p); granted || err != nil {
				t.Errorf("Granted(%s) = %v, %v", p, granted, err)
			}
		}
		if h, err := s.History(ctx, "cust-0001"); err != nil || h == nil || len(h) != 0 {
			t.Errorf("History = %v, %v; want empty and non-nil", h, err)
		}
	})

	t.Run("VersionsAndCurrentState", func(t *testing.T) {
		t.Parallel()
		clock := newTestClock()
		s := newStore(t, clock)
		ctx := testContext(t)

		st := mustSet(t, s, grant("cust-0001", consent.Marketing, true, "2025-01"))
		if !st.Granted || st.Version != 1 || st.PolicyVersion != "2025-01" || st.At.Location() != time.UTC || st.At.Nanosecond()%1000 != 0 {
			t.Errorf("first grant = %+v", st)
		}
		// Same value, same policy: a no-op that records nothing.
		again := mustSet(t, s, grant("cust-0001", consent.Marketing, true, "2025-01"))
		if again != st {
			t.Errorf("no-op Set = %+v, want the current state %+v unchanged", again, st)
		}
		// Same value under a new policy: a new version.
		if st := mustSet(t, s, grant("cust-0001", consent.Marketing, true, "2025-06")); st.Version != 2 || !st.Granted {
			t.Errorf("re-confirmation under a new policy = %+v, want version 2", st)
		}
		// A consultant withdraws it for the customer.
		withdrawn := grant("cust-0001", consent.Marketing, false, "2025-06")
		withdrawn.ChangedBy, withdrawn.RequestID = "cons-0001", "req-consultant"
		if st := mustSet(t, s, withdrawn); st.Version != 3 || st.Granted || st.ChangedBy != "cons-0001" {
			t.Errorf("withdrawal = %+v, want version 3 not granted by cons-0001", st)
		}
		// A first refusal is recorded.
		if st := mustSet(t, s, grant("cust-0001", consent.Analytics, false, "2025-06")); st.Version != 1 || st.Granted {
			t.Errorf("first refusal = %+v, want version 1", st)
		}
		mustSet(t, s, grant("cust-0001", consent.Personalization, true, "2025-06"))
		mustSet(t, s, grant("cust-0002", consent.Marketing, true, "2025-06")) // someone else

		cur, err := s.Current(ctx, "cust-0001")
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[consent.Purpose]struct {
			granted bool
			version int64
		}{
			consent.Marketing: {false, 3}, consent.Analytics: {false, 1}, consent.Personalization: {true, 1},
			consent.ConsultantContact: {false, 0}, consent.CrossBorderTransfer: {false, 0},
		} {
			if cur[p].Granted != want.granted || cur[p].Version != want.version {
				t.Errorf("Current[%s] = %+v, want granted %v version %d", p, cur[p], want.granted, want.version)
			}
			if granted, err := s.Granted(ctx, "cust-0001", p); granted != want.granted || err != nil {
				t.Errorf("Granted(%s) = %v, %v; want %v", p, granted, err, want.granted)
			}
		}

		history, err := s.History(ctx, "cust-0001")
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Purpose consent.Purpose
			Granted bool
			Policy  string
			By      string
			Version int64
		}
		var got []row
		for i, c := range history {
			got = append(got, row{c.Purpose, c.Granted, c.PolicyVersion, c.ChangedBy, c.Version})
			if c.Subject != "cust-0001" || c.RequestID == "" {
				t.Errorf("history[%d] = %+v", i, c)
			}
			if i > 0 && !c.At.After(history[i-1].At) {
				t.Errorf("history[%d] at %v is not after the one before", i, c.At)
			}
		}
		want := []row{
			{consent.Marketing, true, "2025-01", "cust-0001", 1},
			{consent.Marketing, true, "2025-06", "cust-0001", 2},
			{consent.Marketing, false, "2025-06", "cons-0001", 3},
			{consent.Analytics, false, "2025-06", "cust-0001", 1},
			{consent.Personalization, true, "2025-06", "cust-0001", 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("History (-want +got):\n%s", diff)
		}
		if history[2].RequestID != "req-consultant" {
			t.Errorf("history[2].RequestID = %q", history[2].RequestID)
		}
	})

	t.Run("StoreAssignsVersionAndTime", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		c := grant("cust-0001", consent.Analytics, true, "v1")
		c.Version, c.At = 42, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		st := mustSet(t, s, c)
		if st.Version != 1 || st.At.Year() != 2025 {
			t.Errorf("Set with a caller's version and time = %+v; want version 1 stamped by the store", st)
		}
	})

	t.Run("GrantedForBatch", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		var subjects []string
		want := map[string]bool{}
		for i := 1; i <= 1200; i++ { // more than one IN batch
			subject := fmt.Sprintf("cust-%04d", i)
			subjects = append(subjects, subject)
			want[subject] = false
		}
		for i := 1; i <= 1200; i += 7 {
			subject := fmt.Sprintf("cust-%04d", i)
			mustSet(t, s, grant(subject, consent.ConsultantContact, true, "v1"))
			want[subject] = true
			if i%3 == 0 { // granted, then withdrawn
				mustSet(t, s, grant(subject, consent.ConsultantContact, false, "v1"))
				want[subject] = false
			}
			if i%2 == 0 { // granted another purpose only
				mustSet(t, s, grant(fmt.Sprintf("cust-%04d", i+1), consent.Marketing, true, "v1"))
			}
		}
		got, err := s.GrantedFor(ctx, append(subjects, "cust-0001", "cust-0008"), consent.ConsultantContact)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GrantedFor (-want +got):\n%s", diff)
		}
		for _, subject := range []string{"cust-0001", "cust-0003", "cust-0008", "cust-0022"} {
			if g, _ := s.Granted(ctx, subject, consent.ConsultantContact); g != want[subject] {
				t.Errorf("Granted(%s) = %v disagrees with GrantedFor", subject, g)
			}
		}
		if got, err := s.GrantedFor(ctx, nil, consent.Marketing); err != nil || got == nil || len(got) != 0 {
			t.Errorf("GrantedFor(nil) = %v, %v; want an empty non-nil map", got, err)
		}
		_, err = s.GrantedFor(ctx, []string{"cust-0001", "", "cust 3"}, consent.Marketing)
		if !errors.Is(err, consent.ErrInvalidInput) || !strings.Contains(err.Error(), "subjects[1]") || !strings.Contains(err.Error(), "subjects[2]") {
			t.Errorf("GrantedFor with bad subjects = %v", err)
		}
	})

	t.Run("WithdrawAll", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		mustSet(t, s, grant("cust-0001", consent.Marketing, true, "v1"))
		mustSet(t, s, grant("cust-0001", consent.Marketing, true, "v2"))
		mustSet(t, s, grant("cust-0001", consent.Analytics, true, "v2"))
		mustSet(t, s, grant("cust-0001", consent.Personalization, false, "v2"))
		mustSet(t, s, grant("cust-0001", consent.CrossBorderTransfer, true, "v1"))
		mustSet(t, s, grant("cust-0002", consent.Marketing, true, "v2"))

		changes, err := s.WithdrawAll(ctx, "cust-0001", "cust-0001", "req-delete")
		if err != nil {
			t.Fatal(err)
		}
		var withdrawn []string
		for _, c := range changes {
			withdrawn = append(withdrawn, fmt.Sprintf("%s v%d %s", c.Purpose, c.Version, c.PolicyVersion))
			if c.Granted || c.ChangedBy != "cust-0001" || c.RequestID != "req-delete" || c.At.IsZero() {
				t.Errorf("withdrawal %+v", c)
			}
		}
		if diff := cmp.Diff([]string{"MARKETING v3 v2", "ANALYTICS v2 v2", "CROSS_BORDER_TRANSFER v2 v1"}, withdrawn); diff != "" {
			t.Errorf("WithdrawAll recorded (-want +got):\n%s", diff)
		}
		cur, _ := s.Current(ctx, "cust-0001")
		for p, st := range cur {
			if st.Granted {
				t.Errorf("%s still granted after WithdrawAll", p)
			}
		}
		if g, _ := s.Granted(ctx, "cust-0002", consent.Marketing); !g {
			t.Error("WithdrawAll of cust-0001 touched cust-0002")
		}
		if h, _ := s.History(ctx, "cust-0001"); len(h) != 8 {
			t.Errorf("history has %d versions after WithdrawAll, want 8 (kept as evidence)", len(h))
		}
		again, err := s.WithdrawAll(ctx, "cust-0001", "cust-0001", "req-delete-2")
		if err != nil || len(again) != 0 {
			t.Errorf("second WithdrawAll = %v, %v; want nothing recorded", again, err)
		}
	})

	t.Run("ConcurrentSetsGetConsecutiveVersions", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		const writers = 12
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				// Alternating values under distinct policies: every
				// Set is a real change.
				c := grant("cust-0001", consent.Marketing, i%2 == 0, fmt.Sprintf("v%d", i))
				if _, err := s.Set(testContext(t), c); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Set: %v", err)
		}
		h, err := s.History(testContext(t), "cust-0001")
		if err != nil || len(h) != writers {
			t.Fatalf("History = %d versions, %v; want %d", len(h), err, writers)
		}
		for i, c := range h {
			if c.Version != int64(i+1) {
				t.Errorf("history[%d].Version = %d, want %d", i, c.Version, i+1)
			}
		}
	})

	t.Run("RejectsMalformedInput", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		good := grant("cust-0001", consent.Marketing, true, "v1")
		for name, tc := range map[string]struct {
			mutate func(c *consent.Change)
			field  string
		}{
			"no subject":       {func(c *consent.Change) { c.Subject = "" }, "subject"},
			"spaced subject":   {func(c *consent.Change) { c.Subject = "cust 1" }, "subject"},
			"unknown purpose":  {func(c *consent.Change) { c.Purpose = "SELLING" }, "purpose"},
			"lowercase":        {func(c *consent.Change) { c.Purpose = "marketing" }, "purpose"},
			"no policy":        {func(c *consent.Change) { c.PolicyVersion = "" }, "policyVersion"},
			"long policy":      {func(c *consent.Change) { c.PolicyVersion = strings.Repeat("v", 65) }, "policyVersion"},
			"no actor":         {func(c *consent.Change) { c.ChangedBy = "" }, "changedBy"},
			"request id space": {func(c *consent.Change) { c.RequestID = "req 1" }, "requestId"},
		} {
			c := good
			tc.mutate(&c)
			_, err := s.Set(ctx, c)
			var fe *consent.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, consent.ErrInvalidInput) {
				t.Errorf("%s: Set = %v, want a %s field error", name, err, tc.field)
			}
		}
		if _, err := s.Granted(ctx, "cust-0001", "SELLING"); !errors.Is(err, consent.ErrInvalidInput) {
			t.Errorf("Granted(unknown purpose) = %v", err)
		}
		if _, err := s.WithdrawAll(ctx, "cust-0001", "", ""); !errors.Is(err, consent.ErrInvalidInput) {
			t.Errorf("WithdrawAll without actor = %v", err)
		}
		if h, _ := s.History(ctx, "cust-0001"); len(h) != 0 {
			t.Errorf("rejected changes recorded %d versions", len(h))
		}
	})
}

func TestNewSQLStoreValidates(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := consent.NewSQLStore(ctx, nil); err == nil {
		t.Error("NewSQLStore(nil database) succeeded")
	}
	d, err := db.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := consent.NewSQLStore(ctx, d, consent.WithClock(nil)); err == nil {
		t.Error("NewSQLStore with a nil clock succeeded")
	}
}
