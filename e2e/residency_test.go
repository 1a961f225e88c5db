package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func devToken(t *testing.T, sim, subject string) string {
	t.Helper()
	resp, err := http.Get(sim + "/idp/dev/token?sub=" + subject)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("dev token for %s: %v", subject, err)
	}
	return out.AccessToken
}

// TestPersonalDataNeverCrossesTheBorder drives every operation of the
// schema as a customer and as a consultant against a real globalsim, then
// reads everything the global side received: no profile value appears.
func TestPersonalDataNeverCrossesTheBorder(t *testing.T) {
	sim := startSim(t, "5ms", "1ms")
	g := start(t, originEnv(sim)...)
	customer, consultant := devToken(t, sim, "cust-0001"), devToken(t, sim, "cons-0001")
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	pii := map[string]string{
		"name": "林晓雨", "mobile": "13987654321", "email": "lin.xiaoyu@example.cn",
		"birthday": "1992-03-14", "street": "陆家嘴环路1000号", "recipient": "林晓雨收",
	}
	admin(t, "DELETE", sim+"/admin/requests", "")
	steps := []struct {
		tok, q string
	}{
		{customer, `mutation { updateProfile(input: {displayName: "` + pii["name"] + `", mobile: "` + pii["mobile"] + `",
			email: "` + pii["email"] + `", birthday: "` + pii["birthday"] + `", preferredLocale: "zh-Hans-CN",
			skinType: "dry", skinConcerns: ["dehydration"],
			addresses: [{recipientName: "` + pii["recipient"] + `", recipientMobile: "` + pii["mobile"] + `", province: "上海市",
			city: "上海市", district: "浦东新区", line1: "` + pii["street"] + `", postalCode: "200120", isDefault: true}]}) { id } }`},
		{customer, `{ me { id profile { displayName mobile email birthday addresses { line1 } skin { type concerns } preferredLocale consultantId }
			consents { purpose granted } accessLog { entries { action } } } }`},
		{customer, `mutation { setConsent(purpose: CONSULTANT_CONTACT, granted: true) { granted } }`},
		{customer, `mutation { setConsent(purpose: CROSS_BORDER_TRANSFER, granted: false) { granted } }`},
		{customer, `{ search(query: "精华", first: 20) { edges { node { id name price { formatted } inventory(consistency: LIVE) { available } } } } }`},
		{customer, `{ product(id: "prod-0001") { name inventory { available } } categories { name } content(slug: "about-us") { title } }`},
		{consultant, `{ consultant { customers(first: 50) { edges { node { id contactAllowed profile { displayName mobile email } } } } } }`},
		{consultant, `{ search(first: 50) { edges { node { inventory(consistency: LIVE) { available } } } } }`},
		{customer, `mutation { exportMyData { json } }`},
	}
	for i, s := range steps {
		r := g.post(t, s.q, nil, bearer(s.tok)...)
		for _, e := range r.Errors {
			if code := e["extensions"].(map[string]any)["code"]; code != "FORBIDDEN" {
				t.Errorf("step %d: %v", i, e)
			}
		}
	}
	// Orders cross the border: place one with the address just set, and
	// wait until the global side has it.
	r := g.post(t, `{ me { profile { addresses { id } } } }`, nil, bearer(customer)...)
	var d struct {
		Me struct {
			Profile struct{ Addresses []struct{ ID string } }
		}
	}
	_ = json.Unmarshal(mustJSON(t, r.Data), &d)
	if len(d.Me.Profile.Addresses) != 1 {
		t.Fatalf("no address: %s", r.rawBody)
	}
	orderID, err := place(g, bearer(customer), "residency-1", d.Me.Profile.Addresses[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the order reaches global", 20*time.Second, func() bool { return globalOrders(t, sim)[orderID] == 1 })

	// The export really held the personal data, so the scan below looks
	// for values that passed through the gateway.
	if r := g.post(t, `{ me { profile { mobile } } }`, nil, bearer(customer)...); !strings.Contains(string(r.rawBody), pii["mobile"]) {
		t.Fatalf("the profile was not stored: %s", r.rawBody)
	}

	resp, err := http.Get(sim + "/admin/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	received, _ := io.ReadAll(resp.Body)
	var log struct {
		Total int `json:"total"`
	}
	_ = json.Unmarshal(received, &log)
	if log.Total == 0 {
		t.Fatal("the global side received no request at all: the scan would prove nothing")
	}
	for kind, v := range pii {
		if strings.Contains(string(received), v) {
			t.Errorf("the global side received the %s %q", kind, v)
		}
	}
	t.Logf("scanned %d requests received by the global side", log.Total)
}
