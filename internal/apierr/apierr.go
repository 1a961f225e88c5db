// Package apierr gives errors a kind, and maps kinds to the stable codes
// clients read in a GraphQL error's extensions.code and to HTTP statuses.
//
// Errors are wrapped with context on the way up and classified once, at the
// edge (the GraphQL error presenter and the HTTP handlers). An error with no
// kind is an internal error: its text is logged, never shown to a client.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error for clients. The zero Kind is Internal.
type Kind int

// The kinds of error a client can be told about.
const (
	Internal Kind = iota
	BadUserInput
	NotFound
	Unauthenticated
	Forbidden
	OriginUnavailable
	Conflict
	Timeout
)

// Code returns the extensions.code clients rely on (see the README's error
// table). The names are a public contract: change them only with a
// deprecation path.
func (k Kind) Code() string {
	switch k {
	case BadUserInput:
		return "BAD_USER_INPUT"
	case NotFound:
		return "NOT_FOUND"
	case Unauthenticated:
		return "UNAUTHENTICATED"
	case Forbidden:
		return "FORBIDDEN"
	case OriginUnavailable:
		return "ORIGIN_UNAVAILABLE"
	case Conflict:
		return "CONFLICT"
	case Timeout:
		return "EXECUTION_TIMEOUT"
	default:
		return "INTERNAL"
	}
}

// HTTPStatus is the status for a request refused whole with this kind.
func (k Kind) HTTPStatus() int {
	switch k {
	case BadUserInput:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case OriginUnavailable:
		return http.StatusBadGateway
	case Conflict:
		return http.StatusConflict
	case Timeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error with a kind and a message that is safe to show a client.
// Code, when set, overrides the kind's default code with a more specific one
// (for example IDEMPOTENCY_KEY_REUSED for a Conflict).
type Error struct {
	Kind    Kind
	Code    string
	Message string // shown to clients: never internals
	Err     error  // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ClientCode is the code a client sees.
func (e *Error) ClientCode() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.Code()
}

// New returns an error of kind k whose message is shown to clients.
func New(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// Wrap returns an error of kind k with a client-safe message and a cause
// that is kept for logs.
func Wrap(k Kind, err error, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...), Err: err}
}

// As finds the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of the first *Error in err's chain, Internal when
// there is none.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}
