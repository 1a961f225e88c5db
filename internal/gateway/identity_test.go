package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// token fetches a demo user's access token from the simulated IdP.
func token(t testing.TB, h *harness, subject string) string {
	t.Helper()
	resp, err := http.Get(h.sim.URL + "/idp/dev/token?sub=" + subject)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("dev token for %s: %v (status %d)", subject, err, resp.StatusCode)
	}
	return out.AccessToken
}

// as runs a query as the bearer of tok.
func as(t testing.TB, h *harness, tok, q string, vars map[string]any) (*http.Response, gqlResponse) {
	t.Helper()
	headers := map[string]string{}
	if tok != "" {
		headers["Authorization"] = "Bearer " + tok
	}
	return do(t, h, call{body: query(q, vars), headers: headers})
}

func field(t testing.TB, out gqlResponse, path ...string) any {
	t.Helper()
	var v any
	raw, _ := json.Marshal(out.Data)
	_ = json.Unmarshal(raw, &v)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestBadTokensAreRefusedWhole(t *testing.T) {
	h := newGateway(t, nil)
	for name, header := range map[string]string{
		"garbage":    "Bearer not-a-jwt",
		"alg none":   "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJjdXN0LTAwMDEifQ.",
		"not bearer": "Basic dXNlcjpwYXNz",
	} {
		t.Run(name, func(t *testing.T) {
			resp, out := do(t, h, call{body: query(`{ me { id } }`, nil), headers: map[string]string{"Authorization": header}})
			if resp.StatusCode != http.StatusUnauthorized || len(out.codes()) != 1 || out.codes()[0] != "UNAUTHENTICATED" {
				t.Errorf("status %d, codes %v; want 401 UNAUTHENTICATED", resp.StatusCode, out.codes())
			}
		})
	}
	_, out := as(t, h, "", `{ me { id } }`, nil)
	if got := out.codes(); len(got) != 1 || got[0] != "UNAUTHENTICATED" {
		t.Errorf("anonymous me: codes %v, want UNAUTHENTICATED", got)
	}
}

func TestCustomerSeesAndEditsOwnData(t *testing.T) {
	h := newGateway(t, nil)
	tok := token(t, h, "cust-0001")
	_, out := as(t, h, tok, `{ me { id profile { displayName mobile email birthday addresses { city } skin { type } }
		consents { purpose granted } } }`, nil)
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %+v", out.Errors)
	}
	if got := field(t, out, "me", "profile", "mobile"); got != "13812345678" {
		t.Errorf("own mobile = %v, want 13812345678 unmasked", got)
	}
	if consents, _ := field(t, out, "me", "consents").([]any); len(consents) != 5 {
		t.Errorf("consents = %v, want all five purposes", consents)
	}

	_, out = as(t, h, tok, `mutation { updateProfile(input: {mobile: "+86 139-1234-5678", preferredLocale: "zh-Hant-TW"}) { mobile preferredLocale } }`, nil)
	if got := field(t, out, "updateProfile", "mobile"); got != "13912345678" || len(out.Errors) > 0 {
		t.Errorf("updated mobile = %v (errors %+v), want normalized 13912345678", got, out.Errors)
	}
	_, out = as(t, h, tok, `mutation { updateProfile(input: {mobile: "12345", email: "not-an-email"}) { mobile } }`, nil)
	if got := out.codes(); len(got) != 1 || got[0] != "BAD_USER_INPUT" {
		t.Fatalf("bad input codes = %v, want BAD_USER_INPUT", got)
	}
	if msg := out.Errors[0].Message; !strings.Contains(msg, "mobile") || !strings.Contains(msg, "email") || strings.Contains(msg, "12345") {
		t.Errorf("message %q: want both fields named and no value echoed", msg)
	}

	// The profile's locale now leads negotiation.
	resp, _ := do(t, h, call{body: query(`{ categories { name } }`, nil),
		headers: map[string]string{"Authorization": "Bearer " + tok, "Accept-Language": "en-US"}})
	if got := resp.Header.Get("Content-Language"); got != "zh-Hant-TW" {
		t.Errorf("Content-Language = %q, want the profile's zh-Hant-TW", got)
	}

	_, out = as(t, h, tok, `mutation { setConsent(purpose: MARKETING, granted: true) { purpose granted policyVersion } }`, nil)
	if got := field(t, out, "setConsent", "granted"); got != true {
		t.Errorf("setConsent: %+v", out)
	}

	_, out = as(t, h, tok, `{ me { accessLog(first: 50) { entries { actor action fields purpose requestId } } } }`, nil)
	entries, _ := field(t, out, "me", "accessLog", "entries").([]any)
	actions := map[string]bool{}
	for _, e := range entries {
		actions[e.(map[string]any)["action"].(string)] = true
	}
	for _, want := range []string{"read", "update", "consent"} {
		if !actions[want] {
			t.Errorf("access log lacks a %q entry: %v", want, entries)
		}
	}
}

