package graphqlhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"meridian/internal/persisted"
)

// privateNoStore is the Cache-Control of every response that is not a
// public persisted GET: no cache may keep it, shared or not.
const privateNoStore = "private, no-store"

// PersistedGET says which GET responses shared caches (a regional CDN) may
// keep, and for how long.
//
// A GET is public when all of these hold:
//
//   - it names its operation by id (documentId, or
//     extensions.persistedQuery.sha256Hash) and sends no query parameter;
//   - Lookup finds that id and the operation is a query;
//   - the request carries no Authorization header and no Cookie header at
//     all: any cookie may be the session cookie, and telling them apart
//     here would tie this package to the session's cookie name, so a
//     request with any cookie is treated as signed in;
//   - the response is a 200 with data, no errors, and no
//     extensions.degraded (an answer served from fallback copies because
//     an origin failed must not outlive the failure in a CDN).
//
// It then answers Cache-Control: public, max-age=MaxAge,
// stale-while-revalidate=StaleWhileRevalidate and varies on Accept (the
// response media type), Accept-Language (the locale), Authorization and
// Cookie (so a cached anonymous answer is never served to a signed-in
// request), keeping any Vary values already set. Every other GET, and
// every POST, answers Cache-Control: private, no-store.
type PersistedGET struct {
	// Lookup finds a persisted operation by id (persisted.Registry.Lookup).
	// Nil turns public caching off.
	Lookup func(id string) (persisted.Operation, bool)
	// MaxAge is how long a shared cache may serve the response as fresh;
	// at least 1s when Lookup is set. Whole seconds are used.
	MaxAge time.Duration
	// StaleWhileRevalidate is how long past MaxAge a cache may serve it
	// while it fetches a new one; 0 leaves the directive out. Not negative.
	StaleWhileRevalidate time.Duration
}

func (p PersistedGET) validate() error {
	if p.Lookup == nil {
		return nil
	}
	var errs []error
	if p.MaxAge < time.Second {
		errs = append(errs, fmt.Errorf("PersistedGET.MaxAge must be at least 1s, got %v", p.MaxAge))
	}
	if p.StaleWhileRevalidate < 0 {
		errs = append(errs, fmt.Errorf("PersistedGET.StaleWhileRevalidate must not be negative, got %v", p.StaleWhileRevalidate))
	}
	return errors.Join(errs...)
}

func (p PersistedGET) cacheControl() string {
	cc := "public, max-age=" + strconv.FormatInt(int64(p.MaxAge/time.Second), 10)
	if swr := p.StaleWhileRevalidate / time.Second; swr > 0 {
		cc += ", stale-while-revalidate=" + strconv.FormatInt(int64(swr), 10)
	}
	return cc
}

// publicVary is what a public response varies on (see PersistedGET).
var publicVary = [...]string{"Accept", "Accept-Language", "Authorization", "Cookie"}

