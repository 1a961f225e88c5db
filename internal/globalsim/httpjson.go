package globalsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// errorBody is the JSON error envelope every simulated system answers with:
// {"error":{"code":"...","message":"..."}}. SKUs, when present, names the
// SKUs a request was rejected for, so a client can map the failure back to
// the lines it sent.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	SKUs    []string `json:"skus,omitempty"`
}

// apiError is a failure that already knows how it is reported over HTTP, so
// the layers below the handlers can decide the status without knowing about
// ResponseWriters.
type apiError struct {
	status int
	detail errorDetail
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.detail.Code, e.detail.Message)
}

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, detail: errorDetail{Code: code, Message: fmt.Sprintf(format, args...)}}
}

func (e *apiError) withSKUs(skus []string) *apiError {
	e.detail.SKUs = skus
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value written here is built by this package from plain
		// structs; failing to encode one is a programming error.
		panic(fmt.Sprintf("globalsim: encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may be gone; nothing to do then
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

// writeErr reports err: an *apiError as itself, anything else as a 500.
func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeJSON(w, ae.status, errorBody{Error: ae.detail})
		return
	}
	writeError(w, http.StatusInternalServerError, "internal", err.Error())
}

// decodeJSON reads exactly one JSON value from the request body into v. The
// body must be declared application/json, as the real systems demand.
// Unknown fields are rejected: the global systems accept no personal data,
// and refusing fields they do not know is what keeps a stray "name" or
// "phone" from crossing the border unnoticed.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return newAPIError(http.StatusBadRequest, "invalid_request", "reading request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newAPIError(http.StatusBadRequest, "invalid_request", "request body is empty; a JSON object is required")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type %q: the body must be sent as application/json", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newAPIError(http.StatusBadRequest, "invalid_request", "request body: %v", err)
	}
	if dec.More() {
		return newAPIError(http.StatusBadRequest, "invalid_request", "request body: unexpected data after the JSON object")
	}
	return nil
}
