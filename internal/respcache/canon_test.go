package respcache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func canon(t *testing.T, s string) string {
	t.Helper()
	out, err := canonicalJSON(nil, []byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return string(out)
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestCanonicalJSON(t *testing.T) {
	for in, want := range map[string]string{
		` { "b" : 1 , "a" : [ 2 , { "d":null, "c":true } ] } `: `{"a":[2,{"c":true,"d":null}],"b":1}`,
		`{"a":1,"a":2}`:                 `{"a":2}`,
		`{"a":2,"b":0,"a":1}`:           `{"a":1,"b":0}`,
		`{"\u0061":1}`:                  `{"a":1}`,
		`{"a":1,"\u0061":2}`:            `{"a":2}`,
		`{"\u0061":2,"a":1}`:            `{"a":1}`,
		`{"s":"\u00e9\n","n":-1.50e+3}`: `{"n":-1.50e+3,"s":"\u00e9\n"}`,
		`[]`:                            `[]`,
		`{}`:                            `{}`,
		`{"k":{}}`:                      `{"k":{}}`,
		`"x"`:                           `"x"`,
		`{"a\"b":1,"a":2}`:              `{"a":2,"a\"b":1}`,
		`{"b":[3,1,2],"a":"]}{,:"}`:     `{"a":"]}{,:","b":[3,1,2]}`,
		`{"p":{"z":1,"y":{"x":[{"w":1,"v":2}]}}}`: `{"p":{"y":{"x":[{"v":2,"w":1}]},"z":1}}`,
	} {
		if got := canon(t, in); got != want {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
		if !reflect.DeepEqual(decodeJSON(t, in), decodeJSON(t, want)) {
			t.Errorf("%s: the expected form means something else", in)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":1,}x`, `[1 2]`, `{"a":1}{}`, `"unterminated`} {
		if _, err := canonicalJSON(nil, []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Randomized: the canonical form means what the input means, and does not
// depend on member order or whitespace.
func TestCanonicalJSONRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		v := randomValue(r, 3)
		a := render(r, v)
		b := render(r, v)
		ca, cb := canon(t, a), canon(t, b)
		if ca != cb {
			t.Fatalf("#%d: same value, two forms:\n%s -> %s\n%s -> %s", i, a, ca, b, cb)
		}
		if !reflect.DeepEqual(decodeJSON(t, ca), decodeJSON(t, a)) {
			t.Fatalf("#%d: meaning changed:\n%s\n%s", i, a, ca)
		}
	}
}

// jsonObject is an object whose members render in random order, with
// random duplicates overridden by the real value after them.
type jsonObject map[string]any

func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(7); {
	case depth > 0 && n == 0:
		o := jsonObject{}
		for range r.IntN(5) {
			o[[]string{"a", "b", "é", "a b", `q"`, "aa", "B"}[r.IntN(7)]] = randomValue(r, depth-1)
		}
		return o
	case depth > 0 && n == 1:
		var l []any
		for range r.IntN(4) {
			l = append(l, randomValue(r, depth-1))
		}
		return l
	case n == 2:
		return json.Number(fmt.Sprint(r.IntN(1000) - 500))
	case n == 3:
		return []string{"x", "", "é", "\n", `"`, "<&>"}[r.IntN(6)]
	case n == 4:
		return r.IntN(2) == 0
	case n == 5:
		return nil
	default:
		return json.Number("1.5e3")
	}
}

func render(r *rand.Rand, v any) string {
	var b bytes.Buffer
	renderTo(r, &b, v)
	return b.String()
}

func space(r *rand.Rand, b *bytes.Buffer) {
	b.WriteString([]string{"", " ", "\n\t", ""}[r.IntN(4)])
}

func renderTo(r *rand.Rand, b *bytes.Buffer, v any) {
	space(r, b)
	switch x := v.(type) {
	case jsonObject:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if r.IntN(4) == 0 { // a duplicate that the real member overrides
				renderKey(r, b, k)
				b.WriteString(`:"overridden",`)
			}
			renderKey(r, b, k)
			b.WriteByte(':')
			renderTo(r, b, x[k])
		}
		space(r, b)
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			renderTo(r, b, item)
		}
		b.WriteByte(']')
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
	space(r, b)
}

// renderKey writes a name plainly or, sometimes, with every character
// escaped.
func renderKey(r *rand.Rand, b *bytes.Buffer, k string) {
	if r.IntN(3) > 0 {
		enc, _ := json.Marshal(k)
		b.Write(enc)
		return
	}
	b.WriteByte('"')
	for _, c := range k {
		fmt.Fprintf(b, `\u%04x`, c)
	}
	b.WriteByte('"')
}
