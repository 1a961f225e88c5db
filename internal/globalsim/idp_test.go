package globalsim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func demoIdentities(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/identities.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdPMountedUnderIdPPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Identities = demoIdentities(t) })
	if err := h.sim.IdP().SetIssuer(h.srv.URL + IdPPath); err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	h.call(t, http.MethodGet, "/idp/.well-known/openid-configuration", nil, http.StatusOK, &disc)
	if disc.Issuer != h.srv.URL+"/idp" || disc.JWKSURI != h.srv.URL+"/idp/jwks" {
		t.Errorf("discovery %+v", disc)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	h.call(t, http.MethodGet, "/idp/dev/token?sub=cons-0001", nil, http.StatusOK, &tok)
	if tok.AccessToken == "" {
		t.Error("no dev token")
	}
	// The provider is not an origin: not in the request log, where tokens
	// have no business either.
	log := h.call(t, http.MethodGet, "/admin/requests", nil, http.StatusOK, nil)
	if strings.Contains(string(log.body), "/idp") {
		t.Errorf("request log holds identity provider requests: %s", log.body)
	}
}

func TestNoIdPWithoutIdentities(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if h.sim.IdP() != nil {
		t.Error("IdP without identities")
	}
	if r := h.do(t, http.MethodGet, "/idp/jwks", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "no_route" {
		t.Errorf("got %d %s want 404 no_route", r.status, r.body)
	}
}

func TestNewRefusesBadIdentities(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Catalog: []byte(testCatalog), Identities: []byte(`{"customers":[{"subject":"c1","email":"x@y.example"}]}`)})
	if err == nil || !strings.Contains(err.Error(), "identities") {
		t.Errorf("got %v want an identities error", err)
	}
}

func TestStartSetsTheIssuer(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Catalog: []byte(testCatalog), Identities: demoIdentities(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	resp, err := http.Get(srv.URL() + IdPPath + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	if disc.Issuer != srv.URL()+IdPPath || sim.IdP().Issuer() != disc.Issuer {
		t.Errorf("issuer %q want %q", disc.Issuer, srv.URL()+IdPPath)
	}
}
