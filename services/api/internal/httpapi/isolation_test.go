package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// publicRoutes need no API token; every other route is walked below.
var publicRoutes = map[string]string{
	"GET /healthz":             "liveness probe",
	"GET /readyz":              "readiness probe",
	"GET /openapi.json":        "the API's description",
	"GET /v1/webhooks":         "static catalogue of hook types",
	"GET /v1/media/{media_id}": "signed link is the credential",
	"GET /metrics":             "Prometheus metrics, as every service serves them",
}

// walkBodies are request bodies that would succeed if the caller were
// allowed, so a 403 or 404 below is the authorisation's, not a 400 in
// disguise.
var walkBodies = map[string]string{
	"PUT /v1/accounts/{account_id}/webhooks":                       wirecloudBody,
	"PATCH /v1/accounts/{account_id}/webhooks":                     `{"data":{"re-enable":true}}`,
	"POST /v1/accounts/{account_id}/webhooks/{webhook_id}":         wirecloudEditBody,
	"PATCH /v1/accounts/{account_id}/webhooks/{webhook_id}":        `{"data":{"enabled":false}}`,
	"PUT /v1/accounts/{account_id}/tokens":                         `{"data":{"name":"intruder"}}`,
	"DELETE /v1/accounts/{account_id}/webhooks/{webhook_id}":       "",
	"POST /v1/accounts/{account_id}/webhooks/{webhook_id}/recover": `{"data":{"since":"2026-01-02T15:04:05Z","dry_run":true}}`,
	"POST /v1/accounts/{account_id}/simulate":                      `{"data":{"scenario":"missed-call"}}`,
	"POST /v1/accounts/{account_id}/webhooks/preview":              wirecloudBody,
}

// accountSnapshot is everything stored for an account, to prove a refused
// request changed nothing.
func (h *harness) accountSnapshot(t *testing.T, accountID string) string {
	t.Helper()
	var hooks, tokens string
	err := h.pool.QueryRow(t.Context(), `SELECT
		coalesce((SELECT json_agg(h ORDER BY h.id)::text FROM hooks h WHERE account_id = $1), '[]'),
		coalesce((SELECT json_agg(json_build_array(id, name, revoked_at) ORDER BY id)::text FROM api_tokens WHERE account_id = $1), '[]')`,
		accountID).Scan(&hooks, &tokens)
	if err != nil {
		t.Fatalf("snapshot %s: %v", accountID, err)
	}
	return hooks + "\n" + tokens
}

