package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
)

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tokens = "/v1/accounts/acct_new/tokens"

	// The admin's first token creates the account.
	created := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"CRM integration"}}`).expect(t, http.StatusCreated).data(t)
	token, _ := created["token"].(string)
	id, _ := created["id"].(string)
	if !strings.HasPrefix(token, credential.TokenPrefix) || len(token) < 40 || id == "" || created["name"] != "CRM integration" {
		t.Fatalf("created token: %v", created)
	}
	if _, err := time.Parse(time.RFC3339, created["created"].(string)); err != nil {
		t.Fatalf("created: %v", err)
	}
	// Only the SHA-256 is stored.
	var stored []byte
	if err := h.pool.QueryRow(t.Context(), `SELECT token_hash FROM api_tokens WHERE id = $1`, id).Scan(&stored); err != nil {
		t.Fatalf("read token row: %v", err)
	}
	if digest := sha256.Sum256([]byte(token)); !bytes.Equal(stored, digest[:]) {
		t.Fatal("stored token_hash is not the SHA-256 of the token")
	}

	// The token works on its account, and only there.
	h.do(t, http.MethodPut, "/v1/accounts/acct_new/webhooks", token, wirecloudBody).expect(t, http.StatusCreated)
	h.do(t, http.MethodGet, "/v1/accounts/acct_new/webhooks", token, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, "/v1/accounts/acct_other/webhooks", token, "").expectError(t, http.StatusForbidden, "", "")

	second := h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"second"}}`).expect(t, http.StatusCreated).data(t)
	list := h.do(t, http.MethodGet, tokens, adminToken, "").expect(t, http.StatusOK)
	if items := list.list(t); len(items) != 2 || items[0].(map[string]any)["id"] != id || items[1].(map[string]any)["id"] != second["id"] {
		t.Fatalf("list: %s", list.raw)
	}
	if strings.Contains(string(list.raw), token) || strings.Contains(string(list.raw), `"token"`) {
		t.Fatalf("list shows a secret: %s", list.raw)
	}

	// Account tokens may not manage tokens, not even their own account's.
	h.do(t, http.MethodGet, tokens, token, "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodPut, tokens, token, `{"data":{"name":"escalate"}}`).expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodDelete, tokens+"/"+second["id"].(string), token, "").expectError(t, http.StatusForbidden, "", "")

	// Revocation takes effect on the next request.
	revoked := h.do(t, http.MethodDelete, tokens+"/"+id, adminToken, "").expect(t, http.StatusOK).data(t)
	if revoked["id"] != id || revoked["revoked"] != true || revoked["token"] != nil {
		t.Fatalf("revoked: %v", revoked)
	}
	h.do(t, http.MethodGet, "/v1/accounts/acct_new/webhooks", token, "").expectError(t, http.StatusUnauthorized, "", "")
	h.do(t, http.MethodDelete, tokens+"/"+id, adminToken, "").expectError(t, http.StatusNotFound, "", "")
	if items := h.do(t, http.MethodGet, tokens, adminToken, "").expect(t, http.StatusOK).list(t); len(items) != 1 {
		t.Fatalf("list after revoke: %v", items)
	}
	// A token of another account cannot be revoked through this one.
	other := h.do(t, http.MethodPut, "/v1/accounts/acct_other/tokens", adminToken, `{"data":{"name":"o"}}`).expect(t, http.StatusCreated).data(t)
	h.do(t, http.MethodDelete, tokens+"/"+other["id"].(string), adminToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acct_other/webhooks", other["token"].(string), "").expect(t, http.StatusOK)
}

func TestTokenBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tokens = "/v1/accounts/acct1/tokens"
	h.do(t, http.MethodPut, tokens, adminToken, `{"data":{"name":"n"}}`).expect(t, http.StatusCreated)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field, rule              string
	}{
		{"name missing", "PUT", tokens, `{"data":{}}`, 400, "name", "required"},
		{"name null", "PUT", tokens, `{"data":{"name":null}}`, 400, "name", "required"},
		{"name not a string", "PUT", tokens, `{"data":{"name":5}}`, 400, "name", "type"},
		{"name blank", "PUT", tokens, `{"data":{"name":"  "}}`, 400, "name", "min_length"},
		{"name too long", "PUT", tokens, `{"data":{"name":"` + strings.Repeat("n", 129) + `"}}`, 400, "name", "max_length"},
		{"name control", "PUT", tokens, `{"data":{"name":"a\u0007b"}}`, 400, "name", "format"},
		{"unknown field", "PUT", tokens, `{"data":{"name":"n","account_id":"acct2"}}`, 400, "account_id", "unknown"},
		{"malformed", "PUT", tokens, `{"data":{"name":}}`, 400, "", ""},
		{"no envelope", "PUT", tokens, `{"name":"n"}`, 400, "data", "required"},
		{"bad account", "PUT", "/v1/accounts/a.b/tokens", `{"data":{"name":"n"}}`, 400, "account_id", "format"},
		{"unknown account list", "GET", "/v1/accounts/nobody/tokens", "", 404, "", ""},
		{"unknown account revoke", "DELETE", "/v1/accounts/nobody/tokens/tok_x", "", 404, "", ""},
		{"bad token id", "DELETE", tokens + "/tok.x", "", 400, "token_id", "format"},
		{"no token", "GET", tokens, "", 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := adminToken
			if tc.status == http.StatusUnauthorized {
				token = ""
			}
			h.do(t, tc.method, tc.path, token, tc.body).expectError(t, tc.status, tc.field, tc.rule)
		})
	}
	h.do(t, http.MethodDelete, tokens+"/tok_0123", adminToken, "").expectError(t, http.StatusNotFound, "", "")
	var n int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bad input created tokens: %d (%v)", n, err)
	}
}
