// Package cachecontrol computes how long the response to a GraphQL operation
// may be kept, and by whom, from the @cacheControl hints in the schema. It is
// the static half of Apollo's cache control:
//
//	directive @cacheControl(maxAge: Int, scope: CacheControlScope = PUBLIC) on FIELD_DEFINITION | OBJECT
//	enum CacheControlScope { PUBLIC PRIVATE }
//
// The directive is a declaration only (gqlgen's skip_runtime): nothing runs
// when a hinted field resolves. Instead, the policy of an operation is read
// off its validated document before or after execution, once per document.
//
// # Rules
//
// Each field of the operation, fragments included, gets a max-age:
//
//   - a root field, or a field whose type is an object, interface or union,
//     takes the maxAge of its own hint, else the maxAge of its type's hint,
//     else 0. The field's hint wins over the type's, so a short-lived field
//     can live on a long-lived type (Product.inventory) and the other way
//     round;
//   - a scalar or enum field below the root inherits its parent's max-age,
//     unless it carries a maxAge of its own. It never needs a hint.
//
// The operation's MaxAge is the smallest max-age of all its fields: one
// short-lived field anywhere lowers the whole response. Its Scope is PRIVATE
// when any field or any composite field's type is hinted scope: PRIVATE, and
// PUBLIC otherwise. PRIVATE is sticky: a field hint's PUBLIC (the declared
// default) does not undo a PRIVATE type, because "any PRIVATE" is what keeps
// a signed-in person's data out of shared caches.
//
// Mutations, subscriptions and operations that select introspection fields
// (__schema, __type) are not Cacheable at all. Unhinted root fields have
// max-age 0, so nothing is cacheable until the schema says so: the safe
// default for a schema that also holds personal data.
//
// The policy is static. @skip and @include are not evaluated (a skipped
// field still counts, which can only shorten the max-age), and hints cannot
// depend on arguments or on the values resolved; a resolver that must keep
// one response out of caches says so at run time to the cache itself (see
// internal/respcache.NoStore).
package cachecontrol

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
)

// DirectiveName is the name of the hint directive, without the "@".
const DirectiveName = "cacheControl"

// Scope says who may keep a response.
type Scope int

const (
	// Public responses are the same for every caller and may be kept in
	// shared caches.
	Public Scope = iota
	// Private responses depend on who asks; only that caller may keep
	// them, and never a shared cache.
	Private
)

// String returns "PUBLIC" or "PRIVATE", the schema's enum values.
func (s Scope) String() string {
	if s == Private {
		return "PRIVATE"
	}
	return "PUBLIC"
}

// Result is the cache policy of one operation.
type Result struct {
	// MaxAge is how long the response may be served after it was computed:
	// the smallest max-age of the operation's fields, in whole seconds. It
	// is 0 when the operation is not Cacheable, and may be 0 when it is
	// (some field has no hint).
	MaxAge time.Duration
	// Scope is Private when any field or type in the selection is hinted
	// PRIVATE.
	Scope Scope
	// Cacheable is false for mutations, subscriptions, operations that
	// select introspection fields, and selections that were not validated
	// against the schema (a field without its definition). A response may
	// be kept only when Cacheable is true and MaxAge is positive; a PRIVATE
	// one only by its own caller.
	Cacheable bool
}

// hint is what one @cacheControl says; hasAge is false when maxAge is not
// given.
type hint struct {
	maxAge  time.Duration
	hasAge  bool
	private bool
}

// Policy computes the cache policy of op, an operation of a document that
// was validated against schema (gqlparser then resolves every field's
// definition and every fragment spread, which Policy relies on). Each
// fragment is walked at most twice (as spread at the root and below it),
// however often it is spread, so a document that nests spreads cannot make
// the walk exponential.
//
// A nil schema or op returns the zero Result, which is not Cacheable.
func Policy(schema *ast.Schema, op *ast.OperationDefinition) Result {
	if schema == nil || op == nil || op.Operation != ast.Query {
		return Result{}
	}
	w := walker{schema: schema, fragments: map[fragmentUse]walkResult{}}
	r := w.selectionSet(op.SelectionSet, true)
	if !r.ok {
		return Result{}
	}
	res := Result{Cacheable: true}
	if r.private {
		res.Scope = Private
	}
	if r.hasAge {
		res.MaxAge = time.Duration(r.minAge)
	}
	return res
}

// walkResult is what a selection set contributes: the smallest max-age of
// the fields that restrict it (hasAge false when none does), whether any is
// private, and ok false when the policy cannot be known (introspection, an
// unresolved field).
type walkResult struct {
	minAge  time.Duration
	hasAge  bool
	private bool
	ok      bool
}

func (r *walkResult) merge(o walkResult) {
	if !o.ok {
		r.ok = false
	}
	if o.hasAge && (!r.hasAge || o.minAge < r.minAge) {
		r.minAge, r.hasAge = o.minAge, true
	}
	r.private = r.private || o.private
}

func (r *walkResult) restrict(age time.Duration) {
	if !r.hasAge || age < r.minAge {
		r.minAge, r.hasAge = age, true
	}
}

// fragmentUse is a fragment walked at the root or below it: root fields
// default to max-age 0 even when they are scalars, so the two differ.
type fragmentUse struct {
	def  *ast.FragmentDefinition
	root bool
}

type walker struct {
	schema    *ast.Schema
	fragments map[fragmentUse]walkResult
}

