package credential

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is one thing an account token may do. A token has one or more.
type Scope string

const (
	// ScopeAPI lets a token manage its own account on the API (hooks,
	// attempts, dead letters, delivery settings). Tokens made before scopes
	// existed have it, and it is the default.
	ScopeAPI Scope = "api"
	// ScopePBX lets a token feed its own account's events and media to
	// ingest (/v1/accounts/{its account}/...).
	ScopePBX Scope = "pbx"
	// ScopePBXAny lets a token feed ingest's shared multi-tenant routes
	// (/v1/accounts/any/events/freeswitch, .../ari), where each event names
	// its account in a channel variable. Such a token can therefore feed
	// every account: it is for a multi-tenant PBX that the operator runs,
	// and it grants nothing on any specific account's routes.
	ScopePBXAny Scope = "pbx_any"
)

// Scopes are the scopes a token holds, each at most once.
type Scopes []Scope

// KnownScopes lists every scope, in the order documentation shows them.
var KnownScopes = Scopes{ScopeAPI, ScopePBX, ScopePBXAny}

// DefaultScopes is what a token gets when its creation names none.
var DefaultScopes = Scopes{ScopeAPI}

// Has reports whether s holds scope.
func (s Scopes) Has(scope Scope) bool { return slices.Contains(s, scope) }

// Strings returns the scopes as stored and shown.
func (s Scopes) Strings() []string {
	out := make([]string, len(s))
	for i, scope := range s {
		out[i] = string(scope)
	}
	return out
}

// ScopeError says why a requested list of scopes is refused; the API
// answers it 400 under the field "scopes".
type ScopeError struct {
	// Rule is the violated rule as the API reports it: "min_length",
	// "enum" or "unique_items".
	Rule    string
	Message string
}

func (e *ScopeError) Error() string { return e.Message }

// ParseScopes validates the scopes a caller asks for: at least one, each a
// known scope, none twice. The result is in KnownScopes order, so equal
// sets read alike.
func ParseScopes(requested []string) (Scopes, error) {
	if len(requested) == 0 {
		return nil, &ScopeError{Rule: "min_length", Message: "must name at least one scope: " + KnownScopes.quoted()}
	}
	var out Scopes
	for _, r := range requested {
		scope := Scope(r)
		if !KnownScopes.Has(scope) {
			shown := r
			if len(shown) > 32 {
				shown = shown[:32] + "..."
			}
			return nil, &ScopeError{Rule: "enum", Message: fmt.Sprintf("%q is not a scope; the scopes are %s", shown, KnownScopes.quoted())}
		}
		if out.Has(scope) {
			return nil, &ScopeError{Rule: "unique_items", Message: fmt.Sprintf("%q is named twice", r)}
		}
		out = append(out, scope)
	}
	return sorted(out), nil
}

// StoredScopes reads scopes from the database. Values this code does not
// know (written by a newer release) are dropped: a token never gains a
// right this code cannot reason about.
func StoredScopes(stored []string) Scopes {
	var out Scopes
	for _, s := range stored {
		if scope := Scope(s); KnownScopes.Has(scope) && !out.Has(scope) {
			out = append(out, scope)
		}
	}
	return sorted(out)
}

func sorted(s Scopes) Scopes {
	slices.SortFunc(s, func(a, b Scope) int { return slices.Index(KnownScopes, a) - slices.Index(KnownScopes, b) })
	return s
}

func (s Scopes) quoted() string {
	q := make([]string, len(s))
	for i, scope := range s {
		q[i] = `"` + string(scope) + `"`
	}
	return strings.Join(q, ", ")
}
