package cachecontrol

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const testSchema = `
directive @cacheControl(maxAge: Int, scope: CacheControlScope = PUBLIC) on FIELD_DEFINITION | OBJECT
enum CacheControlScope { PUBLIC PRIVATE }

type Query {
  product(id: ID!): Product @cacheControl(maxAge: 60)
  products(ids: [ID!]!): [Product]!
  search(first: Int): ProductConnection! @cacheControl(maxAge: 120)
  item(id: ID!): SearchItem @cacheControl(maxAge: 100)
  anyItem(id: ID!): SearchItem
  node(id: ID!): Node
  hintedNode(id: ID!): Node @cacheControl(maxAge: 40)
  account: Account @cacheControl(maxAge: 60)
  me: Account @cacheControl(maxAge: 60, scope: PRIVATE)
  version: String
  motd: String @cacheControl(maxAge: 30)
}

type Mutation {
  buy(id: ID!): Product
}

interface Node { id: ID! }

union SearchItem = Product | Category

type Product implements Node @cacheControl(maxAge: 300) {
  id: ID!
  name: String!
  status: Status!
  price: Money!
  inventory: Inventory @cacheControl(maxAge: 10)
  related: [[Product!]]
  secret: String @cacheControl(scope: PRIVATE)
  fast: String @cacheControl(maxAge: 5)
  slow: String @cacheControl(maxAge: 1000)
}

enum Status { ACTIVE RETIRED }

type Money { amount: String! }

type Inventory @cacheControl(maxAge: 30) { available: Int! }

type Category implements Node @cacheControl(maxAge: 600) { id: ID! name: String! }

type ProductConnection @cacheControl(maxAge: 300) { edges: [ProductEdge!]! }
type ProductEdge @cacheControl(maxAge: 300) { node: Product! }

type Account @cacheControl(scope: PRIVATE) { name: String! }
`

func loadSchema(t testing.TB, src string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphqls", Input: src})
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return s
}

// operation parses and validates query and returns its operation named
// name ("" for the only one).
func operation(t testing.TB, schema *ast.Schema, query, name string) *ast.OperationDefinition {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if errs != nil {
		t.Fatalf("query %q: %v", query, errs)
	}
	if name == "" && len(doc.Operations) == 1 {
		return doc.Operations[0]
	}
	op := doc.Operations.ForName(name)
	if op == nil {
		t.Fatalf("no operation %q", name)
	}
	return op
}

