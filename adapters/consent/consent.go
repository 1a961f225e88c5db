// Package consent records, per person and purpose, whether Meridian may
// process their personal data for that purpose, as PIPL requires: consent
// is given for a stated purpose, can be withdrawn as easily as it was
// given, and the company must be able to show when and under which policy
// it was given.
//
// Every change is a new version: the history is append-only, each row
// holding the subject, the purpose, granted or not, the privacy policy
// version the person saw, who made the change (the person, or a
// consultant acting for them), the request id that ties it to the audit
// trail, and when. The current state of a purpose is its latest version; a
// purpose never set is not granted.
//
// # No-op changes
//
// A change that matches the current version (same granted, same policy
// version) records nothing: Set returns the current state unchanged. So a
// client retrying a request, or an app re-sending its consent screen, never
// grows the history, and the version number of a purpose counts real
// changes. A change under a new policy version is a real change even when
// granted stays the same: the person re-confirmed under new terms. A first
// explicit refusal (granted false on a purpose never set) is recorded,
// because "was asked and said no" is evidence worth keeping.
//
// The same Store contract is implemented on SQLite and PostgreSQL; both are
// exercised by one contract test suite.
package consent

import (
	"context"
	"errors"
	"time"
)

// Purpose is a purpose of processing personal data that a person can
// consent to separately.
type Purpose string

// The purposes. CrossBorderTransfer is its own purpose because PIPL
// requires separate consent before personal data leaves mainland China.
const (
	Marketing           Purpose = "MARKETING"
	Personalization     Purpose = "PERSONALIZATION"
	Analytics           Purpose = "ANALYTICS"
	ConsultantContact   Purpose = "CONSULTANT_CONTACT"
	CrossBorderTransfer Purpose = "CROSS_BORDER_TRANSFER"
)

// Purposes returns every Purpose, in a fixed order.
func Purposes() []Purpose {
	return []Purpose{Marketing, Personalization, Analytics, ConsultantContact, CrossBorderTransfer}
}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool {
	switch p {
	case Marketing, Personalization, Analytics, ConsultantContact, CrossBorderTransfer:
		return true
	default:
		return false
	}
}

// Change is one version of one purpose's consent. As the input of Set,
// Subject, Purpose, Granted, PolicyVersion, ChangedBy and RequestID are
// given and Version and At are ignored: the store assigns them, so history
// can be neither backdated nor renumbered.
type Change struct {
	// Subject is the person whose consent this is.
	Subject string
	Purpose Purpose
	Granted bool
	// PolicyVersion is the version of the privacy policy the person was
	// shown ("2025-03"); required.
	PolicyVersion string
	// ChangedBy is the subject of who made the change: the person
	// themselves, or a consultant recording it for them; required.
	ChangedBy string
	// RequestID ties the change to the request and its audit entry; it
	// may be empty for changes made outside a request.
	RequestID string
	// Version counts the changes of this subject and purpose, from 1.
	Version int64
	// At is when the store recorded the change, in UTC at microsecond
	// precision.
	At time.Time
}

// State is the current consent of one purpose. A purpose never set has
// Version 0, Granted false and every other field empty.
type State struct {
	Purpose       Purpose
	Granted       bool
	PolicyVersion string
	ChangedBy     string
	RequestID     string
	Version       int64
	At            time.Time
}

// Store records consent. Implementations must be safe for concurrent use.
//
// Every method fails with an error wrapping ErrInvalidInput, naming the
// field, for a malformed subject (empty, longer than 255 bytes, or holding
// anything but printable ASCII without spaces), an unknown purpose or a
// malformed Change.
type Store interface {
	// Current returns the state of every purpose of Purposes for subject:
	// always one entry per purpose, never-set purposes not granted.
	Current(ctx context.Context, subject string) (map[Purpose]State, error)
	// Set records c as the purpose's next version and returns the new
	// state, or returns the current state without recording anything when
	// c changes nothing (see the package doc).
	Set(ctx context.Context, c Change) (State, error)
	// History returns every recorded change of subject, oldest first;
	// empty for a subject with none.
	History(ctx context.Context, subject string) ([]Change, error)
	// Granted reports whether subject currently grants purpose. It is on
	// the hot path of every personalized request and answers from one
	// index lookup.
	Granted(ctx context.Context, subject string, purpose Purpose) (bool, error)
	// GrantedFor is Granted for many subjects at once, for dashboard
	// lists: the result has an entry for every distinct subject asked
	// about. Any number of subjects may be passed.
	GrantedFor(ctx context.Context, subjects []string, purpose Purpose) (map[string]bool, error)
	// WithdrawAll records a withdrawal of every purpose subject currently
	// grants, under that purpose's current policy version, made by actor
	// in request requestID, and returns the versions it recorded (none
	// when nothing was granted). It is the first step of a deletion
	// request: afterwards nothing may be processed for subject. The
	// history itself is kept, as the evidence of what was consented to
	// and when.
	WithdrawAll(ctx context.Context, subject, actor, requestID string) ([]Change, error)
}

// ErrInvalidInput is wrapped by every error about a malformed argument; the
// gateway maps it to BAD_USER_INPUT.
var ErrInvalidInput = errors.New("consent: invalid input")
