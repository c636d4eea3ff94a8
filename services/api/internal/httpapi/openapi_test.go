package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
	"github.com/pbxhooks/pbxhooks/services/api/internal/openapi"
)

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes holds the document and the router to each
// other: every served route is documented, every documented operation is
// served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(t, http.MethodGet, "/openapi.json", "", "").expect(t, http.StatusOK)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
	}
	if !bytes.Equal(r.raw, openapi.Document()) {
		t.Fatal("served document differs from the embedded one")
	}
	doc := loadOpenAPI(t, r.raw)

	served := map[string]bool{}
	for _, route := range h.srv.Routes() {
		served[route.Method+" "+route.Path] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for route := range served {
		if !documented[route] {
			t.Errorf("served but not in openapi.json: %s", route)
		}
	}
	for route := range documented {
		if !served[route] {
			t.Errorf("in openapi.json but not served: %s", route)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d routes served: %v", len(served), served)
	}
}

// TestOpenAPIHookSchemaAgreesWithHookdoc checks that the document's hook
// schema and the validator that enforces it accept and reject the same
// documents, for the rules both can express.
func TestOpenAPIHookSchemaAgreesWithHookdoc(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, openapi.Document())
	schema := doc.Components.Schemas["HookDocument"].Value
	for _, tc := range []struct {
		name, body string
		valid      bool
	}{
		{"wirecloud", `{"name":"New Calls","uri":"http://my.server.com/calls/new.php","http_verb":"post","hook":"channel_create","retries":3}`, true},
		{"wirecloud custom data", `{"name":"New Calls","uri":"http://my.server.com/calls/new.php","hook":"channel_create","custom_data":{"account_id":"x","screen_pop":true}}`, true},
		{"spoke call", `{"name":"n","uri":"https://e.com","hook":"call","call_types":["incoming_call"],"call_statuses":["missed","no_answer"],"format":"json"}`, true},
		{"spoke media", `{"name":"n","uri":"https://e.com","hook":"media","media_types":["voicemail"]}`, true},
		{"kazoo extras", `{"name":"n","uri":"https://e.com","hook":"all","include_subaccounts":true,"include_internal_legs":false,"enabled":false}`, true},
		{"read-only fields echoed", `{"name":"n","uri":"https://e.com","hook":"all","id":"x","created":"x","modified":"x","revision":3,"disable_reason":""}`, true},
		{"name missing", `{"uri":"https://e.com","hook":"all"}`, false},
		{"hook missing", `{"name":"n","uri":"https://e.com"}`, false},
		{"hook unknown", `{"name":"n","uri":"https://e.com","hook":"channel_park"}`, false},
		{"verb unknown", `{"name":"n","uri":"https://e.com","hook":"all","http_verb":"patch"}`, false},
		{"retries too many", `{"name":"n","uri":"https://e.com","hook":"all","retries":11}`, false},
		{"retries negative", `{"name":"n","uri":"https://e.com","hook":"all","retries":-1}`, false},
		{"retries string", `{"name":"n","uri":"https://e.com","hook":"all","retries":"3"}`, false},
		{"format unknown", `{"name":"n","uri":"https://e.com","hook":"all","format":"xml"}`, false},
		{"unknown field", `{"name":"n","uri":"https://e.com","hook":"all","http_method":"post"}`, false},
		{"unknown call status", `{"name":"n","uri":"https://e.com","hook":"call","call_statuses":["parked"]}`, false},
		{"custom_data not an object", `{"name":"n","uri":"https://e.com","hook":"all","custom_data":[1]}`, false},
	} {
		var value any
		if err := json.Unmarshal([]byte(tc.body), &value); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		schemaErr := schema.VisitJSON(value)
		var fields map[string]json.RawMessage
		_ = json.Unmarshal([]byte(tc.body), &fields)
		_, violations := hookdoc.Decode(fields)
		if (schemaErr == nil) != tc.valid || violations.Empty() != tc.valid {
			t.Errorf("%s: schema error %v, hookdoc violations %v; want valid=%v", tc.name, schemaErr, violations, tc.valid)
		}
	}
	// The schema's vocabularies are hookdoc's.
	hookEnum := schema.Properties["hook"].Value.Enum
	var hookTypes []string
	for _, v := range hookEnum {
		hookTypes = append(hookTypes, v.(string))
	}
	if !slices.Equal(hookTypes, event.HookTypes) {
		t.Errorf("schema hook enum %v, hookdoc %v", hookTypes, event.HookTypes)
	}
}

// openAPIChecker validates real answers against the document.
type openAPIChecker struct {
	h   *harness
	doc *openapi3.T
}

// do sends a request and checks the answer's status, headers and body
// against the operation at template (a documented path).
func (c openAPIChecker) do(t *testing.T, method, template, path, token, body string, headers ...string) response {
	t.Helper()
	r := c.h.do(t, method, path, token, body, headers...)
	item := c.doc.Paths.Find(template)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("%s %s is not in the document", method, template)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: c.doc, Path: template, PathItem: item, Method: method, Operation: item.GetOperation(method)},
		},
		Status:  r.status,
		Header:  r.header,
		Body:    io.NopCloser(bytes.NewReader(r.raw)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(t.Context(), input); err != nil {
		t.Errorf("%s %s -> %d does not match openapi.json: %v\nbody: %s", method, path, r.status, err, r.raw)
	}
	return r
}

