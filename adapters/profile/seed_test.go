package profile_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian/adapters/profile"
)

// The shipped demo files, relative to this package.
const (
	profilesPath   = "../../testdata/profiles.json"
	identitiesPath = "../../testdata/identities.json"
)

func newSQLiteStore(t *testing.T) *profile.SQLStore {
	t.Helper()
	return newStoreAt(t, "sqlite:"+filepath.Join(t.TempDir(), "profile.db"), newTestClock())
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadDemoProfilesFile(t *testing.T) {
	t.Parallel()
	s := newSQLiteStore(t)
	ctx := testContext(t)
	loaded, err := profile.LoadDemoProfiles(ctx, s, readFile(t, profilesPath))
	if err != nil {
		t.Fatalf("LoadDemoProfiles: %v", err)
	}

	var identities struct {
		Consultants []struct {
			Subject string `json:"subject"`
		} `json:"consultants"`
		Customers []struct {
			Subject    string `json:"subject"`
			Consultant string `json:"consultant"`
		} `json:"customers"`
	}
	if err := json.Unmarshal(readFile(t, identitiesPath), &identities); err != nil {
		t.Fatal(err)
	}
	if want := len(identities.Consultants) + len(identities.Customers); loaded != want || want != 55 {
		t.Errorf("loaded %d profiles; identities.json has %d subjects, want 55 each", loaded, want)
	}

	// Every demo identity has a realistic profile; customers are assigned
	// as identities.json says, consultants to nobody.
	perConsultant := map[string]int{}
	for _, c := range identities.Consultants {
		p := mustGet(t, s, c.Subject)
		if p.DisplayName == "" || p.Mobile == "" || p.Email == "" || p.ConsultantID != "" {
			t.Errorf("consultant %s profile = %+v", c.Subject, p)
		}
	}
	for _, c := range identities.Customers {
		p := mustGet(t, s, c.Subject)
		if p.DisplayName == "" || p.Mobile == "" || p.Locale == "" || p.Skin.Type == "" {
			t.Errorf("customer %s profile lacks name, mobile, locale or skin type", c.Subject)
		}
		if p.ConsultantID != c.Consultant {
			t.Errorf("customer %s assigned to %q, identities.json says %q", c.Subject, p.ConsultantID, c.Consultant)
		}
		if p.Email != "" && !strings.HasSuffix(p.Email, "@example.com") && !strings.HasSuffix(p.Email, "@example.cn") {
			t.Errorf("customer %s has an email outside example.com and example.cn", c.Subject)
		}
		perConsultant[c.Consultant]++
	}
	for consultant, n := range perConsultant {
		page, err := s.ListByConsultant(ctx, consultant, 100, "")
		if err != nil || page.TotalCount != n {
			t.Errorf("ListByConsultant(%s) = %d, %v; want %d", consultant, page.TotalCount, err, n)
		}
	}

	first := mustGet(t, s, "cust-0001")
	if first.Mobile != "13812345678" || profile.MaskMobile(first.Mobile) != "138****5678" {
		t.Errorf("cust-0001 mobile masks to %q, want 138****5678", profile.MaskMobile(first.Mobile))
	}
	if len(first.Addresses) == 0 {
		t.Error("cust-0001 has no address")
	}

	// A second start finds the store non-empty and loads nothing.
	if again, err := profile.LoadDemoProfiles(ctx, s, readFile(t, profilesPath)); again != 0 || err != nil {
		t.Errorf("second LoadDemoProfiles = %d, %v; want 0, nil", again, err)
	}
}

func TestLoadDemoProfilesNeverResurrects(t *testing.T) {
	t.Parallel()
	s := newSQLiteStore(t)
	ctx := testContext(t)
	seed := []byte(`{"profiles":[{"subject":"cust-0001","displayName":"王芳","mobile":"13812345678"}]}`)
	if n, err := profile.LoadDemoProfiles(ctx, s, seed); n != 1 || err != nil {
		t.Fatalf("LoadDemoProfiles = %d, %v", n, err)
	}
	if _, err := s.Erase(ctx, "cust-0001"); err != nil {
		t.Fatal(err)
	}
	if n, err := profile.LoadDemoProfiles(ctx, s, seed); n != 0 || err != nil {
		t.Errorf("LoadDemoProfiles after the only profile was erased = %d, %v; want 0, nil", n, err)
	}
	if _, found, _ := s.Get(ctx, "cust-0001"); found {
		t.Error("the seed brought an erased profile back")
	}
}

func TestLoadDemoProfilesRejectsBadFiles(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		json    string
		mention []string // each must appear in the error
		secret  string   // must not appear in the error
	}{
		"not JSON":    {json: `{"profiles": [`},
		"no profiles": {json: `{"profiles": []}`, mention: []string{"no profiles"}},
		"wrong type":  {json: `{"profiles": [{"subject": 7}]}`},
		"bad birthday": {
			json: `{"profiles": [{"subject": "cust-0001", "birthday": "1990-02-30"}]}`, secret: "1990-02-30", mention: []string{"birthday"},
		},
		"duplicate subject": {
			json:    `{"profiles": [{"subject": "cust-0001"}, {"subject": "cust-0001"}]}`,
			mention: []string{`"cust-0001"`, "listed twice"},
		},
		"no subject": {json: `{"profiles": [{"displayName": "王芳"}]}`, mention: []string{"#0", "subject"}},
		"bad fields": {
			json: `{"profiles": [{"subject": "cust-0009", "mobile": "12012345678", "email": "secret@@example.cn",
				"skin": {"type": "scaly"}, "addresses": [{"id": "addr-1", "recipientName": "王芳", "recipientMobile": "13812345678",
				"province": "上海市", "city": "上海市", "line1": "1号", "postalCode": "2000"}]}]}`,
			mention: []string{`"cust-0009"`, "mobile", "email", "skin.type", "addresses[0].id", "addresses[0].postalCode"},
			secret:  "12012345678",
		},
	} {
		s := newSQLiteStore(t)
		n, err := profile.LoadDemoProfiles(testContext(t), s, []byte(tc.json))
		if n != 0 || !errors.Is(err, profile.ErrInvalidSeed) {
			t.Errorf("%s: LoadDemoProfiles = %d, %v; want 0 and ErrInvalidSeed", name, n, err)
			continue
		}
		for _, m := range tc.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", name, err, m)
			}
		}
		if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: error contains the value %q: %v", name, tc.secret, err)
		}
		if strings.Contains(err.Error(), "secret@@") {
			t.Errorf("%s: error contains the email: %v", name, err)
		}
		if count, _ := s.Count(testContext(t)); count != 0 {
			t.Errorf("%s: a rejected file wrote %d profiles", name, count)
		}
	}
}
