package persisted

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// ManifestFormat and ManifestVersion identify Apollo's persisted-query
// manifest; other formats and versions are refused.
const (
	ManifestFormat  = "apollo-persisted-query-manifest"
	ManifestVersion = 1
)

// OperationType is the kind of a persisted operation, spelled as manifests
// spell it.
type OperationType string

// The operation types a manifest may name.
const (
	Query        OperationType = "query"
	Mutation     OperationType = "mutation"
	Subscription OperationType = "subscription"
)

// Operation is one persisted operation: its body and what it is.
type Operation struct {
	// ID is the lowercase hex SHA-256 of Body.
	ID string `json:"id"`
	// Name is the name of the one operation Body defines.
	Name string `json:"name"`
	// Type is that operation's type.
	Type OperationType `json:"type"`
	// Body is the GraphQL document, byte for byte what was hashed: one
	// named operation and the fragments it uses.
	Body string `json:"body"`
}

// Manifest is a validated, immutable set of persisted operations, safe for
// concurrent use. A nil *Manifest holds no operations.
type Manifest struct {
	byID map[string]Operation
	ops  []Operation // sorted by name, then id
}

// HashBody returns the manifest id of a document: the lowercase hex SHA-256
// of its exact bytes. Whitespace and comments count: two spellings of one
// query are two ids.
func HashBody(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// ParseID normalizes a persisted-operation id: 64 hex digits, optionally
// prefixed "sha256:" (the GraphQL-over-HTTP documentId form), in either
// case. It returns the lowercase hex and true, or "" and false for anything
// else.
func ParseID(id string) (string, bool) {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) != sha256.Size*2 {
		return "", false
	}
	b := []byte(id)
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}

// Lookup returns the operation with the given id, accepting the forms
// ParseID does. A malformed id, or a nil Manifest, finds nothing.
func (m *Manifest) Lookup(id string) (Operation, bool) {
	if m == nil {
		return Operation{}, false
	}
	hexID, ok := ParseID(id)
	if !ok {
		return Operation{}, false
	}
	op, ok := m.byID[hexID]
	return op, ok
}

// Len returns the number of distinct operations; 0 for a nil Manifest.
func (m *Manifest) Len() int {
	if m == nil {
		return 0
	}
	return len(m.ops)
}

// Operations returns a copy of the operations, sorted by name and then id.
func (m *Manifest) Operations() []Operation {
	if m == nil {
		return nil
	}
	return append([]Operation(nil), m.ops...)
}

