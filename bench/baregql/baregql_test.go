package baregql

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// catalogPage is the benchmark's catalog page.
const catalogPage = `query CatalogPage { search(first: 50) { edges { node { id name price { amount formatted } inventory { available status freshness { source stale } } } } } }`

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	seed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(seed)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// post sends one query and decodes the answer into data, failing the test
// on any GraphQL error.
func post(t *testing.T, srv *httptest.Server, query string, data any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(srv.URL+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		t.Fatalf("status %d, errors %v", resp.StatusCode, out.Errors)
	}
	if err := json.Unmarshal(out.Data, data); err != nil {
		t.Fatal(err)
	}
}

// pageEdges is a search answer with the fields the tests read.
type pageEdges struct {
	Search struct {
		Edges []struct {
			Cursor string
			Node   struct {
				ID    string
				SKU   string
				Name  string
				Price struct {
					Amount, Currency, Formatted string
				}
				Category  *struct{ ID, Name string }
				Inventory *struct {
					Available *int
					Status    string
					Freshness *struct {
						Source string
						Stale  *bool
					}
				}
			}
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
		TotalCount int
	}
}

func (p pageEdges) ids() []string {
	var ids []string
	for _, e := range p.Search.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

func TestCatalogPageIsFilled(t *testing.T) {
	srv := newServer(t)
	var got pageEdges
	post(t, srv, catalogPage, &got)
	if len(got.Search.Edges) != 50 {
		t.Fatalf("got %d products, want 50", len(got.Search.Edges))
	}
	ids := got.ids()
	if !slices.IsSorted(ids) {
		t.Errorf("products are not ordered by id: %v", ids)
	}
	for _, e := range got.Search.Edges {
		n := e.Node
		inv := n.Inventory
		switch {
		case n.ID == "" || n.Name == "":
			t.Errorf("%+v: no id or name", n)
		case n.Price.Amount == "" || !strings.HasPrefix(n.Price.Formatted, "¥"):
			t.Errorf("%s: price %+v, want an amount and a zh-Hans formatted price", n.ID, n.Price)
		case inv == nil || inv.Available == nil || inv.Status == "" || inv.Freshness == nil || inv.Freshness.Source == "" || inv.Freshness.Stale == nil:
			t.Errorf("%s: inventory %+v is not filled", n.ID, inv)
		}
	}
}

func TestSearch(t *testing.T) {
	srv := newServer(t)
	var all pageEdges
	post(t, srv, `{ search(first: 100) { edges { cursor node { id name category { id } } } totalCount pageInfo { hasNextPage endCursor } } }`, &all)
	if all.Search.TotalCount <= 100 || !all.Search.PageInfo.HasNextPage {
		t.Fatalf("totalCount %d, hasNextPage %v: the seed has more than 100 products", all.Search.TotalCount, all.Search.PageInfo.HasNextPage)
	}
	tenth := all.Search.Edges[9]

	t.Run("after continues past the cursor", func(t *testing.T) {
		var got pageEdges
		post(t, srv, `{ search(first: 3, after: "`+tenth.Cursor+`") { edges { node { id } } } }`, &got)
		want := []string{all.Search.Edges[10].Node.ID, all.Search.Edges[11].Node.ID, all.Search.Edges[12].Node.ID}
		if !slices.Equal(got.ids(), want) {
			t.Errorf("got %v, want %v", got.ids(), want)
		}
	})
	t.Run("pages walk the whole catalog once", func(t *testing.T) {
		var ids []string
		after := ""
		for range 10 {
			var got pageEdges
			post(t, srv, `{ search(first: 100, after: "`+after+`") { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, &got)
			if n := len(got.Search.Edges); n == 0 || *got.Search.PageInfo.EndCursor != got.Search.Edges[n-1].Cursor {
				t.Fatalf("page of %d products ends at %v", n, got.Search.PageInfo.EndCursor)
			}
			ids = append(ids, got.ids()...)
			if !got.Search.PageInfo.HasNextPage {
				break
			}
			after = *got.Search.PageInfo.EndCursor
		}
		if len(ids) != all.Search.TotalCount || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("walked %d products, want each of %d once in id order", len(ids), all.Search.TotalCount)
		}
	})
	t.Run("query matches names case-insensitively", func(t *testing.T) {
		var got pageEdges
		post(t, srv, `{ search(query: "SERUM", locale: "en") { edges { node { name } } totalCount } }`, &got)
		if got.Search.TotalCount == 0 {
			t.Fatal("no English name contains serum")
		}
		for _, e := range got.Search.Edges {
			if !strings.Contains(strings.ToLower(e.Node.Name), "serum") {
				t.Errorf("%q does not contain serum", e.Node.Name)
			}
		}
	})
	t.Run("category restricts the results", func(t *testing.T) {
		var got pageEdges
		post(t, srv, `{ search(category: "`+tenth.Node.Category.ID+`", first: 100) { edges { node { category { id } } } totalCount } }`, &got)
		if got.Search.TotalCount == 0 || got.Search.TotalCount >= all.Search.TotalCount {
			t.Errorf("%d of %d products in %s", got.Search.TotalCount, all.Search.TotalCount, tenth.Node.Category.ID)
		}
		for _, e := range got.Search.Edges {
			if e.Node.Category.ID != tenth.Node.Category.ID {
				t.Errorf("got category %s, want %s", e.Node.Category.ID, tenth.Node.Category.ID)
			}
		}
	})
	t.Run("locale picks the names", func(t *testing.T) {
		var en, hans pageEdges
		post(t, srv, `{ search(first: 1, locale: "en-US") { edges { node { name price { formatted } } } } }`, &en)
		post(t, srv, `{ search(first: 1) { edges { node { name } } } }`, &hans)
		if en.Search.Edges[0].Node.Name == hans.Search.Edges[0].Node.Name {
			t.Errorf("en and zh-Hans both named %q", en.Search.Edges[0].Node.Name)
		}
		if f := en.Search.Edges[0].Node.Price.Formatted; !strings.HasPrefix(f, "CN¥") {
			t.Errorf("en price %q, want CN¥…", f)
		}
	})
}

func TestProduct(t *testing.T) {
	srv := newServer(t)
	var got struct {
		Product *struct {
			ID        string
			Inventory struct{ Available int }
		}
		Missing *struct{ ID string }
	}
	post(t, srv, `{ product(id: "prod-0001") { id inventory(consistency: LIVE) { available } } missing: product(id: "nope") { id } }`, &got)
	if got.Product == nil || got.Product.ID != "prod-0001" {
		t.Errorf("product(prod-0001) = %+v", got.Product)
	}
	if got.Missing != nil {
		t.Errorf("product(nope) = %+v, want null", got.Missing)
	}
}

func TestNewHandlerRefusesBadCatalogs(t *testing.T) {
	for name, seed := range map[string]string{
		"not JSON":     `{`,
		"no products":  `{"products":[]}`,
		"no id":        `{"products":[{"sku":"A","price":"1.00"}]}`,
		"duplicate id": `{"products":[{"id":"p","price":"1.00"},{"id":"p","price":"2.00"}]}`,
		"bad price":    `{"products":[{"id":"p","price":"1.5"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewHandler([]byte(seed)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tt := range []struct {
		amount string
		loc    int
		want   string
	}{
		{"0.50", localeHans, "¥0.50"},
		{"480.00", localeHans, "¥480.00"},
		{"1299.00", localeHans, "¥1,299.00"},
		{"1234567.89", localeEn, "CN¥1,234,567.89"},
	} {
		if got := formatMoney(tt.amount, "CNY", tt.loc); got != tt.want {
			t.Errorf("formatMoney(%s, %d) = %q, want %q", tt.amount, tt.loc, got, tt.want)
		}
	}
}
