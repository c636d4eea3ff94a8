package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// HeaderAuthToken carries the credential, as in Kazoo.
const HeaderAuthToken = "X-Auth-Token"

// maxTokenLength bounds what is hashed and looked up; longer is never valid.
const maxTokenLength = 512

const principalKey = "principal"

// principal is who a request acts as.
type principal struct {
	// admin may act on every account and creates accounts implicitly.
	admin bool
	// accountID is the only account an account token may act on.
	accountID string
	tokenID   string
}

// adminToken holds a digest of the admin token so the comparison takes the
// same time whatever the length or content of the presented token.
type adminToken [sha256.Size]byte

func newAdminToken(token string) adminToken { return sha256.Sum256([]byte(token)) }

func (a adminToken) matches(presented string) bool {
	digest := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(a[:], digest[:]) == 1
}

// HashToken is how account tokens are stored: SHA-256 of the token, so a
// database leak does not leak usable tokens.
func HashToken(token string) []byte {
	digest := sha256.Sum256([]byte(token))
	return digest[:]
}

// authenticate answers 401 unless X-Auth-Token is the admin token or an
// active account token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := c.Request().Header.Get(HeaderAuthToken)
		if token == "" {
			return &Error{Status: http.StatusUnauthorized, Message: "missing " + HeaderAuthToken + " header"}
		}
		if s.admin.matches(token) {
			c.Set(principalKey, principal{admin: true})
			return next(c)
		}
		invalid := &Error{Status: http.StatusUnauthorized, Message: "invalid or revoked " + HeaderAuthToken}
		if len(token) > maxTokenLength {
			return invalid
		}
		row, err := s.queries.GetActiveTokenByHash(c.Request().Context(), HashToken(token))
		if store.IsNotFound(err) {
			return invalid
		}
		if err != nil {
			return errInternal(fmt.Errorf("look up API token: %w", err))
		}
		c.Set(principalKey, principal{accountID: row.AccountID, tokenID: row.ID})
		return next(c)
	}
}

// authorizeAccount validates the :account_id path parameter (400) and lets
// an account token act only on its own account.
//
// A token for account A used on account B gets 403, never 404: the check
// runs before any lookup, so the answer is the same whether B exists or not
// and reveals nothing about other tenants; and 403 tells the caller the
// token, not the URL, is what to fix. Every route under
// /v1/accounts/{account_id} answers this way.
func (s *Server) authorizeAccount(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		accountID := c.Param("account_id")
		if err := event.ValidateAccountID(accountID); err != nil {
			var v validation.Violations
			v.Add("account_id", validation.RuleFormat, validation.Rule{
				Message: "must be 1 to 64 letters, digits, '_' or '-'", Target: "^[A-Za-z0-9_-]{1,64}$"})
			return errBadRequest("invalid account id in path", v)
		}
		p := currentPrincipal(c)
		if !p.admin && p.accountID != accountID {
			return &Error{Status: http.StatusForbidden, Message: "this token may not act on account " + accountID}
		}
		return next(c)
	}
}

// requireAccount answers 404 when the path's account does not exist. An
// account token's own account always exists (tokens are deleted with it),
// so only the admin pays for the lookup.
func (s *Server) requireAccount(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentPrincipal(c).admin {
			return next(c)
		}
		accountID := c.Param("account_id")
		exists, err := s.queries.AccountExists(c.Request().Context(), accountID)
		if err != nil {
			return errInternal(fmt.Errorf("look up account %s: %w", accountID, err))
		}
		if !exists {
			return errNotFound("account not found: " + accountID)
		}
		return next(c)
	}
}

func currentPrincipal(c echo.Context) principal {
	p, _ := c.Get(principalKey).(principal)
	return p
}

// requireAdmin answers 403 to account tokens: only the admin manages API
// tokens, so a leaked account token cannot mint itself successors.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentPrincipal(c).admin {
			return &Error{Status: http.StatusForbidden, Message: "only the admin token may manage API tokens"}
		}
		return next(c)
	}
}