// TestOpenAPIRoundTrip exercises every operation and checks each answer,
// success and error, against the document.
func TestOpenAPIRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := openAPIChecker{h: h, doc: loadOpenAPI(t, openapi.Document())}
	const (
		hooksT    = "/v1/accounts/{account_id}/webhooks"
		hookT     = hooksT + "/{webhook_id}"
		tokensT   = "/v1/accounts/{account_id}/tokens"
		hooks     = "/v1/accounts/acct1/webhooks"
		missingID = "0123456789abcdef0123456789abcdef"
	)
	c.do(t, http.MethodGet, "/healthz", "/healthz", "", "")
	c.do(t, http.MethodGet, "/readyz", "/readyz", "", "")
	c.do(t, http.MethodGet, "/openapi.json", "/openapi.json", "", "")
	c.do(t, http.MethodGet, "/v1/webhooks", "/v1/webhooks", "", "")

	created := c.do(t, http.MethodPut, hooksT, hooks, adminToken, wirecloudCustomDataBody).expect(t, http.StatusCreated).data(t)
	id := created["id"].(string)
	hook := hooks + "/" + id
	c.do(t, http.MethodPut, hooksT, hooks, adminToken, `{"data":{"name":"n","uri":"https://e.com","hook":"call","call_statuses":["missed"]}}`).expect(t, http.StatusCreated)
	c.do(t, http.MethodPut, hooksT, hooks, adminToken, `{"data":{"uri":"ftp://x"}}`).expect(t, http.StatusBadRequest)
	c.do(t, http.MethodPut, hooksT, hooks, "", wirecloudBody).expect(t, http.StatusUnauthorized)
	c.do(t, http.MethodPut, hooksT, hooks, adminToken, `{"data":{"name":"`+strings.Repeat("x", maxBodyBytes)+`"}}`).expect(t, http.StatusRequestEntityTooLarge)
	c.do(t, http.MethodGet, hooksT, hooks, adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodGet, hooksT, "/v1/accounts/nobody/webhooks", adminToken, "").expect(t, http.StatusNotFound)
	c.do(t, http.MethodPatch, hooksT, hooks, adminToken, `{"data":{"re-enable":true}}`).expect(t, http.StatusOK)
	c.do(t, http.MethodGet, hookT, hook, adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodPost, hookT, hook, adminToken, wirecloudEditBody).expect(t, http.StatusOK)
	c.do(t, http.MethodPatch, hookT, hook, adminToken, `{"data":{"enabled":false,"revision":2}}`).expect(t, http.StatusOK)
	c.do(t, http.MethodPatch, hookT, hook, adminToken, `{"data":{"enabled":true,"revision":2}}`).expect(t, http.StatusConflict)
	c.do(t, http.MethodPost, hookT+"/secret", hook+"/secret", adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodGet, hooksT+"/attempts", hooks+"/attempts?page_size=1&result=success", adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodGet, hooksT+"/attempts", hooks+"/attempts?from=never", adminToken, "").expect(t, http.StatusBadRequest)
	c.do(t, http.MethodGet, hookT+"/attempts", hook+"/attempts", adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodGet, hookT+"/attempts", hooks+"/"+missingID+"/attempts", adminToken, "").expect(t, http.StatusNotFound)
	c.do(t, http.MethodGet, "/v1/accounts/{account_id}/events/deadletter", "/v1/accounts/acct1/events/deadletter", adminToken, "").expect(t, http.StatusOK)
	const relayT = "/v1/accounts/{account_id}/relay"
	c.do(t, http.MethodGet, relayT, "/v1/accounts/acct1/relay?forward_to=http://localhost:3000/", adminToken, "").expect(t, http.StatusUpgradeRequired)
	c.do(t, http.MethodGet, relayT, "/v1/accounts/acct1/relay?hook=nope", adminToken, "").expect(t, http.StatusBadRequest)

	token := c.do(t, http.MethodPut, tokensT, "/v1/accounts/acct1/tokens", adminToken, `{"data":{"name":"ci"}}`).expect(t, http.StatusCreated).data(t)
	c.do(t, http.MethodGet, tokensT, "/v1/accounts/acct1/tokens", adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodGet, tokensT, "/v1/accounts/acct1/tokens", token["token"].(string), "").expect(t, http.StatusForbidden)
	c.do(t, http.MethodGet, hooksT, "/v1/accounts/acct2/webhooks", token["token"].(string), "").expect(t, http.StatusForbidden)
	c.do(t, http.MethodDelete, tokensT+"/{token_id}", "/v1/accounts/acct1/tokens/"+token["id"].(string), adminToken, "").expect(t, http.StatusOK)

	c.do(t, http.MethodDelete, hookT, hook, adminToken, "").expect(t, http.StatusOK)
	c.do(t, http.MethodDelete, hookT, hook, adminToken, "").expect(t, http.StatusNotFound)
}
