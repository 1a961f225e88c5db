package session

import (
	"errors"
	"net/url"
	"strings"
)

// maxReturnPath bounds return_to: it travels in the pre-login cookie,
// and browsers cap a cookie at about 4 KiB.
const maxReturnPath = 1024

// safeReturnPath accepts p only when every browser resolves it to a path on
// the gateway's own origin, so that Login can never be used as an open
// redirect ("sign in at Meridian, land on the attacker's page").
//
// It must start with exactly one "/": "//host" and "/\host" are
// protocol-relative URLs to another host (browsers read "\" as "/"). Bytes
// below 0x21, DEL, "\" and non-ASCII are refused outright rather than
// reasoned about: browsers drop tabs and newlines before parsing, so
// "/\t/evil.example" would become "//evil.example". What is left is parsed
// to make sure it has no scheme, host or user. Percent-escapes are kept as
// written and not decoded, so "/%2F%2Fevil.example" stays a path on this
// origin.
func safeReturnPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("return path is empty")
	case len(p) > maxReturnPath:
		return "", errors.New("return path is too long")
	case p[0] != '/':
		return "", errors.New("return path must be a relative path starting with /")
	case len(p) > 1 && (p[1] == '/' || p[1] == '\\'):
		return "", errors.New("return path must not start with // or /\\")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x21 || c >= 0x7f || c == '\\' {
			return "", errors.New("return path holds a character that is not allowed")
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", errors.New("return path must be a path on this site")
	}
	return p, nil
}
