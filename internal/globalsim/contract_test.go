package globalsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// contractPath is the HTTP contract, relative to this package.
const contractPath = "../../api/global.openapi.yaml"

// loadContract loads api/global.openapi.yaml and fails the test unless it is
// a valid OpenAPI 3.0 document.
func loadContract(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.FromSlash(contractPath))
	if err != nil {
		t.Fatalf("load %s: %v", contractPath, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", contractPath, err)
	}
	return doc
}

func TestContractRoutesMatchDocument(t *testing.T) {
	doc := loadContract(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range Routes() {
		if served[r.String()] {
			t.Errorf("route %s is in the route table twice", r)
		}
		served[r.String()] = true
	}
	for op := range documented {
		if _, path, _ := strings.Cut(op, " "); isIdPPath(path) {
			t.Errorf("operation %s is under %s/, which the identity provider's discovery document documents, not the contract", op, IdPPath)
		}
	}
	for _, r := range sortedKeys(served) {
		if !documented[r] {
			t.Errorf("route %s is served but not documented in %s", r, contractPath)
		}
	}
	for _, op := range sortedKeys(documented) {
		if !served[op] {
			t.Errorf("operation %s is documented but not in the route table", op)
		}
	}
}

// TestContractDocumentedOperationsAnswer calls every documented operation
// over HTTP, with path parameters naming data that exists, and checks the
// simulator routes it: no 405, and no 404 for want of a route.
func TestContractDocumentedOperationsAnswer(t *testing.T) {
	doc := loadContract(t)
	h := newHarness(t, nil)
	created := h.createOrder(t, "contract-1", newOrderBody("TST-0002", 1, "129.50"))
	if created.status != http.StatusCreated {
		t.Fatalf("create order: got %d %s want 201", created.status, created.body)
	}
	o := decode[orderJSON](t, created)
	values := map[string]string{"sku": "TST-0001", "slug": "about-us", "id": o.ID}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for _, method := range sortedKeys(item.Operations()) {
			t.Run(method+" "+path, func(t *testing.T) {
				var body any
				if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
					body = "{}"
				}
				r := h.do(t, method, fillPath(path, values), body, nil)
				if r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotFound && r.errorCode() == "no_route" {
					t.Errorf("got %d %s want the operation served", r.status, r.body)
				}
			})
		}
	}
}

func fillPath(template string, values map[string]string) string {
	segs := strings.Split(template, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			segs[i] = values[strings.TrimSuffix(name, "}")]
		}
	}
	return strings.Join(segs, "/")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// contractChecked wraps the Sim's handler so that every exchange in a test is
// checked against the document: every response must match its operation's
// documented status and schema, and every request the simulator accepted
// (2xx) must match the documented request, so the document is neither looser
// nor stricter than the simulator.
func contractChecked(t *testing.T, doc *openapi3.T, sim *Sim) http.Handler {
	next := sim.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("contract check: read request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if r.Context().Err() != nil && rec.Body.Len() == 0 {
			return // the client gave up before any answer: nothing to check
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if err := checkExchange(doc, sim, r, reqBody, rec); err != nil {
			t.Errorf("contract: %s %s answered %d %s: %v", r.Method, r.URL, rec.Code, rec.Body.Bytes(), err)
		}
	})
}

func checkExchange(doc *openapi3.T, sim *Sim, r *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) error {
	if isIdPPath(r.URL.Path) {
		return nil // the identity provider is documented by its own discovery document
	}
	_, pattern := sim.mux.Handler(r)
	if !sim.routes[pattern] || r.Method == http.MethodHead {
		if (response{body: rec.Body.Bytes()}).errorCode() == "" && r.Method != http.MethodHead {
			return fmt.Errorf("an unrouted request must get the JSON error envelope")
		}
		return nil
	}
	method, path, _ := strings.Cut(pattern, " ")
	item := doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		return fmt.Errorf("route %s is not documented", pattern)
	}
	ctx := context.Background() // the request's own context may be cancelled by now
	reqInput := &openapi3filter.RequestValidationInput{
		Request:    r.Clone(ctx),
		PathParams: pathParams(path, r.URL.Path),
		Route:      &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)},
		Options:    &openapi3filter.Options{SkipSettingDefaults: true},
	}
	if rec.Code < 300 {
		reqInput.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
		if err := openapi3filter.ValidateRequest(ctx, reqInput); err != nil {
			return fmt.Errorf("accepted request does not match the documented request: %w", err)
		}
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	respInput.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, respInput); err != nil {
		return fmt.Errorf("response does not match the document: %w", err)
	}
	return nil
}

// pathParams pairs the {name} segments of a template with the request path.
func pathParams(template, path string) map[string]string {
	params := map[string]string{}
	tsegs, psegs := strings.Split(template, "/"), strings.Split(path, "/")
	for i, s := range tsegs {
		if name, ok := strings.CutPrefix(s, "{"); ok && i < len(psegs) {
			params[strings.TrimSuffix(name, "}")] = psegs[i]
		}
	}
	return params
}
