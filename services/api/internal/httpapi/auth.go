package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

const principalKey = "principal"

// authenticate answers 401 unless the request carries the admin token or
// an active account token (X-Auth-Token or Authorization: Bearer), and 429
// to a client address that failed too often (pkg/credential has the rules
// and the throttle, shared with ingest).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.auth.Authenticate(c.Request().Context(), c.Request())
		if err != nil {
			return refusalError(c, err)
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// refusalError renders a credential.Refusal as the API's error, with
// Retry-After on 429; anything else is an outage (500).
func refusalError(c echo.Context, err error) error {
	var refusal *credential.Refusal
	if !errors.As(err, &refusal) {
		return errInternal(fmt.Errorf("authenticate: %w", err))
	}
	return &Error{Status: refusal.Status, Message: refusal.Message, RetryAfter: refusal.RetryAfter}
}

// authorizeAccount validates the :account_id path parameter (400) and lets
// an account token act only on its own account, and only if it has the
// "api" scope (PBX-only tokens feed ingest and nothing else).
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
		if err := currentPrincipal(c).MayManage(accountID); err != nil {
			return refusalError(c, err)
		}
		return next(c)
	}
}

// requireAccount answers 404 when the path's account does not exist. An
// account token's own account always exists (tokens are deleted with it),
// so only the admin pays for the lookup.
func (s *Server) requireAccount(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentPrincipal(c).Admin {
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

func currentPrincipal(c echo.Context) credential.Principal {
	p, _ := c.Get(principalKey).(credential.Principal)
	return p
}

// requireAdmin answers 403 to account tokens: only the admin manages API
// tokens, so a leaked account token cannot mint itself successors.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentPrincipal(c).Admin {
			return &Error{Status: http.StatusForbidden, Message: "only the admin token may manage API tokens"}
		}
		return next(c)
	}
}
