// Command pqmanifest writes the persisted-query manifest of the operations
// Meridian's clients ship with, from one .graphql file per operation.
//
//	go run ./cmd/pqmanifest [-dir testdata/persisted] [-out testdata/persisted/manifest.json]
//	                        [-schema schema.graphqls] [-check]
//
// Each *.graphql file in -dir holds one named operation (and the fragments
// it uses); the file is named after the operation (CatalogPage.graphql holds
// query CatalogPage). The manifest is Apollo's format, operations sorted by
// name, each with id = lowercase hex SHA-256 of its body.
//
// The body is the canonical form of the file, which is what clients must
// send (or hash) byte for byte:
//
//   - CRLF line endings become LF, so a Windows checkout hashes the same;
//   - trailing whitespace at the end of the document is removed (editors
//     disagree about the final newline);
//   - nothing else changes: indentation, blank lines and comments inside the
//     document are kept, because they are part of what was reviewed.
//
// With -schema, every operation must also validate against that schema, so
// an operation the server would refuse never reaches the manifest.
//
// With -check nothing is written: the command exits 1 with a summary of the
// operations added, removed or changed when the file at -out is not what it
// would write, and 0 when it is. CI runs it through the test in this
// package.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"meridian/internal/persisted"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command without its process: flags in, exit status out.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pqmanifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "testdata/persisted", "directory of *.graphql operation files")
	out := fs.String("out", "testdata/persisted/manifest.json", "manifest file to write or check")
	schemaPath := fs.String("schema", "", "schema every operation must validate against (optional)")
	check := fs.Bool("check", false, "do not write; exit 1 with a diff summary when -out is out of date")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pqmanifest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var schema *ast.Schema
	if *schemaPath != "" {
		var err error
		if schema, err = loadSchema(*schemaPath); err != nil {
			fmt.Fprintln(stderr, "pqmanifest:", err)
			return 1
		}
	}
	m, err := generate(*dir, schema)
	if err != nil {
		fmt.Fprintln(stderr, "pqmanifest:", err)
		return 1
	}
	want := m.Encode()
	if *check {
		current, err := os.ReadFile(*out)
		if err == nil && bytes.Equal(current, want) {
			return 0
		}
		fmt.Fprintf(stderr, "pqmanifest: %s is out of date; run go generate ./internal/persisted\n", *out)
		if err != nil {
			fmt.Fprintf(stderr, "  cannot read it: %v\n", err)
			return 1
		}
		for _, line := range summarize(*out, current, m) {
			fmt.Fprintln(stderr, "  "+line)
		}
		return 1
	}
	if err := writeAtomically(*out, want); err != nil {
		fmt.Fprintln(stderr, "pqmanifest:", err)
		return 1
	}
	fmt.Fprintf(stdout, "pqmanifest: wrote %d operations to %s\n", m.Len(), *out)
	return 0
}

func loadSchema(path string) (*ast.Schema, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(src)})
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	return schema, nil
}

// canonical turns an operation file into the body that is hashed: LF line
// endings and no trailing whitespace at the end of the document.
func canonical(file []byte) string {
	s := strings.ReplaceAll(string(file), "\r\n", "\n")
	return strings.TrimRight(s, " \t\r\n")
}

// generate reads every *.graphql file in dir into a manifest, validating
// each against schema when it is not nil. Every bad file is reported.
func generate(dir string, schema *ast.Schema) (*persisted.Manifest, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.graphql"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.graphql files in %s", dir)
	}
	sort.Strings(paths)
	var ops []persisted.Operation
	var errs []error
	for _, path := range paths {
		op, err := readOperation(path, schema)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		ops = append(ops, op)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return persisted.NewManifest(ops)
}

// readOperation reads one operation file.
func readOperation(path string, schema *ast.Schema) (persisted.Operation, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return persisted.Operation{}, err
	}
	body := canonical(raw)
	doc, err := parser.ParseQuery(&ast.Source{Name: path, Input: body})
	if err != nil {
		return persisted.Operation{}, fmt.Errorf("does not parse: %w", err)
	}
	if len(doc.Operations) != 1 {
		return persisted.Operation{}, fmt.Errorf("defines %d operations, want exactly one", len(doc.Operations))
	}
	def := doc.Operations[0]
	want := strings.TrimSuffix(filepath.Base(path), ".graphql")
	if def.Name != want {
		return persisted.Operation{}, fmt.Errorf("defines operation %q; a file holds the operation it is named after (%q)", def.Name, want)
	}
	if schema != nil {
		if _, errs := gqlparser.LoadQuery(schema, body); len(errs) > 0 {
			return persisted.Operation{}, fmt.Errorf("does not validate against the schema: %w", errs)
		}
	}
	return persisted.Operation{
		ID:   persisted.HashBody(body),
		Name: def.Name,
		Type: persisted.OperationType(def.Operation),
		Body: body,
	}, nil
}

// summarize lists how the committed manifest differs from the generated one,
// by operation name: added, removed, or changed id.
func summarize(path string, current []byte, generated *persisted.Manifest) []string {
	old, err := persisted.ParseManifest(path, current)
	if err != nil {
		return []string{"the committed file is not a valid manifest: " + err.Error()}
	}
	idsByName := func(m *persisted.Manifest) map[string][]string {
		out := map[string][]string{}
		for _, op := range m.Operations() {
			out[op.Name] = append(out[op.Name], op.ID)
		}
		return out
	}
	before, after := idsByName(old), idsByName(generated)
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var lines []string
	for _, n := range sorted {
		b, a := strings.Join(before[n], ","), strings.Join(after[n], ",")
		switch {
		case b == a:
		case b == "":
			lines = append(lines, fmt.Sprintf("added   %s %s", n, a))
		case a == "":
			lines = append(lines, fmt.Sprintf("removed %s %s", n, b))
		default:
			lines = append(lines, fmt.Sprintf("changed %s %s -> %s", n, b, a))
		}
	}
	if len(lines) == 0 {
		lines = append(lines, "same operations, different formatting: regenerate it")
	}
	return lines
}

// writeAtomically replaces path in one rename, so a gateway watching the
// file never reads half of it.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".manifest-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
