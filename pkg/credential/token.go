package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// TokenPrefix marks an account token, so one found in a log or a
// repository is recognisable (and greppable by secret scanners).
const TokenPrefix = "pbxt_"

// MinAdminTokenLength keeps the admin token out of brute-force reach.
const MinAdminTokenLength = 16

// Hash is how account tokens are stored and looked up: SHA-256 of the
// token, so a database leak does not leak usable tokens. Tokens are 32
// random bytes, so a fast unsalted digest is enough: there is nothing to
// guess from it.
func Hash(token string) []byte {
	digest := sha256.Sum256([]byte(token))
	return digest[:]
}

// NewToken mints an account token's id and the token itself: pbxt_ and 32
// random bytes in unpadded base64url, safe in a header without quoting.
func NewToken() (id, token string, err error) {
	b := make([]byte, 12+32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate API token: %w", err)
	}
	return "tok_" + hex.EncodeToString(b[:12]), TokenPrefix + base64.RawURLEncoding.EncodeToString(b[12:]), nil
}

// AdminToken holds a digest of the admin token so the comparison takes the
// same time whatever the length or content of the presented token.
type AdminToken struct{ digest [sha256.Size]byte }

// ReadAdminToken reads PBXHOOKS_ADMIN_TOKEN, required and checked by
// NewAdminToken, for the services that accept it (the API and ingest), so
// both refuse the same tokens at start; problems are recorded on e.
func ReadAdminToken(e *config.Env) string {
	token := e.Required("PBXHOOKS_ADMIN_TOKEN", "the token that administers every account and may send events for any")
	if token == "" {
		return ""
	}
	if _, err := NewAdminToken(token); err != nil {
		e.Fail("PBXHOOKS_ADMIN_TOKEN", "%s", err.Error())
	}
	return token
}

// ReadTrustedProxies reads AUTH_TRUSTED_PROXY_CIDRS, the peers (a load
// balancer, an ingress) whose X-Forwarded-For names the client address the
// failed-authentication throttle counts; the API and ingest read it alike.
func ReadTrustedProxies(e *config.Env) []netip.Prefix { return e.Prefixes("AUTH_TRUSTED_PROXY_CIDRS") }

// NewAdminToken checks that token can be presented at all (what FromHeader
// accepts) and is long enough.
func NewAdminToken(token string) (AdminToken, error) {
	if len(token) < MinAdminTokenLength {
		return AdminToken{}, fmt.Errorf("the admin token must be at least %d characters", MinAdminTokenLength)
	}
	if err := checkToken(token, "the admin token"); err != nil {
		return AdminToken{}, fmt.Errorf("the admin token must be at most %d visible ASCII characters without spaces", MaxTokenLength)
	}
	return AdminToken{digest: sha256.Sum256([]byte(token))}, nil
}

// Matches reports whether presented is the admin token, in constant time.
// The zero AdminToken matches nothing.
func (a AdminToken) Matches(presented string) bool {
	if a.digest == [sha256.Size]byte{} {
		return false
	}
	digest := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(a.digest[:], digest[:]) == 1
}
