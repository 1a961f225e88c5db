package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidSeed is returned (wrapped) by LoadDemoProfiles for a profiles
// file that does not parse or does not validate. The message names each
// offending profile by subject and its fields, never their values.
var ErrInvalidSeed = errors.New("profile: invalid demo profiles")

// maxSeedProblems caps the problems one LoadDemoProfiles error lists.
const maxSeedProblems = 20

// seedFile is the layout of testdata/profiles.json:
//
//	{"profiles": [{
//	  "subject": "cust-0001", "displayName": "…", "mobile": "13812345678",
//	  "email": "…@example.cn", "birthday": "1990-05-12", "locale": "zh-Hans-CN",
//	  "skin": {"type": "combination", "concerns": ["pores", "dullness"]},
//	  "consultantId": "cons-0001",
//	  "addresses": [{"recipientName": "…", "recipientMobile": "…", "province": "…",
//	                 "city": "…", "district": "…", "line1": "…", "line2": "…",
//	                 "postalCode": "200000", "isDefault": true}]
//	}]}
//
// Every field but subject may be omitted. Addresses carry no id: the store
// assigns them.
type seedFile struct {
	Profiles []seedProfile `json:"profiles"`
}

type seedProfile struct {
	Subject      string       `json:"subject"`
	DisplayName  *string      `json:"displayName"`
	Mobile       *string      `json:"mobile"`
	Email        *string      `json:"email"`
	Birthday     *string      `json:"birthday"`
	Locale       *string      `json:"locale"`
	Skin         *SkinProfile `json:"skin"`
	ConsultantID *string      `json:"consultantId"`
	Addresses    *[]Address   `json:"addresses"`
}

// patch returns the profile as a Patch. A birthday that does not parse is
// reported as a FieldError, as Upsert would report a bad one.
func (sp seedProfile) patch() (Patch, error) {
	p := Patch{
		DisplayName: sp.DisplayName, Mobile: sp.Mobile, Email: sp.Email, Addresses: sp.Addresses,
		Locale: sp.Locale, Skin: sp.Skin, ConsultantID: sp.ConsultantID,
	}
	if sp.Birthday != nil {
		var d Date
		if *sp.Birthday != "" {
			var err error
			if d, err = ParseDate(*sp.Birthday); err != nil {
				return Patch{}, fieldError("birthday", err.Error())
			}
		}
		p.Birthday = &d
	}
	return p, nil
}

// LoadDemoProfiles fills an empty profile store from profilesJSON (the
// layout of testdata/profiles.json, described on seedFile) and returns how
// many profiles it loaded. It is for demo mode and development: the demo
// profiles are fictitious people matching the demo identities.
//
// It loads only when store.Count is 0, tombstones included, so that a
// restart never overwrites real profiles and never brings back a person who
// erased theirs; otherwise it returns 0 and nil without parsing the file.
//
// The file is validated as a whole before anything is written, with the
// same rules as Store.Upsert: a file that fails returns 0 and an error
// wrapping ErrInvalidSeed naming each offending profile and field. It must
// hold at least one profile; every profile needs a subject, unique in the
// file; addresses must not carry an id. Unknown JSON fields are ignored.
// Profiles are then written one by one; if a write fails, the profiles
// before it stay and the error says how many were loaded.
func LoadDemoProfiles(ctx context.Context, store Store, profilesJSON []byte) (int, error) {
	n, err := store.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("profile: load demo profiles: %w", err)
	}
	if n > 0 {
		return 0, nil
	}
	seed, err := parseSeed(profilesJSON, time.Now())
	if err != nil {
		return 0, err
	}
	for i, sp := range seed {
		if _, err := store.Upsert(ctx, sp.subject, sp.patch); err != nil {
			return i, fmt.Errorf("profile: load demo profiles: profile %q: %w", sp.subject, err)
		}
	}
	return len(seed), nil
}

// seedEntry is one validated profile of a profiles file.
type seedEntry struct {
	subject string
	patch   Patch
}

// parseSeed decodes and validates a profiles file.
func parseSeed(profilesJSON []byte, now time.Time) ([]seedEntry, error) {
	var seed seedFile
	if err := json.Unmarshal(profilesJSON, &seed); err != nil {
		// encoding/json's errors name types, fields and at most one
		// character of the input, so err carries no personal value.
		return nil, fmt.Errorf("%w: %v", ErrInvalidSeed, err)
	}
	var problems []string
	if len(seed.Profiles) == 0 {
		problems = append(problems, "no profiles")
	}
	entries := make([]seedEntry, 0, len(seed.Profiles))
	seen := make(map[string]bool, len(seed.Profiles))
	for i, sp := range seed.Profiles {
		who := fmt.Sprintf("profile %q (#%d)", sp.Subject, i)
		if err := checkID("subject", sp.Subject); err != nil {
			problems = append(problems, fmt.Sprintf("profile #%d: %v", i, err))
			continue
		}
		if seen[sp.Subject] {
			problems = append(problems, who+": subject listed twice")
		}
		seen[sp.Subject] = true
		if sp.Addresses != nil {
			for j, a := range *sp.Addresses {
				if a.ID != "" {
					problems = append(problems, fmt.Sprintf("%s: addresses[%d].id: must be omitted, the store assigns it", who, j))
				}
			}
		}
		patch, err := sp.patch()
		if err == nil {
			_, err = normalizePatch(patch, now)
		}
		for _, fe := range FieldErrors(err) {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", who, fe.Field, fe.Reason))
		}
		entries = append(entries, seedEntry{subject: sp.Subject, patch: patch})
	}
	if len(problems) == 0 {
		return entries, nil
	}
	more := ""
	if len(problems) > maxSeedProblems {
		more = fmt.Sprintf("; and %d more", len(problems)-maxSeedProblems)
		problems = problems[:maxSeedProblems]
	}
	return nil, fmt.Errorf("%w: %s%s", ErrInvalidSeed, strings.Join(problems, "; "), more)
}
