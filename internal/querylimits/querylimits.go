// Package querylimits refuses GraphQL operations that are too deep or use too
// many aliases, before any resolver runs.
//
// Complexity is limited by gqlgen's own extension; size by the body limit and
// the parser's token limit. Depth and aliases need this extension because a
// small document can still nest deeply or alias one expensive field hundreds
// of times.
package querylimits

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Error codes, part of the public error contract.
const (
	CodeDepthLimitExceeded = "DEPTH_LIMIT_EXCEEDED"
	CodeAliasLimitExceeded = "ALIAS_LIMIT_EXCEEDED"
)

// Extension is a gqlgen handler extension enforcing depth and alias limits.
type Extension struct {
	// MaxDepth is the deepest allowed selection nesting; a query
	// `{ product { category { name } } }` has depth 3. Introspection fields
	// (those starting with "__") and what lies below them are not counted, so
	// a playground's schema query is never refused.
	MaxDepth int
	// MaxAliases is the number of aliased fields allowed in the operation,
	// counting each fragment spread where it is used.
	MaxAliases int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Extension{}

// ExtensionName implements graphql.HandlerExtension.
func (Extension) ExtensionName() string { return "QueryLimits" }

// Validate implements graphql.HandlerExtension: limits must be positive.
func (e Extension) Validate(graphql.ExecutableSchema) error {
	if e.MaxDepth < 1 || e.MaxAliases < 1 {
		return errors.New("querylimits: MaxDepth and MaxAliases must be at least 1")
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator. It runs
// after validation, so fragment cycles have already been refused.
func (e Extension) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	m := walker{fragments: map[string]measurement{}}.measure(opCtx.Operation.SelectionSet)
	if m.depth > e.MaxDepth {
		err := gqlerror.Errorf("operation has depth %d, which exceeds the limit of %d", m.depth, e.MaxDepth)
		errcode.Set(err, CodeDepthLimitExceeded)
		return err
	}
	if m.aliases > e.MaxAliases {
		err := gqlerror.Errorf("operation uses %d aliases, which exceeds the limit of %d", m.aliases, e.MaxAliases)
		errcode.Set(err, CodeAliasLimitExceeded)
		return err
	}
	return nil
}

type measurement struct {
	depth   int
	aliases int
}

// walker measures selection sets, remembering each named fragment's
// measurement: a document whose fragments spread the next one twice per level
// would otherwise take exponential time to walk.
type walker struct {
	fragments map[string]measurement
}

// measure walks a selection set, counting fragments where they are used. The
// alias count saturates so multiplied fragments cannot overflow it.
func (w walker) measure(set ast.SelectionSet) measurement {
	var m measurement
	for _, sel := range set {
		var child measurement
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) >= 2 && s.Name[:2] == "__" {
				continue
			}
			child = w.measure(s.SelectionSet)
			child.depth++
			if s.Alias != "" && s.Alias != s.Name {
				child.aliases++
			}
		case *ast.InlineFragment:
			child = w.measure(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			cached, ok := w.fragments[s.Name]
			if !ok {
				cached = w.measure(s.Definition.SelectionSet)
				w.fragments[s.Name] = cached
			}
			child = cached
		}
		m.depth = max(m.depth, child.depth)
		m.aliases = min(m.aliases+child.aliases, aliasCap)
	}
	return m
}

// aliasCap bounds the alias count; any limit a deployment sets is far below.
const aliasCap = 1 << 20
