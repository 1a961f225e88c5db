package consent

import (
	"errors"
	"fmt"
	"meridian/internal/fielderr"
	"strings"
)

// Bounds of the identifiers a change holds.
const (
	maxIDBytes            = 255
	maxPolicyVersionBytes = 64
	maxRequestIDBytes     = 128
)

// FieldError is one invalid argument. It wraps ErrInvalidInput.
//
// Field names the argument the way the GraphQL input does ("subject",
// "purpose", "policyVersion", "changedBy", "requestId", "subjects[3]");
// Reason says what a valid value looks like and never contains the
// rejected value.
type FieldError = fielderr.Error

// fieldError returns an invalid-field error of this store.
func fieldError(field, reason string) *FieldError {
	return fielderr.New("consent", ErrInvalidInput, field, reason)
}

// FieldErrors returns every *FieldError in err's tree (a call reports all
// its invalid arguments at once), in order, or nil when there is none.
func FieldErrors(err error) []*FieldError { return fielderr.All(err) }

// checkToken validates an opaque identifier (a subject id, a policy version,
// a request id): 1 to maxBytes of printable ASCII without spaces. They end
// up in keys and logs, so nothing else is accepted.
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

func checkSubject(field, subject string) error { return checkToken(field, subject, maxIDBytes) }

func checkPurpose(p Purpose) error {
	if !p.Valid() {
		names := make([]string, 0, len(Purposes()))
		for _, q := range Purposes() {
			names = append(names, string(q))
		}
		return fieldError("purpose", "must be one of "+strings.Join(names, ", "))
	}
	return nil
}

func checkRequestID(id string) error {
	if id == "" {
		return nil
	}
	return checkToken("requestId", id, maxRequestIDBytes)
}

// checkChange validates the caller-given fields of c, reporting every
// problem at once.
func checkChange(c Change) error {
	return errors.Join(
		checkSubject("subject", c.Subject),
		checkPurpose(c.Purpose),
		checkToken("policyVersion", c.PolicyVersion, maxPolicyVersionBytes),
		checkSubject("changedBy", c.ChangedBy),
		checkRequestID(c.RequestID),
	)
}
