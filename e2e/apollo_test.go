package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian/internal/persisted"
	"meridian/internal/testenv"
)

// TestApolloClientPersistedQueries runs the real Apollo Client (e2e/apollo,
// pinned in its package-lock.json) against two gateways loading the
// repository's manifest: one serving Automatic Persisted Queries, one in
// persisted-only mode. It then checks the cache headers a CDN sees.
func TestApolloClientPersistedQueries(t *testing.T) {
	npm, errNPM := exec.LookPath("npm")
	node, errNode := exec.LookPath("node")
	if errNPM != nil || errNode != nil {
		msg := "node and npm are needed for the Apollo Client test (install Node.js 20+)"
		if testenv.ServersRequired() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir, err := filepath.Abs("apollo")
	if err != nil {
		t.Fatal(err)
	}
	manifestPath, err := filepath.Abs("../testdata/persisted/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := persisted.LoadManifests(manifestPath)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--prefix", dir, "--no-audit", "--no-fund")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci --prefix e2e/apollo: %v\n%s", err, out)
	}

	apq := start(t, "PERSISTED_QUERIES="+manifestPath)
	only := start(t, "PERSISTED_QUERIES="+manifestPath, "PERSISTED_ONLY=true")

	// Say plainly when the gateway ignores the settings, rather than leave
	// it to be inferred from a page of client failures.
	r := only.post(t, `{ categories { id } }`, nil)
	code := ""
	if len(r.Errors) > 0 {
		ext, _ := r.Errors[0]["extensions"].(map[string]any)
		code, _ = ext["code"].(string)
	}
	if code != persisted.CodeNotAllowed {
		t.Fatalf("a PERSISTED_ONLY=true gateway answered an ad-hoc query with %s: PERSISTED_QUERIES and PERSISTED_ONLY are not wired into the gateway", r.rawBody)
	}

	t.Run("node", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, node, "--test")
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"MERIDIAN_URL=" + apq.url,
			"MERIDIAN_PERSISTED_ONLY_URL=" + only.url,
			"MERIDIAN_MANIFEST=" + manifestPath,
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node --test: %v\n%s", err, out)
		}
		t.Logf("node --test:\n%s", out)
	})

	t.Run("CDN cache headers", func(t *testing.T) {
		var categoriesID string
		for _, op := range manifest.Operations() {
			if op.Name == "Categories" {
				categoriesID = op.ID
			}
		}
		if categoriesID == "" {
			t.Fatal("the manifest lists no Categories operation")
		}
		token := demoToken(t, apq)
		for _, tt := range []struct {
			name    string
			g       *gateway
			query   string
			headers []string
			public  bool
		}{
			{"anonymous GET by documentId", apq, "documentId=sha256:" + categoriesID, nil, true},
			{"anonymous GET by documentId, persisted-only", only, "documentId=sha256:" + categoriesID, nil, true},
			{"signed-in GET by documentId", apq, "documentId=sha256:" + categoriesID, []string{"Authorization", "Bearer " + token}, false},
			{"GET by documentId with a cookie", apq, "documentId=sha256:" + categoriesID, []string{"Cookie", "theme=dark"}, false},
			{"ad-hoc GET", apq, "query=" + url.QueryEscape(`{ categories { id } }`), nil, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, tt.g.url+"/graphql?"+tt.query, nil)
				req.Header.Set("Accept-Language", "en-US")
				for i := 0; i+1 < len(tt.headers); i += 2 {
					req.Header.Set(tt.headers[i], tt.headers[i+1])
				}
				r := send(t, req)
				if r.status != http.StatusOK || len(r.Errors) > 0 {
					t.Fatalf("status %d: %s", r.status, r.rawBody)
				}
				cc := r.header.Get("Cache-Control")
				if tt.public && !strings.HasPrefix(cc, "public, max-age=") {
					t.Errorf("Cache-Control %q, want public, max-age=…", cc)
				}
				if !tt.public && cc != "private, no-store" {
					t.Errorf("Cache-Control %q, want private, no-store", cc)
				}
				if vary := strings.Join(r.header.Values("Vary"), ", "); tt.public && !strings.Contains(vary, "Accept-Language") {
					t.Errorf("Vary %q lacks Accept-Language", vary)
				}
			})
		}
	})
}

// demoToken gets a demo user's access token from a demo-mode gateway.
func demoToken(t *testing.T, g *gateway) string {
	t.Helper()
	resp, err := http.Get(g.url + "/auth/dev-token?sub=cust-0001")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("GET /auth/dev-token: %d, no token (%v)", resp.StatusCode, err)
	}
	return tok.AccessToken
}
