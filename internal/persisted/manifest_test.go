package persisted

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// op builds a valid manifest operation from its body.
func op(name string, typ OperationType, body string) Operation {
	return Operation{ID: HashBody(body), Name: name, Type: typ, Body: body}
}

var (
	opName   = op("Name", Query, "query Name { name }")
	opFind   = op("Find", Query, "query Find($id: Int!) { find(id: $id) }")
	opRename = op("Rename", Mutation, "mutation Rename { name }")
)

// manifestJSON renders a manifest file with the given operations, bypassing
// validation so tests can write broken ones.
func manifestJSON(t testing.TB, ops ...Operation) []byte {
	t.Helper()
	b, err := json.Marshal(manifestFile{Format: ManifestFormat, Version: ManifestVersion, Operations: ops})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHashBody(t *testing.T) {
	// printf '%s' '{ name }' | sha256sum
	if got, want := HashBody("{ name }"), "30166fc3298853f22709fce1e4a00e98f1b6a3160eaaaf9cb3b7db6a16073b07"; got != want {
		t.Errorf("HashBody = %q, want %q", got, want)
	}
	if HashBody("{ name }") == HashBody("{ name } ") {
		t.Error("trailing whitespace must change the id: the body is hashed byte for byte")
	}
}

func TestParseID(t *testing.T) {
	hex := opName.ID
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{hex, hex, true},
		{"sha256:" + hex, hex, true},
		{strings.ToUpper(hex), hex, true},
		{"sha256:" + strings.ToUpper(hex), hex, true},
		{"", "", false},
		{hex[:63], "", false},
		{hex + "0", "", false},
		{"md5:" + hex, "", false},
		{"sha256:", "", false},
		{strings.Repeat("g", 64), "", false},
		{"SHA256:" + hex, "", false},
	} {
		got, ok := ParseID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseManifestValidation(t *testing.T) {
	wrongID := opName
	wrongID.ID = opFind.ID
	upperID := opName
	upperID.ID = strings.ToUpper(opName.ID)
	badType := opName
	badType.Type = "fragment"
	typeLies := op("Rename", Query, "mutation Rename { name }")
	nameLies := op("Other", Query, "query Name { name }")
	noName := op("", Query, "{ name }")
	empty := Operation{ID: HashBody(""), Name: "Empty", Type: Query}
	twoOps := op("Name", Query, "query Name { name } query Other { name }")
	unparsable := op("Name", Query, "query Name { name")
	sameNameOther := op("Name", Query, "query Name { name find(id: 1) }")
	withFragment := op("Name", Query, "query Name { ...F } fragment F on Query { name }")

	for _, tt := range []struct {
		name    string
		data    string
		wantErr []string // substrings of the error; none means valid
		wantLen int
	}{
		{"valid", string(manifestJSON(t, opName, opFind, opRename)), nil, 3},
		{"empty operations", `{"format":"apollo-persisted-query-manifest","version":1,"operations":[]}`, nil, 0},
		{"same operation twice is kept once", string(manifestJSON(t, opName, opName)), nil, 1},
		{"fragments are allowed", string(manifestJSON(t, withFragment)), nil, 1},
		{"unknown fields are ignored", `{"format":"apollo-persisted-query-manifest","version":1,"generator":"x","operations":[]}`, nil, 0},
		{"wrong format", `{"format":"relay","version":1,"operations":[]}`, []string{"m.json", `format "relay"`}, 0},
		{"no format", `{"version":1,"operations":[]}`, []string{"m.json", "format"}, 0},
		{"wrong version", `{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}`, []string{"m.json", "version 2"}, 0},
		{"not an object", `[]`, []string{"m.json", "not a manifest JSON object"}, 0},
		{"not JSON", `{"format":`, []string{"m.json", "not a manifest JSON object"}, 0},
		{"data after the object", string(manifestJSON(t, opName)) + ` {}`, []string{"m.json", "data after"}, 0},
		{"id of another body", string(manifestJSON(t, opFind, wrongID)), []string{"m.json", `operations[1] "Name"`, "SHA-256", opName.ID}, 0},
		{"uppercase id", string(manifestJSON(t, upperID)), []string{`operations[0] "Name"`, "lowercase hex SHA-256"}, 0},
		{"bad type", string(manifestJSON(t, badType)), []string{`operations[0] "Name"`, `type "fragment"`}, 0},
		{"type disagrees with body", string(manifestJSON(t, typeLies)), []string{`"Rename"`, "body is a mutation, but type says query"}, 0},
		{"name disagrees with body", string(manifestJSON(t, nameLies)), []string{`"Other"`, `defines operation "Name"`}, 0},
		{"anonymous operation", string(manifestJSON(t, noName)), []string{"name is empty"}, 0},
		{"empty body", string(manifestJSON(t, empty)), []string{`"Empty"`, "body is empty"}, 0},
		{"two operations", string(manifestJSON(t, twoOps)), []string{"2 operations"}, 0},
		{"body does not parse", string(manifestJSON(t, unparsable)), []string{"does not parse"}, 0},
		{"one name, two ids", string(manifestJSON(t, opName, sameNameOther)), []string{`operations[1] "Name"`, "also used by id " + opName.ID}, 0},
		{"every problem is reported", string(manifestJSON(t, wrongID, badType, opFind)), []string{"operations[0]", "operations[1]"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest("m.json", []byte(tt.data))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if m.Len() != tt.wantLen {
					t.Errorf("Len = %d, want %d", m.Len(), tt.wantLen)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestManifestLookup(t *testing.T) {
	m, err := NewManifest([]Operation{opName, opRename})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{opName.ID, "sha256:" + opName.ID, strings.ToUpper(opName.ID)} {
		if got, ok := m.Lookup(id); !ok || got != opName {
			t.Errorf("Lookup(%q) = %+v, %v", id, got, ok)
		}
	}
	for _, id := range []string{opFind.ID, "", "Name", opName.ID[:10]} {
		if _, ok := m.Lookup(id); ok {
			t.Errorf("Lookup(%q) found something", id)
		}
	}
	var none *Manifest
	if _, ok := none.Lookup(opName.ID); ok || none.Len() != 0 || none.Operations() != nil {
		t.Error("a nil manifest must hold nothing")
	}
}

func TestEncodeIsSortedAndRoundTrips(t *testing.T) {
	m, err := NewManifest([]Operation{opRename, opName, opFind, op("Html", Query, `query Html { find(id: 1) } # <a&b>`)})
	if err != nil {
		t.Fatal(err)
	}
	out := m.Encode()
	if !strings.HasSuffix(string(out), "}\n") || !strings.Contains(string(out), "\n  \"operations\"") {
		t.Errorf("not indented with a final newline:\n%s", out)
	}
	if strings.Contains(string(out), `\u003c`) {
		t.Error("HTML characters are escaped; bodies must stay readable")
	}
	var names []string
	for _, o := range m.Operations() {
		names = append(names, o.Name)
	}
	if want := []string{"Find", "Html", "Name", "Rename"}; !cmp.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
	back, err := ParseManifest("round trip", out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Operations(), back.Operations()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	empty, _ := NewManifest(nil)
	if !strings.Contains(string(empty.Encode()), `"operations": []`) {
		t.Errorf("an empty manifest must list no operations, not null:\n%s", empty.Encode())
	}
}

func TestLoadManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nameV2 := op("Name", Query, "query Name { name find(id: 2) }")
	current := write("current.json", manifestJSON(t, opName, opFind))
	next := write("next.json", manifestJSON(t, opFind, nameV2, opRename))

	m, err := LoadManifests(current, next)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 4 {
		t.Errorf("Len = %d, want 4 (Find once, both releases of Name, Rename)", m.Len())
	}
	for _, o := range []Operation{opName, nameV2, opFind, opRename} {
		if got, ok := m.Lookup(o.ID); !ok || got != o {
			t.Errorf("Lookup(%s) = %+v, %v", o.Name, got, ok)
		}
	}

	if m, err := LoadManifests(); err != nil || m.Len() != 0 {
		t.Errorf("no paths: %v, %d operations; want an empty manifest", err, m.Len())
	}

	broken := opFind
	broken.Body += " "
	bad := write("bad.json", manifestJSON(t, opName, broken))
	missing := filepath.Join(dir, "missing.json")
	_, err = LoadManifests(current, bad, missing)
	if err == nil {
		t.Fatal("a broken and a missing file were accepted")
	}
	for _, s := range []string{bad, `operations[1] "Find"`, missing} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}

// FuzzParseManifest: ParseManifest never panics, and whatever it accepts is
// consistent: every id is its body's hash and found by Lookup, and the
// canonical encoding parses back to the same operations.
func FuzzParseManifest(f *testing.F) {
	f.Add(string(manifestJSON(f, opName, opFind, opRename)))
	f.Add(string(manifestJSON(f, opName, opName)))
	f.Add(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[]}`)
	f.Add(`{"format":"apollo-persisted-query-manifest","version":1,"operations":null}`)
	f.Add(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"x","name":"A","type":"query","body":"{a}"}]}`)
	f.Add(`{"format":"apollo-persisted-query-manifest","version":1.5}`)
	f.Add(`{"operations":[{}]}`)
	f.Add(`{}`)
	f.Add(`null`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, data string) {
		m, err := ParseManifest("fuzz.json", []byte(data))
		if err != nil {
			if m != nil {
				t.Fatal("a manifest returned with an error")
			}
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, o := range m.Operations() {
			if HashBody(o.Body) != o.ID {
				t.Fatalf("accepted %s whose id is not its hash", o.Name)
			}
			if got, ok := m.Lookup(o.ID); !ok || got != o {
				t.Fatalf("Lookup(%s) = %+v, %v", o.ID, got, ok)
			}
		}
		back, err := ParseManifest("encoded", m.Encode())
		if err != nil {
			t.Fatalf("canonical encoding does not parse: %v", err)
		}
		if !cmp.Equal(m.Operations(), back.Operations()) {
			t.Fatal("canonical encoding changed the operations")
		}
	})
}