func TestConsultantSeesOnlyWhatConsentAllows(t *testing.T) {
	h := newGateway(t, nil)
	cons, cust := token(t, h, "cons-0001"), token(t, h, "cust-0001")
	const q = `{ consultant { customers(first: 100) { totalCount edges { node { id contactAllowed
		profile { displayName mobile email } } } } } }`
	find := func(out gqlResponse) map[string]any {
		edges, _ := field(t, out, "consultant", "customers", "edges").([]any)
		for _, e := range edges {
			n := e.(map[string]any)["node"].(map[string]any)
			if n["id"] == "cust-0001" {
				return n
			}
		}
		t.Fatalf("cust-0001 not among cons-0001's customers: %v", edges)
		return nil
	}

	_, out := as(t, h, cons, q, nil)
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %+v", out.Errors)
	}
	n := find(out)
	prof := n["profile"].(map[string]any)
	if prof["mobile"] != "138****5678" || n["contactAllowed"] != false || prof["displayName"] == nil {
		t.Errorf("without consent: %v, want the name and a masked mobile", n)
	}

	as(t, h, cust, `mutation { setConsent(purpose: CONSULTANT_CONTACT, granted: true) { granted } }`, nil)
	_, out = as(t, h, cons, q, nil)
	n = find(out)
	if prof := n["profile"].(map[string]any); prof["mobile"] != "13812345678" || n["contactAllowed"] != true {
		t.Errorf("with consent: %v, want the mobile in full", n)
	}

	_, out = as(t, h, cons, `{ consultant { customers(first: 1) { edges { node { profile { birthday addresses { city } } } } } } }`, nil)
	if got := out.codes(); len(got) != 2 || got[0] != "FORBIDDEN" || got[1] != "FORBIDDEN" {
		t.Errorf("consultant reading birthday and addresses: codes %v, want FORBIDDEN twice", got)
	}

	_, out = as(t, h, cust, `{ consultant { consultantId } }`, nil)
	if got := out.codes(); len(got) != 1 || got[0] != "FORBIDDEN" {
		t.Errorf("customer in the consultant workspace: codes %v, want FORBIDDEN", got)
	}

	// The customer sees the consultant's reads in their access log.
	_, out = as(t, h, cust, `{ me { accessLog(first: 100) { entries { actor actorRole action } } } }`, nil)
	seen := false
	for _, e := range field(t, out, "me", "accessLog", "entries").([]any) {
		if m := e.(map[string]any); m["actor"] == "cons-0001" && m["action"] == "read" {
			seen = true
		}
	}
	if !seen {
		t.Error("the consultant's reads are not in the customer's access log")
	}
}

func TestExportAndDelete(t *testing.T) {
	h := newGateway(t, nil)
	tok := token(t, h, "cust-0002")
	_, out := as(t, h, tok, `mutation { exportMyData { generatedAt json } }`, nil)
	doc, _ := field(t, out, "exportMyData", "json").(string)
	var exported struct {
		Subject string
		Profile struct{ Mobile string }
	}
	if err := json.Unmarshal([]byte(doc), &exported); err != nil || exported.Subject != "cust-0002" || exported.Profile.Mobile == "" {
		t.Fatalf("export = %.200s (%v)", doc, err)
	}

	_, out = as(t, h, tok, `mutation { deleteMyData(confirm: false) { erasedAt } }`, nil)
	if got := out.codes(); len(got) != 1 || got[0] != "BAD_USER_INPUT" {
		t.Errorf("unconfirmed deletion: codes %v", got)
	}
	as(t, h, tok, `mutation { setConsent(purpose: ANALYTICS, granted: true) { granted } }`, nil)
	_, out = as(t, h, tok, `mutation { deleteMyData(confirm: true) { erasedAt consentsWithdrawn } }`, nil)
	if got := field(t, out, "deleteMyData", "consentsWithdrawn"); got != float64(1) {
		t.Errorf("deleteMyData: %+v, want one consent withdrawn", out)
	}
	_, out = as(t, h, tok, `{ me { profile { mobile } consents { purpose granted } accessLog { entries { action } } } }`, nil)
	if p := field(t, out, "me", "profile"); p != nil {
		t.Errorf("profile after deletion = %v, want null", p)
	}
	if entries, _ := field(t, out, "me", "accessLog", "entries").([]any); len(entries) != 0 {
		t.Errorf("access log under the subject after deletion = %v, want none (pseudonymized)", entries)
	}
}
