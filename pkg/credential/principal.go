package credential

import (
	"fmt"
	"net/http"
	"time"
)

// Principal is who an authenticated request acts as.
type Principal struct {
	// Admin is the deployment's admin token: every right on every account.
	Admin bool
	// AccountID is the only account an account token concerns.
	AccountID string
	TokenID   string
	Scopes    Scopes
}

// Refusal is an authentication or authorization failure with the HTTP
// status it deserves (401, 403 or 429). Each service renders it in the
// API's error format.
type Refusal struct {
	Status  int
	Message string
	// RetryAfter is set on 429: when the client address may try again.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Message }

func forbidden(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Message: fmt.Sprintf(format, args...)}
}

// MayManage decides whether p may use the management API on accountID:
// the admin, or a token of that account with scope "api". The scope is
// checked first, so a PBX-only token learns that its kind, not the
// account, is what is wrong.
//
// The answer never depends on whether accountID exists, so it reveals
// nothing about other tenants.
func (p Principal) MayManage(accountID string) error {
	switch {
	case p.Admin:
		return nil
	case !p.Scopes.Has(ScopeAPI):
		return forbidden("this token's scopes do not include %q: it may not use the management API", ScopeAPI)
	case p.AccountID != accountID:
		return forbidden("this token may not act on account %s", accountID)
	}
	return nil
}

// MayFeed decides whether p may send events or media for accountID to
// ingest: the admin, or a token of that account with scope "pbx".
func (p Principal) MayFeed(accountID string) error {
	switch {
	case p.Admin:
		return nil
	case !p.Scopes.Has(ScopePBX):
		return forbidden("this token's scopes do not include %q: it may not send PBX events", ScopePBX)
	case p.AccountID != accountID:
		return forbidden("this token may not send events for account %s", accountID)
	}
	return nil
}

// MayFeedShared decides whether p may use ingest's shared multi-tenant
// routes, where each event names its own account: the admin, or a token
// with scope "pbx_any" (whatever account it was created in).
func (p Principal) MayFeedShared() error {
	if p.Admin || p.Scopes.Has(ScopePBXAny) {
		return nil
	}
	return forbidden("only the admin token or a token with scope %q may send events to the shared route, where each event names its account", ScopePBXAny)
}
