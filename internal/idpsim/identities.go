package idpsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
)

// identity is one demo user: what the provider knows and signs, nothing
// more.
type identity struct {
	subject      string
	roles        []string
	consultantID string // consultants only
}

// identitiesFile is the format of testdata/identities.json. A customer's
// assigned consultant is validated but not put in tokens: the gateway
// resolves assignments in the country, and a token says who the bearer is,
// not whom they may see.
type identitiesFile struct {
	Consultants []struct {
		Subject      string   `json:"subject"`
		Roles        []string `json:"roles"`
		ConsultantID string   `json:"consultantId"`
	} `json:"consultants"`
	Customers []struct {
		Subject    string   `json:"subject"`
		Roles      []string `json:"roles"`
		Consultant string   `json:"consultant"`
	} `json:"customers"`
}

// Subjects and roles are short opaque ids. The pattern keeps out anything
// that looks like an e-mail address or a name with spaces, so a file that
// mistakenly uses personal data as ids is refused rather than signed into
// tokens that leave the country.
var (
	validSubject = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	validRole    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// parseIdentities reads the identities file strictly: unknown fields,
// duplicate or malformed subjects, roles that are not ids and references to
// unknown consultants are all refused, every problem reported at once.
func parseIdentities(data []byte) (map[string]identity, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the identities file is required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f identitiesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: trailing data after the identities object")
	}
	var errs []error
	users := map[string]identity{}
	add := func(id identity) {
		if !validSubject.MatchString(id.subject) {
			errs = append(errs, fmt.Errorf("subject %q is not an opaque id", id.subject))
			return
		}
		if _, dup := users[id.subject]; dup {
			errs = append(errs, fmt.Errorf("subject %q is listed twice", id.subject))
			return
		}
		for _, r := range id.roles {
			if !validRole.MatchString(r) {
				errs = append(errs, fmt.Errorf("subject %q: role %q is not a role id", id.subject, r))
			}
		}
		id.roles = slices.Clone(id.roles)
		if id.roles == nil {
			id.roles = []string{}
		}
		users[id.subject] = id
	}
	consultants := map[string]bool{}
	for _, c := range f.Consultants {
		if !validSubject.MatchString(c.ConsultantID) {
			errs = append(errs, fmt.Errorf("consultant %q: consultant id %q is not an opaque id", c.Subject, c.ConsultantID))
		}
		consultants[c.ConsultantID] = true
		add(identity{subject: c.Subject, roles: c.Roles, consultantID: c.ConsultantID})
	}
	for _, c := range f.Customers {
		if c.Consultant != "" && !consultants[c.Consultant] {
			errs = append(errs, fmt.Errorf("customer %q is assigned to unknown consultant %q", c.Subject, c.Consultant))
		}
		add(identity{subject: c.Subject, roles: c.Roles})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, errors.New("no identities")
	}
	return users, nil
}
