package auth

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"meridian/internal/apierr"
	"meridian/internal/middleware"
)

// SessionResolver finds the Principal of a web session, for browsers that
// sign in through the gateway and hold a session cookie instead of a
// token. The middleware consults it only for requests without an
// Authorization header.
type SessionResolver interface {
	// PrincipalFromRequest returns the session's Principal and true, or
	// false (and a nil error) when r carries no session: the request is
	// then anonymous. An error refuses the whole request: an
	// *apierr.Error of kind Unauthenticated (a forged or expired session
	// the resolver will not treat as anonymous) answers 401 with its
	// message; any other error answers with its kind's status, and an
	// error without a kind as a masked 500.
	PrincipalFromRequest(r *http.Request) (*Principal, bool, error)
}

// MiddlewareOption adjusts Middleware.
type MiddlewareOption func(*middlewareOptions)

type middlewareOptions struct {
	sessions SessionResolver
}

// WithSessionResolver makes Middleware consult s for requests without an
// Authorization header. A nil s is ignored.
func WithSessionResolver(s SessionResolver) MiddlewareOption {
	return func(o *middlewareOptions) { o.sessions = s }
}

// b64token is the credential syntax of RFC 6750 §2.1.
var b64token = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// Middleware establishes the caller of every request before next runs:
//
//   - "Authorization: Bearer <token>": the token is verified with v and
//     its Principal put in the context (FromContext). The scheme is
//     matched case-insensitively.
//   - No Authorization header: the session resolver, when one is given,
//     may supply a Principal; otherwise the request continues anonymous,
//     without one. Whether anonymous callers may do something is for the
//     resolvers to decide.
//   - A malformed header (another scheme, no token, a token with
//     characters outside RFC 6750's syntax, the header repeated) or a
//     token that fails verification: the whole request is refused with
//     401, "WWW-Authenticate: Bearer error=\"invalid_token\"" and a
//     GraphQL-shaped body,
//     {"errors":[{"message":"token expired","extensions":{"code":"UNAUTHENTICATED"}}]}.
//     A client that sent a bad token is told so rather than served as
//     anonymous, which would look like missing data instead of an
//     expired sign-in. While the provider has never been reached, the
//     refusal is ORIGIN_UNAVAILABLE with its status instead.
//
// Refusals are logged through the Verifier's logger with the reason, the
// cause and the request id, never the token. Every response varies on
// Authorization (and on Cookie with a session resolver), so no shared cache
// serves one caller's answer to another. Middleware panics if v is nil.
func Middleware(v *Verifier, next http.Handler, opts ...MiddlewareOption) http.Handler {
	if v == nil {
		panic("auth: Middleware needs a Verifier")
	}
	var o middlewareOptions
	for _, opt := range opts {
		opt(&o)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Authorization")
		if o.sessions != nil {
			w.Header().Add("Vary", "Cookie")
		}
		values := r.Header.Values("Authorization")
		if len(values) == 0 {
			serveWithSession(v.log, o.sessions, next, w, r)
			return
		}
		token, err := bearerToken(values)
		if err == nil {
			var p *Principal
			if p, err = v.Verify(r.Context(), token); err == nil {
				next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
				return
			}
		}
		refuse(v.log, w, r, "bearer", err)
	})
}

func serveWithSession(log *slog.Logger, sessions SessionResolver, next http.Handler, w http.ResponseWriter, r *http.Request) {
	if sessions == nil {
		next.ServeHTTP(w, r)
		return
	}
	p, ok, err := sessions.PrincipalFromRequest(r)
	if err != nil {
		refuse(log, w, r, "session", err)
		return
	}
	if ok && p != nil {
		r = r.WithContext(WithPrincipal(r.Context(), p))
	}
	next.ServeHTTP(w, r)
}

// bearerToken extracts the credential of the one Authorization header.
func bearerToken(values []string) (string, error) {
	if len(values) != 1 {
		return "", apierr.New(apierr.Unauthenticated, "more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") || !b64token.MatchString(token) {
		return "", apierr.New(apierr.Unauthenticated, `malformed Authorization header: want "Bearer <token>"`)
	}
	return token, nil
}

// graphQLErrors is the body of a refused request: the shape of a GraphQL
// response without data, so clients parse it like any other error.
type graphQLErrors struct {
	Errors []graphQLError `json:"errors"`
}

type graphQLError struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// refuse answers a request whose credential was refused. credential is
// "bearer" or "session", for the log and the challenge.
func refuse(log *slog.Logger, w http.ResponseWriter, r *http.Request, credential string, err error) {
	requestID := middleware.RequestIDFrom(r.Context())
	e, ok := apierr.As(err)
	if !ok {
		e = apierr.Wrap(apierr.Internal, err, "internal error")
	}
	ext := map[string]string{"code": e.ClientCode()}
	msg := e.Message
	level := slog.LevelInfo // a client's bad credential is routine
	switch e.Kind {
	case apierr.Unauthenticated:
		if credential == "bearer" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
	case apierr.Internal:
		msg, ext["requestId"], level = "internal error", requestID, slog.LevelError
	default:
		level = slog.LevelWarn
	}
	log.LogAttrs(r.Context(), level, "request refused: credential not accepted",
		slog.String("credential", credential),
		slog.String("reason", e.Message),
		slog.String("cause", causeText(e)),
		slog.String("path", r.URL.Path),
		slog.String("request_id", requestID),
	)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(graphQLErrors{Errors: []graphQLError{{Message: msg, Extensions: ext}}}) // plain strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Kind.HTTPStatus())
	_, _ = w.Write(buf.Bytes()) // the client may be gone; nothing to do then
}

func causeText(e *apierr.Error) string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}
