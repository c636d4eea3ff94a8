package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// The WIRECLOUD document's edit: POST replaces the document.
const wirecloudEditBody = `{"data":{"name":"New Calls", "uri":"http://my.server.com/calls/new_call.php", "http_verb":"post", "hook":"channel_create", "retries":3}}`

func TestReplaceHook(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	changes := h.watchHookChanges(t, "acct1")
	created := h.createHook(t, "acct1", wirecloudCustomDataBody)
	id := created["id"].(string)
	expectChange(t, changes, id, "created")
	path := "/v1/accounts/acct1/webhooks/" + id

	r := h.do(t, http.MethodPost, path, adminToken, wirecloudEditBody).expect(t, http.StatusOK)
	doc := r.data(t)
	if doc["uri"] != "http://my.server.com/calls/new_call.php" || doc["revision"] != 2.0 || doc["id"] != id || doc["secret"] != nil {
		t.Fatalf("replaced: %s", r.raw)
	}
	// A replace is a full document: custom_data it leaves out is gone.
	if custom, _ := json.Marshal(doc["custom_data"]); string(custom) != "{}" {
		t.Fatalf("custom_data after replace = %s", custom)
	}
	if r.body["revision"] != "2" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("revision envelope/ETag: %s %v", r.raw, r.header)
	}
	if doc["created"] != created["created"] {
		t.Fatalf("created changed: %v -> %v", created["created"], doc["created"])
	}
	expectChange(t, changes, id, "updated")
	got := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK).data(t)
	if got["uri"] != doc["uri"] || got["revision"] != 2.0 {
		t.Fatalf("GET after replace: %v", got)
	}

	// A client may send back what it read, read-only fields included.
	got["name"] = "Renamed"
	echoed, _ := json.Marshal(map[string]any{"data": got})
	r = h.do(t, http.MethodPost, path, adminToken, string(echoed)).expect(t, http.StatusOK)
	if d := r.data(t); d["name"] != "Renamed" || d["revision"] != 3.0 {
		t.Fatalf("echoed document: %s", r.raw)
	}

	// Bad documents are rejected like on create, and change nothing.
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"name":"n","hook":"all"}}`).expectError(t, http.StatusBadRequest, "uri", "required")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"name":"n","uri":"gopher://x","hook":"all"}}`).expectError(t, http.StatusBadRequest, "uri", "format")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"name":"n","uri":"http://e.com","hook":"all","retries":99}}`).expectError(t, http.StatusBadRequest, "retries", "maximum")
	h.do(t, http.MethodPost, path, adminToken, `{"data":`).expectError(t, http.StatusBadRequest, "", "")
	if got := h.do(t, http.MethodGet, path, adminToken, "").data(t); got["revision"] != 3.0 || got["name"] != "Renamed" {
		t.Fatalf("bad edits changed the hook: %v", got)
	}
	h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef", adminToken, wirecloudEditBody).
		expectError(t, http.StatusNotFound, "", "")
}

func TestPatchHook(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	changes := h.watchHookChanges(t, "acct1")
	id := h.createHook(t, "acct1", `{"data":{"name":"missed","uri":"https://crm.example/x","hook":"call","call_statuses":["missed"],"custom_data":{"k":"v"}}}`)["id"].(string)
	expectChange(t, changes, id, "created")
	path := "/v1/accounts/acct1/webhooks/" + id
	// The deliverer disabled it after repeated failures.
	if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET enabled = false, disable_reason = 'too many failures' WHERE id = $1`, id); err != nil {
		t.Fatalf("disable: %v", err)
	}

	r := h.do(t, http.MethodPatch, path, adminToken, `{"data":{"enabled":true}}`).expect(t, http.StatusOK)
	doc := r.data(t)
	if doc["enabled"] != true || doc["disable_reason"] != "" || doc["name"] != "missed" || doc["revision"] != 2.0 {
		t.Fatalf("re-enabled: %s", r.raw)
	}
	if statuses, _ := json.Marshal(doc["call_statuses"]); string(statuses) != `["missed"]` {
		t.Fatalf("patch lost call_statuses: %s", statuses)
	}
	if custom, _ := json.Marshal(doc["custom_data"]); string(custom) != `{"k":"v"}` {
		t.Fatalf("patch lost custom_data: %s", custom)
	}
	expectChange(t, changes, id, "updated")

	// Changing the type drops filters the new type cannot carry.
	doc = h.do(t, http.MethodPatch, path, adminToken, `{"data":{"hook":"channel_destroy","include_subaccounts":true}}`).expect(t, http.StatusOK).data(t)
	if doc["hook"] != "channel_destroy" || doc["include_subaccounts"] != true || len(doc["call_statuses"].([]any)) != 0 {
		t.Fatalf("type change: %v", doc)
	}
	// null resets to the default.
	doc = h.do(t, http.MethodPatch, path, adminToken, `{"data":{"retries":7}}`).expect(t, http.StatusOK).data(t)
	if doc["retries"] != 7.0 {
		t.Fatalf("retries: %v", doc["retries"])
	}
	doc = h.do(t, http.MethodPatch, path, adminToken, `{"data":{"retries":null}}`).expect(t, http.StatusOK).data(t)
	if doc["retries"] != 2.0 || doc["revision"] != 5.0 {
		t.Fatalf("retries reset: %v", doc)
	}

	for _, tc := range []struct{ body, field, rule string }{
		{`{"data":{"uri":"ftp://x"}}`, "uri", "format"},
		{`{"data":{"hook":"nope"}}`, "hook", "enum"},
		{`{"data":{"enabled":"yes"}}`, "enabled", "type"},
		{`{"data":{"http_method":"get"}}`, "http_method", "unknown"},
		{`{"data":{"call_statuses":["missed"]}}`, "call_statuses", "not_allowed"},
		{`{"data":{"name":""}}`, "name", "min_length"},
		{`{"data":[]}`, "data", "type"},
		{`{"data":{"revision":"three"}}`, "revision", "type"},
		{`{"data":{"revision":0}}`, "revision", "type"},
	} {
		h.do(t, http.MethodPatch, path, adminToken, tc.body).expectError(t, http.StatusBadRequest, tc.field, tc.rule)
	}
	if got := h.do(t, http.MethodGet, path, adminToken, "").data(t); got["revision"] != 5.0 {
		t.Fatalf("bad patches changed the hook: %v", got)
	}
}

