package profile_test

import (
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

	"meridian/adapters/profile"
	"meridian/internal/db"
	"meridian/internal/testenv"
)

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T, clock *testenv.Clock) profile.Store {
		return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "profile.db"), clock)
	})
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	runStoreContract(t, func(t *testing.T, clock *testenv.Clock) profile.Store {
		return newStoreAt(t, testenv.PostgresURL(t), clock)
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testenv.Context(t, 60*time.Second)
}

// newTestClock returns a settable clock whose times are deliberately not
// UTC and finer than a microsecond: the store must normalize both.
func newTestClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2025, 6, 1, 9, 30, 15, 123456789, time.FixedZone("CST", 8*3600)))
}

func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func openDB(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(testContext(t), url)
	if err != nil {
		t.Fatalf("db.Open(%s): %v", db.RedactURL(url), err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newStoreAt(t *testing.T, url string, clock *testenv.Clock) *profile.SQLStore {
	t.Helper()
	s, err := profile.NewSQLStore(testContext(t), openDB(t, url), profile.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("NewSQLStore: %v", err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// fullPatch sets every field, in the forms people type them.
func fullPatch() profile.Patch {
	return profile.Patch{
		DisplayName: ptr(" 王芳 "),
		Mobile:      ptr("+86 138-1234-5678"),
		Email:       ptr("Wang.Fang@Example.CN"),
		Birthday:    ptr(profile.Date{Year: 1990, Month: time.May, Day: 12}),
		Locale:      ptr("zh-hans-cn"),
		Skin: ptr(profile.SkinProfile{Type: profile.SkinCombination,
			Concerns: []profile.SkinConcern{profile.ConcernPores, profile.ConcernAcne, profile.ConcernPores}}),
		ConsultantID: ptr("cons-0001"),
		Addresses: ptr([]profile.Address{
			{RecipientName: "王芳", RecipientMobile: "13812345678", Province: "上海市", City: "上海市", District: "静安区",
				Line1: "南京西路227号", Line2: "3栋1201室", PostalCode: "200040"},
			{RecipientName: "王建国", RecipientMobile: "+8617000000009", Province: "浙江省", City: "杭州市", District: "西湖区",
				Line1: "文三路72号", PostalCode: "310013", IsDefault: true},
		}),
	}
}

// wantFull is fullPatch as stored, without address IDs and timestamps.
func wantFull(subject string) profile.Profile {
	return profile.Profile{
		Subject:      subject,
		DisplayName:  "王芳",
		Mobile:       "13812345678",
		Email:        "Wang.Fang@example.cn",
		Birthday:     profile.Date{Year: 1990, Month: time.May, Day: 12},
		Locale:       "zh-Hans-CN",
		Skin:         profile.SkinProfile{Type: profile.SkinCombination, Concerns: []profile.SkinConcern{profile.ConcernAcne, profile.ConcernPores}},
		ConsultantID: "cons-0001",
		Addresses: []profile.Address{
			{RecipientName: "王芳", RecipientMobile: "13812345678", Province: "上海市", City: "上海市", District: "静安区",
				Line1: "南京西路227号", Line2: "3栋1201室", PostalCode: "200040"},
			{RecipientName: "王建国", RecipientMobile: "17000000009", Province: "浙江省", City: "杭州市", District: "西湖区",
				Line1: "文三路72号", PostalCode: "310013", IsDefault: true},
		},
	}
}

var ignoreGenerated = cmp.Options{
	cmpopts.IgnoreFields(profile.Profile{}, "CreatedAt", "UpdatedAt"),
	cmpopts.IgnoreFields(profile.Address{}, "ID"),
}

func mustGet(t *testing.T, s profile.Store, subject string) profile.Profile {
	t.Helper()
	p, found, err := s.Get(testContext(t), subject)
	if err != nil || !found {
		t.Fatalf("Get(%s) = found %v, %v", subject, found, err)
	}
	return p
}

func mustUpsert(t *testing.T, s profile.Store, subject string, patch profile.Patch) profile.Profile {
	t.Helper()
	p, err := s.Upsert(testContext(t), subject, patch)
	if err != nil {
		t.Fatalf("Upsert(%s): %v", subject, err)
	}
	return p
}

func fieldNames(err error) []string {
	var names []string
	for _, fe := range profile.FieldErrors(err) {
		names = append(names, fe.Field)
	}
	return names
}

// runStoreContract is the Store contract, run against every implementation.
// newStore returns a fresh, empty store reading time from clock.
func runStoreContract(t *testing.T, newStore func(t *testing.T, clock *testenv.Clock) profile.Store) {
	t.Run("EmptyStore", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		if _, found, err := s.Get(ctx, "cust-0001"); found || err != nil {
			t.Errorf("Get on empty store = found %v, %v", found, err)
		}
		if n, err := s.Count(ctx); n != 0 || err != nil {
			t.Errorf("Count = %d, %v; want 0", n, err)
		}
		page, err := s.ListByConsultant(ctx, "cons-0001", 10, "")
		if err != nil || len(page.Profiles) != 0 || page.HasNextPage || page.TotalCount != 0 {
			t.Errorf("ListByConsultant on empty store = %+v, %v", page, err)
		}
		if _, err := s.Update(ctx, "cust-0001", profile.Patch{DisplayName: ptr("王芳")}); !errors.Is(err, profile.ErrNotFound) {
			t.Errorf("Update of a missing profile = %v, want ErrNotFound", err)
		}
		if erased, err := s.Erase(ctx, "cust-0001"); erased || err != nil {
			t.Errorf("Erase of a missing profile = %v, %v; want false, nil", erased, err)
		}
		if n, _ := s.Count(ctx); n != 0 {
			t.Errorf("Erase of a missing profile left %d rows", n)
		}
	})

	t.Run("UpsertNormalizesAndRoundTrips", func(t *testing.T) {
		t.Parallel()
		clock := newTestClock()
		s := newStore(t, clock)
		got := mustUpsert(t, s, "cust-0001", fullPatch())
		if diff := cmp.Diff(wantFull("cust-0001"), got, ignoreGenerated); diff != "" {
			t.Errorf("Upsert result (-want +got):\n%s", diff)
		}
		if !got.CreatedAt.Equal(stored(clock.Now())) || got.CreatedAt.Location() != time.UTC || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Errorf("timestamps = %v, %v; want both %v in UTC", got.CreatedAt, got.UpdatedAt, stored(clock.Now()))
		}
		for _, a := range got.Addresses {
			if !strings.HasPrefix(a.ID, "addr-") || len(a.ID) != len("addr-")+20 {
				t.Errorf("address ID %q is not addr- and 20 hex digits", a.ID)
			}
		}
		if got.Addresses[0].ID == got.Addresses[1].ID {
			t.Error("two addresses share an ID")
		}
		if diff := cmp.Diff(got, mustGet(t, s, "cust-0001")); diff != "" {
			t.Errorf("Get differs from Upsert's result (-upsert +get):\n%s", diff)
		}
		if n, err := s.Count(testContext(t)); n != 1 || err != nil {
			t.Errorf("Count = %d, %v; want 1", n, err)
		}
	})

	t.Run("PatchChangesOnlySetFields", func(t *testing.T) {
		t.Parallel()
		clock := newTestClock()
		s := newStore(t, clock)
		before := mustUpsert(t, s, "cust-0001", fullPatch())
		later := clock.Advance(time.Hour)

		after, err := s.Update(testContext(t), "cust-0001", profile.Patch{Email: ptr("fang.w@example.com"), Locale: ptr("en-us")})
		if err != nil {
			t.Fatal(err)
		}
		want := before
		want.Email, want.Locale, want.UpdatedAt = "fang.w@example.com", "en-US", stored(later)
		if diff := cmp.Diff(want, after); diff != "" {
			t.Errorf("Update result (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGet(t, s, "cust-0001")); diff != "" {
			t.Errorf("Get after Update (-want +got):\n%s", diff)
		}

		// A patch that sets values to what they are writes nothing.
		clock.Advance(time.Hour)
		same, err := s.Update(testContext(t), "cust-0001", profile.Patch{Email: ptr("fang.w@EXAMPLE.com"), Mobile: ptr("138 1234 5678")})
		if err != nil {
			t.Fatal(err)
		}
		if !same.UpdatedAt.Equal(stored(later)) {
			t.Errorf("no-op patch moved UpdatedAt to %v, want %v", same.UpdatedAt, stored(later))
		}
		empty, err := s.Update(testContext(t), "cust-0001", profile.Patch{})
		if err != nil || !empty.UpdatedAt.Equal(stored(later)) {
			t.Errorf("empty patch = UpdatedAt %v, %v; want unchanged", empty.UpdatedAt, err)
		}
	})

	t.Run("EmptyValuesRemoveFields", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		mustUpsert(t, s, "cust-0001", fullPatch())
		got, err := s.Update(testContext(t), "cust-0001", profile.Patch{
			Mobile: ptr(""), Email: ptr(""), Locale: ptr(""), Birthday: ptr(profile.Date{}),
			Skin: ptr(profile.SkinProfile{}), ConsultantID: ptr(""), Addresses: ptr([]profile.Address{}),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := profile.Profile{Subject: "cust-0001", DisplayName: "王芳"}
		if diff := cmp.Diff(want, got, ignoreGenerated); diff != "" {
			t.Errorf("cleared profile (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGet(t, s, "cust-0001"), ignoreGenerated); diff != "" {
			t.Errorf("Get of cleared profile (-want +got):\n%s", diff)
		}
	})

	t.Run("InvalidPatchWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		_, err := s.Upsert(ctx, "cust-0002", profile.Patch{DisplayName: ptr("李静"), Mobile: ptr("12345"), Email: ptr("li@")})
		if !errors.Is(err, profile.ErrInvalidInput) || !slices.Equal(fieldNames(err), []string{"mobile", "email"}) {
			t.Fatalf("Upsert with bad mobile and email = %v; want mobile and email field errors", err)
		}
		if strings.Contains(err.Error(), "12345") || strings.Contains(err.Error(), "li@") {
			t.Errorf("error contains a rejected value: %v", err)
		}
		if _, found, _ := s.Get(ctx, "cust-0002"); found {
			t.Error("a rejected Upsert created the profile")
		}
		if n, _ := s.Count(ctx); n != 0 {
			t.Errorf("a rejected Upsert left %d rows", n)
		}

		before := mustUpsert(t, s, "cust-0001", fullPatch())
		_, err = s.Update(ctx, "cust-0001", profile.Patch{DisplayName: ptr("新名字"), Birthday: ptr(profile.Date{Year: 2999, Month: 1, Day: 1})})
		if !slices.Equal(fieldNames(err), []string{"birthday"}) {
			t.Errorf("Update with a future birthday = %v", err)
		}
		if diff := cmp.Diff(before, mustGet(t, s, "cust-0001")); diff != "" {
			t.Errorf("a rejected Update changed the profile (-before +after):\n%s", diff)
		}

		for _, subject := range []string{"", "cust 1", "客户"} {
			if _, err := s.Upsert(ctx, subject, profile.Patch{}); !slices.Equal(fieldNames(err), []string{"subject"}) {
				t.Errorf("Upsert(subject %q) = %v, want a subject field error", subject, err)
			}
			if _, _, err := s.Get(ctx, subject); !errors.Is(err, profile.ErrInvalidInput) {
				t.Errorf("Get(subject %q) = %v, want ErrInvalidInput", subject, err)
			}
		}
	})

	t.Run("Addresses", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		p := mustUpsert(t, s, "cust-0001", fullPatch())
		home, office := p.Addresses[0], p.Addresses[1]

		got, found, err := s.AddressByID(ctx, "cust-0001", office.ID)
		if err != nil || !found || got != office {
			t.Errorf("AddressByID(office) = %+v, %v, %v; want %+v", got, found, err, office)
		}
		// Another subject cannot reach the address by its ID.
		mustUpsert(t, s, "cust-0002", profile.Patch{DisplayName: ptr("李静")})
		if _, found, err := s.AddressByID(ctx, "cust-0002", office.ID); found || err != nil {
			t.Errorf("AddressByID of someone else's address = found %v, %v", found, err)
		}
		if _, found, err := s.AddressByID(ctx, "cust-0001", "addr-00000000000000000000"); found || err != nil {
			t.Errorf("AddressByID(unknown) = found %v, %v", found, err)
		}

		// Reorder, edit the office, drop nothing, add a third.
		office.Line2 = "5楼"
		office.IsDefault = false
		home.IsDefault = false
		third := profile.Address{RecipientName: "王芳", RecipientMobile: "13812345678", Province: "广东省", City: "东莞市", Line1: "东城大道88号"}
		p, err = s.Update(ctx, "cust-0001", profile.Patch{Addresses: ptr([]profile.Address{office, home, third})})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Addresses) != 3 || p.Addresses[0].ID != office.ID || p.Addresses[1].ID != home.ID || p.Addresses[2].ID == "" {
			t.Fatalf("addresses after reorder = %+v", p.Addresses)
		}
		if p.Addresses[0].Line2 != "5楼" || !p.Addresses[0].IsDefault || p.Addresses[1].IsDefault || p.Addresses[2].IsDefault {
			t.Errorf("edit or default not applied: %+v", p.Addresses)
		}
		if diff := cmp.Diff(p, mustGet(t, s, "cust-0001")); diff != "" {
			t.Errorf("Get after address update (-update +get):\n%s", diff)
		}

		// An ID the profile does not have is refused, and nothing changes.
		_, err = s.Update(ctx, "cust-0001", profile.Patch{Addresses: ptr([]profile.Address{{ID: "addr-0123456789abcdef0123",
			RecipientName: "王芳", RecipientMobile: "13812345678", Province: "上海市", City: "上海市", Line1: "1号"}})})
		if !slices.Equal(fieldNames(err), []string{"addresses[0].id"}) {
			t.Errorf("unknown address id = %v, want an addresses[0].id field error", err)
		}
		if diff := cmp.Diff(p, mustGet(t, s, "cust-0001")); diff != "" {
			t.Errorf("a rejected address update changed the profile (-before +after):\n%s", diff)
		}

		// Removing an address makes its ID unknown.
		p, err = s.Update(ctx, "cust-0001", profile.Patch{Addresses: ptr(p.Addresses[1:])})
		if err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.AddressByID(ctx, "cust-0001", office.ID); found {
			t.Error("a removed address is still found")
		}
		if !p.Addresses[0].IsDefault {
			t.Error("removing the default did not make the first remaining address the default")
		}

		// Ten addresses fit, eleven do not.
		ten := slices.Repeat([]profile.Address{third}, profile.MaxAddresses)
		if p, err = s.Update(ctx, "cust-0001", profile.Patch{Addresses: &ten}); err != nil || len(p.Addresses) != 10 {
			t.Errorf("ten addresses = %d, %v", len(p.Addresses), err)
		}
		eleven := append(ten, third)
		if _, err := s.Update(ctx, "cust-0001", profile.Patch{Addresses: &eleven}); !slices.Equal(fieldNames(err), []string{"addresses"}) {
			t.Errorf("eleven addresses = %v, want an addresses field error", err)
		}
	})

	t.Run("ListByConsultantPaging", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		var want []string
		for i := 25; i >= 1; i-- { // written out of order
			subject := fmt.Sprintf("cust-%04d", i)
			consultant := "cons-0001"
			if i%4 == 0 {
				consultant = "cons-0002"
			}
			patch := profile.Patch{DisplayName: ptr(fmt.Sprintf("顾客%d", i)), ConsultantID: &consultant}
			if i%5 == 0 {
				patch.Addresses = ptr([]profile.Address{{RecipientName: "顾客", RecipientMobile: "17000000001",
					Province: "上海市", City: "上海市", Line1: fmt.Sprintf("淮海中路%d号", i)}})
			}
			mustUpsert(t, s, subject, patch)
			if consultant == "cons-0001" {
				want = append(want, subject)
			}
		}
		mustUpsert(t, s, "cust-0100", profile.Patch{DisplayName: ptr("无顾问")}) // unassigned
		if _, err := s.Erase(ctx, "cust-0003"); err != nil {                  // erased: not listed
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(s string) bool { return s == "cust-0003" })
		slices.Sort(want)

		var visited []string
		after := ""
		for pageNo := 1; ; pageNo++ {
			if pageNo > len(want) {
				t.Fatal("paging does not end")
			}
			page, err := s.ListByConsultant(ctx, "cons-0001", 4, after)
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalCount != len(want) {
				t.Errorf("page %d: TotalCount = %d, want %d", pageNo, page.TotalCount, len(want))
			}
			for _, p := range page.Profiles {
				visited = append(visited, p.Subject)
				if p.ConsultantID != "cons-0001" || p.DisplayName == "" {
					t.Errorf("listed profile %+v", p)
				}
				if n := strings.TrimPrefix(p.Subject, "cust-00"); (n == "05" || n == "10" || n == "15" || n == "25") != (len(p.Addresses) == 1) {
					t.Errorf("%s listed with %d addresses", p.Subject, len(p.Addresses))
				}
			}
			if page.HasNextPage != (len(visited) < len(want)) {
				t.Errorf("page %d: HasNextPage = %v after %d of %d", pageNo, page.HasNextPage, len(visited), len(want))
			}
			if !page.HasNextPage {
				break
			}
			after = page.Profiles[len(page.Profiles)-1].Subject
		}
		if diff := cmp.Diff(want, visited); diff != "" {
			t.Errorf("paging visited (-want +got):\n%s", diff)
		}

		page, err := s.ListByConsultant(ctx, "cons-0001", 100, "cust-0019x") // between subjects
		if err != nil || len(page.Profiles) != 4 || page.Profiles[0].Subject != "cust-0021" || page.HasNextPage {
			t.Errorf("after a non-existent subject = %+v, %v", page, err)
		}
		page, err = s.ListByConsultant(ctx, "cons-0002", 100, "")
		if err != nil || page.TotalCount != 6 || len(page.Profiles) != 6 {
			t.Errorf("cons-0002 = %d of %d, %v; want 6", len(page.Profiles), page.TotalCount, err)
		}
		for _, bad := range []struct {
			consultant string
			first      int
			field      string
		}{{"cons-0001", 0, "first"}, {"cons-0001", -1, "first"}, {"", 10, "consultantId"}} {
			if _, err := s.ListByConsultant(ctx, bad.consultant, bad.first, ""); !slices.Equal(fieldNames(err), []string{bad.field}) {
				t.Errorf("ListByConsultant(%q, %d) = %v, want a %s field error", bad.consultant, bad.first, err, bad.field)
			}
		}
	})

	t.Run("EraseLeavesTombstone", func(t *testing.T) {
		t.Parallel()
		clock := newTestClock()
		s := newStore(t, clock)
		ctx := testContext(t)
		p := mustUpsert(t, s, "cust-0001", fullPatch())
		mustUpsert(t, s, "cust-0002", profile.Patch{DisplayName: ptr("李静"), ConsultantID: ptr("cons-0001")})

		erased, err := s.Erase(ctx, "cust-0001")
		if err != nil || !erased {
			t.Fatalf("Erase = %v, %v; want true", erased, err)
		}
		if _, found, err := s.Get(ctx, "cust-0001"); found || err != nil {
			t.Errorf("Get after Erase = found %v, %v", found, err)
		}
		if _, found, _ := s.AddressByID(ctx, "cust-0001", p.Addresses[0].ID); found {
			t.Error("an address survived Erase")
		}
		if _, err := s.Update(ctx, "cust-0001", profile.Patch{DisplayName: ptr("王芳")}); !errors.Is(err, profile.ErrNotFound) {
			t.Errorf("Update of an erased profile = %v, want ErrNotFound", err)
		}
		if n, _ := s.Count(ctx); n != 2 {
			t.Errorf("Count after Erase = %d, want 2 (the tombstone counts)", n)
		}
		page, _ := s.ListByConsultant(ctx, "cons-0001", 10, "")
		if page.TotalCount != 1 || len(page.Profiles) != 1 || page.Profiles[0].Subject != "cust-0002" {
			t.Errorf("ListByConsultant after Erase = %+v", page)
		}
		if erased, err := s.Erase(ctx, "cust-0001"); erased || err != nil {
			t.Errorf("second Erase = %v, %v; want false, nil", erased, err)
		}

		// Coming back starts a new profile that keeps the assignment.
		later := clock.Advance(24 * time.Hour)
		back := mustUpsert(t, s, "cust-0001", profile.Patch{DisplayName: ptr("芳芳")})
		want := profile.Profile{Subject: "cust-0001", DisplayName: "芳芳", ConsultantID: "cons-0001",
			CreatedAt: stored(later), UpdatedAt: stored(later)}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("profile after coming back (-want +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentWrites", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, newTestClock())
		ctx := testContext(t)
		// Each writer sets a different field of the same, not yet
		// existing, profile: none may fail on the race to create it,
		// and none may be lost.
		patches := []profile.Patch{
			{DisplayName: ptr("王芳")},
			{Mobile: ptr("13812345678")},
			{Email: ptr("wang.fang@example.cn")},
			{Locale: ptr("zh-Hans-CN")},
			{Birthday: ptr(profile.Date{Year: 1990, Month: 5, Day: 12})},
			{Skin: ptr(profile.SkinProfile{Type: profile.SkinDry})},
			{ConsultantID: ptr("cons-0003")},
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(patches))
		for _, patch := range patches {
			wg.Go(func() {
				if _, err := s.Upsert(ctx, "cust-0007", patch); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Upsert: %v", err)
		}
		want := profile.Profile{Subject: "cust-0007", DisplayName: "王芳", Mobile: "13812345678", Email: "wang.fang@example.cn",
			Locale: "zh-Hans-CN", Birthday: profile.Date{Year: 1990, Month: 5, Day: 12}, Skin: profile.SkinProfile{Type: profile.SkinDry},
			ConsultantID: "cons-0003"}
		if diff := cmp.Diff(want, mustGet(t, s, "cust-0007"), ignoreGenerated); diff != "" {
			t.Errorf("after concurrent writes (-want +got):\n%s", diff)
		}
	})
}

func TestNewSQLStoreValidates(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := profile.NewSQLStore(ctx, nil); err == nil {
		t.Error("NewSQLStore(nil database) succeeded")
	}
	d := openDB(t, "sqlite::memory:")
	if _, err := profile.NewSQLStore(ctx, d, profile.WithClock(nil)); err == nil {
		t.Error("NewSQLStore with a nil clock succeeded")
	}
	// Migrating twice is harmless: a second replica starting.
	for range 2 {
		if _, err := profile.NewSQLStore(ctx, d); err != nil {
			t.Fatalf("NewSQLStore: %v", err)
		}
	}
}
