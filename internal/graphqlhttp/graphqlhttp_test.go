package graphqlhttp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzPOSTBody feeds arbitrary bodies to the edge: it must never panic, and
// must either pass a well-formed GraphQL JSON object on or refuse with a
// 4xx and a coded JSON error.
func FuzzPOSTBody(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ categories { id } }"}`,
		`{"query":"{ a }","variables":{"x":1},"operationName":"A"}`,
		`{"query": `, `[]`, `null`, `{"query":1}`, `{"variables":[]}`, `{"query":"x"} {}`,
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}`,
		`{"documentId":"sha256:30166fc3298853f22709fce1e4a00e98f1b6a3160eaaaf9cb3b7db6a16073b07"}`,
		`{"documentId":"sha256:30166fc3298853f22709fce1e4a00e98f1b6a3160eaaaf9cb3b7db6a16073b07","extensions":{"x":1}}`,
		`{"documentId":"x","query":"{ a }"}`, `{"documentId":null}`, `{"documentId":[]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		passed := false
		exec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			passed = true
			w.WriteHeader(http.StatusOK)
		})
		h := Handler(exec, Options{MaxBodyBytes: 4096, ExecutionTimeout: time.Second})
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if passed {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &obj); err != nil {
				t.Fatalf("passed on a body that is not a JSON object: %q", body)
			}
			return
		}
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("refused with status %d, want 4xx: %q", rec.Code, body)
		}
		var out struct {
			Errors []struct {
				Message    string
				Extensions map[string]string
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) != 1 || out.Errors[0].Extensions["code"] == "" {
			t.Fatalf("refusal is not a coded JSON error: %s", rec.Body)
		}
	})
}

func TestLegacyStatusOnlyRewritesJSON(t *testing.T) {
	for _, tt := range []struct {
		contentType string
		want        int
	}{
		{"application/json", http.StatusOK},
		{"application/graphql-response+json", http.StatusUnprocessableEntity},
	} {
		rec := httptest.NewRecorder()
		w := &legacyStatus{ResponseWriter: rec}
		w.Header().Set("Content-Type", tt.contentType)
		w.WriteHeader(http.StatusUnprocessableEntity)
		if rec.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.contentType, rec.Code, tt.want)
		}
	}
}