func TestPolicy(t *testing.T) {
	schema := loadSchema(t, testSchema)
	sec := time.Second
	public := func(age time.Duration) Result { return Result{MaxAge: age, Scope: Public, Cacheable: true} }
	private := func(age time.Duration) Result { return Result{MaxAge: age, Scope: Private, Cacheable: true} }
	tests := []struct {
		name, query, op string
		want            Result
	}{
		{"field hint wins over the type's; leaves inherit",
			`{ product(id: 1) { id name status } }`, "", public(60 * sec)},
		{"root list field takes its type's hint",
			`{ products(ids: [1]) { id } }`, "", public(300 * sec)},
		{"object field without any hint is 0",
			`{ product(id: 1) { name price { amount } } }`, "", public(0)},
		{"short inventory lowers the whole page",
			`{ search(first: 50) { edges { node { id name inventory { available } } } } }`, "", public(10 * sec)},
		{"inventory field hint wins over the Inventory type",
			`{ product(id: 1) { inventory { available } } }`, "", public(10 * sec)},
		{"fragments",
			`query { ...Root } fragment Root on Query { product(id: 1) { ...P } } fragment P on Product { name inventory { available } }`,
			"", public(10 * sec)},
		{"unhinted root scalar reached through a root fragment is 0",
			`query { ...Root } fragment Root on Query { version }`, "", public(0)},
		{"the same fragment below the root inherits",
			`query { product(id: 1) { ...N } } fragment N on Product { name }`, "", public(60 * sec)},
		{"aliases are fields like any other",
			`{ a: product(id: 1) { id } b: product(id: 2) { stock: inventory { n: available } } }`, "", public(10 * sec)},
		{"inline fragments on a union",
			`{ item(id: 1) { ... on Product { id } ... on Category { name } } }`, "", public(100 * sec)},
		{"inline fragment with a short field",
			`{ item(id: 1) { ... on Product { fast } ... on Category { name } } }`, "", public(5 * sec)},
		{"union without a hint is 0",
			`{ anyItem(id: 1) { ... on Category { name } } }`, "", public(0)},
		{"interface field without a hint is 0",
			`{ node(id: 1) { id } }`, "", public(0)},
		{"interface field with a hint",
			`{ hintedNode(id: 1) { id ... on Product { name } } }`, "", public(40 * sec)},
		{"nested lists",
			`{ product(id: 1) { related { related { id fast } } } }`, "", public(5 * sec)},
		{"a leaf's longer maxAge does not raise its parent's",
			`{ product(id: 1) { slow } }`, "", public(60 * sec)},
		{"PRIVATE field",
			`{ product(id: 1) { name secret } }`, "", private(60 * sec)},
		{"PRIVATE type is sticky under a PUBLIC-by-default field hint",
			`{ account { name } }`, "", private(60 * sec)},
		{"PRIVATE root field",
			`{ me { name } product(id: 1) { id } }`, "", private(60 * sec)},
		{"root scalar without a hint",
			`{ version }`, "", public(0)},
		{"root scalar with a hint",
			`{ motd }`, "", public(30 * sec)},
		{"__typename below the root inherits",
			`{ product(id: 1) { __typename id } }`, "", public(60 * sec)},
		{"__typename at the root is an unhinted root field",
			`{ __typename }`, "", public(0)},
		{"introspection is not cacheable",
			`{ __schema { types { name } } }`, "", Result{}},
		{"introspection next to cacheable fields",
			`{ product(id: 1) { id } __type(name: "Product") { name } }`, "", Result{}},
		{"mutation",
			`mutation { buy(id: 1) { id } }`, "", Result{}},
		{"the selected operation of several",
			`query A { product(id: 1) { id } } query B { product(id: 1) { fast } } mutation C { buy(id: 1) { id } }`,
			"B", public(5 * sec)},
		{"the other operation of the same document",
			`query A { product(id: 1) { id } } query B { product(id: 1) { fast } } mutation C { buy(id: 1) { id } }`,
			"A", public(60 * sec)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Policy(schema, operation(t, schema, tt.query, tt.op))
			if got != tt.want {
				t.Fatalf("Policy = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPolicyNil(t *testing.T) {
	schema := loadSchema(t, testSchema)
	if got := Policy(schema, nil); got != (Result{}) {
		t.Fatalf("nil op: %+v", got)
	}
	if got := Policy(nil, operation(t, schema, `{ motd }`, "")); got != (Result{}) {
		t.Fatalf("nil schema: %+v", got)
	}
}

func TestPolicyUnvalidatedIsNotCacheable(t *testing.T) {
	schema := loadSchema(t, testSchema)
	op := &ast.OperationDefinition{Operation: ast.Query, SelectionSet: ast.SelectionSet{&ast.Field{Name: "motd"}}}
	if got := Policy(schema, op); got.Cacheable {
		t.Fatalf("a field without its definition: %+v", got)
	}
}

// Spreading each fragment twice into the next would make a naive walk
// visit 2^n fields.
func TestPolicyNestedSpreadsStayLinear(t *testing.T) {
	schema := loadSchema(t, testSchema)
	const n = 40
	var b strings.Builder
	b.WriteString(`{ product(id: 1) { ...F0 } }`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Product { name ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Product { fast }", n)
	op := operation(t, schema, b.String(), "")
	start := time.Now()
	got := Policy(schema, op)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if want := (Result{MaxAge: 5 * time.Second, Cacheable: true}); got != want {
		t.Fatalf("Policy = %+v, want %+v", got, want)
	}
}

func TestHintValues(t *testing.T) {
	schema := loadSchema(t, `
directive @cacheControl(maxAge: Int, scope: CacheControlScope = PUBLIC) on FIELD_DEFINITION | OBJECT
enum CacheControlScope { PUBLIC PRIVATE }
type Query {
  negative: String @cacheControl(maxAge: -5)
  huge: String @cacheControl(maxAge: 99999999999999999999)
  scopeOnly: T @cacheControl(scope: PRIVATE)
  explicitPublic: T @cacheControl(maxAge: 9, scope: PUBLIC)
}
type T @cacheControl(maxAge: 7) { x: Int }
`)
	tests := []struct {
		query string
		want  Result
	}{
		{`{ negative }`, Result{MaxAge: 0, Cacheable: true}},
		{`{ huge }`, Result{MaxAge: 0, Cacheable: true}}, // not an int64: the safe side
		{`{ scopeOnly { x } }`, Result{MaxAge: 7 * time.Second, Scope: Private, Cacheable: true}},
		{`{ explicitPublic { x } }`, Result{MaxAge: 9 * time.Second, Cacheable: true}},
	}
	for _, tt := range tests {
		if got := Policy(schema, operation(t, schema, tt.query, "")); got != tt.want {
			t.Errorf("%s: Policy = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

func TestAnalyzer(t *testing.T) {
	schema := loadSchema(t, testSchema)
	a, err := NewAnalyzer(schema, 2)
	if err != nil {
		t.Fatal(err)
	}
	q := `query A { product(id: 1) { id } } query B { product(id: 1) { fast } }`
	doc, errs := gqlparser.LoadQuery(schema, q)
	if errs != nil {
		t.Fatal(errs)
	}
	for range 2 { // the second round answers from the memo
		if got := a.Policy(q, doc.Operations.ForName("A")); got.MaxAge != 60*time.Second {
			t.Fatalf("A: %+v", got)
		}
		if got := a.Policy(q, doc.Operations.ForName("B")); got.MaxAge != 5*time.Second {
			t.Fatalf("B: %+v", got)
		}
	}
	if got := a.Policy(q, nil); got != (Result{}) {
		t.Fatalf("nil op: %+v", got)
	}
}

func TestNewAnalyzerValidates(t *testing.T) {
	good := loadSchema(t, testSchema)
	if _, err := NewAnalyzer(nil, 10); err == nil {
		t.Error("nil schema accepted")
	}
	if _, err := NewAnalyzer(good, 0); err == nil {
		t.Error("size 0 accepted")
	}
	for name, src := range map[string]string{
		"undeclared": `type Query { a: String }`,
		"no maxAge": `directive @cacheControl(scope: CacheControlScope) on FIELD_DEFINITION | OBJECT
enum CacheControlScope { PUBLIC PRIVATE } type Query { a: String }`,
		"no scope": `directive @cacheControl(maxAge: Int) on FIELD_DEFINITION | OBJECT
type Query { a: String }`,
		"scope without PRIVATE": `directive @cacheControl(maxAge: Int, scope: Scope) on FIELD_DEFINITION | OBJECT
enum Scope { PUBLIC } type Query { a: String }`,
	} {
		if _, err := NewAnalyzer(loadSchema(t, src), 10); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkPolicy(b *testing.B) {
	schema := loadSchema(b, testSchema)
	op := operation(b, schema, `query Page { search(first: 50) { edges { node { id name status price { amount } inventory { available } related { id name } } } } }`, "")
	b.ReportAllocs()
	for b.Loop() {
		Policy(schema, op)
	}
}
