package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

func scopesOf(t *testing.T, doc map[string]any) []string {
	t.Helper()
	raw, ok := doc["scopes"].([]any)
	if !ok {
		t.Fatalf("no scopes in %v", doc)
	}
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i], _ = s.(string)
	}
	return out
}

func TestTokenScopesAreChosenAtCreationAndValidated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tokens = "/v1/accounts/acme/tokens"

	plain := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"crm"}}`).expect(t, http.StatusCreated).data(t)
	if got := scopesOf(t, plain); !slices.Equal(got, []string{"api"}) {
		t.Fatalf("default scopes %v, want [api]", got)
	}
	pbx := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"pbx-east","scopes":["pbx"]}}`).expect(t, http.StatusCreated).data(t)
	if got := scopesOf(t, pbx); !slices.Equal(got, []string{"pbx"}) {
		t.Fatalf("scopes %v, want [pbx]", got)
	}
	both := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"both","scopes":["pbx","api"]}}`).expect(t, http.StatusCreated).data(t)
	if got := scopesOf(t, both); !slices.Equal(got, []string{"api", "pbx"}) {
		t.Fatalf("scopes %v, want [api pbx]", got)
	}
	shared := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"cluster","scopes":["pbx_any"]}}`).expect(t, http.StatusCreated).data(t)

	list := h.do(t, http.MethodGet, tokens, adminToken, "").expect(t, http.StatusOK).list(t)
	if len(list) != 4 || !slices.Equal(scopesOf(t, list[1].(map[string]any)), []string{"pbx"}) {
		t.Fatalf("list: %v", list)
	}

	for _, tc := range []struct{ body, rule string }{
		{`{"data":{"name":"x","scopes":["admin"]}}`, "enum"},
		{`{"data":{"name":"x","scopes":["API"]}}`, "enum"},
		{`{"data":{"name":"x","scopes":[]}}`, "min_length"},
		{`{"data":{"name":"x","scopes":["pbx","pbx"]}}`, "unique_items"},
		{`{"data":{"name":"x","scopes":"pbx"}}`, "type"},
		{`{"data":{"name":"x","scopes":[1]}}`, "type"},
	} {
		h.do(t, http.MethodPut, tokens, adminToken, tc.body).expectError(t, http.StatusBadRequest, "scopes", tc.rule)
	}

	// The management API wants "api": a PBX-only token gets 403 on its own
	// account, as does a pbx_any token.
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", pbx["token"].(string), "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodPut, "/v1/accounts/acme/webhooks", pbx["token"].(string), wirecloudBody).expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", shared["token"].(string), "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", plain["token"].(string), "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", both["token"].(string), "").expect(t, http.StatusOK)
	// Authorization: Bearer is accepted as X-Auth-Token is.
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", "", "", "Authorization", "Bearer "+plain["token"].(string)).expect(t, http.StatusOK)

	// A token created before scopes existed (the migration's default) has
	// "api" only.
	if _, err := h.pool.Exec(t.Context(), `INSERT INTO api_tokens (id, account_id, name, token_hash) VALUES ('tok_old', 'acme', 'old', $1)`,
		credential.Hash("pbxt_made-before-scopes")); err != nil {
		t.Fatal(err)
	}
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", "pbxt_made-before-scopes", "").expect(t, http.StatusOK)
}

// countingTokens counts the lookups that reach PostgreSQL.
type countingTokens struct {
	credential.TokenStore
	lookups atomic.Int64
}

func (c *countingTokens) ActiveToken(ctx context.Context, digest []byte) (credential.Principal, error) {
	c.lookups.Add(1)
	return c.TokenStore.ActiveToken(ctx, digest)
}

// clientFrom is a client whose connections come from localIP (any address
// of 127.0.0.0/8 works on loopback).
func clientFrom(localIP string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 30 * time.Second}
}

func getWith(t *testing.T, client *http.Client, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The finding: failed authentication was never rate-limited (the per-token
// limiter runs after authentication), so 3,000 wrong tokens were 3,000
// hashes and database lookups. Now a client address gets its burst of
// lookups, then 429 with Retry-After at no database cost.
func TestFailedAuthenticationIsThrottledPerAddress(t *testing.T) {
	t.Parallel()
	tokens := &countingTokens{}
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Tokens = tokens
		d.AuthFailureBurst = 5
		d.AuthFailureInterval = time.Hour
	})
	tokens.TokenStore = credential.NewPostgresTokens(h.pool)
	const good = "pbxt_acme-integration-token"
	h.accountToken(t, "acme", good)
	url := h.url + "/v1/accounts/acme/webhooks"
	attacker, neighbour := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	statuses := map[int]int{}
	for range 300 {
		resp := getWith(t, attacker, url, "pbxt_guess")
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 295 {
		t.Fatalf("statuses %v; want 5 x 401, then 295 x 429", statuses)
	}
	if n := tokens.lookups.Load(); n != 5 {
		t.Fatalf("%d database lookups for 300 wrong tokens; want 5", n)
	}
	h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", "", "").expectError(t, http.StatusUnauthorized, "", "")
	if resp := getWith(t, neighbour, url, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("another address: %d, want 200", resp.StatusCode)
	}
	if resp := getWith(t, neighbour, url, adminToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin token from another address: %d, want 200", resp.StatusCode)
	}
	// The admin token is not tried from a throttled address: it could be
	// guessed there at full speed.
	if resp := getWith(t, attacker, url, adminToken); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("admin token from the throttled address: %d, want 429", resp.StatusCode)
	}
	// The API caches no token, so checking the right one would cost the
	// lookup the throttle refuses: 429 until the address's allowance
	// returns.
	before := tokens.lookups.Load()
	if resp := getWith(t, attacker, url, good); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("account token from the throttled address: %d, want 429", resp.StatusCode)
	}
	if tokens.lookups.Load() != before {
		t.Fatal("a throttled address cost a database lookup")
	}
}