func TestStaleRevisionConflicts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	path := "/v1/accounts/acct1/webhooks/" + id

	// Revision in the body.
	h.do(t, http.MethodPatch, path, adminToken, `{"data":{"name":"one","revision":1}}`).expect(t, http.StatusOK)
	stale := h.do(t, http.MethodPatch, path, adminToken, `{"data":{"name":"two","revision":1}}`)
	stale.expectError(t, http.StatusConflict, "revision", "conflict")
	if target := stale.body["data"].(map[string]any)["revision"].(map[string]any)["conflict"].(map[string]any)["target"]; target != 2.0 {
		t.Fatalf("409 names current revision %v, want 2", target)
	}
	// As a string, as Kazoo clients echo it.
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"name":"n","uri":"http://e.com","hook":"all","revision":"1"}}`).
		expectError(t, http.StatusConflict, "revision", "conflict")

	// If-Match, with the ETag the last answer gave.
	etag := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK).header.Get("ETag")
	if etag != `"2"` {
		t.Fatalf("ETag %q", etag)
	}
	h.do(t, http.MethodPost, path, adminToken, wirecloudEditBody, "If-Match", etag).expect(t, http.StatusOK)
	h.do(t, http.MethodPost, path, adminToken, wirecloudEditBody, "If-Match", etag).expectError(t, http.StatusConflict, "revision", "conflict")
	h.do(t, http.MethodDelete, path, adminToken, "", "If-Match", etag).expectError(t, http.StatusConflict, "revision", "conflict")
	h.do(t, http.MethodPost, path+"/secret", adminToken, "", "If-Match", etag).expectError(t, http.StatusConflict, "revision", "conflict")
	h.do(t, http.MethodPatch, path, adminToken, `{"data":{"enabled":false}}`, "If-Match", "not-a-revision").expectError(t, http.StatusBadRequest, "If-Match", "format")
	h.do(t, http.MethodPatch, path, adminToken, `{"data":{"enabled":false,"revision":3}}`, "If-Match", `"2"`).expectError(t, http.StatusBadRequest, "revision", "not_allowed")
	// "*" is unconditional.
	if got := h.do(t, http.MethodPatch, path, adminToken, `{"data":{"enabled":false}}`, "If-Match", "*").expect(t, http.StatusOK).data(t); got["revision"] != 4.0 {
		t.Fatalf("revision after If-Match *: %v", got["revision"])
	}
}

func TestConcurrentPatchesWithOneRevision(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for round := range 5 {
		id := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
		path := "/v1/accounts/acct1/webhooks/" + id
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range statuses {
			wg.Go(func() {
				<-start
				body := fmt.Sprintf(`{"data":{"name":"writer %d","revision":1}}`, i)
				statuses[i] = h.do(t, http.MethodPatch, path, adminToken, body).status
			})
		}
		close(start)
		wg.Wait()
		ok, conflict := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				conflict++
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, statuses)
		}
		got := h.do(t, http.MethodGet, path, adminToken, "").data(t)
		if got["revision"] != 2.0 || !strings.HasPrefix(got["name"].(string), "writer ") {
			t.Fatalf("round %d: stored %v", round, got)
		}
	}
}

func TestConcurrentUnconditionalPatchesAllApply(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	path := "/v1/accounts/acct1/webhooks/" + id
	const writers = 4
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			h.do(t, http.MethodPatch, path, adminToken, fmt.Sprintf(`{"data":{"retries":%d}}`, i+1)).expect(t, http.StatusOK)
		})
	}
	wg.Wait()
	// Every patch read the latest revision and applied on top of it.
	if got := h.do(t, http.MethodGet, path, adminToken, "").data(t); got["revision"] != float64(1+writers) {
		t.Fatalf("revision %v after %d unconditional patches", got["revision"], writers)
	}
}

func TestDeleteHook(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	changes := h.watchHookChanges(t, "acct1")
	created := h.createHook(t, "acct1", wirecloudBody)
	id := created["id"].(string)
	expectChange(t, changes, id, "created")
	path := "/v1/accounts/acct1/webhooks/" + id

	h.do(t, http.MethodDelete, path, adminToken, `{"data":{"revision":7}}`).expectError(t, http.StatusConflict, "revision", "conflict")
	h.do(t, http.MethodDelete, path, adminToken, `{"data":`).expectError(t, http.StatusBadRequest, "", "")
	deleted := h.do(t, http.MethodDelete, path, adminToken, "").expect(t, http.StatusOK).data(t)
	if deleted["id"] != id || deleted["name"] != "New Calls" || deleted["secret"] != nil {
		t.Fatalf("deleted document: %v", deleted)
	}
	expectChange(t, changes, id, "deleted")
	h.do(t, http.MethodGet, path, adminToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodDelete, path, adminToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodPatch, path, adminToken, `{"data":{"enabled":true}}`).expectError(t, http.StatusNotFound, "", "")
	if n := len(h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks", adminToken, "").expect(t, http.StatusOK).list(t)); n != 0 {
		t.Fatalf("%d hooks after delete", n)
	}

	// A conditional delete with the right revision (body) works too.
	id = h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	h.do(t, http.MethodDelete, "/v1/accounts/acct1/webhooks/"+id, adminToken, `{"data":{"revision":1}}`).expect(t, http.StatusOK)
}

func TestBulkReenable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	auto := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	manual := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	active := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	other := h.createHook(t, "acct2", wirecloudBody)["id"].(string)
	for _, q := range []struct{ id, reason string }{{auto, "410 Gone"}, {manual, ""}, {other, "timeout"}} {
		if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET enabled = false, disable_reason = $2 WHERE id = $1`, q.id, q.reason); err != nil {
			t.Fatalf("disable: %v", err)
		}
	}
	changes := h.watchHookChanges(t, "acct1")

	for _, tc := range []struct{ body, field, rule string }{
		{`{"data":{}}`, "re-enable", "required"},
		{`{"data":{"re-enable":false}}`, "re-enable", "enum"},
		{`{"data":{"re-enable":"true"}}`, "re-enable", "enum"},
		{`{"data":{"re-enable":true,"delete":true}}`, "delete", "unknown"},
	} {
		h.do(t, http.MethodPatch, "/v1/accounts/acct1/webhooks", adminToken, tc.body).expectError(t, http.StatusBadRequest, tc.field, tc.rule)
	}

	list := h.do(t, http.MethodPatch, "/v1/accounts/acct1/webhooks", adminToken, `{"data":{"re-enable":true}}`).expect(t, http.StatusOK).list(t)
	if len(list) != 1 || list[0].(map[string]any)["id"] != auto || list[0].(map[string]any)["enabled"] != true || list[0].(map[string]any)["disable_reason"] != "" {
		t.Fatalf("re-enabled %v, want only %s", list, auto)
	}
	expectChange(t, changes, auto, "re-enabled")
	state := map[string]bool{}
	for _, item := range h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks", adminToken, "").list(t) {
		hook := item.(map[string]any)
		state[hook["id"].(string)] = hook["enabled"].(bool)
	}
	if !state[auto] || state[manual] || !state[active] {
		t.Fatalf("after bulk re-enable: %v", state)
	}
	// Another account's hook is untouched.
	if got := h.do(t, http.MethodGet, "/v1/accounts/acct2/webhooks/"+other, adminToken, "").data(t); got["enabled"] != false {
		t.Fatalf("acct2's hook re-enabled: %v", got)
	}
	// Nothing left to re-enable: an empty list.
	if list := h.do(t, http.MethodPatch, "/v1/accounts/acct1/webhooks", adminToken, `{"data":{"re-enable":true}}`).expect(t, http.StatusOK).list(t); len(list) != 0 {
		t.Fatalf("second bulk re-enable: %v", list)
	}
}

func TestIncludeSubaccountsRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := h.createHook(t, "acct1", `{"data":{"name":"n","uri":"http://e.com/x","hook":"all","include_subaccounts":true}}`)
	if doc["include_subaccounts"] != true {
		t.Fatalf("create: %v", doc)
	}
	if got := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/"+doc["id"].(string), adminToken, "").data(t); got["include_subaccounts"] != true {
		t.Fatalf("get: %v", got)
	}
	if doc := h.createHook(t, "acct1", wirecloudBody); doc["include_subaccounts"] != false {
		t.Fatalf("default: %v", doc)
	}
}
