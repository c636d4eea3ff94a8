// Package e2e drives the four pbxhooks services as separate OS processes
// against one real NATS server and one real PostgreSQL database, the way
// they run in production.
package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestChannelCreateTravelsFromNATSToCallbackAndAttempt(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	const account = "acct-e2e"
	var created struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	status := st.API(t, http.MethodPut, "/v1/accounts/"+account+"/webhooks",
		`{"data":{"name":"New Calls","uri":"`+target.URL+`/calls/new","http_verb":"post","hook":"channel_create","format":"json","retries":3}}`,
		&created)
	if status != http.StatusCreated || created.Data.ID == "" {
		t.Fatalf("create hook: status %d, id %q", status, created.Data.ID)
	}

	event := `{"event":"channel_create","id":"e2e-evt-1","call_id":"call-e2e-1","direction":"inbound",` +
		`"from":"+15556783945@pbx.example.com","from_name":"Test Man","to":"+15552345678@pbx.example.com",` +
		`"to_name":"Sales","request":"+15552345678@pbx.example.com","timestamp":"2026-11-22T10:00:00Z"}`
	if _, err := st.JS.Publish(t.Context(), "pbx.events."+account, []byte(event)); err != nil {
		t.Fatalf("PBX publish: %v", err)
	}

	var calls []teststack.Callback
	testenv.Eventually(t, 30*time.Second, "one callback", func() bool {
		calls = recv.Calls()
		return len(calls) >= 1
	})
	got := calls[0]
	if got.Method != http.MethodPost {
		t.Errorf("method %s, want POST", got.Method)
	}
	if h := got.Header.Get("X-Hook-ID"); h != created.Data.ID {
		t.Errorf("X-Hook-ID %q, want %q", h, created.Data.ID)
	}
	if h := got.Header.Get("X-Account-ID"); h != account {
		t.Errorf("X-Account-ID %q, want %q", h, account)
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("callback body is not JSON: %v: %s", err, got.Body)
	}
	want := map[string]any{
		"hook_event": "channel_create", "call_id": "call-e2e-1", "account_id": account,
		"call_direction": "inbound", "from": "+15556783945@pbx.example.com",
		"to": "+15552345678@pbx.example.com", "request": "+15552345678@pbx.example.com",
		"caller_id_name": "Test Man",
		// 2026-11-22T10:00:00Z in Gregorian seconds (Unix + 62167219200).
		"timestamp": "63962560800",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %#v, want %#v (body %s)", k, body[k], v, got.Body)
		}
	}

	type attempt struct {
		HookID string `json:"hook_id"`
		Result string `json:"result"`
	}
	var attempts struct {
		Data []attempt `json:"data"`
	}
	testenv.Eventually(t, 15*time.Second, "a success attempt in the API", func() bool {
		st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/attempts", "", &attempts)
		return len(attempts.Data) == 1
	})
	if a := attempts.Data[0]; a.Result != "success" || a.HookID != created.Data.ID {
		t.Fatalf("attempt %+v, want a success for hook %s", a, created.Data.ID)
	}
	if n := len(recv.Calls()); n != 1 {
		t.Fatalf("receiver got %d callbacks, want exactly 1", n)
	}
}
