package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// unstorableStrings are JSON string literals PostgreSQL cannot hold: text
// and jsonb refuse NUL (22P05, 22021), jsonb refuses an unpaired surrogate
// escape (22P02), and neither takes bytes that are not UTF-8 (22021).
var unstorableStrings = map[string]string{
	"escaped NUL":         `"a\u0000b"`,
	"lone high surrogate": `"\ud800"`,
	"lone low surrogate":  `"x\udc00y"`,
	"reversed pair":       `"\udc00\ud800"`,
	"invalid UTF-8":       "\"caf\xe9\"",
	"overlong UTF-8":      "\"\xc0\xaf\"",
}

// TestUnstorableTextIsRefusedEverywhere: every way user text reaches
// PostgreSQL answers 400 naming the field, never 500, on create (PUT),
// replace (POST) and merge (PATCH).
func TestUnstorableTextIsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hook := h.createHook(t, "acct_text", wirecloudBody)
	hookPath := "/v1/accounts/acct_text/webhooks/" + hook["id"].(string)

	for name, literal := range unstorableStrings {
		bodies := []struct {
			method, path, body, field string
		}{
			{http.MethodPut, "/v1/accounts/acct_text/webhooks", withCustomData(wirecloudBody, `{"note":`+literal+`}`), "custom_data"},
			{http.MethodPut, "/v1/accounts/acct_text/webhooks", withCustomData(wirecloudBody, `{`+literal+`:"value"}`), "custom_data"},
			{http.MethodPut, "/v1/accounts/acct_text/webhooks", withCustomData(wirecloudBody, `{"deep":{"list":[1,`+literal+`]}}`), "custom_data"},
			{http.MethodPost, hookPath, withCustomData(wirecloudBody, `{"note":`+literal+`}`), "custom_data"},
			{http.MethodPatch, hookPath, `{"data":{"custom_data":{"note":` + literal + `}}}`, "custom_data"},
			{http.MethodPatch, hookPath, `{"data":{"name":` + literal + `}}`, "name"},
			{http.MethodPut, "/v1/accounts/acct_text/webhooks", strings.Replace(wirecloudBody, `"New Calls"`, literal, 1), "name"},
			{http.MethodPut, "/v1/accounts/acct_text/tokens", `{"data":{"name":` + literal + `}}`, "name"},
		}
		for _, b := range bodies {
			got := h.do(t, b.method, b.path, adminToken, b.body)
			if got.status != http.StatusBadRequest {
				t.Errorf("%s: %s %s answered %d, want 400: %s", name, b.method, b.path, got.status, got.raw)
				continue
			}
			got.expectError(t, http.StatusBadRequest, b.field, "format")
		}
	}

	// Nothing was stored on the way: the hook is as created.
	stored := h.do(t, http.MethodGet, hookPath, adminToken, "").expect(t, http.StatusOK).data(t)
	if stored["revision"] != 1.0 || stored["name"] != "New Calls" {
		t.Fatalf("a refused edit changed the hook: %v", stored)
	}
	// Text that only looks unusual is stored and returned as sent.
	ok := h.createHook(t, "acct_text", withCustomData(wirecloudBody, `{"emoji":"\ud83d\ude00","quote":"\"\\u0000\"","bom":"\ufeff"}`))
	custom := ok["custom_data"].(map[string]any)
	if custom["emoji"] != "😀" || custom["quote"] != `"\u0000"` || custom["bom"] != "\ufeff" {
		t.Fatalf("custom_data round trip = %v", custom)
	}
}

// withCustomData puts custom_data into a hook document body.
func withCustomData(body, customData string) string {
	return strings.Replace(body, `"retries":3`, `"retries":3, "custom_data":`+customData, 1)
}
