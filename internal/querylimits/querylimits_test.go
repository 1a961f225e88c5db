package querylimits

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
type Query { node: Node }
type Node { id: ID! child: Node name: String }
`})

func run(t *testing.T, ext Extension, query string) (code string, msg string) {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if errs != nil {
		t.Fatalf("query does not validate: %v", errs)
	}
	opCtx := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	err := ext.MutateOperationContext(context.Background(), opCtx)
	if err == nil {
		return "", ""
	}
	c, _ := err.Extensions["code"].(string)
	return c, err.Message
}

func nested(depth int) string {
	return strings.Repeat("{ node ", 1) + strings.Repeat("{ child ", depth-2) + "{ id }" + strings.Repeat(" }", depth-2) + " }"
}

func TestDepth(t *testing.T) {
	ext := Extension{MaxDepth: 5, MaxAliases: 10}
	tests := []struct {
		name, query, wantCode string
	}{
		{"at the limit", nested(5), ""},
		{"one over", nested(6), CodeDepthLimitExceeded},
		{"through a fragment", `{ node { ...F } } fragment F on Node { child { child { child { child { id } } } } }`, CodeDepthLimitExceeded},
		{"through an inline fragment", `{ node { ... on Node { child { child { child { id } } } } } }`, ""},
		{"introspection is not counted", `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := run(t, ext, tt.query); got != tt.wantCode {
				t.Errorf("code = %q (%s), want %q", got, msg, tt.wantCode)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	ext := Extension{MaxDepth: 10, MaxAliases: 3}
	var three, four []string
	for i := range 4 {
		a := fmt.Sprintf("a%d: node { id }", i)
		if i < 3 {
			three = append(three, a)
		}
		four = append(four, a)
	}
	tests := []struct {
		name, query, wantCode string
	}{
		{"three", "{" + strings.Join(three, " ") + "}", ""},
		{"four", "{" + strings.Join(four, " ") + "}", CodeAliasLimitExceeded},
		{"fragment used twice counts twice", `{ node { ...F child { ...F } } } fragment F on Node { x: id y: name }`, CodeAliasLimitExceeded},
		{"alias equal to the name is not an alias", `{ node: node { id: id } }`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := run(t, ext, tt.query); got != tt.wantCode {
				t.Errorf("code = %q (%s), want %q", got, msg, tt.wantCode)
			}
		})
	}
}

// TestFragmentFanOutIsLinear builds fragments that each spread the next one
// twice: 2^40 uses if walked naively. It must finish at once and count the
// aliases (saturated), not hang.
func TestFragmentFanOutIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ node { ...F0 } }\n")
	const levels = 40
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Node { a: child { ...F%d } b: child { ...F%d } }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Node { id }\n", levels)
	// Depth here is 42; the aliases are what must be refused.
	code, msg := run(t, Extension{MaxDepth: 100, MaxAliases: 1000}, b.String())
	if code != CodeAliasLimitExceeded {
		t.Errorf("code = %q (%s), want %q", code, msg, CodeAliasLimitExceeded)
	}
}

func TestValidateRejectsZeroLimits(t *testing.T) {
	if err := (Extension{}).Validate(nil); err == nil {
		t.Error("Validate accepted zero limits")
	}
}
