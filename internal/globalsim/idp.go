package globalsim

import (
	"strings"

	"meridian/internal/idpsim"
)

// IdPPath is where the demo OpenID Connect identity provider is mounted
// when Config.Identities is set: its issuer is the server's base URL plus
// this path. It is a subtree of its own beside the route table, documented
// by its discovery document (/idp/.well-known/openid-configuration) rather
// than api/global.openapi.yaml, and neither logged nor faulted like the
// origins.
const IdPPath = "/idp"

// IdP returns the demo identity provider, or nil when Config.Identities
// was empty. Start sets its issuer; a Sim mounted on another server (such
// as httptest) must call SetIssuer with that server's URL plus IdPPath.
func (s *Sim) IdP() *idpsim.IdP { return s.idp }

// isIdPPath reports whether a request path belongs to the identity
// provider's subtree.
func isIdPPath(path string) bool { return strings.HasPrefix(path, IdPPath+"/") }