// prepareGET checks a GET's parameters and maps documentId onto
// extensions.persistedQuery. It answers malformed requests itself (ok is
// false); otherwise it returns the request to execute and whether its
// response may be public.
func prepareGET(w http.ResponseWriter, r *http.Request, pg PersistedGET) (_ *http.Request, public, ok bool) {
	params := r.URL.Query()
	query := params.Get("query")
	exts, err := objectParam(params.Get("extensions"))
	if err != nil {
		refuse(w, http.StatusBadRequest, "BAD_REQUEST", `"extensions" must be a JSON object`)
		return nil, false, false
	}
	id := hashOf(exts)
	if docIDs, present := params["documentId"]; present {
		if len(docIDs) != 1 {
			refuse(w, http.StatusBadRequest, "BAD_REQUEST", "send one documentId")
			return nil, false, false
		}
		if query != "" {
			refuse(w, http.StatusBadRequest, "BAD_REQUEST", `send either "query" or "documentId", not both`)
			return nil, false, false
		}
		merged, docID, err := mergeDocumentID(exts, docIDs[0])
		if err != nil {
			refuse(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return nil, false, false
		}
		id = docID
		params.Del("documentId")
		params.Set("extensions", string(merged))
		// A copy: the URL the client sent stays as it was for the layers
		// around this one (the access log).
		u := *r.URL
		u.RawQuery = params.Encode()
		r = r.WithContext(r.Context())
		r.URL = &u
	}
	if query == "" && id == "" {
		if _, named := exts["persistedQuery"]; !named {
			refuse(w, http.StatusBadRequest, "BAD_REQUEST", "GET /graphql needs a query or documentId parameter")
			return nil, false, false
		}
	}
	return r, query == "" && publicOperation(r, pg, id), true
}

// publicOperation reports whether id names a persisted query and the
// request is anonymous.
func publicOperation(r *http.Request, pg PersistedGET, id string) bool {
	if pg.Lookup == nil || id == "" {
		return false
	}
	if len(r.Header.Values("Authorization")) > 0 || len(r.Header.Values("Cookie")) > 0 {
		return false
	}
	op, found := pg.Lookup(id)
	return found && op.Type == persisted.Query
}

// objectParam decodes a JSON object parameter; empty and null are no
// object.
func objectParam(raw string) (map[string]json.RawMessage, error) {
	if raw == "" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if !isObjectOrNull(json.RawMessage(raw)) {
		return nil, errors.New("not an object")
	}
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// hashOf returns the normalized id in extensions.persistedQuery, or "" when
// there is none or it is malformed (the persisted-query extension then says
// what is wrong).
func hashOf(exts map[string]json.RawMessage) string {
	raw, ok := exts["persistedQuery"]
	if !ok {
		return ""
	}
	var pq struct {
		SHA256Hash string `json:"sha256Hash"`
	}
	if json.Unmarshal(raw, &pq) != nil {
		return ""
	}
	id, _ := persisted.ParseID(pq.SHA256Hash)
	return id
}

// mergeDocumentID maps a GraphQL-over-HTTP documentId onto
// extensions.persistedQuery, keeping the other extensions. It refuses a
// documentId that is not "sha256:" and 64 hex digits (bare hex is accepted
// too), and one that contradicts a persistedQuery hash sent alongside.
func mergeDocumentID(exts map[string]json.RawMessage, documentID string) (json.RawMessage, string, error) {
	id, ok := persisted.ParseID(documentID)
	if !ok {
		return nil, "", errors.New(`documentId must be "sha256:" followed by 64 hex digits`)
	}
	if _, present := exts["persistedQuery"]; present && hashOf(exts) != id {
		return nil, "", errors.New("documentId and extensions.persistedQuery name different documents")
	}
	merged := make(map[string]json.RawMessage, len(exts)+1)
	for k, v := range exts {
		merged[k] = v
	}
	pq, _ := json.Marshal(map[string]any{"version": 1, "sha256Hash": id})
	merged["persistedQuery"] = pq
	out, err := json.Marshal(merged)
	if err != nil {
		return nil, "", err // cannot happen: every value is valid JSON
	}
	return out, id, nil
}

// withDocumentID rewrites a POST body (already checked to be a GraphQL JSON
// object) so that its documentId becomes extensions.persistedQuery.
func withDocumentID(body []byte, documentID string, extensions json.RawMessage) ([]byte, error) {
	exts, err := objectParam(string(bytes.TrimSpace(extensions)))
	if err != nil {
		return nil, errors.New(`"extensions" must be a JSON object`)
	}
	merged, _, err := mergeDocumentID(exts, documentID)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, errors.New("request body is not a valid GraphQL JSON object")
	}
	// encoding/json matches field names case-insensitively, and so does
	// gqlgen: drop every spelling, or a stray "DocumentID" or "Extensions"
	// could compete with what is set here.
	for k := range obj {
		if strings.EqualFold(k, "documentId") || strings.EqualFold(k, "extensions") {
			delete(obj, k)
		}
	}
	obj["extensions"] = merged
	return json.Marshal(obj)
}

// bufferedResponse holds a response that may become public until it is
// complete: only then is it known whether it has errors, and the
// Cache-Control header must go out before the body. It deliberately has no
// Unwrap, so nothing flushes past it.
type bufferedResponse struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// flush sends the response with the cache headers its outcome allows.
func (b *bufferedResponse) flush(pg PersistedGET) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	h := b.ResponseWriter.Header()
	if b.status == http.StatusOK && cacheableBody(b.body.Bytes()) {
		h.Set("Cache-Control", pg.cacheControl())
		addVary(h, publicVary[:]...)
	} else {
		h.Set("Cache-Control", privateNoStore)
	}
	h.Set("Content-Length", strconv.Itoa(b.body.Len()))
	b.ResponseWriter.WriteHeader(b.status)
	_, _ = b.ResponseWriter.Write(b.body.Bytes())
}

// cacheableBody reports whether a GraphQL response is a plain success: data,
// no errors, not degraded.
func cacheableBody(body []byte) bool {
	var resp struct {
		Data       json.RawMessage            `json:"data"`
		Errors     []json.RawMessage          `json:"errors"`
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return false
	}
	if len(resp.Errors) > 0 || len(resp.Data) == 0 || string(resp.Data) == "null" {
		return false
	}
	_, degraded := resp.Extensions["degraded"]
	return !degraded
}

// addVary adds each name to Vary unless a Vary value already lists it.
func addVary(h http.Header, names ...string) {
	have := map[string]bool{}
	for _, v := range h.Values("Vary") {
		for _, name := range strings.Split(v, ",") {
			have[strings.ToLower(strings.TrimSpace(name))] = true
		}
	}
	if have["*"] {
		return
	}
	for _, name := range names {
		if !have[strings.ToLower(name)] {
			h.Add("Vary", name)
		}
	}
}
