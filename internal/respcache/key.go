package respcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"meridian/internal/locale"
	"meridian/internal/persisted"
)

// maxKeyedBody is the largest POST body the cache reads to compute a key.
// Documents of real clients are a few kilobytes; a larger body is passed
// through uncached rather than held twice in memory.
const maxKeyedBody = 64 << 10

// keyVersion starts every key's input. Change it when the canonical form
// changes, so replicas of two releases never read each other's entries
// under a key that meant something else.
const keyVersion = "respcache/1"

// request is what the cache derived from one HTTP request.
type request struct {
	// key names the response: every input that can change it.
	key [sha256.Size]byte
	// doc names the operation alone (document or persisted id, and
	// operation name): its cache policy depends on nothing else, so a
	// verdict that it may never be stored is kept per doc.
	doc [sha256.Size]byte
	// adhocGET is a GET that sent its document in the URL; shared caches
	// are never told to keep those (see cacheControl).
	adhocGET bool
	// post is a POST: the edge never lets anyone keep those (see
	// cacheControl).
	post bool
}

// params is a GraphQL request in the parts that make its key. Strings hold
// JSON text where they come from a POST body, plain text from a GET URL;
// the method is part of the key, so the two never mix.
type params struct {
	query         []byte
	operationName []byte
	persistedID   string // normalized, "" when none
	variables     []byte // canonical JSON object; nil for none (absent, null, {})
	extensions    []byte // canonical JSON object, persistedQuery normalized; nil when none
}

// errNotKeyed says a request is not one the cache handles; the next
// handler answers it as usual (and refuses it if it is malformed).
var errNotKeyed = errors.New("respcache: request not keyed")

// postParams decodes the members of a POST body that make the key. Raw
// messages keep each member's exact JSON text; encoding/json matches names
// case-insensitively and keeps the last duplicate, as gqlgen's transport
// does, so both read the same request.
type postParams struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
	DocumentID    json.RawMessage `json:"documentId"`
}

// fromPOST reads the parts of a POST body. The query and operation name
// are kept as JSON text: a document escaped two ways gets two entries,
// which costs a miss and never serves a wrong answer.
func fromPOST(body []byte) (params, error) {
	var pp postParams
	if err := json.Unmarshal(body, &pp); err != nil {
		return params{}, errNotKeyed
	}
	var p params
	if s, ok := jsonString(pp.Query); ok {
		p.query = s
	} else {
		return params{}, errNotKeyed
	}
	if s, ok := jsonString(pp.OperationName); ok {
		p.operationName = s
	} else {
		return params{}, errNotKeyed
	}
	docID := ""
	if raw := bytes.TrimSpace(pp.DocumentID); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return params{}, errNotKeyed
		}
		docID = s
	}
	return p.finish(pp.Variables, pp.Extensions, docID)
}

// jsonString accepts a JSON string or nothing (absent, null, ""), and
// returns its raw text (nil for nothing).
func jsonString(raw json.RawMessage) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0, bytes.Equal(raw, []byte("null")), bytes.Equal(raw, []byte(`""`)):
		return nil, true
	case raw[0] == '"':
		return raw, true
	default:
		return nil, false
	}
}

// fromGET reads the parts of a GET URL.
func fromGET(r *http.Request) (params, error) {
	q := r.URL.Query()
	p := params{query: []byte(q.Get("query")), operationName: []byte(q.Get("operationName"))}
	docID := ""
	if ids, ok := q["documentId"]; ok {
		if len(ids) != 1 {
			return params{}, errNotKeyed
		}
		docID = ids[0]
	}
	return p.finish([]byte(q.Get("variables")), []byte(q.Get("extensions")), docID)
}

// finish canonicalizes variables and extensions and folds a documentId
// into extensions.persistedQuery, as the GraphQL edge does, so the two
// ways of naming a persisted operation share entries.
func (p params) finish(variables, extensions []byte, documentID string) (params, error) {
	vars, err := canonicalObject(variables)
	if err != nil {
		return params{}, errNotKeyed
	}
	p.variables = vars
	if p.extensions, p.persistedID, err = canonicalExtensions(extensions, documentID); err != nil {
		return params{}, errNotKeyed
	}
	if len(p.query) == 0 && p.persistedID == "" {
		return params{}, errNotKeyed // nothing to run: the edge refuses it
	}
	return p, nil
}

// canonicalObject returns the canonical form (see canonicalJSON) of a JSON
// object, so key order and whitespace do not split entries. Absent, null
// and empty objects, which gqlgen treats alike, are all nil. Anything but
// a valid object is an error.
func canonicalObject(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return nil, errNotKeyed
	}
	out, err := canonicalJSON(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return nil, errNotKeyed
	}
	if bytes.Equal(out, []byte("{}")) {
		return nil, nil
	}
	return out, nil
}

