package httpapi_test

import (
	"net/http"
	"testing"
)

// An account's auto-disable overrides: null until set, merged field by
// field, reset with null, bounded, announced to the deliverers, and the
// account's own business only.
func TestDeliverySettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.accountToken(t, "acct1", "pbxt_acct1-secret")
	h.accountToken(t, "acct2", "pbxt_acct2-secret")
	const path = "/v1/accounts/acct1/delivery_settings"

	doc := h.do(t, http.MethodGet, path, "pbxt_acct1-secret", "").expect(t, http.StatusOK).data(t)
	if doc["attempt_failure_count"] != nil || doc["attempt_failure_expiry_seconds"] != nil {
		t.Fatalf("an account without overrides: %v, want both null", doc)
	}

	changes := h.watchHookChanges(t, "acct1")
	doc = h.do(t, http.MethodPatch, path, "pbxt_acct1-secret", `{"data":{"attempt_failure_count":20}}`).expect(t, http.StatusOK).data(t)
	if doc["attempt_failure_count"] != 20.0 || doc["attempt_failure_expiry_seconds"] != nil || doc["modified"] == nil {
		t.Fatalf("after setting the count: %v", doc)
	}
	expectChange(t, changes, "", "delivery_settings")
	doc = h.do(t, http.MethodPatch, path, adminToken, `{"data":{"attempt_failure_expiry_seconds":300}}`).expect(t, http.StatusOK).data(t)
	if doc["attempt_failure_count"] != 20.0 || doc["attempt_failure_expiry_seconds"] != 300.0 {
		t.Fatalf("after setting the expiry, the count must stay: %v", doc)
	}
	expectChange(t, changes, "", "delivery_settings")

	// What the deliverer reads is what the API shows.
	var count, expiry *int32
	if err := h.pool.QueryRow(t.Context(), `SELECT attempt_failure_count, attempt_failure_expiry_seconds
		FROM account_delivery_settings WHERE account_id = 'acct1'`).Scan(&count, &expiry); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if count == nil || *count != 20 || expiry == nil || *expiry != 300 {
		t.Fatalf("stored %v %v, want 20 and 300", count, expiry)
	}

	doc = h.do(t, http.MethodPatch, path, "pbxt_acct1-secret", `{"data":{"attempt_failure_count":null}}`).expect(t, http.StatusOK).data(t)
	if doc["attempt_failure_count"] != nil || doc["attempt_failure_expiry_seconds"] != 300.0 {
		t.Fatalf("after resetting the count: %v", doc)
	}
	doc = h.do(t, http.MethodGet, path, "pbxt_acct1-secret", "").expect(t, http.StatusOK).data(t)
	if doc["attempt_failure_count"] != nil || doc["attempt_failure_expiry_seconds"] != 300.0 {
		t.Fatalf("read after the reset: %v", doc)
	}

	for _, tc := range []struct{ body, field, rule string }{
		{`{"data":{}}`, "attempt_failure_count", "required"},
		{`{"data":{"attempt_failure_count":0}}`, "attempt_failure_count", "minimum"},
		{`{"data":{"attempt_failure_count":1001}}`, "attempt_failure_count", "maximum"},
		{`{"data":{"attempt_failure_count":2.5}}`, "attempt_failure_count", "type"},
		{`{"data":{"attempt_failure_count":"6"}}`, "attempt_failure_count", "type"},
		{`{"data":{"attempt_failure_expiry_seconds":86401}}`, "attempt_failure_expiry_seconds", "maximum"},
		{`{"data":{"attempt_failure_expiry_seconds":-5}}`, "attempt_failure_expiry_seconds", "minimum"},
		{`{"data":{"attempt_failure_expiry_ms":60000}}`, "attempt_failure_expiry_ms", "unknown"},
	} {
		h.do(t, http.MethodPatch, path, "pbxt_acct1-secret", tc.body).expectError(t, http.StatusBadRequest, tc.field, tc.rule)
	}
	h.do(t, http.MethodPatch, path, "pbxt_acct1-secret", `not json`).expect(t, http.StatusBadRequest)

	// Tenant isolation and unknown accounts.
	h.do(t, http.MethodGet, path, "pbxt_acct2-secret", "").expect(t, http.StatusForbidden)
	h.do(t, http.MethodPatch, path, "pbxt_acct2-secret", `{"data":{"attempt_failure_count":5}}`).expect(t, http.StatusForbidden)
	h.do(t, http.MethodGet, path, "", "").expect(t, http.StatusUnauthorized)
	h.do(t, http.MethodGet, "/v1/accounts/nobody/delivery_settings", adminToken, "").expect(t, http.StatusNotFound)
	h.do(t, http.MethodPatch, "/v1/accounts/nobody/delivery_settings", adminToken, `{"data":{"attempt_failure_count":5}}`).expect(t, http.StatusNotFound)
}
