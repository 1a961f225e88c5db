package audit

import (
	"errors"
	"fmt"
	"meridian/internal/fielderr"
	"regexp"
	"strings"
)

// Bounds of what an entry holds.
const (
	maxIDBytes        = 255
	maxRequestIDBytes = 128
	maxFieldBytes     = 64
	// MaxFields is the most fields one entry may name; a request touching
	// more is several entries.
	MaxFields = 100
)

var (
	// roleFormat is a lowercase identifier such as "consultant".
	roleFormat = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// purposeFormat is an identifier such as "PERSONALIZATION".
	purposeFormat = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,63}$`)
	// fieldFormat is a field path: names joined by dots, each optionally
	// indexed ("addresses[0].line1"). It cannot hold an email (no @), a
	// phone number (a name starts with a letter) or free text (no
	// spaces).
	fieldFormat = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\[[0-9]{1,4}\])?(\.[A-Za-z][A-Za-z0-9_]*(\[[0-9]{1,4}\])?)*$`)
	// pseudonymFormat is what Pseudonym returns.
	pseudonymFormat = regexp.MustCompile(`^pseud-[0-9a-f]{64}$`)
)

// PseudonymPrefix starts every pseudonym.
const PseudonymPrefix = "pseud-"

// IsPseudonym reports whether s has the shape of a pseudonym: PseudonymPrefix
// and 64 lowercase hexadecimal digits.
func IsPseudonym(s string) bool { return pseudonymFormat.MatchString(s) }

// FieldError is one invalid argument or entry field. It wraps
// ErrInvalidInput.
//
// Field is its path ("dataSubject", "first", "entries[2].fields[0]");
// Reason says what a valid value looks like and never contains the
// rejected value.
type FieldError = fielderr.Error

// fieldError returns an invalid-field error of this store.
func fieldError(field, reason string) *FieldError {
	return fielderr.New("audit", ErrInvalidInput, field, reason)
}

// FieldErrors returns every *FieldError in err's tree (a call reports all
// its invalid arguments at once), in order, or nil when there is none.
func FieldErrors(err error) []*FieldError { return fielderr.All(err) }

// checkToken validates an opaque identifier: 1 to maxBytes of printable
// ASCII without spaces.
func checkToken(field, s string, maxBytes int) error {
	if s == "" || len(s) > maxBytes {
		return fieldError(field, fmt.Sprintf("must be 1 to %d characters", maxBytes))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fieldError(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// checkSubject validates a subject id. One that starts like a pseudonym
// must be a whole pseudonym: a subject id of that shape could never be
// pseudonymized.
func checkSubject(field, s string) error {
	if err := checkToken(field, s, maxIDBytes); err != nil {
		return err
	}
	if strings.HasPrefix(s, PseudonymPrefix) && !IsPseudonym(s) {
		return fieldError(field, "starts like a pseudonym but is not one")
	}
	return nil
}

// checkEntry validates the caller-given fields of e, the index-th entry of
// a batch, reporting every problem.
func checkEntry(index int, e Entry) error {
	f := func(name string) string { return fmt.Sprintf("entries[%d].%s", index, name) }
	errs := []error{
		checkSubject(f("actorSubject"), e.ActorSubject),
		checkSubject(f("dataSubject"), e.DataSubject),
	}
	if !roleFormat.MatchString(e.ActorRole) {
		errs = append(errs, fieldError(f("actorRole"), "must be a lowercase identifier such as customer or consultant"))
	}
	if !e.Action.Valid() {
		names := make([]string, 0, len(Actions()))
		for _, a := range Actions() {
			names = append(names, string(a))
		}
		errs = append(errs, fieldError(f("action"), "must be one of "+strings.Join(names, ", ")))
	}
	if len(e.Fields) > MaxFields {
		errs = append(errs, fieldError(f("fields"), fmt.Sprintf("must name at most %d fields", MaxFields)))
	} else {
		for i, name := range e.Fields {
			if len(name) > maxFieldBytes || !fieldFormat.MatchString(name) {
				errs = append(errs, fieldError(fmt.Sprintf("%s[%d]", f("fields"), i), fmt.Sprintf("must be a field path such as addresses[0].line1, at most %d characters", maxFieldBytes)))
			}
		}
	}
	if !purposeFormat.MatchString(e.Purpose) {
		errs = append(errs, fieldError(f("purpose"), "must be an identifier such as PERSONALIZATION, at most 64 characters"))
	}
	if e.RequestID != "" {
		errs = append(errs, checkToken(f("requestId"), e.RequestID, maxRequestIDBytes))
	}
	return errors.Join(errs...)
}