// TestIsolationWalk walks every served route: without a token (401), with
// another account's token (403), and as the admin on an account that does
// not exist (404), and checks nothing of account A changed.
func TestIsolationWalk(t *testing.T) {
	t.Parallel()
	// Every route is tried with a bad token: more failures than the
	// per-address throttle allows, which has its own test.
	h := newHarness(t, func(d *httpapi.Deps) { d.AuthFailureBurst = 1000 })
	const tokenA, tokenB = "walk-token-of-account-a-xxxxxxxx", "walk-token-of-account-b-xxxxxxxx"
	h.accountToken(t, "acct_a", tokenA)
	h.accountToken(t, "acct_b", tokenB)
	hookA := h.createHook(t, "acct_a", wirecloudCustomDataBody)["id"].(string)
	h.createHook(t, "acct_a", `{"data":{"name":"m","uri":"https://e.com","hook":"media"}}`)
	if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET enabled = false, disable_reason = 'failures' WHERE id = $1`, hookA); err != nil {
		t.Fatalf("disable: %v", err)
	}
	h.deadLetter(t, "acct_a", []byte("secret of A"), "bad")
	changes := h.watchHookChanges(t, "acct_a")
	events, err := h.js.Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatalf("EVENTS stream: %v", err)
	}
	eventsBefore := events.CachedInfo().State.Msgs
	before := h.accountSnapshot(t, "acct_a")

	params := map[string]string{"{account_id}": "acct_a", "{webhook_id}": hookA, "{token_id}": "tok_acct_a", "{delivery_id}": "ev:" + hookA}
	fill := func(path string, values map[string]string) string {
		for k, v := range values {
			path = strings.ReplaceAll(path, k, v)
		}
		return path
	}
	walked := 0
	for _, route := range h.srv.Routes() {
		key := route.Method + " " + route.Path
		if _, public := publicRoutes[key]; public {
			continue
		}
		if !strings.HasPrefix(route.Path, "/v1/accounts/{account_id}/") {
			t.Errorf("%s is neither public nor under /v1/accounts/{account_id}: add it to this walk", key)
			continue
		}
		walked++
		body := walkBodies[key]
		path := fill(route.Path, params)

		h.do(t, route.Method, path, "", body).expectError(t, http.StatusUnauthorized, "", "")
		h.do(t, route.Method, path, "not-a-token", body).expectError(t, http.StatusUnauthorized, "", "")
		forbidden := h.do(t, route.Method, path, tokenB, body)
		forbidden.expectError(t, http.StatusForbidden, "", "")
		if strings.Contains(string(forbidden.raw), "secret of A") || strings.Contains(string(forbidden.raw), hookA+`"`) {
			t.Errorf("%s: 403 leaks account A's data: %s", key, forbidden.raw)
		}
		// A's token on B's copy of the path: refused the same way.
		h.do(t, route.Method, fill(route.Path, map[string]string{"{account_id}": "acct_b", "{webhook_id}": hookA, "{token_id}": "tok_acct_a", "{delivery_id}": "ev:" + hookA}),
			tokenA, body).expectError(t, http.StatusForbidden, "", "")

		// The admin on an account that does not exist: 404, except the
		// two creates, which create the account (their documented
		// contract) and are checked below.
		if key != "PUT /v1/accounts/{account_id}/webhooks" && key != "PUT /v1/accounts/{account_id}/tokens" {
			h.do(t, route.Method, fill(route.Path, map[string]string{"{account_id}": "ghost", "{webhook_id}": hookA, "{token_id}": "tok_acct_a", "{delivery_id}": "ev:" + hookA}),
				adminToken, body).expectError(t, http.StatusNotFound, "", "")
		}
	}
	if walked < 14 {
		t.Fatalf("walked only %d account routes", walked)
	}

	if after := h.accountSnapshot(t, "acct_a"); after != before {
		t.Fatalf("refused requests changed account A:\nbefore %s\nafter  %s", before, after)
	}
	info, err := events.Info(t.Context())
	if err != nil || info.State.Msgs != eventsBefore {
		t.Fatalf("refused requests published events: %d -> %d (%v)", eventsBefore, info.State.Msgs, err)
	}
	// The API publishes on the same connection, so a sentinel sent now
	// arrives after anything it published.
	if err := h.nc.Publish(bus.HooksChangedSubject("acct_a"), []byte(`{"change":"sentinel"}`)); err != nil {
		t.Fatalf("publish sentinel: %v", err)
	}
	select {
	case change := <-changes:
		if change["change"] != "sentinel" {
			t.Fatalf("refused request announced a hook change: %v", change)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sentinel hook change never arrived")
	}
	// The ghost account was never created by a refused or 404 request.
	var ghost bool
	if err := h.pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = 'ghost')`).Scan(&ghost); err != nil || ghost {
		t.Fatalf("ghost account exists=%v (%v)", ghost, err)
	}

	// B's dead letters, hooks and tokens listing never show A's.
	for _, path := range []string{"/v1/accounts/acct_b/webhooks", "/v1/accounts/acct_b/webhooks/attempts", "/v1/accounts/acct_b/events/deadletter"} {
		r := h.do(t, http.MethodGet, path, tokenB, "").expect(t, http.StatusOK)
		if len(r.list(t)) != 0 {
			t.Errorf("%s as B: %s", path, r.raw)
		}
	}
	raw, _ := json.Marshal(h.do(t, http.MethodGet, "/v1/accounts/acct_b/tokens", adminToken, "").expect(t, http.StatusOK).list(t))
	if strings.Contains(string(raw), "tok_acct_a") {
		t.Errorf("B's tokens list A's: %s", raw)
	}
}
