// Package graphqlhttp is the HTTP edge of the GraphQL endpoint: it refuses
// malformed requests with a clear 4xx before gqlgen sees them, bounds
// execution time, and classifies every error once into a stable
// extensions.code.
//
// It speaks GraphQL over HTTP (application/json and
// application/graphql-response+json). With application/json a well-formed
// request answers 200 even when the document fails to parse or validate, as
// the GraphQL-over-HTTP specification asks; with
// application/graphql-response+json such failures answer 400.
//
// Persisted operations arrive as extensions.persistedQuery.sha256Hash
// (Apollo's protocol) or as a GraphQL-over-HTTP documentId, in a POST body or
// as a GET parameter; the edge turns documentId into the former so gqlgen's
// persisted-query extension resolves both in one place.
//
// Every response says how it may be cached. A GET of a vetted query (see
// PersistedGET) by an anonymous client is public for a short time, so a
// regional CDN can answer it; everything else is private, no-store.
package graphqlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"meridian/internal/apierr"
	"meridian/internal/middleware"
)

// Options configures the edge.
type Options struct {
	MaxBodyBytes     int64         // larger bodies get 413; must be positive
	ExecutionTimeout time.Duration // the context deadline of one operation; must be positive
	// PersistedGET makes anonymous GETs of persisted queries cacheable by
	// shared caches. The zero value caches nothing.
	PersistedGET PersistedGET
}

// Validate reports what is wrong with the options, all at once.
func (o Options) Validate() error {
	var errs []error
	if o.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must be positive, got %d", o.MaxBodyBytes))
	}
	if o.ExecutionTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ExecutionTimeout must be positive, got %v", o.ExecutionTimeout))
	}
	if err := o.PersistedGET.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("graphqlhttp: %w", errors.Join(errs...))
	}
	return nil
}

// NewHandler wraps a GraphQL executor (gqlgen's handler.Server) with request
// checks, the execution deadline and cache headers, after checking opts.
func NewHandler(exec http.Handler, opts Options) (http.Handler, error) {
	if exec == nil {
		return nil, errors.New("graphqlhttp: an executor is required")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		public := false
		switch r.Method {
		case http.MethodPost:
			body, ok := readPostBody(w, r, opts.MaxBodyBytes)
			if !ok {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		case http.MethodGet:
			var ok bool
			if r, public, ok = prepareGET(w, r, opts.PersistedGET); !ok {
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			refuse(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET or POST")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), opts.ExecutionTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if !public {
			w.Header().Set("Cache-Control", privateNoStore)
			exec.ServeHTTP(&legacyStatus{ResponseWriter: w}, r)
			return
		}
		buf := &bufferedResponse{ResponseWriter: w}
		exec.ServeHTTP(&legacyStatus{ResponseWriter: buf}, r)
		buf.flush(opts.PersistedGET)
	}), nil
}

// Handler is NewHandler for options known to be valid; it panics on invalid
// ones, which is a wiring mistake caught at start-up.
func Handler(exec http.Handler, opts Options) http.Handler {
	h, err := NewHandler(exec, opts)
	if err != nil {
		panic(err)
	}
	return h
}

// postBody is what a POST body must look like before gqlgen sees it.
type postBody struct {
	Query         *string         `json:"query"`
	OperationName *string         `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
	DocumentID    *string         `json:"documentId"`
}

// readPostBody reads and checks a POST body, answering the client itself
// (and returning false) when the request is malformed.
func readPostBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			"POST /graphql needs Content-Type: application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			refuse(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE",
				fmt.Sprintf("request body exceeds %d bytes", limit))
			return nil, false
		}
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", "could not read the request body")
		return nil, false
	}
	var parsed postBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&parsed); err != nil {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", "request body is not a valid GraphQL JSON object: "+describeJSONError(err))
		return nil, false
	}
	// Token, not More: More reports false for a stray "}" or "]".
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", "request body has data after the JSON object")
		return nil, false
	}
	if parsed.Query == nil && len(parsed.Extensions) == 0 && parsed.DocumentID == nil {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", `request body needs a "query" string or a "documentId"`)
		return nil, false
	}
	if !isObjectOrNull(parsed.Variables) {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", `"variables" must be a JSON object`)
		return nil, false
	}
	if !isObjectOrNull(parsed.Extensions) {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", `"extensions" must be a JSON object`)
		return nil, false
	}
	if parsed.DocumentID == nil {
		return body, true
	}
	if parsed.Query != nil && *parsed.Query != "" {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", `send either "query" or "documentId", not both`)
		return nil, false
	}
	body, err = withDocumentID(body, *parsed.DocumentID, parsed.Extensions)
	if err != nil {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return nil, false
	}
	return body, true
}

func isObjectOrNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || raw[0] == '{'
}

// describeJSONError says what is wrong without echoing the client's body.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must not be a JSON %s", typ.Field, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	default:
		return "malformed JSON"
	}
}

// refuse answers a request that never reached GraphQL execution.
func refuse(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", privateNoStore)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": message, "extensions": map[string]any{"code": code}}},
	})
}

// legacyStatus turns gqlgen's 422 for unparsable or invalid documents into
// 200 when the response is application/json, as GraphQL over HTTP asks of
// that media type (clients of it read errors from the body, not the status).
type legacyStatus struct {
	http.ResponseWriter
}

func (l *legacyStatus) WriteHeader(code int) {
	if code == http.StatusUnprocessableEntity && strings.HasPrefix(l.Header().Get("Content-Type"), "application/json") {
		code = http.StatusOK
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *legacyStatus) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// ErrorPresenter classifies an error once, at the edge: errors with a kind
// keep their client-safe message and code; gqlgen's own coded errors (parse,
// validation, limits) pass as they are; a blown execution deadline becomes
// EXECUTION_TIMEOUT; anything else is logged and masked as INTERNAL.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if e, ok := apierr.As(err); ok {
			if e.Kind == apierr.Internal {
				return mask(ctx, log, gqlErr, err)
			}
			gqlErr.Message = e.Message
			setCode(gqlErr, e.ClientCode())
			return gqlErr
		}
		if _, coded := gqlErr.Extensions["code"]; coded {
			return gqlErr
		}
		if errors.Is(err, context.DeadlineExceeded) {
			gqlErr.Message = "execution took longer than the gateway allows"
			setCode(gqlErr, apierr.Timeout.Code())
			return gqlErr
		}
		return mask(ctx, log, gqlErr, err)
	}
}

func mask(ctx context.Context, log *slog.Logger, gqlErr *gqlerror.Error, err error) *gqlerror.Error {
	id := middleware.RequestIDFrom(ctx)
	log.ErrorContext(ctx, "internal error", "request_id", id, "path", gqlErr.Path.String(), "err", err)
	gqlErr.Message = "internal error"
	gqlErr.Extensions = map[string]any{"code": apierr.Internal.Code(), "requestId": id}
	return gqlErr
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// RecoverFunc turns a resolver panic into an internal error for that field,
// logging the stack with the request id; the rest of the response survives.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "resolver panic", "request_id", middleware.RequestIDFrom(ctx),
			"panic", v, "stack", string(debug.Stack()))
		return apierr.New(apierr.Internal, "internal error")
	}
}
