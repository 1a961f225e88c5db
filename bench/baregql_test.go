package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBareGqlgenAnswersInMeridiansShape holds the baseline to the page it
// stands in for: the bare gqlgen server must answer the catalog page with
// the keys, value kinds and list lengths Meridian answers it with, for the
// same products, or the comparison measures different work.
func TestBareGqlgenAnswersInMeridiansShape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seed, g, _ := startTestGateway(t)
	h, err := bareHandler(seed.catalog)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := startPlain(h)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()

	client := newLoadClient(1)
	defer client.CloseIdleConnections()
	answer := func(url string) any {
		t.Helper()
		s, resp := send(ctx, client, target{URL: url + "/graphql", Body: cachedPage})
		if s.outcome != outcomeOK {
			t.Fatalf("%s: outcome %d (%s)", url, s.outcome, s.code)
		}
		var v any
		if err := json.Unmarshal(resp.body, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want, got := answer(g.URL), answer(bare.URL)
	if diffs := shapeDiff("", want, got); len(diffs) > 0 {
		t.Errorf("the bare server's answer differs in shape from Meridian's:\n%s", strings.Join(diffs, "\n"))
	}
	if meridianIDs, bareIDs := productIDs(want), productIDs(got); len(meridianIDs) != 50 || !slices.Equal(meridianIDs, bareIDs) {
		t.Errorf("product ids: Meridian %v, bare gqlgen %v; want the same 50", meridianIDs, bareIDs)
	}
}

// shapeDiff lists where two decoded JSON values differ in shape: in the
// keys of an object, the length of a list, or the kind of a value.
// Strings, numbers and booleans of the same kind match whatever their
// value.
func shapeDiff(path string, want, got any) []string {
	if jsonKind(want) != jsonKind(got) {
		return []string{fmt.Sprintf("%s: %s in Meridian's answer, %s in bare gqlgen's", cmpPath(path), jsonKind(want), jsonKind(got))}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: no %q in bare gqlgen's answer", cmpPath(path), k))
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: %q only in bare gqlgen's answer", cmpPath(path), k))
			}
		}
	case []any:
		g := got.([]any)
		if len(w) != len(g) {
			return []string{fmt.Sprintf("%s: %d items in Meridian's answer, %d in bare gqlgen's", cmpPath(path), len(w), len(g))}
		}
		for i := range w {
			diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
	}
	slices.Sort(diffs)
	return diffs
}

func cmpPath(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// jsonKind names the JSON kind of a value decoded into any.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// productIDs are the ids of a decoded catalog page's products, in order.
func productIDs(page any) []string {
	var ids []string
	data, _ := page.(map[string]any)["data"].(map[string]any)
	search, _ := data["search"].(map[string]any)
	edges, _ := search["edges"].([]any)
	for _, e := range edges {
		node, _ := e.(map[string]any)["node"].(map[string]any)
		id, _ := node["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

func TestShapeDiffFindsEachDifference(t *testing.T) {
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name, want, got string
		diffs           int
	}{
		{"same shape, other values", `{"a":[{"b":1,"c":"x"}]}`, `{"a":[{"b":2,"c":"y"}]}`, 0},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, 1},
		{"extra key", `{"a":1}`, `{"a":1,"b":2}`, 1},
		{"other length", `{"a":[1,2]}`, `{"a":[1]}`, 1},
		{"null for an object", `{"a":{"b":1}}`, `{"a":null}`, 1},
		{"string for a number", `[1]`, `["1"]`, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := shapeDiff("", decode(tt.want), decode(tt.got)); len(got) != tt.diffs {
				t.Errorf("got %d differences %q, want %d", len(got), got, tt.diffs)
			}
		})
	}
}