// persistedQuery is extensions.persistedQuery as Apollo's protocol sends it.
type persistedQuery struct {
	Version    json.RawMessage `json:"version"`
	SHA256Hash string          `json:"sha256Hash"`
}

// canonicalExtensions returns the canonical extensions object and the
// persisted id it names. A documentId becomes persistedQuery {version: 1,
// sha256Hash: id}; a persistedQuery hash is normalized (case, "sha256:"
// prefix). A documentId that is malformed or contradicts the hash sent
// alongside is an error: the edge refuses such requests.
func canonicalExtensions(raw []byte, documentID string) (canon []byte, id string, err error) {
	raw = bytes.TrimSpace(raw)
	var ext map[string]json.RawMessage
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if raw[0] != '{' || json.Unmarshal(raw, &ext) != nil {
			return nil, "", errNotKeyed
		}
	}
	if len(ext) == 0 && documentID == "" {
		return nil, "", nil
	}
	var pq persistedQuery
	hasPQ := false
	if rawPQ, ok := ext["persistedQuery"]; ok && !bytes.Equal(bytes.TrimSpace(rawPQ), []byte("null")) {
		if json.Unmarshal(rawPQ, &pq) != nil {
			return nil, "", errNotKeyed
		}
		hasPQ = true
		if norm, ok := persisted.ParseID(pq.SHA256Hash); ok {
			pq.SHA256Hash, id = norm, norm
		}
	}
	if documentID != "" {
		docID, ok := persisted.ParseID(documentID)
		if !ok || (hasPQ && pq.SHA256Hash != docID) {
			return nil, "", errNotKeyed
		}
		pq.Version, pq.SHA256Hash, id, hasPQ = json.RawMessage("1"), docID, docID, true
	}
	// The usual case, {"persistedQuery": {"version": 1, "sha256Hash": …}}
	// alone, is written out directly: this runs on every cache hit.
	if len(ext) == 0 || (len(ext) == 1 && hasPQ && ext["persistedQuery"] != nil) {
		if !hasPQ {
			return nil, "", nil
		}
		if v := bytes.TrimSpace(pq.Version); bytes.Equal(v, []byte("1")) {
			return []byte(`{"persistedQuery":{"sha256Hash":"` + pq.SHA256Hash + `","version":1}}`), id, nil
		}
	}
	all := make(map[string]any, len(ext)+1)
	for k, v := range ext {
		var val any
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if dec.Decode(&val) != nil {
			return nil, "", errNotKeyed
		}
		all[k] = val
	}
	if hasPQ {
		version := any(nil)
		if v := bytes.TrimSpace(pq.Version); len(v) > 0 {
			version = json.RawMessage(v)
		}
		all["persistedQuery"] = map[string]any{"version": version, "sha256Hash": pq.SHA256Hash}
	}
	canon, err = json.Marshal(all)
	if err != nil {
		return nil, "", errNotKeyed
	}
	return canon, id, nil
}

// isJSON reports whether a Content-Type is application/json, the only
// media type the edge accepts for POST.
func isJSON(contentType string) bool {
	if contentType == "application/json" || strings.HasPrefix(contentType, "application/json;") {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// keyBuilder hashes length-prefixed fields, so no two field lists hash the
// same input.
type keyBuilder struct {
	buf []byte
}

func (b *keyBuilder) add(s string) {
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

func (b *keyBuilder) addBytes(s []byte) {
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

func (b *keyBuilder) sum() [sha256.Size]byte { return sha256.Sum256(b.buf) }

// keys computes the request's key and doc from its parts.
//
// The key covers everything the response can depend on for a caller the
// cache may share it with: the method and path, the Accept header (it
// picks the response's media type), the negotiated locale, the document
// or persisted id, the operation name, the variables and the other
// extensions. It contains no credentials and nothing else about the
// caller: entries are only ever stored for PUBLIC operations, whose
// responses do not depend on who asks.
func (b *keyBuilder) keys(r *http.Request, p params) (key, doc [sha256.Size]byte) {
	b.buf = b.buf[:0]
	b.add(keyVersion)
	// The method first: a POST's query and operation name are JSON text,
	// a GET's plain text.
	b.add(r.Method)
	b.addBytes(p.query)
	b.add(p.persistedID)
	b.addBytes(p.operationName)
	doc = b.sum()
	b.add(r.URL.Path)
	b.add(r.Header.Get("Accept"))
	b.add(locale.FromContext(r.Context()).Key())
	b.addBytes(p.variables)
	b.addBytes(p.extensions)
	return b.sum(), doc
}