// Encode renders the manifest as Apollo's manifest JSON: operations sorted by
// name then id, two-space indentation, no HTML escaping, a final newline.
// The output is deterministic, so a generated file diffs cleanly.
func (m *Manifest) Encode() []byte {
	doc := manifestFile{Format: ManifestFormat, Version: ManifestVersion, Operations: m.Operations()}
	if doc.Operations == nil {
		doc.Operations = []Operation{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		// Only strings and an int: encoding cannot fail.
		panic(fmt.Sprintf("persisted: encoding a manifest: %v", err))
	}
	return buf.Bytes()
}

// manifestFile is the JSON shape of a manifest. Unknown fields are ignored,
// so manifests from newer tools still load.
type manifestFile struct {
	Format     string      `json:"format"`
	Version    int         `json:"version"`
	Operations []Operation `json:"operations"`
}

// NewManifest validates ops as the contents of one manifest and returns
// them as a Manifest. Each operation needs an id that is HashBody(body), a
// type of query, mutation or subscription, and a body that parses to exactly
// one operation of that name and type. Within one manifest a name may be
// used by one id only; the same operation listed twice is kept once. The
// error names every bad operation.
func NewManifest(ops []Operation) (*Manifest, error) {
	return newManifest("", ops)
}

func newManifest(source string, ops []Operation) (*Manifest, error) {
	m := &Manifest{byID: make(map[string]Operation, len(ops))}
	idByName := make(map[string]string, len(ops))
	var errs []error
	for i, op := range ops {
		if err := checkOperation(op); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", prefix(source), describe(i, op), err))
			continue
		}
		if prev, ok := idByName[op.Name]; ok && prev != op.ID {
			errs = append(errs, fmt.Errorf("%s%s: name %q is also used by id %s", prefix(source), describe(i, op), op.Name, prev))
			continue
		}
		idByName[op.Name] = op.ID
		if _, ok := m.byID[op.ID]; ok {
			continue // listed twice; the bodies are equal because the ids are
		}
		m.byID[op.ID] = op
		m.ops = append(m.ops, op)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortOperations(m.ops)
	return m, nil
}

func prefix(source string) string {
	if source == "" {
		return "persisted: "
	}
	return "persisted: manifest " + source + ": "
}

// describe names an operation in errors by position, name and a short id,
// which is what someone fixing the file looks for.
func describe(i int, op Operation) string {
	id := op.ID
	if len(id) > 12 {
		id = id[:12] + "…"
	}
	return fmt.Sprintf("operations[%d] %q (id %q)", i, op.Name, id)
}

// checkOperation validates one manifest entry on its own.
func checkOperation(op Operation) error {
	if op.Body == "" {
		return errors.New("body is empty")
	}
	if want := HashBody(op.Body); op.ID != want {
		return fmt.Errorf("id is not the lowercase hex SHA-256 of body (that is %s)", want)
	}
	switch op.Type {
	case Query, Mutation, Subscription:
	default:
		return fmt.Errorf("type %q: want query, mutation or subscription", op.Type)
	}
	if op.Name == "" {
		return errors.New("name is empty")
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: op.Name, Input: op.Body})
	if err != nil {
		return fmt.Errorf("body does not parse: %w", err)
	}
	if len(doc.Operations) != 1 {
		return fmt.Errorf("body defines %d operations, want exactly one", len(doc.Operations))
	}
	def := doc.Operations[0]
	if def.Name != op.Name {
		return fmt.Errorf("body defines operation %q, not %q", def.Name, op.Name)
	}
	if got := OperationType(def.Operation); got != op.Type {
		return fmt.Errorf("body is a %s, but type says %s", got, op.Type)
	}
	return nil
}

func sortOperations(ops []Operation) {
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Name != ops[j].Name {
			return ops[i].Name < ops[j].Name
		}
		return ops[i].ID < ops[j].ID
	})
}

// ParseManifest decodes and validates one manifest file's contents; source
// names the file in errors. The document must be one JSON object with
// format ManifestFormat and version ManifestVersion; its operations are
// checked as NewManifest checks them.
func ParseManifest(source string, data []byte) (*Manifest, error) {
	var doc manifestFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%snot a manifest JSON object: %w", prefix(source), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%sdata after the JSON object", prefix(source))
	}
	if doc.Format != ManifestFormat {
		return nil, fmt.Errorf("%sformat %q: want %q", prefix(source), doc.Format, ManifestFormat)
	}
	if doc.Version != ManifestVersion {
		return nil, fmt.Errorf("%sversion %d: want %d", prefix(source), doc.Version, ManifestVersion)
	}
	return newManifest(source, doc.Operations)
}

// LoadManifests reads and validates the manifest files at paths and merges
// them. An operation in several files is kept once; names may repeat across
// files (two releases of one operation). Errors name the file and the
// operation; every file is checked, and all their problems reported. No
// paths gives an empty manifest.
func LoadManifests(paths ...string) (*Manifest, error) {
	merged := &Manifest{byID: map[string]Operation{}}
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("persisted: manifest %s: %w", path, err))
			continue
		}
		m, err := ParseManifest(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, op := range m.ops {
			if prev, ok := merged.byID[op.ID]; ok {
				if prev.Body != op.Body {
					// Unreachable unless SHA-256 collides; checked because
					// serving the wrong body would be far worse than a
					// refused start.
					errs = append(errs, fmt.Errorf("persisted: manifest %s: id %s has a different body than in an earlier file", path, op.ID))
				}
				continue
			}
			merged.byID[op.ID] = op
			merged.ops = append(merged.ops, op)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortOperations(merged.ops)
	return merged, nil
}
