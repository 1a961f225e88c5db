// Package fielderr is the one shape of "this input field is invalid" that
// the stores share: the field's name as the GraphQL input spells it, and a
// reason that says what a valid value looks like and never contains the
// rejected value, so the error is safe to log and to show the person who
// sent it.
//
// A write reports all its invalid fields at once (errors.Join); All
// collects them back for the edge, which maps them to BAD_USER_INPUT.
package fielderr

// Error is one invalid field. It unwraps to its store's invalid-input
// sentinel (for example profile.ErrInvalidInput), so errors.Is tells which
// store refused it.
type Error struct {
	// Field is the input path ("displayName", "addresses[2].postalCode",
	// "lines[0].quantity").
	Field string
	// Reason says what a valid value looks like.
	Reason string

	component string
	sentinel  error
}

// New returns an invalid-field error of a store (component, such as
// "profile") that unwraps to sentinel.
func New(component string, sentinel error, field, reason string) *Error {
	return &Error{Field: field, Reason: reason, component: component, sentinel: sentinel}
}

// Error returns "COMPONENT: FIELD: REASON".
func (e *Error) Error() string { return e.component + ": " + e.Field + ": " + e.Reason }

// Unwrap returns the store's invalid-input sentinel.
func (e *Error) Unwrap() error { return e.sentinel }

// All returns every *Error in err's tree, in order, or nil when there is
// none.
func All(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
