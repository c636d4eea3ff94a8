package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

var hookIDShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestCreateListGetRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	changes := make(chan []byte, 4)
	sub, err := h.nc.Subscribe(bus.HooksChangedSubject("acct_a"), func(m *natsMsg) { changes <- m.Data })
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}

	// The admin's first hook creates the account.
	created := h.do(t, http.MethodPut, "/v1/accounts/acct_a/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated)
	doc := created.data(t)
	id, _ := doc["id"].(string)
	if !hookIDShape.MatchString(id) {
		t.Fatalf("id %q is not 32 lowercase hex", id)
	}
	secret, _ := doc["secret"].(string)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not whsec_ + base64 of 32 bytes", secret)
	}
	for _, field := range []string{"created", "modified"} {
		if _, err := time.Parse(time.RFC3339, doc[field].(string)); err != nil {
			t.Fatalf("%s is not RFC 3339: %v", field, err)
		}
	}
	want := map[string]any{
		"name": "New Calls", "uri": "http://my.server.com/calls/new.php", "http_verb": "post",
		"hook": "channel_create", "retries": 3.0, "enabled": true, "format": "form-data",
		"include_internal_legs": true, "revision": 1.0, "disable_reason": "",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	if created.body["revision"] != "1" || created.body["request_id"] == "" {
		t.Errorf("envelope revision/request_id: %s", created.raw)
	}

	select {
	case msg := <-changes:
		var change map[string]any
		if err := json.Unmarshal(msg, &change); err != nil || change["hook_id"] != id || change["account_id"] != "acct_a" || change["change"] != "created" {
			t.Fatalf("hooks.changed body %s (%v)", msg, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hooks.changed.acct_a notification")
	}

	list := h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks", adminToken, "").expect(t, http.StatusOK).list(t)
	if len(list) != 1 {
		t.Fatalf("list has %d hooks, want 1", len(list))
	}
	listed := list[0].(map[string]any)
	if listed["id"] != id || listed["secret"] != nil {
		t.Fatalf("listed hook %v: want id %s and no secret", listed, id)
	}

	got := h.do(t, http.MethodGet, "/v1/accounts/acct_a/webhooks/"+id, adminToken, "").expect(t, http.StatusOK).data(t)
	if got["secret"] != nil {
		t.Fatal("GET shows the secret")
	}
	delete(doc, "secret")
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(doc)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("GET %s\nwant %s", gotJSON, wantJSON)
	}

	// A hook is found only under its own account.
	h.do(t, http.MethodPut, "/v1/accounts/acct_b/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated)
	h.do(t, http.MethodGet, "/v1/accounts/acct_b/webhooks/"+id, adminToken, "").expectError(t, http.StatusNotFound, "", "")
}

func TestCreateWithCustomData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken, wirecloudCustomDataBody).
		expect(t, http.StatusCreated).data(t)
	custom, _ := json.Marshal(doc["custom_data"])
	if string(custom) != `{"account_id":"my_crm_account_id","screen_pop":true}` {
		t.Fatalf("custom_data = %s", custom)
	}
	got := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/"+doc["id"].(string), adminToken, "").expect(t, http.StatusOK).data(t)
	stored, _ := json.Marshal(got["custom_data"])
	if string(stored) != string(custom) {
		t.Fatalf("stored custom_data %s, want %s", stored, custom)
	}
}

func TestCreateSpokeCallAndMediaHooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	call := h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken,
		`{"data":{"name":"missed","uri":"https://crm.example/x","hook":"call","format":"json","call_types":["incoming_call"],"call_statuses":["missed","no_answer"]}}`).
		expect(t, http.StatusCreated).data(t)
	if types, _ := json.Marshal(call["call_statuses"]); string(types) != `["missed","no_answer"]` {
		t.Fatalf("call_statuses %s", types)
	}
	media := h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken,
		`{"data":{"name":"vm","uri":"https://crm.example/vm","hook":"media","media_types":["voicemail"]}}`).
		expect(t, http.StatusCreated).data(t)
	if types, _ := json.Marshal(media["media_types"]); string(types) != `["voicemail"]` {
		t.Fatalf("media_types %s", types)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated)
	const hooks = "/v1/accounts/acct1/webhooks"
	cases := []struct {
		name, method, path, body string
		status                   int
		field, rule              string
	}{
		{"malformed JSON", "PUT", hooks, `{"data":{"name":"x",}}`, 400, "", ""},
		{"truncated JSON", "PUT", hooks, `{"data":`, 400, "", ""},
		{"empty body", "PUT", hooks, ``, 400, "", ""},
		{"body is a list", "PUT", hooks, `[1]`, 400, "", ""},
		{"missing data envelope", "PUT", hooks, `{"name":"New Calls","uri":"http://e.com","hook":"all"}`, 400, "data", "required"},
		{"data is a string", "PUT", hooks, `{"data":"x"}`, 400, "data", "type"},
		{"name missing", "PUT", hooks, `{"data":{"uri":"http://e.com","hook":"all"}}`, 400, "name", "required"},
		{"uri missing", "PUT", hooks, `{"data":{"name":"n","hook":"all"}}`, 400, "uri", "required"},
		{"uri bad scheme", "PUT", hooks, `{"data":{"name":"n","uri":"ftp://e.com/x","hook":"all"}}`, 400, "uri", "format"},
		{"uri with credentials", "PUT", hooks, `{"data":{"name":"n","uri":"http://u:p@e.com/x","hook":"all"}}`, 400, "uri", "format"},
		{"uri relative", "PUT", hooks, `{"data":{"name":"n","uri":"calls/new.php","hook":"all"}}`, 400, "uri", "format"},
		{"hook unknown", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"channel_park"}}`, 400, "hook", "enum"},
		{"hook missing", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com"}}`, 400, "hook", "required"},
		{"http_verb unknown", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"all","http_verb":"patch"}}`, 400, "http_verb", "enum"},
		{"retries out of range", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"all","retries":11}}`, 400, "retries", "maximum"},
		{"retries wrong type", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"all","retries":"3"}}`, 400, "retries", "type"},
		{"format unknown", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"all","format":"xml"}}`, 400, "format", "enum"},
		{"call filter on lifecycle hook", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"channel_create","call_statuses":["missed"]}}`, 400, "call_statuses", "not_allowed"},
		{"unknown call status", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"call","call_statuses":["parked"]}}`, 400, "call_statuses", "enum"},
		{"unknown media type", "PUT", hooks, `{"data":{"name":"n","uri":"http://e.com","hook":"media","media_types":["fax"]}}`, 400, "media_types", "enum"},
		{"body over limit", "PUT", hooks, `{"data":{"name":"` + strings.Repeat("x", maxBodyBytes) + `"}}`, 413, "", ""},
		{"invalid account id", "GET", "/v1/accounts/bad.account/webhooks", "", 400, "account_id", "format"},
		{"account id too long", "PUT", "/v1/accounts/" + strings.Repeat("a", 65) + "/webhooks", wirecloudBody, 400, "account_id", "format"},
		{"unknown account", "GET", "/v1/accounts/nobody/webhooks", "", 404, "", ""},
		{"unknown account attempts", "GET", "/v1/accounts/nobody/webhooks/attempts", "", 404, "", ""},
		{"invalid webhook id", "GET", hooks + "/not-an-id", "", 400, "webhook_id", "format"},
		{"unknown webhook", "GET", hooks + "/0123456789abcdef0123456789abcdef", "", 404, "", ""},
		{"unknown webhook attempts", "GET", hooks + "/0123456789abcdef0123456789abcdef/attempts", "", 404, "", ""},
		{"page_size zero", "GET", hooks + "/attempts?page_size=0", "", 400, "page_size", "minimum"},
		{"page_size too big", "GET", hooks + "/attempts?page_size=501", "", 400, "page_size", "maximum"},
		{"page_size not a number", "GET", hooks + "/attempts?page_size=ten", "", 400, "page_size", "type"},
		{"start_key not a key", "GET", hooks + "/attempts?start_key=abc", "", 400, "start_key", "format"},
		{"edit invalid webhook id", "POST", hooks + "/not-an-id", wirecloudBody, 400, "webhook_id", "format"},
		{"patch invalid webhook id", "PATCH", hooks + "/not-an-id", `{"data":{"enabled":true}}`, 400, "webhook_id", "format"},
		{"delete invalid webhook id", "DELETE", hooks + "/not-an-id", "", 400, "webhook_id", "format"},
		{"test invalid webhook id", "POST", hooks + "/not-an-id/test", "", 400, "webhook_id", "format"},
		{"delete unknown webhook", "DELETE", hooks + "/0123456789abcdef0123456789abcdef", "", 404, "", ""},
		{"patch without body", "PATCH", hooks + "/0123456789abcdef0123456789abcdef", "", 400, "", ""},
		{"bulk patch without body", "PATCH", hooks, "", 400, "", ""},
		{"bulk patch body over limit", "PATCH", hooks, `{"data":{"re-enable":"` + strings.Repeat("x", maxBodyBytes) + `"}}`, 413, "", ""},
		{"post on attempts", "POST", hooks + "/attempts", wirecloudBody, 400, "webhook_id", "format"},
		{"deadletter page_size", "GET", "/v1/accounts/acct1/events/deadletter?page_size=0", "", 400, "page_size", "minimum"},
		{"deadletter unknown account", "GET", "/v1/accounts/nobody/events/deadletter", "", 404, "", ""},
		{"unknown route", "GET", "/v1/nothing", "", 404, "", ""},
		{"method not allowed", "POST", hooks, wirecloudBody, 405, "", ""},
	}
	// The group returns only when its parallel cases are done, so the
	// check below sees their effects.
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h.do(t, tc.method, tc.path, adminToken, tc.body).expectError(t, tc.status, tc.field, tc.rule)
			})
		}
	})
	// Nothing above created a hook or an account.
	list := h.do(t, http.MethodGet, hooks, adminToken, "").expect(t, http.StatusOK).list(t)
	if len(list) != 1 {
		t.Fatalf("bad input changed the hooks: %d hooks", len(list))
	}
}

func TestErrorsEchoRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(t, http.MethodGet, "/v1/accounts/nobody/webhooks", adminToken, "", "X-Request-ID", "req-42")
	r.expectError(t, http.StatusNotFound, "", "")
	if r.body["request_id"] != "req-42" || r.header.Get("X-Request-ID") != "req-42" {
		t.Fatalf("request id not echoed: %s %v", r.raw, r.header)
	}
	// A hostile request id is replaced, not echoed.
	r = h.do(t, http.MethodGet, "/healthz", "", "", "X-Request-ID", "<script>")
	if got := r.header.Get("X-Request-ID"); got == "" || got == "<script>" {
		t.Fatalf("X-Request-ID = %q", got)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, http.MethodGet, "/healthz", "", "").expect(t, http.StatusOK)
	if r := h.do(t, http.MethodGet, "/readyz", "", "").expect(t, http.StatusOK); r.body["status"] != "ready" {
		t.Fatalf("readyz: %s", r.raw)
	}
	h.nc.Close()
	if r := h.do(t, http.MethodGet, "/readyz", "", "").expect(t, http.StatusServiceUnavailable); !strings.Contains(string(r.raw), "nats") {
		t.Fatalf("readyz with NATS closed: %s", r.raw)
	}
}
