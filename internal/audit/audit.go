// Package audit keeps the append-only trail of access to personal data:
// who (actor subject and role) did what (read, update, consent, export,
// delete) to whose data (the data subject), which fields, for which
// purpose, in which request, and when. PIPL asks the company to be able to
// show this, to the person and to regulators.
//
// An entry names fields, never their values: the trail must not become a
// second copy of the personal data it watches over. Field names, roles and
// purposes are held to identifier syntax, so a value cannot be slipped in
// as a name.
//
// # Append-only
//
// The Store has no update and no delete. The database enforces the same,
// with triggers on both engines, so that neither a bug nor a hand-typed
// statement changes the trail:
//
//   - DELETE fails (and TRUNCATE on PostgreSQL);
//   - UPDATE fails unless the only change is replacing a subject id
//     (data_subject, actor_subject or both) that is not a pseudonym with
//     one that has a pseudonym's shape ("pseud-" and 64 lowercase
//     hexadecimal digits). That is exactly what Pseudonymize does; a
//     pseudonym can never be changed again;
//   - on SQLite, an INSERT that would replace an existing row (INSERT OR
//     REPLACE, which deletes without firing delete triggers) fails.
//
// Triggers rather than REVOKE: the gateway's database role owns the table
// (it runs the migrations), and an owner's revoked privileges are its own
// to grant back. A deployment that runs migrations under a separate role
// should also REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries from the
// gateway's role. Neither stops the table's owner from disabling the
// triggers or dropping the table; that takes a role without ownership.
//
// # Pseudonymization
//
// After a person's data is deleted, Pseudonymize replaces their subject id
// everywhere in the trail (as data subject and as actor) with a stable
// keyed pseudonym, "pseud-" and the hexadecimal HMAC-SHA256 of the subject
// id under a secret key from the configuration. The trail keeps its shape:
// every entry is still there, and the person's entries still share one
// pseudonym. Without the key nobody can link the pseudonym to the person;
// with it, the company can answer a regulator asking about a known subject
// id by computing its pseudonym. The key must stay secret and stable:
// entries pseudonymized under an old key keep the old pseudonym.
package audit

import (
	"context"
	"errors"
	"time"
)

// Action is what an actor did to personal data.
type Action string

// The actions the trail records.
const (
	ActionRead    Action = "read"
	ActionUpdate  Action = "update"
	ActionConsent Action = "consent"
	ActionExport  Action = "export"
	ActionDelete  Action = "delete"
)

// Actions returns every Action, in a fixed order.
func Actions() []Action {
	return []Action{ActionRead, ActionUpdate, ActionConsent, ActionExport, ActionDelete}
}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	switch a {
	case ActionRead, ActionUpdate, ActionConsent, ActionExport, ActionDelete:
		return true
	default:
		return false
	}
}

// Entry is one access to one person's personal data. One request that reads
// or changes several fields of one person is one entry listing the fields;
// a request touching several people (a consultant's dashboard) is one entry
// per person.
type Entry struct {
	// ID is assigned by the store on Append: increasing within one
	// Append, and higher than every entry committed before the Append
	// began.
	ID int64
	// At is assigned by the store on Append (all entries of one Append
	// share it), in UTC at microsecond precision, so the trail cannot be
	// backdated.
	At time.Time
	// ActorSubject is who acted: the person themselves, a consultant, or
	// a service's own subject id.
	ActorSubject string
	// ActorRole is the role the actor acted in: a lowercase identifier
	// such as "customer", "consultant" or "system".
	ActorRole string
	// DataSubject is whose personal data was accessed.
	DataSubject string
	Action      Action
	// Fields names the fields accessed ("mobile", "addresses[0].line1",
	// "consent.MARKETING"); nil when the action concerns the whole
	// record, like a deletion.
	Fields []string
	// Purpose is why the data was accessed: a consent purpose such as
	// "PERSONALIZATION", or a purpose that needs no consent, such as
	// "ORDER_FULFILMENT" or "DATA_SUBJECT_REQUEST".
	Purpose string
	// RequestID is the gateway request the access was part of; empty for
	// accesses outside a request.
	RequestID string
}

// Page is one page of List.
type Page struct {
	// Entries are newest first.
	Entries []Entry
	// HasNextPage reports that older entries follow the last of this
	// page.
	HasNextPage bool
}

// Store is the audit trail. Implementations must be safe for concurrent
// use. It has no way to change or remove an entry other than
// Pseudonymize.
type Store interface {
	// Append records entries in one transaction: all of them or, on any
	// error, none. Every entry is validated first; a malformed one fails
	// the batch with *FieldError values naming it ("entries[2].fields[0]").
	// ID and At are assigned by the store; values passed in are ignored.
	// An empty batch records nothing.
	Append(ctx context.Context, entries []Entry) error
	// List returns up to first entries about dataSubject (a subject id,
	// or a pseudonym), newest first, older than afterID (0 for the
	// newest). first must be at least 1 and afterID not negative.
	List(ctx context.Context, dataSubject string, first int, afterID int64) (Page, error)
	// Pseudonymize replaces subject, wherever it appears as data subject
	// or actor, with its pseudonym, and returns how many entries changed.
	// Running it again changes nothing and returns 0. It fails for a
	// subject that is itself a pseudonym.
	Pseudonymize(ctx context.Context, subject string) (int, error)
}

// ErrInvalidInput is wrapped by every *FieldError: an argument or entry
// this store does not accept.
var ErrInvalidInput = errors.New("audit: invalid input")