// selectionSet returns the contribution of set. A field's max-age never
// depends on its parent's (leaves that inherit it add no restriction of
// their own), which is why a fragment's contribution can be reused.
func (w *walker) selectionSet(set ast.SelectionSet, root bool) walkResult {
	acc := walkResult{ok: true}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			acc.merge(w.field(s, root))
		case *ast.InlineFragment:
			acc.merge(w.selectionSet(s.SelectionSet, root))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				acc.ok = false
				continue
			}
			use := fragmentUse{def: s.Definition, root: root}
			r, seen := w.fragments[use]
			if !seen {
				// Validation forbids cycles; the placeholder makes a cycle
				// in an unvalidated document end instead of recursing.
				w.fragments[use] = walkResult{ok: false}
				r = w.selectionSet(s.Definition.SelectionSet, root)
				w.fragments[use] = r
			}
			acc.merge(r)
		default:
			acc.ok = false
		}
	}
	return acc
}

func (w *walker) field(f *ast.Field, root bool) walkResult {
	if f.Name == "__schema" || f.Name == "__type" {
		return walkResult{ok: false}
	}
	if f.Name == "__typename" {
		// A leaf: below the root it inherits; at the root it is a root
		// field without a hint.
		r := walkResult{ok: true}
		if root {
			r.restrict(0)
		}
		return r
	}
	if f.Definition == nil || f.Definition.Type == nil {
		return walkResult{ok: false}
	}
	r := walkResult{ok: true}
	fh := hintOf(f.Definition.Directives)
	typ := w.schema.Types[f.Definition.Type.Name()]
	composite := typ != nil && (typ.Kind == ast.Object || typ.Kind == ast.Interface || typ.Kind == ast.Union)
	var th hint
	if composite {
		th = hintOf(typ.Directives)
	}
	switch {
	case fh.hasAge:
		r.restrict(fh.maxAge)
	case th.hasAge:
		r.restrict(th.maxAge)
	case composite || root:
		r.restrict(0)
	}
	r.private = fh.private || th.private
	if len(f.SelectionSet) > 0 {
		r.merge(w.selectionSet(f.SelectionSet, false))
	}
	return r
}

// hintOf reads the @cacheControl of a field or type. Only arguments written
// out count: scope's declared default (PUBLIC) never overrides a PRIVATE
// elsewhere. A maxAge that is negative or not an integer reads as 0, the
// safe side.
func hintOf(dirs ast.DirectiveList) hint {
	var h hint
	d := dirs.ForName(DirectiveName)
	if d == nil {
		return h
	}
	if a := d.Arguments.ForName("maxAge"); a != nil && a.Value != nil && a.Value.Kind != ast.NullValue {
		h.hasAge = true
		if n, err := strconv.ParseInt(a.Value.Raw, 10, 64); err == nil && n > 0 {
			h.maxAge = time.Duration(min(n, int64(math.MaxInt64/int64(time.Second)))) * time.Second
		}
	}
	if a := d.Arguments.ForName("scope"); a != nil && a.Value != nil && a.Value.Raw == "PRIVATE" {
		h.private = true
	}
	return h
}

// Analyzer computes policies against one schema and remembers them per
// document, so an operation sent over and over is walked once. Use
// NewAnalyzer; it is safe for concurrent use.
type Analyzer struct {
	schema *ast.Schema
	memo   *lru.LRU[Result]
}

// NewAnalyzer returns an Analyzer for schema that remembers the policies of
// up to size documents (least recently used forgotten first). It refuses a
// nil schema, a size below 1, and a schema that does not declare
// @cacheControl(maxAge: Int, scope: CacheControlScope) with
// CacheControlScope's values PUBLIC and PRIVATE: without the declaration no
// field can be hinted, and every operation would silently be uncacheable.
func NewAnalyzer(schema *ast.Schema, size int) (*Analyzer, error) {
	if schema == nil {
		return nil, errors.New("cachecontrol: a schema is required")
	}
	if size < 1 {
		return nil, fmt.Errorf("cachecontrol: memo size must be at least 1, got %d", size)
	}
	if err := checkDeclared(schema); err != nil {
		return nil, err
	}
	return &Analyzer{schema: schema, memo: lru.New[Result](size)}, nil
}

func checkDeclared(schema *ast.Schema) error {
	d := schema.Directives[DirectiveName]
	if d == nil {
		return errors.New("cachecontrol: the schema does not declare @" + DirectiveName)
	}
	if a := d.Arguments.ForName("maxAge"); a == nil || a.Type.Name() != "Int" {
		return errors.New("cachecontrol: @" + DirectiveName + " needs an argument maxAge: Int")
	}
	a := d.Arguments.ForName("scope")
	if a == nil {
		return errors.New("cachecontrol: @" + DirectiveName + " needs an argument scope")
	}
	enum := schema.Types[a.Type.Name()]
	if enum == nil || enum.Kind != ast.Enum || enum.EnumValues.ForName("PUBLIC") == nil || enum.EnumValues.ForName("PRIVATE") == nil {
		return errors.New("cachecontrol: the scope of @" + DirectiveName + " must be an enum with PUBLIC and PRIVATE")
	}
	return nil
}

// Policy returns the policy of op, the selected operation of the document
// whose text is query (as parsed and validated against the Analyzer's
// schema). Results are remembered by query text and operation name, which
// together name one operation of one document; callers must therefore pass
// the text op was parsed from. A nil op is not Cacheable and not remembered.
func (a *Analyzer) Policy(query string, op *ast.OperationDefinition) Result {
	if op == nil {
		return Result{}
	}
	key := op.Name + "\x00" + query
	if r, ok := a.memo.Get(context.Background(), key); ok {
		return r
	}
	r := Policy(a.schema, op)
	a.memo.Add(context.Background(), key, r)
	return r
}
