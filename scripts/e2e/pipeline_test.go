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

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestChannelCreateTravelsFromNATSToCallbackAndAttempt(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	const account = "acct-e2e"
	created := st.CreateHook(t, account, apiclient.HookDocument{
		Name: "New Calls", Uri: target.URL + "/calls/new", HttpVerb: new(apiclient.HTTPVerbPost), Hook: apiclient.HookKindChannelCreate,
		Format: new(apiclient.PayloadFormatJson), Retries: new(3),
	})

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
	if h := got.Header.Get("X-Hook-ID"); h != created.Id {
		t.Errorf("X-Hook-ID %q, want %q", h, created.Id)
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

	api := st.Client(t)
	var attempts []apiclient.Attempt
	testenv.Eventually(t, 15*time.Second, "a success attempt in the API", func() bool {
		listed, err := api.ListAccountAttemptsWithResponse(t.Context(), account, nil)
		if err != nil || listed.JSON200 == nil {
			return false
		}
		attempts = listed.JSON200.Data
		return len(attempts) == 1
	})
	if a := attempts[0]; a.Result != apiclient.AttemptResultSuccess || a.HookId != created.Id {
		t.Fatalf("attempt %+v, want a success for hook %s", a, created.Id)
	}
	if n := len(recv.Calls()); n != 1 {
		t.Fatalf("receiver got %d callbacks, want exactly 1", n)
	}
}
