package session

import (
	"mime"
	"net/http"
	"strings"

	"meridian/internal/apierr"
)

// CSRFHeader is the custom request header that marks a request as sent by
// the gateway's own scripts: CSRFGuard accepts a cookie-authenticated
// request carrying "X-Meridian-CSRF: 1" whatever its Content-Type.
const CSRFHeader = "X-Meridian-CSRF"

// CSRFGuard protects next from cross-site request forgery on the session
// cookie. The browser attaches the cookie to requests other sites make it
// send, so for any request that carries the cookie and whose method is not
// GET, HEAD or OPTIONS, it answers 403 with
// {"errors":[{"message":"...","extensions":{"code":"FORBIDDEN"}}]} unless:
//
//   - Content-Type is application/json (parameters such as charset
//     allowed, exactly one header), or the request has X-Meridian-CSRF: 1.
//     A page on another site can send neither without a CORS preflight,
//     which the gateway does not grant to other origins: an HTML form and a
//     "simple" fetch are limited to form, multipart and text/plain bodies
//     and to safelisted headers. This holds only while the gateway's CORS
//     policy does not allow other origins with credentials;
//   - and Sec-Fetch-Site is not "cross-site". Browsers that send Fetch
//     Metadata say so for every request another site starts, which
//     catches what the rule above may miss (a CORS policy loosened by
//     mistake, a browser bug). "same-site" is accepted: that is the
//     boundary SameSite=Lax already draws.
//
// Requests without the session cookie pass untouched, including those with
// an Authorization header only: a bearer token is attached by the caller's
// own code, never by the browser on another site's behalf, so it cannot be
// forged this way. A request with both is checked, as the cookie is there.
// Safe methods pass because they must not change anything: GraphQL over GET
// runs queries only (gqlgen's GET transport refuses mutations).
func (m *Manager) CSRFGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := m.csrfRefusal(r); reason != "" {
			m.fail(w, r, apierr.New(apierr.Forbidden, "%s", reason))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// csrfRefusal returns why r is refused as a possible forgery, or "".
func (m *Manager) csrfRefusal(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	if len(r.CookiesNamed(m.s.CookieName)) == 0 {
		return ""
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site")), "cross-site") {
		return "cross-site requests with the session cookie are refused"
	}
	if r.Header.Get(CSRFHeader) == "1" || isJSON(r.Header.Values("Content-Type")) {
		return ""
	}
	return "requests with the session cookie must be sent as application/json or with " + CSRFHeader + ": 1"
}

// isJSON reports whether the one Content-Type header is application/json.
func isJSON(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(values[0])
	return err == nil && mt == "application/json"
}
