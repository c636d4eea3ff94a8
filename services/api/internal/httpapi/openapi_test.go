package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

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
