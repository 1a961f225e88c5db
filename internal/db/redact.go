package db

import (
	"net/url"
	"regexp"
	"strings"
)

// redactedSecret replaces secrets in printed URLs.
const redactedSecret = "xxxxx"

// isSecretParam reports whether a query parameter carries a credential in
// libpq/pgx connection URLs.
func isSecretParam(key string) bool {
	switch strings.ToLower(key) {
	case "password", "sslpassword", "sslkey":
		return true
	}
	return false
}

// keywordSecret matches a secret in libpq keyword/value form
// ("host=db password=s3cret"), which is not a URL but is what an operator
// may paste by mistake.
var keywordSecret = regexp.MustCompile(`(?i)\b(password|sslpassword|sslkey)(\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactURL returns databaseURL fit for logs and error messages: the
// password in the user info and the values of the password, sslpassword and
// sslkey query parameters are replaced by "xxxxx". A URL without secrets is
// returned unchanged, and sqlite: URLs, which hold no credentials, are never
// altered. A string without a scheme gets password=... style keywords
// redacted. A string that does not parse as a URL cannot be redacted
// reliably, so only its scheme survives ("postgres://<unparseable>"); a
// string without a scheme becomes "<unparseable>".
func RedactURL(databaseURL string) string {
	if strings.HasPrefix(strings.ToLower(databaseURL), "sqlite:") {
		return databaseURL
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		if scheme, _, ok := strings.Cut(databaseURL, "://"); ok && isScheme(scheme) {
			return scheme + "://<unparseable>"
		}
		return "<unparseable>"
	}
	if u.Scheme == "" {
		return keywordSecret.ReplaceAllString(databaseURL, "${1}${2}"+redactedSecret)
	}
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redactedSecret)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isSecretParam(k) {
				q.Set(k, redactedSecret)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return databaseURL
	}
	return u.String()
}

// isScheme reports whether s is a syntactically valid URL scheme, so that an
// unparseable URL is not echoed back piecewise.
func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}
