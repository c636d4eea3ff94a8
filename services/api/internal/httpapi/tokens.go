package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// maxTokenNameLength bounds a token's label.
const maxTokenNameLength = 128

// tokenIDPattern is the shape of the ids newTokenID mints, and a safe path
// segment for any other stored id.
var tokenIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// tokenJSON is a token as listed: never its secret, which is not stored.
type tokenJSON struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Created string   `json:"created"`
	// Token is the secret itself, present only in the create answer.
	Token   string `json:"token,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
}

// createToken mints an account-scoped token and returns it once: only its
// SHA-256 is stored. Admin only; the admin's first token for an unknown
// account creates the account, as a first hook does. "scopes" says what the
// token may do (pkg/credential): ["api"] when absent.
func (s *Server) createToken(c echo.Context) error {
	ctx := c.Request().Context()
	accountID := c.Param("account_id")
	fields, err := readData(c)
	if err != nil {
		return err
	}
	var v validation.Violations
	for field := range fields {
		if field != "name" && field != "scopes" {
			v.Add(truncate(field, 64), validation.RuleUnknown, validation.Rule{Message: `is not a token field; the fields are "name" and "scopes"`})
		}
	}
	scopes := readScopes(fields["scopes"], &v)
	var name string
	raw, present := fields["name"]
	switch {
	case !present || strings.TrimSpace(string(raw)) == "null":
		v.Addf("name", validation.RuleRequired, "is required: a label saying who or what uses the token")
	case jsonString(raw, &name) != nil:
		v.Add("name", validation.RuleType, validation.Rule{Message: "must be a string", Target: "a string"})
	case strings.TrimSpace(name) == "":
		v.Add("name", validation.RuleMinLength, validation.Rule{Message: "must not be empty or blank", Target: 1})
	case utf8.RuneCountInString(name) > maxTokenNameLength:
		v.Add("name", validation.RuleMaxLength, validation.Rule{
			Message: fmt.Sprintf("must be at most %d characters", maxTokenNameLength), Target: maxTokenNameLength})
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		v.Addf("name", validation.RuleFormat, "must not contain control characters")
	}
	if !v.Empty() {
		return errInvalidData(v)
	}
	id, token, err := credential.NewToken()
	if err != nil {
		return errInternal(err)
	}
	var row store.CreateTokenRow
	err = store.WithTx(ctx, s.pool, func(q *store.Queries) error {
		if err := q.EnsureAccount(ctx, accountID); err != nil {
			return fmt.Errorf("ensure account %s: %w", accountID, err)
		}
		var err error
		row, err = q.CreateToken(ctx, store.CreateTokenParams{ID: id, AccountID: accountID, Name: name, TokenHash: credential.Hash(token), Scopes: scopes.Strings()})
		if err != nil {
			return fmt.Errorf("create token for %s: %w", accountID, err)
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return errNotFound("account not found: " + accountID)
	}
	if err != nil {
		return errInternal(err)
	}
	return respond(c, http.StatusCreated, envelope{Data: tokenJSON{
		ID: row.ID, Name: row.Name, Scopes: row.Scopes, Created: timestamp(row.CreatedAt), Token: token}})
}

// readScopes validates the requested scopes into v; absent or null means
// credential.DefaultScopes.
func readScopes(raw json.RawMessage, v *validation.Violations) credential.Scopes {
	if raw == nil || strings.TrimSpace(string(raw)) == "null" {
		return credential.DefaultScopes
	}
	var requested []string
	if err := json.Unmarshal(raw, &requested); err != nil {
		v.Add("scopes", validation.RuleType, validation.Rule{Message: "must be a list of strings", Target: credential.KnownScopes.Strings()})
		return nil
	}
	scopes, err := credential.ParseScopes(requested)
	var scopeErr *credential.ScopeError
	if errors.As(err, &scopeErr) {
		v.Add("scopes", scopeErr.Rule, validation.Rule{Message: scopeErr.Message, Target: credential.KnownScopes.Strings()})
		return nil
	}
	return scopes
}

// listTokens lists the account's active tokens, oldest first, without
// secrets.
func (s *Server) listTokens(c echo.Context) error {
	accountID := c.Param("account_id")
	rows, err := s.queries.ListActiveTokens(c.Request().Context(), accountID)
	if err != nil {
		return errInternal(fmt.Errorf("list tokens of %s: %w", accountID, err))
	}
	out := make([]tokenJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, tokenJSON{ID: r.ID, Name: r.Name, Scopes: r.Scopes, Created: timestamp(r.CreatedAt)})
	}
	return respond(c, http.StatusOK, envelope{Data: out})
}

// revokeToken revokes the token. The API reads the token's row on every
// request, so its next request there gets 401; ingest caches verified
// tokens for INGEST_TOKEN_CACHE_TTL, so PBX traffic stops within that.
func (s *Server) revokeToken(c echo.Context) error {
	accountID, tokenID := c.Param("account_id"), c.Param("token_id")
	if !tokenIDPattern.MatchString(tokenID) {
		var v validation.Violations
		v.Add("token_id", validation.RuleFormat, validation.Rule{
			Message: "must be 1 to 64 letters, digits, '_' or '-'", Target: tokenIDPattern.String()})
		return errBadRequest("invalid token id in path", v)
	}
	row, err := s.queries.RevokeToken(c.Request().Context(), store.RevokeTokenParams{AccountID: accountID, ID: tokenID})
	if store.IsNotFound(err) {
		return errNotFound("token not found (or already revoked): " + tokenID)
	}
	if err != nil {
		return errInternal(fmt.Errorf("revoke token %s of %s: %w", tokenID, accountID, err))
	}
	return respond(c, http.StatusOK, envelope{Data: tokenJSON{ID: row.ID, Name: row.Name, Scopes: row.Scopes, Created: timestamp(row.CreatedAt), Revoked: true}})
}
