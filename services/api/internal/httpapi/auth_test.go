package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
)

type natsMsg = nats.Msg

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/v1/accounts/acct1/webhooks", "/v1/accounts/acct1/webhooks/attempts"} {
		h.do(t, http.MethodGet, path, "", "").expectError(t, http.StatusUnauthorized, "", "")
		h.do(t, http.MethodGet, path, "not-a-token", "").expectError(t, http.StatusUnauthorized, "", "")
	}
	h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", "", wirecloudBody).expectError(t, http.StatusUnauthorized, "", "")
	// A prefix of the admin token is not the admin token.
	h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken[:20], wirecloudBody).expectError(t, http.StatusUnauthorized, "", "")
}

func TestAccountTokensAreIsolated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tokenA, tokenB = "token-of-account-a-xxxxxxxxxxxx", "token-of-account-b-xxxxxxxxxxxx"
	h.accountToken(t, "acct_a", tokenA)
	h.accountToken(t, "acct_b", tokenB)

	// Each token works on its own account.
	hookA := h.do(t, http.MethodPut, "/v1/accounts/acct_a/webhooks", tokenA, wirecloudBody).expect(t, http.StatusCreated).data(t)["id"].(string)
	hookB := h.do(t, http.MethodPut, "/v1/accounts/acct_b/webhooks", tokenB, wirecloudBody).expect(t, http.StatusCreated).data(t)["id"].(string)
	if n := len(h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks", tokenA, "").expect(t, http.StatusOK).list(t)); n != 1 {
		t.Fatalf("acct_a lists %d hooks, want 1", n)
	}
	h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks/"+hookA, tokenA, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks/attempts", tokenA, "").expect(t, http.StatusOK)

	// Token A on account B: 403 on every route, whether the target exists
	// or not, and the same for an account that does not exist.
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/accounts/acct_b/webhooks", ""},
		{http.MethodPut, "/v1/accounts/acct_b/webhooks", wirecloudBody},
		{http.MethodGet, "/v1/accounts/acct_b/webhooks/" + hookB, ""},
		{http.MethodGet, "/v1/accounts/acct_b/webhooks/0123456789abcdef0123456789abcdef", ""},
		{http.MethodGet, "/v1/accounts/acct_b/webhooks/attempts", ""},
		{http.MethodGet, "/v1/accounts/acct_b/webhooks/" + hookB + "/attempts", ""},
		{http.MethodGet, "/v1/accounts/no_such_account/webhooks", ""},
		{http.MethodPut, "/v1/accounts/no_such_account/webhooks", wirecloudBody},
	} {
		h.do(t, tc.method, tc.path, tokenA, tc.body).expectError(t, http.StatusForbidden, "", "")
	}
	// B's hook through A's own account is simply not there.
	h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks/"+hookB, tokenA, "").expectError(t, http.StatusNotFound, "", "")
	// An account token never creates an account.
	h.do(t, http.MethodGet, "/v1/accounts/no_such_account/webhooks", adminToken, "").expectError(t, http.StatusNotFound, "", "")
	// Nothing reached account B.
	if n := len(h.do(t, http.MethodGet, "/v1/accounts/acct_b/webhooks", adminToken, "").expect(t, http.StatusOK).list(t)); n != 1 {
		t.Fatalf("acct_b has %d hooks, want 1", n)
	}
}

func TestRevokedTokenIsRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const token = "soon-revoked-token-xxxxxxxxxxxx"
	h.accountToken(t, "acct1", token)
	h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks", token, "").expect(t, http.StatusOK)
	if _, err := h.pool.Exec(t.Context(), "UPDATE api_tokens SET revoked_at = now() WHERE account_id = 'acct1'"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks", token, "").expectError(t, http.StatusUnauthorized, "", "")
}
