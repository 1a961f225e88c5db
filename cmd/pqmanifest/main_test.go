package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian/internal/persisted"
)

const (
	repoOperations = "../../testdata/persisted"
	repoManifest   = "../../testdata/persisted/manifest.json"
	repoSchema     = "../../schema.graphqls"
)

// TestCommittedManifestIsCurrent fails when testdata/persisted/manifest.json
// is not what the generator makes of testdata/persisted/*.graphql and the
// schema: an operation was added or edited without regenerating, or the
// schema no longer accepts one. This is what makes CI fail.
func TestCommittedManifestIsCurrent(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"-dir", repoOperations, "-out", repoManifest, "-schema", repoSchema, "-check"}, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("the committed manifest is out of date (fix: go generate ./internal/persisted):\n%s", stderr.String())
	}
	data, err := os.ReadFile(repoManifest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := persisted.ParseManifest(repoManifest, data)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(repoOperations, "*.graphql"))
	if m.Len() != len(files) || m.Len() == 0 {
		t.Errorf("manifest has %d operations for %d files", m.Len(), len(files))
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"query A { a }\n":              "query A { a }",
		"query A { a }\r\n\r\n":        "query A { a }",
		"query A {\r\n  a\r\n}\r\n":    "query A {\n  a\n}",
		"query A { a }  \t\n":          "query A { a }",
		"# why\nquery A {\n\n  a\n}\n": "# why\nquery A {\n\n  a\n}",
		"  query A { a }":              "  query A { a }",
	} {
		if got := canonical([]byte(in)); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

func writeOps(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGenerate(t *testing.T) {
	dir := writeOps(t, map[string]string{
		"Zeta.graphql":  "query Zeta {\r\n  categories { id }\r\n}\r\n",
		"Alpha.graphql": "mutation Alpha { logout }\n",
		"Beta.graphql":  "query Beta { ...F }\nfragment F on Query { categories { id } }\n",
		"notes.txt":     "not an operation",
	})
	m, err := generate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := m.Operations()
	if len(ops) != 3 || ops[0].Name != "Alpha" || ops[1].Name != "Beta" || ops[2].Name != "Zeta" {
		t.Fatalf("operations %+v, want Alpha, Beta, Zeta", ops)
	}
	if ops[0].Type != persisted.Mutation || ops[2].Type != persisted.Query {
		t.Errorf("types %s, %s", ops[0].Type, ops[2].Type)
	}
	if ops[2].Body != "query Zeta {\n  categories { id }\n}" || ops[2].ID != persisted.HashBody(ops[2].Body) {
		t.Errorf("Zeta: body %q, id %s", ops[2].Body, ops[2].ID)
	}
}

func TestGenerateRefusesBadFiles(t *testing.T) {
	schema, err := loadSchema(repoSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, body, want string
	}{
		{"anonymous", "A.graphql", "{ categories { id } }", `defines operation ""`},
		{"two operations", "A.graphql", "query A { categories { id } } query B { categories { id } }", "2 operations"},
		{"only a fragment", "A.graphql", "fragment F on Query { categories { id } }", "0 operations"},
		{"named after another", "A.graphql", "query B { categories { id } }", `defines operation "B"`},
		{"does not parse", "A.graphql", "query A { categories { id }", "does not parse"},
		{"unknown field", "A.graphql", "query A { nope }", "does not validate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeOps(t, map[string]string{tt.file: tt.body})
			_, err := generate(dir, schema)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %v, want one naming %s and saying %q", err, tt.file, tt.want)
			}
		})
	}
	if _, err := generate(t.TempDir(), nil); err == nil {
		t.Error("an empty directory made a manifest")
	}
}

func TestCheckAndWrite(t *testing.T) {
	dir := writeOps(t, map[string]string{
		"Cats.graphql":  "query Cats { categories { id } }\n",
		"Names.graphql": "query Names { categories { name } }\n",
	})
	out := filepath.Join(dir, "manifest.json")
	var stdout, stderr bytes.Buffer

	if code := run([]string{"-dir", dir, "-out", out, "-check"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "cannot read") {
		t.Errorf("check without a manifest: exit %d, %s", code, stderr.String())
	}
	if code := run([]string{"-dir", dir, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("write: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-dir", dir, "-out", out, "-check"}, &stdout, &stderr); code != 0 {
		t.Errorf("check after write: exit %d, %s", code, stderr.String())
	}

	// Edit one, add one, remove one: the summary says which.
	if err := os.WriteFile(filepath.Join(dir, "Cats.graphql"), []byte("query Cats { categories { id name } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pos.graphql"), []byte("query Pos { categories { position } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "Names.graphql")); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	code := run([]string{"-dir", dir, "-out", out, "-check"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("check of a stale manifest: exit %d", code)
	}
	for _, want := range []string{"out of date", "changed Cats", "added   Pos", "removed Names"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr.String())
		}
	}

	// Only formatting differs.
	if code := run([]string{"-dir", dir, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	data, _ := os.ReadFile(out)
	if err := os.WriteFile(out, bytes.ReplaceAll(data, []byte("  "), []byte("\t")), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"-dir", dir, "-out", out, "-check"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "different formatting") {
		t.Errorf("reformatted manifest: exit %d, %s", code, stderr.String())
	}

	if code := run([]string{"-dir", dir, "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
}
