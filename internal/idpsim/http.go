package idpsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// maxFormBytes bounds the body of /authorize, /token and /dev/token: every
// legitimate request is a few hundred bytes.
const maxFormBytes = 64 << 10

// oauthError is an error as RFC 6749 §5.2 reports it.
type oauthError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Desc }

func errInvalidRequest(format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Desc: fmt.Sprintf(format, a...)}
}

func errInvalidGrant(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_grant", Desc: desc}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value written here is built by this package from plain
		// structs; failing to encode one is a programming error.
		panic(fmt.Sprintf("idpsim: encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may be gone; nothing to do then
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, &oauthError{Code: code, Desc: desc})
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		// RFC 6749 §5.2: a 401 names the authentication scheme to use.
		w.Header().Set("WWW-Authenticate", `Basic realm="idpsim"`)
	}
	writeJSON(w, e.status, e)
}

// noStore marks a response carrying credentials as uncacheable, as RFC
// 6749 §5.1 requires of token responses.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// allowMethods answers 405 with an Allow header unless r's method is one
// of methods; GET implies HEAD.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
		methods = append(methods, http.MethodHead)
	}
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
	return false
}

// parseForm parses the query and, for POST, a form body of bounded size,
// and refuses repeated parameters: RFC 6749 §3.1 forbids them, and a
// server that silently takes the first or the last invites confusion
// between the layers that read them.
func parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		return errInvalidRequest("the request is not a valid form: %v", err)
	}
	for k, v := range r.Form {
		if len(v) > 1 {
			return errInvalidRequest("parameter %q is repeated", k)
		}
	}
	return nil
}
